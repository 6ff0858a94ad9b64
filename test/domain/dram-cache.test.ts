import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClockCache, DramCaches, NO_SAMPLE, SAMPLED_ACCESSES_PER_ARRAY, type Sample, type SampledVolume } from '../../src/core/engine/dram-cache.ts';
import { GiB, seedBasics, setDramCache, startApp, type TestApp } from '../helpers/app.ts';
import { arrayId, createPolicy, createVm, ok, writeExtents } from '../api/support.ts';

const EXTENT = 32 * 1024 * 1024;

describe('ClockCache', () => {
  it('holds at most its capacity, hits exactly the keys it holds, and holds every key just accessed and as many as it can', () => {
    const key = fc.tuple(fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 12 }));
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 20 }), fc.array(key, { maxLength: 300 }), (capacity, keys) => {
        const cache = new ClockCache(capacity);
        const seen = new Set<string>();
        for (const [owner, extent] of keys) {
          const held = cache.has(owner, extent);
          expect(cache.access(owner, extent)).toBe(held);
          seen.add(`${owner}:${extent}`);
          expect(cache.size).toBe(Math.min(capacity, seen.size));
          expect(cache.has(owner, extent)).toBe(capacity > 0);
          // Every key it counts can be found: evictions leave the index whole.
          expect([...seen].filter((k) => cache.has(...(k.split(':').map(Number) as [number, number]))).length).toBe(cache.size);
        }
      }),
      { seed: 7, numRuns: 300 },
    );
  });

  it('gives a key hit since it came in a second chance: the sweep passes over it and evicts the one not hit', () => {
    const cache = new ClockCache(2);
    cache.access(0, 1);
    cache.access(0, 2);
    expect(cache.access(0, 1)).toBe(true);
    expect(cache.access(0, 3)).toBe(false);
    expect([cache.has(0, 1), cache.has(0, 2), cache.has(0, 3)]).toEqual([true, false, true]);
  });
});

/** A VVOL for DramCaches.serve without the engine: its accesses are `extents` cycled; `writeIops` of its `servedIops` are writes. */
function volume(vvolId: string, arrayId: string, servedIops: number, extents: number[], writeIops = 0, lineage: string[] = []): SampledVolume & { sample: Sample } {
  return {
    vvolId, arrayId, servedIops, readIops: servedIops - writeIops, writeIops, lineage, sampled: NO_SAMPLE,
    get sample() {
      return this.sampled;
    },
    drawAccesses: (count: number) => Array.from({ length: count }, (_, i) => extents[i % extents.length]),
  };
}

