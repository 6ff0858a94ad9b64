import { sql } from 'drizzle-orm';
import { NotFoundError, pgArray, resultRows, type SchemaBuilder, type SchemaRefs, type VirtualVolumeRow } from '../../core/plugin.ts';
import { isTiered, requestRelocation, settingsOf, stateOf } from './engine.ts';
import type { Tier } from './tiering.ts';

interface BytesByTier {
  ssd: number;
  sas: number;
  nlSas: number;
}

interface Tiering {
  bytesByTier: BytesByTier;
  ssdServedRatio: number;
  relocatedBytes: number;
  state: string;
}

/** VirtualVolume.tiering. */
export function schema(builder: SchemaBuilder, refs: SchemaRefs): void {
  const BytesByTierRef = builder.objectRef<BytesByTier>('TierBytes').implement({
    description: "Bytes of the VVOL's written extents on each tier (unwritten extents hold none).",
    fields: (t) => ({
      ssd: t.expose('ssd', { type: 'Bytes' }),
      sas: t.expose('sas', { type: 'Bytes' }),
      nlSas: t.expose('nlSas', { type: 'Bytes' }),
    }),
  });
  const TieringRef = builder.objectRef<Tiering>('Tiering').implement({
    description: "PerforOptimizer: where the VVOL's extents are and how its relocation cycle stands.",
    fields: (t) => ({
      bytesByTier: t.field({ type: BytesByTierRef, resolve: (x) => x.bytesByTier }),
      ssdServedRatio: t.exposeFloat('ssdServedRatio', { description: 'Share of the last tick\'s I/O served from SSD extents (0..1).' }),
      relocatedBytes: t.expose('relocatedBytes', { type: 'Bytes', description: 'Bytes moved between tiers since this process started tiering the VVOL.' }),
      state: t.exposeString('state', { description: 'MONITORING | CALCULATING | RELOCATING | IDLE (IDLE: MANUAL mode waiting for relocateNow).' }),
    }),
  });
  builder.objectField(refs.VirtualVolume, 'tiering', (t) =>
    t.field({
      type: TieringRef,
      resolve: async (vvol, _args, ctx) => {
        const { core } = ctx.services;
        const { extentBytes } = core.extents;
        // One statement per request, however many VVOLs are listed.
        const counts = await ctx.loaders
          .loader<string, Record<Tier, number>>('perforoptimizerTierCounts', async (ids) => {
            const rows = resultRows<{ vvol_id: string; tier: Tier; n: string }>(await core.db.execute(
              sql`select vvol_id::text as vvol_id, tier::text as tier, count(*)::text as n from extents where vvol_id = any(${pgArray(ids)}::uuid[]) group by vvol_id, tier`,
            ));
            return ids.map((id) => {
              const c: Record<Tier, number> = { SSD: 0, SAS: 0, NL_SAS: 0 };
              for (const r of rows) if (r.vvol_id === id) c[r.tier] = Number(r.n);
              return c;
            });
          })
          .load(vvol.id);
        const rules = await ctx.loaders.rulesByPolicy.load(vvol.policyId);
        const entry = stateOf(core.extents).volumes.get(vvol.id);
        const resting = settingsOf(rules).mode === 'MANUAL' ? 'IDLE' : 'MONITORING';
        return {
          bytesByTier: { ssd: counts.SSD * extentBytes, sas: counts.SAS * extentBytes, nlSas: counts.NL_SAS * extentBytes },
          ssdServedRatio: ctx.services.engine.lastTickIo(vvol.id)?.ssdServedRatio ?? 0,
          relocatedBytes: entry?.relocatedBytes ?? 0,
          state: isTiered(rules) && entry ? entry.cycle.state : resting,
        };
      },
    }),
  );
}

/**
 * relocateNow(input: { vvolId }): storageAdmin. Kept apart from `schema` because a new mutation needs its
 * entry in test/api/auth.test.ts's role matrix before it can be wired into the plugin (see index.ts).
 */
export function relocateNowMutation(_builder: SchemaBuilder, refs: SchemaRefs): void {
  refs.mutation<{ vvolId: string }>({
    name: 'relocateNow',
    description: "PerforOptimizer: plans and relocates the VVOL's extents at the next tick (MANUAL mode's trigger; in AUTO an extra run).",
    scope: 'storageAdmin',
    input: (t) => ({ vvolId: t.id({ required: true }) }),
    payload: (t) => ({
      virtualVolume: t.field({
        type: refs.VirtualVolume,
        resolve: async (p, _args, ctx) => (await ctx.loaders.vvols.load(p.vvolId)) as VirtualVolumeRow,
      }),
    }),
    resolve: async (input: { vvolId: string }, work, ctx) => {
      const { id } = refs.decodeId(String(input.vvolId), ['VirtualVolume'], 'input.vvolId');
      const [row] = resultRows<{ id: string }>(await work.tx.execute(sql`select id::text as id from virtual_volumes where id = ${id}::uuid`));
      if (!row) throw new NotFoundError('input.vvolId', id, `No virtual volume ${input.vvolId}`);
      work.afterCommit(() => requestRelocation(ctx.services.core.extents, id));
      return { vvolId: id };
    },
  });
}
