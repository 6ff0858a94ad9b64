import { sql } from 'drizzle-orm';
import type { Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resultRows } from '../../src/core/db/client.ts';
import type { IoSample } from '../../src/core/plugin.ts';
import { GiB, seedBasics, setDramCache, startApp, wsClient, type TestApp } from '../helpers/app.ts';
import { allRoles, createPolicy, createVm, deletedVmId, fingerprint, ok, type CreatedVm } from '../api/support.ts';

const MINUTE_FIELDS = 'start end samples seconds readIops maxReadIops writeIops maxWriteIops mbps maxMbps latencyMs maxLatencyMs servedIops maxServedIops throttledIops maxThrottledIops cacheHitRatio ssdServedRatio dramHitRatio';
const HISTORY = `query($vmId: ID, $vvolId: ID, $from: Float, $to: Float, $first: Int, $after: String) {
  ioHistory(vmId: $vmId, vvolId: $vvolId, from: $from, to: $to, first: $first, after: $after) {
    __typename
    ... on IoHistoryConnection { totalCount pageInfo { hasNextPage endCursor } edges { node { ${MINUTE_FIELDS} } } }
    ... on ValidationError { field message }
    ... on NotFoundError { field id message }
  }
}`;

/** A burst every 20 s and an upper limit below the demand: rates vary tick to tick, and some demand is throttled. */
const WORKLOAD = { readIops: 1500, writeIops: 500, blockSizeBytes: 8192, randomRatio: 0.8, zipfAlpha: 1.1, workingSetRatio: 0.2, burst: { periodSeconds: 20, dutyCycle: 0.25, multiplier: 3 } };
/** Two extents of DRAM cache. */
const DRAM_BYTES = 64 * 1024 * 1024;
const RULES = [
  { capabilityId: 'nec.iolm.upperLimit', value: 600 },
  { capabilityId: 'nec.pc.enabled', value: true },
  { capabilityId: 'nec.pc.capacityGiB', value: 1 },
];

let app: TestApp;
let ids: Awaited<ReturnType<typeof seedBasics>>;
let vm: CreatedVm;
/** The simulated second from which the VM runs: a minute boundary. */
let started = 0;
const seen = { vm: [] as IoSample[], disk: [] as IoSample[] };

const advance = (seconds: number) => ok(app, 'advanceSimulation', { seconds }, '... on AdvanceSimulationPayload { simulation { simulatedSeconds } }');
const history = async (target: TestApp, variables: Record<string, unknown>, role: (typeof allRoles)[number] = 'viewer') => (await target.query(HISTORY, variables, role)).ioHistory;
const points = async (target: TestApp, variables: Record<string, unknown>) => (await history(target, variables)).edges.map((e: any) => e.node);

/** The VM of the test, created the same way in any app: same name, policy, disks and workload. */
async function runningVm(target: TestApp, policyId: string): Promise<CreatedVm> {
  const created = await createVm(target, policyId, { name: 'history-vm', disks: [GiB, 3 * GiB] });
  await ok(target, 'setWorkload', { vmId: created.id, custom: WORKLOAD }, '... on SetWorkloadPayload { __typename }', 'vmAdmin');
  await target.settle();
  return created;
}