describe('DramCaches', () => {
  it("samples each VVOL in proportion to its share of its array's I/O (one stride per array), at least one access each", () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom('a', 'b'), fc.integer({ min: 0, max: 400_000 })), { minLength: 1, maxLength: 30 }), (specs) => {
        const volumes = specs.map(([array, iops], i) => volume(`v${i}`, array, iops, [0, 1, 2]));
        new DramCaches().serve(volumes, new Map([['a', 4 * EXTENT]]), EXTENT, 1, () => 0);
        for (const array of ['a', 'b']) {
          const mine = volumes.filter((v) => v.arrayId === array);
          const total = mine.reduce((s, v) => s + v.servedIops, 0);
          const stride = Math.max(1, total / SAMPLED_ACCESSES_PER_ARRAY);
          for (const v of mine) {
            const n = v.sample.extents.length;
            if (v.servedIops === 0) expect(n).toBe(0);
            else expect(n).toBe(Math.max(1, Math.round(v.servedIops / stride)));
          }
          expect(mine.reduce((s, v) => s + v.sample.extents.length, 0)).toBeLessThanOrEqual(SAMPLED_ACCESSES_PER_ARRAY + mine.length);
        }
      }),
      { seed: 11, numRuns: 200 },
    );
  });

  it('marks only reads of cached extents, at DRAM time; an array without DRAM serves none', () => {
    const caches = new DramCaches();
    const reads = volume('r', 'a', 100, [0, 1, 2, 3], 25);
    const none = volume('n', 'b', 100, [0, 1]);
    caches.serve([reads, none], new Map([['a', 8 * EXTENT], ['b', 0]]), EXTENT, 1, () => 0);
    const { extents, writes, dramHits, serviceTimesMs } = reads.sample;
    for (let i = 0; i < extents.length; i++) {
      if (writes[i] === 1 || i < 4) expect(dramHits[i], `access ${i}`).toBe(0);
      else expect(dramHits[i], `access ${i}`).toBe(1);
      expect(serviceTimesMs[i]).toBe(dramHits[i] === 1 ? 0.1 : 5);
    }
    expect(none.sample.dramHits.every((hit) => hit === 0)).toBe(true);
    expect(caches.usedExtents('a')).toBe(4);
    expect(caches.usedExtents('b')).toBe(0);
  });

  it('lets a VVOL whose share is under one access bring extents in only as often as its I/O adds up to one', () => {
    const caches = new DramCaches();
    let tick = 0;
    for (; tick < 40; tick++) {
      // Stride 4 I/Os per access: the light VVOL's one I/O a tick is a quarter of an access; each tick it reads a new extent.
      const heavy = volume('h', 'a', 4 * SAMPLED_ACCESSES_PER_ARRAY - 1, [0]);
      const light = volume('l', 'a', 1, [1000 + tick]);
      caches.serve([heavy, light], new Map([['a', 1024 * EXTENT]]), EXTENT, 1, () => 0);
      expect(light.sample.extents).toHaveLength(1);
    }
    expect(caches.usedExtents('a')).toBe(1 + 10);
  });

  it("caches blocks: a FAST clone's read of an extent it shares with its bases is the farthest such base's block; what it rewrote, and its writes, are its own", () => {
    const caches = new DramCaches();
    // Content terms by extent: the clone rewrote extent 1; extent 3 is written in none (all read zeros); the
    // clone's clone shares extent 1 with the clone only.
    const terms = new Map([
      ['base', new Map([[0, 10n], [1, 11n], [2, 12n]])],
      ['clone', new Map([[0, 10n], [1, 99n], [2, 12n]])],
      ['grandchild', new Map([[1, 99n], [2, 12n]])],
    ]);
    const tick = (v: SampledVolume & { sample: Sample }) => {
      caches.serve([v], new Map([['a', 64 * EXTENT]]), EXTENT, 1, () => 0, (id) => terms.get(id));
      return v.sample.dramHits;
    };
    expect(tick(volume('base', 'a', 4, [0, 1, 2, 3]))).toEqual([0, 0, 0, 0]);
    expect(tick(volume('clone', 'a', 4, [0, 1, 2, 3], 0, ['base']))).toEqual([1, 0, 1, 1]);
    expect(caches.usedExtents('a')).toBe(5); // the base's four blocks and the clone's own extent 1
    // Extent 0 of the grandchild is written in none of the three: zeros there too, as extent 3.
    expect(tick(volume('grandchild', 'a', 5, [0, 1, 2, 3, 4], 0, ['clone', 'base']))).toEqual([0, 1, 1, 1, 0]);
    expect(caches.usedExtents('a')).toBe(7);
    // A clone's write is a block of its own (copy on write), not the base's.
    tick(volume('clone', 'a', 1, [2], 1, ['base']));
    expect(caches.usedExtents('a')).toBe(8);
    // Without its base's map, or its own, a clone shares nothing: extent 0 is the base's block, and cached.
    expect(tick(volume('clone', 'a', 1, [0], 0, ['unknown']))).toEqual([0]);
    expect(tick(volume('stranger', 'a', 1, [0], 0, ['base']))).toEqual([0]);
  });

  it("forgets a VVOL's cached extents when its content is replaced (a revert): its next reads miss", () => {
    const caches = new DramCaches();
    let epoch = 0;
    const tick = () => {
      const v = volume('v', 'a', 10, [0, 1]);
      caches.serve([v], new Map([['a', 8 * EXTENT]]), EXTENT, 1, () => epoch);
      return v.sample.dramHits.reduce((s, h) => s + h, 0);
    };
    expect(tick()).toBe(8);
    expect(tick()).toBe(10);
    epoch = 1;
    expect(tick()).toBe(8);
  });
});

