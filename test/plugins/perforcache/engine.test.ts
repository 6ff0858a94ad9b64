import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { poolTiers, protocolEndpoints, storageArrays, storageContainers, storagePools } from '../../../src/core/db/tables.ts';
import { GiB, globalId, seedBasics, setDramCache, startApp, type TestApp } from '../../helpers/app.ts';

let app: TestApp;
let ids: Awaited<ReturnType<typeof seedBasics>>;

const EXTENT = 32 * 1024 * 1024;

async function policy(app: TestApp, name: string, rules: [string, unknown][]) {
  const data = await app.query(`mutation($input: CreateStoragePolicyInput!) { createStoragePolicy(input: $input) { ... on CreateStoragePolicyPayload { storagePolicy { id } } ... on UserError { message } } }`, {
    input: { name, rules: rules.map(([capabilityId, value]) => ({ capabilityId, value })) },
  });
  expect(data.createStoragePolicy.storagePolicy, JSON.stringify(data)).toBeTruthy();
  return data.createStoragePolicy.storagePolicy.id as string;
}

const cachePolicy = (app: TestApp, name: string, capacityGiB: number, mode: 'READ_ONLY' | 'READ_WRITE') =>
  policy(app, name, [['nec.pc.enabled', true], ['nec.pc.capacityGiB', capacityGiB], ['nec.pc.mode', mode]]);

interface Workload { readIops: number; writeIops: number; zipfAlpha?: number; workingSetRatio?: number }

/** A running VM with `disks` 100 GiB disks in `container`, under `policyId`, running a custom workload. */
async function runningVm(app: TestApp, name: string, policyId: string, container: string, w: Workload, disks = 1) {
  const created = await app.query(
    `mutation($p: ID!, $c: ID!, $d: [VirtualDiskInput!]!) { createVirtualMachine(input: { name: "${name}", policyId: $p, containerId: $c, disks: $d }) { ... on CreateVirtualMachinePayload { virtualMachine { id virtualVolumes { id type } } } ... on UserError { message } } }`,
    { p: policyId, c: container, d: Array.from({ length: disks }, () => ({ sizeBytes: 100 * GiB })) },
  );
  const vm = created.createVirtualMachine.virtualMachine;
  expect(vm, JSON.stringify(created)).toBeTruthy();
  await app.query(`mutation($id: ID!) { powerOnVirtualMachine(input: { id: $id }) { __typename } }`, { id: vm.id });
  const custom = { readIops: w.readIops, writeIops: w.writeIops, blockSizeBytes: 8192, randomRatio: 1, zipfAlpha: w.zipfAlpha ?? 1.2, workingSetRatio: w.workingSetRatio ?? 0.5 };
  const set = await app.query(`mutation($id: ID!, $w: CustomWorkloadInput!) { setWorkload(input: { vmId: $id, custom: $w }) { __typename } }`, { id: vm.id, w: custom });
  expect(set.setWorkload.__typename).toBe('SetWorkloadPayload');
  await app.settle();
  const data = vm.virtualVolumes.filter((v: any) => v.type === 'DATA').map((v: any) => v.id as string);
  return { id: vm.id as string, disk: data[0] as string, disks: data as string[] };
}

const advance = async (app: TestApp, seconds = 1) => {
  await app.query(`mutation($s: Float!) { advanceSimulation(input: { seconds: $s }) { __typename } }`, { s: seconds });
  await app.settle();
};
const apply = async (app: TestApp, policyId: string, targetId: string) => {
  const data = await app.query(`mutation($p: ID!, $t: ID!) { applyStoragePolicy(input: { policyId: $p, targetId: $t }) { __typename ... on UserError { message } } }`, { p: policyId, t: targetId });
  expect(data.applyStoragePolicy.__typename, JSON.stringify(data)).toBe('ApplyStoragePolicyPayload');
  await app.settle();
};
const state = async (app: TestApp, id: string) =>
  (await app.query(`query($id: ID!) { node(id: $id) { ... on VirtualVolume { policyState policyReason l2Cache { enabled mode capacityBytes usedBytes hitRatio { read write all } } io { cacheHitRatio ssdServedRatio latencyMs servedIops } } } }`, { id })).node;