/** What a minute must hold, computed here from the ticks the subscription delivered (the specification of the roll-up). */
function expectedMinute(ticks: IoSample[], previousTime: number) {
  let seconds = 0, read = 0, write = 0, mb = 0, served = 0, throttled = 0, latency = 0, hits = 0, dramHits = 0, ssd = 0;
  let last = previousTime;
  for (const s of ticks) {
    const dt = s.time - last;
    last = s.time;
    seconds += dt;
    read += s.readIops * dt;
    write += s.writeIops * dt;
    mb += s.mbps * dt;
    served += s.servedIops * dt;
    throttled += s.throttledIops * dt;
    latency += s.latencyMs * s.servedIops * dt;
    hits += s.cacheHitRatio * s.readIops * dt;
    dramHits += s.dramHitRatio * s.readIops * dt;
    ssd += s.ssdServedRatio * s.servedIops * dt;
  }
  const max = (pick: (s: IoSample) => number) => Math.max(...ticks.map(pick));
  return {
    samples: ticks.length, seconds,
    readIops: read / seconds, maxReadIops: max((s) => s.readIops),
    writeIops: write / seconds, maxWriteIops: max((s) => s.writeIops),
    mbps: mb / seconds, maxMbps: max((s) => s.mbps),
    latencyMs: latency / served, maxLatencyMs: max((s) => s.latencyMs),
    servedIops: served / seconds, maxServedIops: max((s) => s.servedIops),
    throttledIops: throttled / seconds, maxThrottledIops: max((s) => s.throttledIops),
    cacheHitRatio: hits / read, dramHitRatio: dramHits / read, ssdServedRatio: ssd / served,
  };
}

function expectClose(actual: Record<string, number>, expected: Record<string, number>, label: string): void {
  for (const [key, value] of Object.entries(expected)) {
    expect(Math.abs(actual[key] - value), `${label}.${key}: ${actual[key]} vs ${value}`).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(value)));
  }
}

let client: Client;

