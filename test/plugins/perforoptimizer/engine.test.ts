import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stateOf } from '../../../src/plugins/perforoptimizer/engine.ts';
import { poolTiers, protocolEndpoints, storageArrays, storageContainers, storagePools } from '../../../src/core/db/tables.ts';
import { GiB, globalId, seedBasics, setDramCache, startApp, type TestApp } from '../../helpers/app.ts';

const TiB = 1024 * GiB;
const EXTENT = 32 * 1024 * 1024;

let app: TestApp;
let ids: Awaited<ReturnType<typeof seedBasics>>;

async function policy(app: TestApp, name: string, rules: [string, unknown][]) {
  const data = await app.query(`mutation($input: CreateStoragePolicyInput!) { createStoragePolicy(input: $input) { ... on CreateStoragePolicyPayload { storagePolicy { id } } ... on UserError { message } } }`, {
    input: { name, rules: rules.map(([capabilityId, value]) => ({ capabilityId, value })) },
  });
  expect(data.createStoragePolicy.storagePolicy, JSON.stringify(data)).toBeTruthy();
  return data.createStoragePolicy.storagePolicy.id as string;
}

/** A VM with one disk of `sizeBytes` in `container` under `policyId`; when `run`, powered on with a skewed read-mostly workload. */
async function vm(app: TestApp, name: string, policyId: string, container: string, sizeBytes = 100 * GiB, run = true) {
  const created = await app.query(
    `mutation($p: ID!, $c: ID!, $d: [VirtualDiskInput!]!) { createVirtualMachine(input: { name: "${name}", policyId: $p, containerId: $c, disks: $d }) { ... on CreateVirtualMachinePayload { virtualMachine { id virtualVolumes { id type } } } ... on UserError { message } } }`,
    { p: policyId, c: container, d: [{ sizeBytes }] },
  );
  const machine = created.createVirtualMachine.virtualMachine;
  expect(machine, JSON.stringify(created)).toBeTruthy();
  if (run) {
    await app.query(`mutation($id: ID!) { powerOnVirtualMachine(input: { id: $id }) { __typename } }`, { id: machine.id });
    const custom = { readIops: 4000, writeIops: 1000, blockSizeBytes: 8192, randomRatio: 1, zipfAlpha: 1.2, workingSetRatio: 0.5 };
    const set = await app.query(`mutation($id: ID!, $w: CustomWorkloadInput!) { setWorkload(input: { vmId: $id, custom: $w }) { __typename } }`, { id: machine.id, w: custom });
    expect(set.setWorkload.__typename).toBe('SetWorkloadPayload');
  }
  await app.settle();
  return { id: machine.id as string, disk: machine.virtualVolumes.find((v: any) => v.type === 'DATA').id as string };
}

const advance = async (app: TestApp, seconds: number) => {
  await app.query(`mutation($s: Float!) { advanceSimulation(input: { seconds: $s }) { __typename } }`, { s: seconds });
  await app.settle();
};
const powerOff = (app: TestApp, id: string) => app.query(`mutation($id: ID!) { powerOffVirtualMachine(input: { id: $id }) { __typename } }`, { id });
const state = async (app: TestApp, id: string) =>
  (await app.query(`query($id: ID!) { node(id: $id) { ... on VirtualVolume { policyState policyReason tiering { bytesByTier { ssd sas nlSas } ssdServedRatio relocatedBytes state } io { latencyMs servedIops ssdServedRatio } } } }`, { id })).node;

beforeAll(async () => {
  app = await startApp();
  ids = await seedBasics(app);
  // No DRAM cache in front: every sampled access reaches what these tests measure (test/domain/dram-cache.test.ts has both).
  await setDramCache(app, 0);
});
afterAll(() => app?.close());