beforeAll(async () => {
  app = await startApp();
  ids = await seedBasics(app);
  // No DRAM cache in front: every sampled access reaches what these tests measure (test/domain/dram-cache.test.ts has both).
  await setDramCache(app, 0);
});
afterAll(() => app?.close());

describe('perforcache on the tick', () => {
  let cached: Awaited<ReturnType<typeof runningVm>>;

  it('a skewed read workload hits the cache and gets a lower latency than the same VM without it', async () => {
    const withCache = await cachePolicy(app, 'cache-64', 64, 'READ_ONLY');
    const without = await policy(app, 'no-cache', [['nec.pc.enabled', false]]);
    const reads = { readIops: 5000, writeIops: 0, zipfAlpha: 1.2, workingSetRatio: 0.5 };
    cached = await runningVm(app, 'cached', withCache, ids.containers['tokyo-gold'], reads);
    const plain = await runningVm(app, 'plain', without, ids.containers['tokyo-gold'], reads);
    expect((await state(app, cached.disk)).policyState).toBe('APPLIED');
    for (let t = 0; t < 10; t++) await advance(app);

    const hot = await state(app, cached.disk);
    expect(hot.l2Cache).toMatchObject({ enabled: true, mode: 'READ_ONLY', capacityBytes: 64 * GiB });
    expect(hot.l2Cache.hitRatio.read).toBeGreaterThan(0);
    expect(hot.l2Cache.hitRatio.write).toBe(0);
    expect(hot.l2Cache.usedBytes).toBeGreaterThan(0);
    expect(hot.l2Cache.usedBytes).toBeLessThanOrEqual(64 * GiB);
    expect(hot.l2Cache.usedBytes % EXTENT).toBe(0);
    expect(hot.io.cacheHitRatio).toBeGreaterThan(0);

    const cold = await state(app, plain.disk);
    expect(cold.l2Cache).toEqual({ enabled: false, mode: null, capacityBytes: 0, usedBytes: 0, hitRatio: { read: 0, write: 0, all: 0 } });
    expect(cold.io.cacheHitRatio).toBe(0);
    expect(hot.io.servedIops).toBe(cold.io.servedIops);
    expect(hot.io.latencyMs).toBeLessThan(cold.io.latencyMs);
    // Same pool, same utilization: the ratio of latencies is the ratio of service times.
    const hit = hot.io.cacheHitRatio;
    expect(hot.io.latencyMs / cold.io.latencyMs).toBeCloseTo((hit * 0.2 + (1 - hit) * 5) / 5, 6);
    await app.query(`mutation($id: ID!) { powerOffVirtualMachine(input: { id: $id }) { __typename } }`, { id: plain.id });
  });

  it('resizes live and drops the cache when the policy stops enabling it', async () => {
    const small = await cachePolicy(app, 'cache-1', 1, 'READ_ONLY');
    await apply(app, small, cached.id);
    await advance(app);
    const shrunk = await state(app, cached.disk);
    expect(shrunk.policyState).toBe('APPLIED');
    expect(shrunk.l2Cache).toMatchObject({ enabled: true, capacityBytes: 1 * GiB });
    expect(shrunk.l2Cache.usedBytes).toBeGreaterThan(0);
    expect(shrunk.l2Cache.usedBytes).toBeLessThanOrEqual(1 * GiB);
    // The hit ratios are cumulative since the cache was created: a resize keeps them.
    expect(shrunk.l2Cache.hitRatio.read).toBeGreaterThan(0);

    const off = await policy(app, 'cache-off', [['nec.pc.enabled', false]]);
    await apply(app, off, cached.id);
    await advance(app);
    const dropped = await state(app, cached.disk);
    expect(dropped.l2Cache).toEqual({ enabled: false, mode: null, capacityBytes: 0, usedBytes: 0, hitRatio: { read: 0, write: 0, all: 0 } });
    expect(dropped.io.cacheHitRatio).toBe(0);

    // Enabled again: a new, cold cache, whose statistics start over.
    await apply(app, small, cached.id);
    await advance(app);
    const again = await state(app, cached.disk);
    expect(again.l2Cache.enabled).toBe(true);
    expect(again.l2Cache.usedBytes).toBeGreaterThan(0);
    await app.query(`mutation($id: ID!) { powerOffVirtualMachine(input: { id: $id }) { __typename } }`, { id: cached.id });
  });

  it('READ_ONLY never reports write hits; READ_WRITE absorbs writes too', async () => {
    const ro = await cachePolicy(app, 'cache-ro', 64, 'READ_ONLY');
    const rw = await cachePolicy(app, 'cache-rw', 64, 'READ_WRITE');
    const mixed = { readIops: 3000, writeIops: 2000 };
    const a = await runningVm(app, 'mixed-ro', ro, ids.containers['tokyo-gold'], mixed);
    const b = await runningVm(app, 'mixed-rw', rw, ids.containers['tokyo-gold'], mixed);
    for (let t = 0; t < 8; t++) await advance(app);
    const readOnly = await state(app, a.disk);
    const readWrite = await state(app, b.disk);
    expect(readOnly.l2Cache.mode).toBe('READ_ONLY');
    expect(readOnly.l2Cache.hitRatio.read).toBeGreaterThan(0);
    expect(readOnly.l2Cache.hitRatio.write).toBe(0);
    expect(readOnly.l2Cache.hitRatio.all).toBeLessThan(readOnly.l2Cache.hitRatio.read);
    expect(readWrite.l2Cache.mode).toBe('READ_WRITE');
    expect(readWrite.l2Cache.hitRatio.write).toBeGreaterThan(0);
    expect(readWrite.l2Cache.hitRatio.all).toBeGreaterThan(readOnly.l2Cache.hitRatio.all);
    expect(readWrite.io.latencyMs).toBeLessThan(readOnly.io.latencyMs);
    for (const vm of [a, b]) await app.query(`mutation($id: ID!) { powerOffVirtualMachine(input: { id: $id }) { __typename } }`, { id: vm.id });
  });

  it("a policy asking more than the pool's L2 cache left makes the VVOLs INFEASIBLE with the reason", async () => {
    // tokyo pool-0: 2 TiB of L2 cache, of which the VMs above hold 1 + 64 + 64 GiB.
    const huge = await cachePolicy(app, 'cache-huge', 4096, 'READ_ONLY');
    const vm = await runningVm(app, 'huge', huge, ids.containers['tokyo-gold'], { readIops: 1000, writeIops: 0 }, 2);
    for (const disk of vm.disks) {
      const s = await state(app, disk);
      expect(s.policyState).toBe('INFEASIBLE');
      expect(s.policyReason).toBe('perforcache: nec.pc.capacityGiB: pool pool-0 has 1919 GiB of L2 cache left, the policy asks 4096 GiB');
    }
    await advance(app);
    expect((await state(app, vm.disk)).l2Cache).toMatchObject({ enabled: false, usedBytes: 0 });

    // Two disks of 1000 GiB each: the first fits in what is left, the second does not (admitted in one pass).
    const big = await cachePolicy(app, 'cache-1000', 1000, 'READ_ONLY');
    await apply(app, big, vm.id);
    const [first, second] = await Promise.all(vm.disks.map((d) => state(app, d)));
    expect(first.policyState).toBe('APPLIED');
    expect(second.policyState).toBe('INFEASIBLE');
    expect(second.policyReason).toBe('perforcache: nec.pc.capacityGiB: pool pool-0 has 919 GiB of L2 cache left, the policy asks 1000 GiB');
    await app.query(`mutation($id: ID!) { powerOffVirtualMachine(input: { id: $id }) { __typename } }`, { id: vm.id });
  });
});

