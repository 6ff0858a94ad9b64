// A third-party plugin in plain JavaScript. It lives outside src/ and imports only the public
// contract ('vvolgraph/plugin'); it brings a capability, a table with its own migrations, a field
// on VirtualVolume and two lifecycle hooks. Load it with VVOLGRAPH_PLUGINS=./examples/plugins/vvol-labels/index.js
import { sql } from 'drizzle-orm';
import { definePlugin, resultRows } from 'vvolgraph/plugin';

const COST_CENTER = 'example.labels.costCenter';

export default definePlugin({
  name: 'vvol-labels',
  version: '1.0.0',
  vendor: 'Example Corp',
  description: 'Charge-back labels: a cost center chosen by storage policy, kept per VVOL',
  capabilities: {
    namespace: 'example.labels',
    // Labels are kept by this plugin, not by the array: every container can have them.
    everyContainer: true,
    items: [
      { id: COST_CENTER, name: 'Cost center', summary: 'The cost center billed for the VVOL (CC-0000 form)', valueType: 'STRING', lineOfService: 'INSPECTION' },
    ],
    validate(rules) {
      return rules
        .filter((rule) => rule.capabilityId === COST_CENTER && !/^CC-\d{4}$/.test(rule.value))
        .map((rule) => ({ capabilityId: COST_CENTER, message: `${COST_CENTER} must look like CC-0042, got "${rule.value}"` }));
    },
  },
  // Relative to this file.
  migrationsFolder: './migrations',
  schema(builder, refs) {
    builder.objectField(refs.VirtualVolume, 'costCenter', (t) =>
      t.string({
        nullable: true,
        description: 'The cost center billed for this VVOL (vvol-labels plugin).',
        // One statement for every VVOL of the request: plugins batch through the request's loaders too.
        resolve: (vvol, _args, ctx) =>
          ctx.loaders
            .loader('vvolLabels.costCenter', async (ids) => {
              const rows = resultRows(await ctx.services.core.db.execute(
                sql`select vvol_id, cost_center from example_vvol_labels where vvol_id = any(${`{${ids.join(',')}}`}::uuid[])`,
              ));
              const byId = new Map(rows.map((row) => [row.vvol_id, row.cost_center]));
              return ids.map((id) => byId.get(id) ?? null);
            })
            .load(vvol.id),
      }),
    );
  },
  hooks: {
    async vvolCreated(ctx, vvol) {
      await ctx.tx.execute(sql`insert into example_vvol_labels (vvol_id) values (${vvol.id}::uuid)`);
    },
    async policyApplied(ctx, vvol, rules) {
      const costCenter = rules.find((rule) => rule.capabilityId === COST_CENTER)?.value ?? null;
      await ctx.tx.execute(sql`
        insert into example_vvol_labels (vvol_id, cost_center) values (${vvol.id}::uuid, ${costCenter})
        on conflict (vvol_id) do update set cost_center = excluded.cost_center`);
    },
  },
});