describe('perforoptimizer on the tick', () => {
  it('promotes a skewed workload\'s hot extents to SSD within the policy\'s maximum and lowers its latency', async () => {
    const tiered = await policy(app, 'ssd-20', [['nec.po.ssdMaxPercent', 20], ['nec.po.analysisIntervalMinutes', 1]]);
    const capped = await policy(app, 'ssd-0', [['nec.po.ssdMaxPercent', 0], ['nec.po.analysisIntervalMinutes', 1]]);
    const fast = await vm(app, 'fast', tiered, ids.containers['tokyo-gold']);
    const slow = await vm(app, 'slow', capped, ids.containers['tokyo-gold']);
    // A maximum that binds: ⌈2 % of 3200 extents⌉ = 64 extents, fewer than the hot extents written.
    const tight = await vm(app, 'tight', await policy(app, 'ssd-2', [['nec.po.ssdMaxPercent', 2], ['nec.po.analysisIntervalMinutes', 1]]), ids.containers['tokyo-gold']);
    expect((await state(app, fast.disk)).policyState).toBe('APPLIED');

    await advance(app, 30);
    const before = await state(app, fast.disk);
    // Nothing relocated before the first interval ends: every extent on the default tier SAS.
    expect(before.tiering).toMatchObject({ bytesByTier: { ssd: 0, nlSas: 0 }, ssdServedRatio: 0, relocatedBytes: 0, state: 'MONITORING' });
    expect(before.tiering.bytesByTier.sas).toBeGreaterThan(0);

    await advance(app, 150);
    const hot = await state(app, fast.disk);
    const cold = await state(app, slow.disk);
    expect(hot.tiering.state).toBe('MONITORING');
    expect(hot.tiering.bytesByTier.ssd).toBeGreaterThan(0);
    expect(hot.tiering.bytesByTier.ssd).toBeLessThanOrEqual(0.2 * 100 * GiB);
    expect(hot.tiering.relocatedBytes).toBeGreaterThanOrEqual(hot.tiering.bytesByTier.ssd);
    expect(hot.tiering.ssdServedRatio).toBeGreaterThan(0);
    expect(hot.io.ssdServedRatio).toBe(hot.tiering.ssdServedRatio);
    expect((await state(app, tight.disk)).tiering.bytesByTier.ssd).toBe(64 * 32 * 1024 * 1024);

    expect(cold.tiering).toMatchObject({ bytesByTier: { ssd: 0, nlSas: 0 }, ssdServedRatio: 0, relocatedBytes: 0 });
    expect(hot.io.servedIops).toBe(cold.io.servedIops);
    expect(hot.io.latencyMs).toBeLessThan(cold.io.latencyMs);
    // Same pool, same utilization: the ratio of latencies is the ratio of service times (SSD 0.2 ms, SAS 5 ms).
    const ssd = hot.io.ssdServedRatio;
    expect(hot.io.latencyMs / cold.io.latencyMs).toBeCloseTo((ssd * 0.2 + (1 - ssd) * 5) / 5, 6);
    await powerOff(app, fast.id);
    await powerOff(app, slow.id);
    await powerOff(app, tight.id);
  });

  it('MANUAL mode stays IDLE until relocateNow, which runs one relocation at the next tick', async () => {
    const manual = await policy(app, 'ssd-manual', [['nec.po.ssdMaxPercent', 20], ['nec.po.analysisIntervalMinutes', 1], ['nec.po.executionMode', 'MANUAL']]);
    const m = await vm(app, 'manual', manual, ids.containers['tokyo-gold']);
    await advance(app, 150);
    const waiting = await state(app, m.disk);
    expect(waiting.tiering).toMatchObject({ bytesByTier: { ssd: 0 }, relocatedBytes: 0, state: 'IDLE' });

    const asked = await app.query(`mutation($id: ID!) { relocateNow(input: { vvolId: $id }) { __typename ... on RelocateNowPayload { virtualVolume { id } } } }`, { id: m.disk });
    expect(asked.relocateNow).toEqual({ __typename: 'RelocateNowPayload', virtualVolume: { id: m.disk } });
    // Only a storage admin may ask.
    const denied = await app.query(`mutation($id: ID!) { relocateNow(input: { vvolId: $id }) { __typename } }`, { id: m.disk }, 'viewer');
    expect(denied.relocateNow.__typename).toBe('ForbiddenError');
    expect((await state(app, m.disk)).tiering.bytesByTier.ssd).toBe(0);

    await advance(app, 1);
    const moved = await state(app, m.disk);
    expect(moved.tiering.state).toBe('IDLE');
    expect(moved.tiering.bytesByTier.ssd).toBeGreaterThan(0);
    expect(moved.tiering.bytesByTier.ssd).toBeLessThanOrEqual(0.2 * 100 * GiB);
    expect(moved.tiering.relocatedBytes).toBeGreaterThan(0);

    // No further run without another request.
    await advance(app, 120);
    expect((await state(app, m.disk)).tiering.relocatedBytes).toBe(moved.tiering.relocatedBytes);
    await powerOff(app, m.id);
  });

  it("a minimum the pool's tier cannot hold makes the VVOL INFEASIBLE with the reason", async () => {
    // osaka pool-0 has 20 TiB of SSD, all free: a 30 TiB disk cannot have 100 % on SSD, a 100 GiB one can have 50 %.
    const all = await policy(app, 'ssd-all', [['nec.po.ssdMinPercent', 100], ['nec.po.ssdMaxPercent', 100]]);
    const big = await vm(app, 'big', all, ids.containers['osaka-bulk'], 30 * TiB, false);
    const s = await state(app, big.disk);
    expect(s.policyState).toBe('INFEASIBLE');
    expect(s.policyReason).toBe('perforoptimizer: nec.po.ssdMinPercent: 100 % of 983040 extents needs 983040 extents on SSD, but pool pool-0 has 655360 SSD extents free');

    const half = await policy(app, 'ssd-half', [['nec.po.ssdMinPercent', 50]]);
    const small = await vm(app, 'small', half, ids.containers['osaka-bulk'], 100 * GiB, false);
    expect((await state(app, small.disk)).policyState).toBe('APPLIED');
  });

  it('relocateNow names the field of an id that is not a VVOL', async () => {
    const data = await app.query(`mutation($id: ID!) { relocateNow(input: { vvolId: $id }) { __typename ... on UserError { message } } }`, { id: ids.containers['tokyo-gold'] });
    expect(data.relocateNow.__typename).toBe('NotFoundError');
  });
});