describe('the DRAM cache on the tick', () => {
  let app: TestApp;
  let policy: string;
  let container: string;

  const advance = (seconds: number) => ok(app, 'advanceSimulation', { seconds }, '... on AdvanceSimulationPayload { __typename }');
  const io = async (vvol: string) => (await app.query(`query($id: ID!) { node(id: $id) { ... on VirtualVolume { io { readIops dramHitRatio cacheHitRatio latencyMs servedIops } } } }`, { id: vvol })).node.io;

  /** A running VM of one 100 GiB disk on tokyo-gold with a custom random workload over `workingSetRatio` of it. */
  async function running(readIops: number, writeIops: number, workingSetRatio: number, policyId = policy) {
    const vm = await createVm(app, policyId, { disks: [100 * GiB], containerId: container, powerOn: true });
    const custom = { readIops, writeIops, blockSizeBytes: 8192, randomRatio: 1, zipfAlpha: 1.1, workingSetRatio };
    await ok(app, 'setWorkload', { vmId: vm.id, custom }, '... on SetWorkloadPayload { __typename }');
    await app.settle();
    return vm;
  }
  const off = async (...vms: { id: string }[]) => {
    for (const vm of vms) await ok(app, 'powerOffVirtualMachine', { id: vm.id }, '... on PowerOffVirtualMachinePayload { __typename }');
  };

  beforeAll(async () => {
    app = await startApp();
    const ids = await seedBasics(app);
    container = ids.containers['tokyo-gold'];
    policy = await createPolicy(app, [{ capabilityId: 'nec.pc.enabled', value: false }]);
  });
  afterAll(() => app?.close());

  it('serves the reads of a working set it holds, at DRAM time: latency against a write-only VM of the same pool is the mix of the two times', async () => {
    await setDramCache(app, 64 * GiB);
    // 1 % of 100 GiB: 32 extents, well inside 64 GiB (2,048 extents).
    const reader = await running(4000, 0, 0.01);
    const writer = await running(0, 4000, 0.01);
    await advance(3);
    const read = await io(reader.disks[0]);
    const written = await io(writer.disks[0]);
    expect(read.dramHitRatio).toBe(1);
    // Writes are never served by the DRAM in this model: they go to the back end as it destages them.
    expect(written.dramHitRatio).toBe(0);
    expect(read.servedIops).toBe(written.servedIops);
    expect(read.latencyMs / written.latencyMs).toBeCloseTo(0.1 / 5, 9);
    const { node } = await app.query(`query($id: ID!) { node(id: $id) { ... on StorageArray { cacheBytes cacheUsedBytes } } }`, { id: await arrayId(app, 'tokyo-m510') });
    expect(node.cacheBytes).toBe(64 * GiB);
    // Both VMs' 32 extents (the writer's writes bring theirs in too).
    expect(node.cacheUsedBytes).toBe(64 * EXTENT);
    await off(reader, writer);
  });

  it('is shared by the array: with two working sets it cannot hold, the busier VM keeps more of its own and hits more', async () => {
    await setDramCache(app, 2 * GiB); // 64 extents, for two working sets of 320
    const busy = await running(20_000, 0, 0.1);
    const quiet = await running(500, 0, 0.1);
    await advance(10);
    const [b, q] = [await io(busy.disks[0]), await io(quiet.disks[0])];
    expect(b.dramHitRatio).toBeGreaterThan(0);
    expect(b.dramHitRatio).toBeLessThan(1);
    expect(b.dramHitRatio).toBeGreaterThan(q.dramHitRatio + 0.2);
    await off(busy, quiet);
  });

  it('sits in front of perforcache: the L2 serves only reads the DRAM missed, and latency is the mix of the three times', async () => {
    await setDramCache(app, 1 * GiB); // 32 extents in DRAM, 320 in the working set, a 64 GiB L2 behind
    const cached = await createPolicy(app, [{ capabilityId: 'nec.pc.enabled', value: true }, { capabilityId: 'nec.pc.capacityGiB', value: 64 }, { capabilityId: 'nec.pc.mode', value: 'READ_ONLY' }]);
    const reader = await running(5000, 0, 0.1, cached);
    const writer = await running(0, 5000, 0.1);
    await advance(10);
    const read = await io(reader.disks[0]);
    const written = await io(writer.disks[0]);
    expect(read.dramHitRatio).toBeGreaterThan(0);
    expect(read.cacheHitRatio).toBeGreaterThan(0);
    expect(read.dramHitRatio + read.cacheHitRatio).toBeLessThanOrEqual(1);
    const { node } = await app.query(`query($id: ID!) { node(id: $id) { ... on VirtualVolume { l2Cache { hitRatio { read } } } } }`, { id: reader.disks[0] });
    // Of the reads that reached it (not all reads), the L2 hit more than its share of all reads.
    expect(node.l2Cache.hitRatio.read).toBeGreaterThan(read.cacheHitRatio);
    const mix = read.dramHitRatio * 0.1 + read.cacheHitRatio * 0.2 + (1 - read.dramHitRatio - read.cacheHitRatio) * 5;
    expect(read.latencyMs / written.latencyMs).toBeCloseTo(mix / 5, 9);
    await off(reader, writer);
  });

  it('holds blocks, not VVOL extents: FAST clones reading their golden image share its cached blocks, FULL clones of the same data each need their own', async () => {
    await setDramCache(app, 1.5 * GiB); // 48 extents: one working set of 32, not four
    const golden = await createVm(app, policy, { disks: [100 * GiB], containerId: container });
    await writeExtents(app, golden.disks[0], Array.from({ length: 32 }, (_, i) => i));
    const group = async (mode: 'FAST' | 'FULL') => {
      const vms: { id: string; disk: string }[] = [];
      for (let i = 0; i < 4; i++) {
        // On the golden image's container, so all on one array's DRAM.
        const { vm } = await ok(app, 'cloneVirtualMachine', { vmId: golden.id, name: `${mode.toLowerCase()}-${i}`, mode, containerId: container },
          '... on CloneVirtualMachinePayload { vm: virtualMachine { id virtualVolumes { id type } } }', 'vmAdmin');
        vms.push({ id: vm.id, disk: vm.virtualVolumes.find((v: any) => v.type === 'DATA').id });
      }
      await advance(30); // a FULL clone's copy
      for (const vm of vms) {
        await ok(app, 'powerOnVirtualMachine', { id: vm.id }, '... on PowerOnVirtualMachinePayload { __typename }', 'vmAdmin');
        // Reads spread almost evenly over 1 % of the disk (32 extents, those the golden image holds).
        const custom = { readIops: 200, writeIops: 0, blockSizeBytes: 8192, randomRatio: 1, zipfAlpha: 0.01, workingSetRatio: 0.01 };
        await ok(app, 'setWorkload', { vmId: vm.id, custom }, '... on SetWorkloadPayload { __typename }');
      }
      await app.settle();
      await advance(10);
      const ratios = [];
      for (const vm of vms) ratios.push((await io(vm.disk)).dramHitRatio);
      await off(...vms);
      return ratios.reduce((a, b) => a + b, 0) / ratios.length;
    };
    const full = await group('FULL');
    const fast = await group('FAST');
    // Four FULL clones ask for 128 blocks of 48 (about 48/128 of reads hit); four FAST clones for the same 32.
    expect(fast).toBeGreaterThan(0.95);
    expect(full).toBeLessThan(0.6);
  });
});