describe('perforcache in front of the tiers', () => {
  it('a hit saves the time of the tier its extent is on: hits on SSD extents and misses on SSD take the same 0.2 ms', async () => {
    // Every extent of the working set on SSD but the hottest (extent 0, Zipf rank 0), which is on NL_SAS and,
    // hit in every tick, stays in the cache: each access takes 0.2 ms, as on a VVOL wholly on SSD without a cache.
    const tieredCached = await policy(app, 'manual-tiers-cache', [['nec.po.executionMode', 'MANUAL'], ['nec.pc.enabled', true], ['nec.pc.capacityGiB', 1], ['nec.pc.mode', 'READ_ONLY']]);
    const tiered = await policy(app, 'manual-tiers', [['nec.po.executionMode', 'MANUAL']]);
    const reads = { readIops: 5000, writeIops: 0, zipfAlpha: 1.2, workingSetRatio: 0.02 }; // 64 of 3,200 extents; the cache holds 32
    const cachedVm = await runningVm(app, 'tiered-cached', tieredCached, ids.containers['tokyo-gold'], reads);
    const plainVm = await runningVm(app, 'tiered-plain', tiered, ids.containers['tokyo-gold'], reads);
    const uuidOf = async (disk: string) => (await app.query(`query($id: ID!) { node(id: $id) { ... on VirtualVolume { vasaId } } }`, { id: disk })).node.vasaId as string;
    const [cachedDisk, plainDisk] = [await uuidOf(cachedVm.disk), await uuidOf(plainVm.disk)];
    await app.core.transact(async (work) => {
      await app.core.extents.write(work.tx, [cachedDisk, plainDisk].map((vvolId) => ({ vvolId, indexes: Array.from({ length: 64 }, (_, i) => i) })));
      await work.tx.execute(sql`update extents set tier = case when vvol_id = ${cachedDisk}::uuid and idx = 0 then 'NL_SAS' else 'SSD' end::tier_kind where vvol_id in (${cachedDisk}::uuid, ${plainDisk}::uuid)`);
    });
    for (let t = 0; t < 4; t++) await advance(app);

    const cached = await state(app, cachedVm.disk);
    const plain = await state(app, plainVm.disk);
    expect(cached.io.servedIops).toBe(plain.io.servedIops);
    expect(cached.io.cacheHitRatio).toBeGreaterThan(0);
    expect(cached.io.ssdServedRatio).toBeLessThan(1);
    expect(plain.io.ssdServedRatio).toBe(1);
    expect(cached.io.latencyMs).toBeCloseTo(plain.io.latencyMs, 9);
    for (const vm of [cachedVm, plainVm]) await app.query(`mutation($id: ID!) { powerOffVirtualMachine(input: { id: $id }) { __typename } }`, { id: vm.id });
  });
});