/** A container on a pool of its own: SSD 20 extents, SAS 180 (a budget of 2 extents per interval). */
let tinyPools = 0;
async function tinyPool(name: string) {
  const n = ++tinyPools;
  return app.core.transact(async ({ tx }) => {
    const [array] = await tx.insert(storageArrays).values({ name, model: 'M110', serialNumber: `TINY-${name}`, site: 'TOKYO', role: 'PRIMARY' }).returning();
    const [pool] = await tx.insert(storagePools).values({ arrayId: array.id, name: `${name}-pool`, l2CacheBytes: 0 }).returning();
    await tx.insert(poolTiers).values([
      { poolId: pool.id, tier: 'SSD', capacityBytes: 20 * EXTENT, maxIops: 100_000 },
      { poolId: pool.id, tier: 'SAS', capacityBytes: 180 * EXTENT, maxIops: 100_000 },
    ]);
    const [created] = await tx.insert(storageContainers).values({ arrayId: array.id, poolId: pool.id, name: `${name}-c`, capacityBytes: 1024 * GiB, maxVvolSizeBytes: 200 * EXTENT, namespaces: ['vasa', 'nec.iolm', 'nec.po'], offers: {} }).returning();
    await tx.insert(protocolEndpoints).values({ arrayId: array.id, name: `${name}-fc`, protocol: 'FC', identifier: `50:00:00:00:00:00:00:${n.toString(16).padStart(2, '0')}` });
    return globalId('StorageContainer', created.id);
  });
}

describe('a reverted VVOL', () => {
  it("is served from the snapshot's tiers at once, not from the placement it had before the revert", async () => {
    const tiered = await policy(app, 'ssd-20-revert', [['nec.po.ssdMaxPercent', 20], ['nec.po.analysisIntervalMinutes', 1]]);
    const m = await vm(app, 'reverted', tiered, ids.containers['tokyo-gold']);
    await advance(app, 30);
    const taken = await app.query(`mutation($id: ID!) { snapshotVirtualMachine(input: { vmId: $id, name: "all-sas" }) { ... on SnapshotVirtualMachinePayload { snapshot { id } } } }`, { id: m.id });
    const snapshotId = taken.snapshotVirtualMachine.snapshot.id;
    await advance(app, 150);
    const promoted = await state(app, m.disk);
    expect(promoted.tiering.bytesByTier.ssd).toBeGreaterThan(0);
    expect(promoted.io.ssdServedRatio).toBeGreaterThan(0);

    const reverted = await app.query(`mutation($vm: ID!, $s: ID!) { revertVirtualMachine(input: { vmId: $vm, snapshotId: $s }) { __typename } }`, { vm: m.id, s: snapshotId });
    expect(reverted.revertVirtualMachine.__typename).toBe('RevertVirtualMachinePayload');
    await advance(app, 1);
    const after = await state(app, m.disk);
    expect(after.tiering.bytesByTier.ssd).toBe(0);
    expect(after.io.ssdServedRatio).toBe(0);
    await powerOff(app, m.id);
  });
});

