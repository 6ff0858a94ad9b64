import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resultRows } from '../../src/core/db/client.ts';
import { definePlugin, type CapabilityNamespace } from '../../src/core/plugin.ts';
import { GiB, seedBasics, startApp, type TestApp } from '../helpers/app.ts';

/** A namespace every container supports, with one INT capability `<namespace>.level`. */
const namespaceOf = (namespace: string): CapabilityNamespace => ({
  namespace,
  everyContainer: true,
  items: [{ id: `${namespace}.level`, name: 'Level', summary: 'A level', valueType: 'INT', min: 0, max: 10, lineOfService: 'PERSISTENCE' }],
});

/** A third party's compliance judge with a bug. */
const broken = definePlugin({
  name: 'broken-judge',
  version: '1.0.0',
  capabilities: namespaceOf('broken'),
  hooks: {
    compliance() {
      throw new Error('the judge fell over');
    },
  },
});

/** A judge that finds every VVOL under its rules at fault, and also answers for a VVOL it was not asked about. */
const strict = definePlugin({
  name: 'strict-judge',
  version: '1.0.0',
  capabilities: namespaceOf('strict'),
  hooks: {
    compliance(_ctx, items) {
      const verdicts = new Map(items.map(({ vvol }) => [vvol.id, [{ capabilityId: 'strict.level', expected: '0', current: '1', message: 'too high' }]]));
      return verdicts.set('00000000-0000-0000-0000-000000000000', [{ capabilityId: 'strict.level', expected: '0', current: '1', message: 'not asked' }]);
    },
  },
});

/** Plain-JavaScript judges: one with nothing to say returns nothing, one returns an object instead of a Map. */
const silent = definePlugin({ name: 'silent-judge', version: '1.0.0', capabilities: namespaceOf('silent'), hooks: { compliance: (() => undefined) as never } });
const plain = definePlugin({ name: 'plain-judge', version: '1.0.0', capabilities: namespaceOf('plain'), hooks: { compliance: (() => ({})) as never } });

/** A plugin whose loader happens to take the name of one of the core's. */
const sameName = definePlugin({
  name: 'same-name',
  version: '1.0.0',
  schema(builder, refs) {
    builder.objectField(refs.VirtualVolume, 'owner', (t) => t.string({
      nullable: true,
      resolve: (vvol, _args, ctx) => (vvol.vmId ? ctx.loaders.loader('vmById', async (ids: readonly string[]) => ids.map(() => 'the plugin\'s owner')).load(vvol.vmId) : null),
    }));
  },
});

/** Records the VVOLs the lifecycle hooks announce, as a plugin keeping a row per VVOL would. */
const seen = { created: [] as string[], deleted: [] as string[] };
const recorder = definePlugin({
  name: 'recorder',
  version: '1.0.0',
  hooks: {
    vvolCreated(_ctx, vvol) {
      seen.created.push(vvol.id);
    },
    vvolDeleted(_ctx, vvol) {
      seen.deleted.push(vvol.id);
    },
  },
});

/** Emits an event every tick: `sampler.sampled`, which it declares demand-neutral, or `sampler.grew`, which it does not. */
let samplerEmits = 'sampler.sampled';
const sampler = definePlugin({
  name: 'sampler',
  version: '1.0.0',
  demandNeutralEvents: ['sampler.sampled'],
  hooks: {
    observe(ctx) {
      ctx.work.emit({ kind: samplerEmits, entityType: 'StorageArray', entityId: [...ctx.arrays][0] ?? '', message: 'sampled' });
    },
  },
});

let app: TestApp;

beforeAll(async () => {
  app = await startApp({ builtIns: [broken, strict, silent, plain, recorder, sampler, sameName] });
  await seedBasics(app);
});
afterAll(() => app?.close());

async function vmUnder(name: string, rules: { capabilityId: string; value: unknown }[]): Promise<void> {
  const policy = (await app.query(`mutation($rules: [CapabilityRuleInput!]!) { createStoragePolicy(input: { name: "${name}", rules: $rules }) { ... on CreateStoragePolicyPayload { storagePolicy { id } } } }`, { rules })).createStoragePolicy.storagePolicy.id;
  await app.query(`mutation($p: ID!) { createVirtualMachine(input: { name: "${name}", policyId: $p, disks: [{ sizeBytes: ${GiB} }] }) { __typename } }`, { p: policy });
}