describe('a policy change waiting for admission', () => {
  it('leaves the cache as it was while the VVOL is PENDING, and resizes it once admitted', async () => {
    const big = await cachePolicy(app, 'cache-pending-64', 64, 'READ_ONLY');
    const small = await cachePolicy(app, 'cache-pending-1', 1, 'READ_WRITE');
    const vm = await runningVm(app, 'pending-cache', big, ids.containers['tokyo-gold'], { readIops: 2000, writeIops: 0, zipfAlpha: 0.5, workingSetRatio: 0.5 });
    for (let t = 0; t < 3; t++) await advance(app);
    const warm = (await state(app, vm.disk)).l2Cache;
    expect(warm.usedBytes).toBeGreaterThan(1 * GiB);
    // Hold the reconciler back, so the new policy stays PENDING across ticks.
    const { reconciler } = app.core;
    const kick = reconciler.kick;
    reconciler.kick = () => {};
    try {
      const applied = await app.query(`mutation($p: ID!, $t: ID!) { applyStoragePolicy(input: { policyId: $p, targetId: $t }) { __typename } }`, { p: small, t: vm.id });
      expect(applied.applyStoragePolicy.__typename).toBe('ApplyStoragePolicyPayload');
      await app.query(`mutation { advanceSimulation(input: { seconds: 2 }) { __typename } }`);
      const pending = await state(app, vm.disk);
      expect(pending.policyState).toBe('PENDING');
      expect(pending.l2Cache).toMatchObject({ enabled: true, mode: 'READ_ONLY', capacityBytes: 64 * GiB });
      expect(pending.l2Cache.usedBytes).toBeGreaterThanOrEqual(warm.usedBytes);
    } finally {
      reconciler.kick = kick;
    }
    reconciler.kick();
    await app.settle();
    // Resized as the verdict commits, before any tick.
    const admitted = await state(app, vm.disk);
    expect(admitted.policyState).toBe('APPLIED');
    expect(admitted.l2Cache).toMatchObject({ enabled: true, mode: 'READ_WRITE', capacityBytes: 1 * GiB });
    expect(admitted.l2Cache.usedBytes).toBeLessThanOrEqual(1 * GiB);
    expect(admitted.l2Cache.usedBytes).toBeGreaterThan(0);
    await advance(app);
    expect((await state(app, vm.disk)).l2Cache.usedBytes).toBeLessThanOrEqual(1 * GiB);
    await app.query(`mutation($id: ID!) { powerOffVirtualMachine(input: { id: $id }) { __typename } }`, { id: vm.id });
  });
});