describe('compliance', () => {
  const compliance = async (id: string) =>
    (await app.query(`query($id: ID!) { node(id: $id) { ... on VirtualVolume { policyState compliance { status violations { capabilityId expected current } } } } }`, { id })).node;
  const relocate = async (id: string) => {
    await app.query(`mutation($id: ID!) { relocateNow(input: { vvolId: $id }) { __typename } }`, { id });
    await advance(app, 1);
  };

  it('is NON_COMPLIANT while the placement breaks a minimum or a maximum, until relocation mends it', async () => {
    const atLeastHalf = await policy(app, 'ssd-min-manual', [['nec.po.ssdMinPercent', 50], ['nec.po.executionMode', 'MANUAL']]);
    // 1 GiB: 32 extents, every one of them written within a few ticks.
    const m = await vm(app, 'filled', atLeastHalf, ids.containers['tokyo-gold'], GiB);
    const everywhere = { readIops: 1000, writeIops: 4000, blockSizeBytes: 65536, randomRatio: 1, zipfAlpha: 0.1, workingSetRatio: 1 };
    await app.query(`mutation($id: ID!, $w: CustomWorkloadInput!) { setWorkload(input: { vmId: $id, custom: $w }) { __typename } }`, { id: m.id, w: everywhere });
    await advance(app, 1);
    // A sparse VVOL is not behind on its minimum: what it has not written can still go to SSD.
    expect((await compliance(m.disk)).compliance.status).toBe('COMPLIANT');
    await advance(app, 60);
    expect((await state(app, m.disk)).tiering.bytesByTier).toEqual({ ssd: 0, sas: GiB, nlSas: 0 });
    expect((await compliance(m.disk)).compliance).toEqual({
      status: 'NON_COMPLIANT',
      violations: [{ capabilityId: 'nec.po.ssdMinPercent', expected: 'at least 16 extents on SSD (50 % of 32)', current: '0 extents on SSD' }],
    });

    await relocate(m.disk);
    expect((await state(app, m.disk)).tiering.bytesByTier.ssd).toBeGreaterThanOrEqual(GiB / 2);
    expect((await compliance(m.disk)).compliance).toEqual({ status: 'COMPLIANT', violations: [] });

    // A lower maximum: over it from the moment the policy applies, until the next relocation.
    const atMostTenth = await policy(app, 'ssd-max-manual', [['nec.po.ssdMaxPercent', 10], ['nec.po.executionMode', 'MANUAL']]);
    const applied = await app.query(`mutation($p: ID!, $t: ID!) { applyStoragePolicy(input: { policyId: $p, targetId: $t }) { __typename } }`, { p: atMostTenth, t: m.id });
    expect(applied.applyStoragePolicy.__typename).toBe('ApplyStoragePolicyPayload');
    await app.settle();
    const over = await compliance(m.disk);
    expect(over.policyState).toBe('APPLIED');
    expect(over.compliance).toEqual({
      status: 'NON_COMPLIANT',
      violations: [{ capabilityId: 'nec.po.ssdMaxPercent', expected: 'at most 4 extents on SSD (10 % of 32)', current: expect.stringMatching(/^(1[6-9]|2\d|3[0-2]) extents on SSD$/) }],
    });
    await relocate(m.disk);
    expect((await state(app, m.disk)).tiering.bytesByTier.ssd).toBeLessThanOrEqual(4 * EXTENT);
    expect((await compliance(m.disk)).compliance).toEqual({ status: 'COMPLIANT', violations: [] });
    await powerOff(app, m.id);
  });
});

describe('tier minimums', () => {
  it('a minimum the pool cannot hold beside the minimums already admitted is INFEASIBLE, though nothing is on SSD yet', async () => {
    const container = await tinyPool('mins');
    const sixty = await policy(app, 'ssd-min-60', [['nec.po.ssdMinPercent', 60]]);
    const first = await vm(app, 'min-first', sixty, container, 20 * EXTENT, false);
    const second = await vm(app, 'min-second', sixty, container, 20 * EXTENT, false);
    expect((await state(app, first.disk)).policyState).toBe('APPLIED');
    const refused = await state(app, second.disk);
    expect(refused.policyState).toBe('INFEASIBLE');
    expect(refused.policyReason).toBe('perforoptimizer: nec.po.ssdMinPercent: 60 % of 20 extents needs 12 extents on SSD, but pool mins-pool has 8 SSD extents free');
  });

  it('counts the minimums admitted earlier in the same reconciling pass: of one VM\'s two disks, one is admitted', async () => {
    const container = await tinyPool('pass');
    const sixty = await policy(app, 'ssd-min-60-pass', [['nec.po.ssdMinPercent', 60]]);
    const created = await app.query(
      `mutation($p: ID!, $c: ID!, $d: [VirtualDiskInput!]!) { createVirtualMachine(input: { name: "two-disks", policyId: $p, containerId: $c, disks: $d }) { ... on CreateVirtualMachinePayload { virtualMachine { virtualVolumes { id type } } } } }`,
      { p: sixty, c: container, d: [{ sizeBytes: 20 * EXTENT }, { sizeBytes: 20 * EXTENT }] },
    );
    await app.settle();
    const disks = created.createVirtualMachine.virtualMachine.virtualVolumes.filter((v: any) => v.type === 'DATA');
    const states = await Promise.all(disks.map(async (d: any) => (await state(app, d.id)).policyState));
    expect(states.sort()).toEqual(['APPLIED', 'INFEASIBLE']);
  });
});