describe('a plugin\'s compliance hook', () => {
  it('that throws leaves its own capabilities UNKNOWN with the reason, and every other verdict of the request stands', async () => {
    await vmUnder('judged-by-broken', [{ capabilityId: 'vasa.snapshot', value: true }, { capabilityId: 'broken.level', value: 3 }]);
    await vmUnder('judged-by-strict', [{ capabilityId: 'strict.level', value: 0 }]);
    await vmUnder('judged-by-core', [{ capabilityId: 'vasa.snapshot', value: true }]);
    await app.settle();
    const result = await app.gql(`{ virtualMachines(first: 10) { edges { node { name compliance { status violations { capabilityId expected current message } } } } } }`);
    expect(result.errors).toBeUndefined();
    const byName = Object.fromEntries(result.data.virtualMachines.edges.map((e: any) => [e.node.name, e.node.compliance]));
    expect(byName['judged-by-broken'].status).toBe('UNKNOWN');
    expect(byName['judged-by-broken'].violations[0]).toEqual({ capabilityId: 'broken.level', expected: '3', current: 'unknown', message: 'broken-judge could not judge it: the judge fell over' });
    // The stray verdict for a VVOL it was not asked about is ignored.
    expect(byName['judged-by-strict']).toMatchObject({ status: 'NON_COMPLIANT', violations: [{ capabilityId: 'strict.level', message: 'too high' }, { capabilityId: 'strict.level', message: 'too high' }] });
    expect(byName['judged-by-core']).toEqual({ status: 'COMPLIANT', violations: [] });
  });

  it('that returns nothing found nothing wrong; one that returns no Map is UNKNOWN, saying so', async () => {
    await vmUnder('judged-by-silent', [{ capabilityId: 'silent.level', value: 1 }]);
    await vmUnder('judged-by-plain', [{ capabilityId: 'plain.level', value: 1 }]);
    await app.settle();
    const result = await app.gql(`{ virtualMachines(first: 10) { edges { node { name compliance { status violations { message } } } } } }`);
    expect(result.errors).toBeUndefined();
    const byName = Object.fromEntries(result.data.virtualMachines.edges.map((e: any) => [e.node.name, e.node.compliance]));
    expect(byName['judged-by-silent']).toEqual({ status: 'COMPLIANT', violations: [] });
    expect(byName['judged-by-plain'].status).toBe('UNKNOWN');
    expect(byName['judged-by-plain'].violations[0].message).toBe('plain-judge could not judge it: compliance must return a Map of violations by VVOL id');
  });
});

describe('vvolCreated and vvolDeleted', () => {
  it('announce the same VVOLs: a snapshot\'s VVOLs are created as they are deleted', async () => {
    await vmUnder('snapped', []);
    const vm = (await app.query(`{ virtualMachines(filter: { name: "snapped" }) { edges { node { id } } } }`)).virtualMachines.edges[0].node.id;
    const snapshot = (await app.query(`mutation($vm: ID!) { snapshotVirtualMachine(input: { vmId: $vm, name: "s1" }) { ... on SnapshotVirtualMachinePayload { snapshot { id virtualVolumes { vasaId } } } } }`, { vm })).snapshotVirtualMachine.snapshot;
    const snapshotVvols = snapshot.virtualVolumes.map((v: { vasaId: string }) => v.vasaId);
    expect(snapshotVvols).toHaveLength(1);
    expect(seen.created).toContain(snapshotVvols[0]);
    const { events } = await app.query(`{ events(first: 1000, kinds: ["vvol.created"]) { entityId } }`);
    expect(events.map((e: { entityId: string }) => e.entityId)).toContain(snapshotVvols[0]);

    await app.query(`mutation($s: ID!) { deleteSnapshot(input: { snapshotId: $s }) { __typename } }`, { s: snapshot.id });
    expect(seen.deleted).toEqual(snapshotVvols);
  });
});

describe('demandNeutralEvents', () => {
  const demandVersion = async () => resultRows<{ version: number | null }>(await app.core.db.execute(sql`select (select version from demand_changes where id = 1) as version`))[0].version;
  const advance = () => app.query(`mutation { advanceSimulation(input: { seconds: 1 }) { __typename } }`);

  it('an event a plugin declares demand-neutral does not make the next tick read the demand set again; any other event does', async () => {
    await app.settle();
    await advance();
    const before = await demandVersion();
    await advance();
    await advance();
    expect(await demandVersion()).toBe(before);
    samplerEmits = 'sampler.grew';
    await advance();
    expect(await demandVersion()).not.toBe(before);
  });
});

describe('ctx.loaders.loader', () => {
  it('keeps a plugin\'s loaders apart from the core\'s: a plugin naming one of its own as the core names one does not take the core\'s place', async () => {
    await vmUnder('owned', []);
    const { virtualMachines } = await app.query(`{ virtualMachines(filter: { name: "owned" }) { edges { node { virtualVolumes { owner virtualMachine { name } } } } } }`);
    expect(virtualMachines.edges[0].node.virtualVolumes).toEqual([
      { owner: 'the plugin\'s owner', virtualMachine: { name: 'owned' } },
      { owner: 'the plugin\'s owner', virtualMachine: { name: 'owned' } },
    ]);
  });
});