describe('a reverted VVOL', () => {
  it("loses what its cache held: the blocks stood for the data the revert replaced", async () => {
    const cached = await cachePolicy(app, 'cache-revert', 64, 'READ_ONLY');
    // Nearly uniform reads over 1,600 extents, 200 a tick: each tick brings ~190 new blocks in, none is evicted (2,048 fit).
    const vm = await runningVm(app, 'reverted-cache', cached, ids.containers['tokyo-gold'], { readIops: 200, writeIops: 0, zipfAlpha: 0.1, workingSetRatio: 0.5 });
    const taken = await app.query(`mutation($id: ID!) { snapshotVirtualMachine(input: { vmId: $id, name: "before" }) { ... on SnapshotVirtualMachinePayload { snapshot { id } } } }`, { id: vm.id });
    for (let t = 0; t < 10; t++) await advance(app);
    const warm = (await state(app, vm.disk)).l2Cache.usedBytes;
    expect(warm).toBeGreaterThan(1000 * EXTENT);
    const reverted = await app.query(`mutation($vm: ID!, $s: ID!) { revertVirtualMachine(input: { vmId: $vm, snapshotId: $s }) { __typename } }`, { vm: vm.id, s: taken.snapshotVirtualMachine.snapshot.id });
    expect(reverted.revertVirtualMachine.__typename).toBe('RevertVirtualMachinePayload');
    await advance(app);
    const cold = await state(app, vm.disk);
    expect(cold.l2Cache.usedBytes).toBeGreaterThan(0);
    expect(cold.l2Cache.usedBytes).toBeLessThanOrEqual(200 * EXTENT);
    await app.query(`mutation($id: ID!) { powerOffVirtualMachine(input: { id: $id }) { __typename } }`, { id: vm.id });
  });
});