describe('the migration budget', () => {
  it('is per analysis interval and pool: VVOLs whose intervals end at different ticks share it', async () => {
    const container = await tinyPool('tiny');
    const everyMinute = await policy(app, 'po-budget', [['nec.po.analysisIntervalMinutes', 1]]);
    const vms = [];
    for (const name of ['budget-a', 'budget-b', 'budget-c', 'budget-d']) vms.push(await vm(app, name, everyMinute, container, 40 * EXTENT, false));
    // Started a second apart: each one's interval ends a tick after the one before's.
    for (const started of vms) {
      await app.query(`mutation($id: ID!) { powerOnVirtualMachine(input: { id: $id }) { __typename } }`, { id: started.id });
      await app.query(`mutation($id: ID!) { setWorkload(input: { vmId: $id, preset: OLTP }) { __typename } }`, { id: started.id });
      await advance(app, 1);
    }
    await advance(app, 120 - vms.length);
    let moved = 0;
    for (const started of vms) moved += (await state(app, started.disk)).tiering.relocatedBytes / EXTENT;
    // Two intervals have ended: at most two budgets, however many VVOLs planned.
    expect(moved).toBeGreaterThan(0);
    expect(moved).toBeLessThanOrEqual(4);
    for (const started of vms) await powerOff(app, started.id);
  });
});

describe('a policy whose analysis interval changes', () => {
  it('keeps a relocateNow not yet acted on, and its heat halves every new interval', async () => {
    const policyId = await policy(app, 'po-retimed', [['nec.po.analysisIntervalMinutes', 5], ['nec.po.executionMode', 'MANUAL']]);
    const retimed = await vm(app, 'retimed', policyId, ids.containers['tokyo-gold']);
    await advance(app, 120);
    expect((await state(app, retimed.disk)).tiering).toMatchObject({ state: 'IDLE', relocatedBytes: 0 });
    const asked = await app.query(`mutation($id: ID!) { relocateNow(input: { vvolId: $id }) { __typename } }`, { id: retimed.disk });
    expect(asked.relocateNow.__typename).toBe('RelocateNowPayload');
    const updated = await app.query(`mutation($input: UpdateStoragePolicyInput!) { updateStoragePolicy(input: $input) { __typename } }`, {
      input: { id: policyId, rules: [{ capabilityId: 'nec.po.analysisIntervalMinutes', value: 10 }, { capabilityId: 'nec.po.executionMode', value: 'MANUAL' }] },
    });
    expect(updated.updateStoragePolicy.__typename).toBe('UpdateStoragePolicyPayload');
    await app.settle();
    await advance(app, 1);
    expect((await state(app, retimed.disk)).tiering.relocatedBytes).toBeGreaterThan(0);
    const vvolId = Buffer.from(retimed.disk, 'base64').toString().split(':')[1];
    const tiering = stateOf(app.core.extents).volumes.get(vvolId)!;
    expect([tiering.cycle.analysisIntervalSeconds, tiering.heat.halfLifeSeconds]).toEqual([600, 600]);
    await powerOff(app, retimed.id);
  });
});

describe('determinism', () => {
  it('the same seed and the same operations place the same extents on SSD', async () => {
    const run = async () => {
      const replay = await startApp({ env: { VVOLGRAPH_SEED: 'tiering-replay' } });
      try {
        const { containers } = await seedBasics(replay);
        const p = await policy(replay, 'p', [['nec.po.ssdMaxPercent', 20], ['nec.po.analysisIntervalMinutes', 1]]);
        const x = await vm(replay, 'x', p, containers['tokyo-gold']);
        await advance(replay, 150);
        const s = await state(replay, x.disk);
        return { tiering: s.tiering, io: s.io };
      } finally {
        await replay.close();
      }
    };
    const [first, second] = [await run(), await run()];
    expect(second).toEqual(first);
    expect(first.tiering.bytesByTier.ssd).toBeGreaterThan(0);
  });
});