beforeAll(async () => {
  app = await startApp();
  ids = await seedBasics(app);
  // Two extents of DRAM: the working set (7 and 20 extents) does not fit, so the DRAM and perforcache both serve reads.
  await setDramCache(app, DRAM_BYTES);
  vm = await runningVm(app, await createPolicy(app, RULES, 'history-policy'));
  client = wsClient(app);
  const follow = (variables: Record<string, string>, into: IoSample[]) =>
    client.subscribe<{ ioStats: IoSample }>({ query: 'subscription($vmId: ID, $vvolId: ID) { ioStats(vmId: $vmId, vvolId: $vvolId) { time readIops writeIops mbps latencyMs servedIops throttledIops cacheHitRatio ssdServedRatio dramHitRatio } }', variables }, {
      next: (message) => into.push(message.data!.ioStats),
      error: (error) => { throw error; },
      complete: () => {},
    });
  follow({ vmId: vm.id }, seen.vm);
  follow({ vvolId: vm.disks[0] }, seen.disk);
  // graphql-ws does not acknowledge a subscribe: tick (the VM is still off) until both have heard one.
  let now = 0;
  for (let i = 0; seen.vm.length === 0 || seen.disk.length === 0; i++) {
    if (i === 50) throw new Error('the subscriptions never received a tick');
    now = (await advance(1)).simulation.simulatedSeconds;
  }
  started = Math.ceil(now / 60) * 60;
  if (started > now) await advance(started - now);
  await ok(app, 'powerOnVirtualMachine', { id: vm.id }, '... on PowerOnVirtualMachinePayload { __typename }', 'vmAdmin');
  // Reconciliation (the SWAP VVOL's policy) runs after the power-on's commit: let it end before time moves.
  await app.settle();
  await advance(180);
  for (let i = 0; seen.vm.filter((s) => s.time > started).length < 180 || seen.disk.filter((s) => s.time > started).length < 180; i++) {
    if (i === 500) throw new Error('the ticks of the advance never all arrived');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
});
afterAll(async () => {
  await client?.dispose();
  await app?.close();
});

describe('ioHistory', () => {
  it('holds one row per simulated minute the VM ran, equal to the roll-up of the ticks ioStats streamed (VM and disk alike)', async () => {
    for (const [label, variables, ticks] of [['vm', { vmId: vm.id }, seen.vm], ['disk', { vvolId: vm.disks[0] }, seen.disk]] as const) {
      const rows = await points(app, variables);
      expect(rows.map((r: any) => [r.start, r.end]), label).toEqual([0, 1, 2].map((m) => [started + 60 * m, started + 60 * (m + 1)]));
      for (const row of rows) {
        const inMinute = ticks.filter((s) => s.time > row.start && s.time <= row.end);
        expect(inMinute.length).toBe(60);
        expectClose(row, expectedMinute(inMinute, row.start), `${label} minute ${row.start}`);
      }
      // The workload bursts and is held back: a roll-up that lost the spread or the throttling would show it.
      expect(rows[0].maxServedIops).toBeGreaterThan(rows[0].servedIops);
      expect(rows[0].throttledIops).toBeGreaterThan(0);
      expect(rows.some((r: any) => r.cacheHitRatio > 0)).toBe(true);
      expect(rows.some((r: any) => r.dramHitRatio > 0)).toBe(true);
    }
    // The VM is the sum of its disks: its rates are above the one disk's.
    const [vmRow] = await points(app, { vmId: vm.id });
    const [diskRow] = await points(app, { vvolId: vm.disks[0] });
    expect(vmRow.servedIops).toBeGreaterThan(diskRow.servedIops);
  });

  it('pages in time order and keeps only the minutes that end after from and start before to', async () => {
    const first = await history(app, { vmId: vm.id, first: 2 });
    expect(first.totalCount).toBe(3);
    expect(first.pageInfo.hasNextPage).toBe(true);
    const rest = await history(app, { vmId: vm.id, first: 2, after: first.pageInfo.endCursor });
    expect([...first.edges, ...rest.edges].map((e: any) => e.node.start)).toEqual([started, started + 60, started + 120]);
    expect(rest.pageInfo.hasNextPage).toBe(false);
    const middle = await history(app, { vmId: vm.id, from: started + 60, to: started + 120 });
    expect(middle.edges.map((e: any) => e.node.start)).toEqual([started + 60]);
    const straddling = await history(app, { vmId: vm.id, from: started + 30, to: started + 61 });
    expect(straddling.edges.map((e: any) => e.node.start)).toEqual([started, started + 60]);
    // A VVOL that never ran has no history.
    expect((await history(app, { vvolId: vm.config })).totalCount).toBe(0);
    // Bounds far beyond any minute (a `to` meaning "no end", a `from` in the far future) are plain bounds.
    expect((await history(app, { vmId: vm.id, to: 1e12 })).totalCount).toBe(3);
    expect((await history(app, { vmId: vm.id, from: 1e300 })).totalCount).toBe(0);
  });

  it('the same seed and operations give the same history; retention keeps the newest VVOLGRAPH_IO_HISTORY_MINUTES minutes', async () => {
    const twin = await startApp({ env: { VVOLGRAPH_IO_HISTORY_MINUTES: '2' } });
    try {
      await seedBasics(twin);
      await setDramCache(twin, DRAM_BYTES);
      const twinVm = await runningVm(twin, await createPolicy(twin, RULES, 'history-policy'));
      // The same one-second ticks as the original, in other calls: the streams depend on ticks, not calls.
      await ok(twin, 'advanceSimulation', { seconds: started }, '... on AdvanceSimulationPayload { __typename }');
      await ok(twin, 'powerOnVirtualMachine', { id: twinVm.id }, '... on PowerOnVirtualMachinePayload { __typename }', 'vmAdmin');
      await twin.settle();
      await ok(twin, 'advanceSimulation', { seconds: 180 }, '... on AdvanceSimulationPayload { __typename }');
      const original = await points(app, { vmId: vm.id });
      expect(await points(twin, { vmId: twinVm.id })).toEqual(original.slice(1));
      const [pruned] = resultRows<{ n: number }>(await twin.core.db.execute(sql`select count(*)::int as n from io_history where minute <= ${started / 60}`));
      expect(pruned.n).toBe(0);
    } finally {
      await twin.close();
    }
  });

  it('every role reads it, over HTTP and over graphql-ws', async () => {
    for (const role of allRoles) expect((await history(app, { vmId: vm.id }, role)).totalCount, role).toBe(3);
    const result = await new Promise<any>((resolve, reject) =>
      client.subscribe({ query: HISTORY, variables: { vmId: vm.id } }, { next: (message) => resolve(message), error: reject, complete: () => {} }),
    );
    expect(result.errors).toBeUndefined();
    expect(result.data.ioHistory.totalCount).toBe(3);
    const anonymous = await app.gql(HISTORY, { vmId: vm.id }, null);
    expect(anonymous.status).toBe(401);
  });

  it('bad input is a typed error naming the argument, and changes nothing', async () => {
    const policy = ids.policies.BRONZE;
    const gone = await deletedVmId(app, policy);
    const before = await fingerprint(app);
    const cases: [Record<string, unknown>, string, string][] = [
      [{}, 'ValidationError', 'vmId'],
      [{ vmId: vm.id, vvolId: vm.disks[0] }, 'ValidationError', 'vmId'],
      [{ vmId: 'garbage' }, 'NotFoundError', 'vmId'],
      [{ vmId: policy }, 'NotFoundError', 'vmId'],
      [{ vvolId: vm.id }, 'NotFoundError', 'vvolId'],
      [{ vmId: gone }, 'NotFoundError', 'vmId'],
      [{ vmId: vm.id, from: -1 }, 'ValidationError', 'from'],
      [{ vmId: vm.id, from: 120, to: 60 }, 'ValidationError', 'to'],
      [{ vmId: vm.id, first: 1001 }, 'ValidationError', 'first'],
    ];
    for (const [variables, typename, field] of cases) {
      const result = await app.gql(HISTORY, variables, 'viewer');
      expect(result.errors, JSON.stringify(variables)).toBeUndefined();
      expect(result.data.ioHistory, JSON.stringify(variables)).toMatchObject({ __typename: typename, field });
      expect(result.data.ioHistory.message).toMatch(/\S/);
    }
    expect(await fingerprint(app)).toEqual(before);
  });
});

describe('recentIo', () => {
  const FIELDS = 'time readIops writeIops mbps latencyMs servedIops throttledIops cacheHitRatio ssdServedRatio dramHitRatio';

  it('gives the last ticks the engine keeps in memory, oldest first: those ioStats streamed, for the VM and its disk', async () => {
    const now = (await advance(5)).simulation.simulatedSeconds;
    for (let i = 0; seen.vm.at(-1)?.time !== now || seen.disk.at(-1)?.time !== now; i++) {
      if (i === 500) throw new Error('the ticks of the advance never all arrived');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const { vm: vmNode, disk } = await app.query(
      `query($vm: ID!, $disk: ID!) {
        vm: node(id: $vm) { ... on VirtualMachine { recentIo(last: 3) { ${FIELDS} } all: recentIo { time } } }
        disk: node(id: $disk) { ... on VirtualVolume { recentIo(last: 3) { ${FIELDS} } } }
      }`,
      { vm: vm.id, disk: vm.disks[0] },
      'viewer',
    );
    expect(vmNode.recentIo).toEqual(seen.vm.slice(-3));
    expect(disk.recentIo).toEqual(seen.disk.slice(-3));
    expect(vmNode.all.map((s: IoSample) => s.time), 'by default the 60 ticks kept').toEqual(seen.vm.slice(-60).map((s) => s.time));
  });

  it('refuses a last outside 1..60, naming it', async () => {
    for (const last of [0, 61, -1]) {
      const result = await app.gql(`query($id: ID!, $last: Int!) { node(id: $id) { ... on VirtualMachine { recentIo(last: $last) { time } } } }`, { id: vm.id, last });
      expect(result.errors?.map((e: any) => [e.message, e.extensions, e.path])).toEqual([[`last must be between 1 and 60, got ${last}`, { code: 'ValidationError', field: 'last' }, ['node', 'recentIo']]]);
    }
  });
});