describe('admission and replicas', () => {
  it('a VVOL another plugin makes INFEASIBLE later in the same pass holds no L2 cache for the VVOLs after it', async () => {
    // 15 GiB of L2 cache: one 10 GiB share. 100 GiB of capacity: the 60 GiB disk's replica does not fit, the 10 GiB one's does.
    const container = await app.core.transact(async ({ tx }) => {
      const [array] = await tx.insert(storageArrays).values({ name: 'small', model: 'M110', serialNumber: 'SMALL-1', site: 'TOKYO', role: 'PRIMARY' }).returning();
      const [pool] = await tx.insert(storagePools).values({ arrayId: array.id, name: 'small-pool', l2CacheBytes: 15 * GiB }).returning();
      await tx.insert(poolTiers).values({ poolId: pool.id, tier: 'SAS', capacityBytes: 1024 * GiB, maxIops: 100_000 });
      const [created] = await tx.insert(storageContainers).values({ arrayId: array.id, poolId: pool.id, name: 'small-c', capacityBytes: 100 * GiB, maxVvolSizeBytes: 100 * GiB, namespaces: ['vasa', 'nec.pc', 'nec.ddr'], offers: {} }).returning();
      await tx.insert(protocolEndpoints).values({ arrayId: array.id, name: 'small-fc', protocol: 'FC', identifier: '50:00:00:00:00:00:01:01' });
      return globalId('StorageContainer', created.id);
    });
    const cachedAndReplicated = await policy(app, 'cache-10-replica', [['nec.pc.enabled', true], ['nec.pc.capacityGiB', 10], ['nec.ddr.replica', true]]);
    const created = await app.query(
      `mutation($p: ID!, $c: ID!, $d: [VirtualDiskInput!]!) { createVirtualMachine(input: { name: "big-and-small", policyId: $p, containerId: $c, disks: $d, memoryBytes: 1073741824 }) { ... on CreateVirtualMachinePayload { virtualMachine { virtualVolumes { id type } } } ... on UserError { message } } }`,
      { p: cachedAndReplicated, c: container, d: [{ sizeBytes: 60 * GiB }, { sizeBytes: 10 * GiB }] },
    );
    expect(created.createVirtualMachine.virtualMachine, JSON.stringify(created)).toBeTruthy();
    await app.settle();
    const [big, small] = created.createVirtualMachine.virtualMachine.virtualVolumes.filter((v: any) => v.type === 'DATA');
    const refused = await state(app, big.id);
    expect(refused.policyState).toBe('INFEASIBLE');
    expect(refused.policyReason).toMatch(/^ddr: no room for replica 1 of 1/);
    expect((await state(app, small.id)).policyState).toBe('APPLIED');
  });


  it('a replica volume, which takes its source\'s policy but carries no cache, reserves no L2 cache', async () => {
    const fresh = await startApp();
    try {
      const { containers } = await seedBasics(fresh);
      // tokyo pool-0 has 2,048 GiB of L2 cache: two VVOLs of 800 GiB fit; with their RVs counted, the second would not.
      const replicated = await policy(fresh, 'cache-replicated', [['nec.pc.enabled', true], ['nec.pc.capacityGiB', 800], ['nec.ddr.replica', true]]);
      const first = await runningVm(fresh, 'first', replicated, containers['tokyo-gold'], { readIops: 100, writeIops: 0 });
      const second = await runningVm(fresh, 'second', replicated, containers['tokyo-gold'], { readIops: 100, writeIops: 0 });
      for (const disk of [first.disk, second.disk]) expect((await state(fresh, disk)).policyState).toBe('APPLIED');
    } finally {
      await fresh.close();
    }
  });
});

describe('determinism', () => {
  it('the same seed and the same operations report the same hit ratios', async () => {
    const run = async () => {
      const replay = await startApp({ env: { VVOLGRAPH_SEED: 'cache-replay' } });
      try {
        const { containers } = await seedBasics(replay);
        const p = await cachePolicy(replay, 'p', 16, 'READ_WRITE');
        const vm = await runningVm(replay, 'x', p, containers['tokyo-gold'], { readIops: 4000, writeIops: 1000, zipfAlpha: 0.9, workingSetRatio: 0.8 });
        const seen = [];
        for (let t = 0; t < 6; t++) {
          await advance(replay);
          const s = await state(replay, vm.disk);
          seen.push({ l2Cache: s.l2Cache, io: s.io });
        }
        return seen;
      } finally {
        await replay.close();
      }
    };
    const [first, second] = [await run(), await run()];
    expect(second).toEqual(first);
    expect(first.at(-1)!.l2Cache.hitRatio.all).toBeGreaterThan(0);
  });
});
