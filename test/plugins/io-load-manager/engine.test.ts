import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GiB, seedBasics, setDramCache, startApp, wsClient, type TestApp } from '../../helpers/app.ts';

let app: TestApp;
let ids: Awaited<ReturnType<typeof seedBasics>>;

async function policy(app: TestApp, name: string, rules: [string, unknown][]) {
  const data = await app.query(`mutation($input: CreateStoragePolicyInput!) { createStoragePolicy(input: $input) { ... on CreateStoragePolicyPayload { storagePolicy { id } } ... on UserError { message } } }`, {
    input: { name, rules: rules.map(([capabilityId, value]) => ({ capabilityId, value })) },
  });
  return data.createStoragePolicy.storagePolicy.id as string;
}

/** A running VM with one 100 GiB disk in `container`, under `policyId`, running `readIops` of reads. */
async function runningVm(app: TestApp, name: string, policyId: string, container: string, readIops: number) {
  const created = await app.query(
    `mutation($p: ID!, $c: ID!) { createVirtualMachine(input: { name: "${name}", policyId: $p, containerId: $c, disks: [{ sizeBytes: ${100 * GiB} }] }) { ... on CreateVirtualMachinePayload { virtualMachine { id virtualVolumes { id type } } } ... on UserError { message } } }`,
    { p: policyId, c: container },
  );
  const vm = created.createVirtualMachine.virtualMachine;
  await app.query(`mutation($id: ID!) { powerOnVirtualMachine(input: { id: $id }) { __typename } }`, { id: vm.id });
  const custom = { readIops, writeIops: 0, blockSizeBytes: 8192, randomRatio: 1, zipfAlpha: 1, workingSetRatio: 0.1 };
  const set = await app.query(`mutation($id: ID!, $w: CustomWorkloadInput!) { setWorkload(input: { vmId: $id, custom: $w }) { __typename } }`, { id: vm.id, w: custom });
  expect(set.setWorkload.__typename).toBe('SetWorkloadPayload');
  return { id: vm.id as string, disk: vm.virtualVolumes.find((v: any) => v.type === 'DATA').id as string };
}

const advance = (app: TestApp, seconds = 1) => app.query(`mutation($s: Float!) { advanceSimulation(input: { seconds: $s }) { __typename } }`, { s: seconds });
const control = async (app: TestApp, id: string) =>
  (await app.query(`query($id: ID!) { node(id: $id) { ... on VirtualVolume { ioControl { upperLimit lowerLimit priority upperReport demandIops servedIops throttledIops guaranteeMet } io { servedIops throttledIops latencyMs readIops writeIops mbps } compliance { status violations { capabilityId expected current } } } } }`, { id })).node;

beforeAll(async () => {
  app = await startApp();
  ids = await seedBasics(app);
  // No DRAM cache: every access takes the disks' 5 ms, so the latencies below are the queue's alone.
  await setDramCache(app, 0);
});
afterAll(() => app?.close());

describe('io-load-manager on the tick', () => {
  it('divides a contended pool exactly: lower limit first, then 4:1 by priority, capped by demand', async () => {
    // tokyo pool: 400k + 60k + 15k = 475,000 IOPS.
    const gold = await policy(app, 'guaranteed', [['nec.iolm.lowerLimit', 50_000], ['nec.iolm.priority', 'HIGH']]);
    const low = await policy(app, 'best-effort', [['nec.iolm.priority', 'LOW']]);
    const a = await runningVm(app, 'a', gold, ids.containers['tokyo-gold'], 400_000);
    const b = await runningVm(app, 'b', low, ids.containers['tokyo-bulk'], 400_000);
    await advance(app);
    // Reserved 50k for a; 425k left shared 4:1 -> a +340k (under its 350k headroom), b 85k.
    expect((await control(app, a.disk)).ioControl).toEqual({ upperLimit: null, lowerLimit: 50_000, priority: 'HIGH', upperReport: false, demandIops: 400_000, servedIops: 390_000, throttledIops: 10_000, guaranteeMet: true });
    const lowControl = await control(app, b.disk);
    expect(lowControl.ioControl).toMatchObject({ priority: 'LOW', demandIops: 400_000, servedIops: 85_000, throttledIops: 315_000 });
    expect(lowControl.io.latencyMs).toBeCloseTo(5 / (1 - 0.95));
    expect(lowControl.io.mbps).toBeCloseTo((85_000 * 8192) / 1e6);
    for (const vm of [a, b]) await app.query(`mutation($id: ID!) { powerOffVirtualMachine(input: { id: $id }) { __typename } }`, { id: vm.id });
  });

  it('caps a VVOL at its upper limit and streams its statistics each tick over graphql-ws', async () => {
    const capped = await policy(app, 'capped', [['nec.iolm.upperLimit', 1000]]);
    const vm = await runningVm(app, 'capped-vm', capped, ids.containers['tokyo-gold'], 4500);
    const client = wsClient(app);
    const samples: any[] = [];
    const done = new Promise<void>((resolve, reject) => {
      const dispose = client.subscribe({ query: `subscription($id: ID!) { ioStats(vmId: $id) { time servedIops throttledIops readIops latencyMs } }`, variables: { id: vm.id } }, {
        next: (m) => { samples.push(m.data!.ioStats); if (samples.length === 3) { dispose(); resolve(); } },
        error: reject,
        complete: () => resolve(),
      });
    });
    // No acknowledgement in graphql-ws: tick until the subscription has started receiving.
    for (let i = 0; i < 200 && samples.length < 3; i++) await advance(app);
    await done;
    await client.dispose();
    for (const s of samples) expect(s).toMatchObject({ servedIops: 1000, throttledIops: 3500, readIops: 1000 });
    expect(samples[1].time - samples[0].time).toBe(1);
    expect((await control(app, vm.disk)).ioControl).toMatchObject({ upperLimit: 1000, servedIops: 1000, guaranteeMet: true });
  });

  it('upperReport reports, as events, when a VVOL starts and stops being held at its upper limit', async () => {
    const reported = await policy(app, 'capped-reported', [['nec.iolm.upperLimit', 2000], ['nec.iolm.upperReport', true]]);
    const silent = await policy(app, 'capped-silent', [['nec.iolm.upperLimit', 2000]]);
    const loud = await runningVm(app, 'loud', reported, ids.containers['tokyo-gold'], 5000);
    const quiet = await runningVm(app, 'quiet', silent, ids.containers['tokyo-gold'], 5000);
    const iolmEvents = async () => (await app.query(`{ events(kinds: ["iolm.*"]) { kind entityId data } }`)).events;
    const before = (await iolmEvents()).length;
    for (let t = 0; t < 3; t++) await advance(app);
    const vvolId = (await app.query(`query($id: ID!) { node(id: $id) { ... on VirtualVolume { vasaId } } }`, { id: loud.disk })).node.vasaId;
    // Once when it starts, not every tick; nothing for the VVOL whose policy does not ask for reports.
    expect((await iolmEvents()).slice(before)).toEqual([{ kind: 'iolm.upperLimitReached', entityId: vvolId, data: { upperLimit: 2000, demandIops: 5000 } }]);
    expect((await control(app, loud.disk)).ioControl).toMatchObject({ upperLimit: 2000, upperReport: true, servedIops: 2000 });
    expect((await control(app, quiet.disk)).ioControl).toMatchObject({ upperLimit: 2000, upperReport: false, servedIops: 2000 });

    const calm = { readIops: 1500, writeIops: 0, blockSizeBytes: 8192, randomRatio: 1, zipfAlpha: 1, workingSetRatio: 0.1 };
    await app.query(`mutation($id: ID!, $w: CustomWorkloadInput!) { setWorkload(input: { vmId: $id, custom: $w }) { __typename } }`, { id: loud.id, w: calm });
    for (let t = 0; t < 2; t++) await advance(app);
    expect((await iolmEvents()).slice(before).map((e: any) => e.kind)).toEqual(['iolm.upperLimitReached', 'iolm.upperLimitReleased']);
    for (const vm of [loud, quiet]) await app.query(`mutation($id: ID!) { powerOffVirtualMachine(input: { id: $id }) { __typename } }`, { id: vm.id });
  });

  it('a lower limit the pool cannot give is NON_COMPLIANT with expected and current, and the pool raises an alarm', async () => {
    // osaka pool: 250,000 IOPS, less than this VVOL's 1,000,000 guaranteed.
    const greedy = await policy(app, 'greedy', [['nec.iolm.lowerLimit', 1_000_000]]);
    const vm = await runningVm(app, 'greedy-vm', greedy, ids.containers['osaka-gold'], 1_000_000);
    await advance(app);
    const state = await control(app, vm.disk);
    expect(state.ioControl).toMatchObject({ lowerLimit: 1_000_000, servedIops: 250_000, guaranteeMet: false });
    expect(state.compliance).toEqual({ status: 'NON_COMPLIANT', violations: [{ capabilityId: 'nec.iolm.lowerLimit', expected: '1000000 IOPS', current: '250000 IOPS' }] });
    const alarms = (await app.query(`{ alarms(kind: CAPABILITY, first: 1000) { edges { node { status entityType message } } } }`)).alarms.edges.map((e: any) => e.node);
    expect(alarms).toEqual([expect.objectContaining({ status: 'RED', entityType: 'StoragePool', message: expect.stringContaining('(1000000 IOPS) exceed the pool') })]);
    // Asking less, still past the pool: the alarm holds, and its figures are those of now.
    const less = { readIops: 600_000, writeIops: 0, blockSizeBytes: 8192, randomRatio: 1, zipfAlpha: 1, workingSetRatio: 0.1 };
    await app.query(`mutation($id: ID!, $w: CustomWorkloadInput!) { setWorkload(input: { vmId: $id, custom: $w }) { __typename } }`, { id: vm.id, w: less });
    await advance(app);
    expect((await app.query(`{ alarms(kind: CAPABILITY, first: 1000) { edges { node { status message } } } }`)).alarms.edges.map((e: any) => e.node))
      .toEqual([{ status: 'RED', message: expect.stringContaining('(600000 IOPS) exceed the pool') }]);
    await app.query(`mutation($id: ID!) { powerOffVirtualMachine(input: { id: $id }) { __typename } }`, { id: vm.id });
    await advance(app);
    expect((await app.query(`{ alarms(kind: CAPABILITY, first: 1000) { edges { node { status } } } }`)).alarms.edges.map((e: any) => e.node)).toEqual([]);
    // Powered off, it asks for nothing: the starved tick before is history, not the VVOL's state now.
    const off = await control(app, vm.disk);
    expect(off.io).toBeNull();
    expect(off.ioControl).toMatchObject({ demandIops: 0, servedIops: 0, guaranteeMet: true });
    expect(off.compliance).toEqual({ status: 'COMPLIANT', violations: [] });
    expect((await app.query(`query($id: ID!) { node(id: $id) { ... on VirtualMachine { io { servedIops } recentIo(last: 3) { servedIops } } } }`, { id: vm.id })).node)
      .toEqual({ io: null, recentIo: [{ servedIops: 250_000 }, { servedIops: 250_000 }] });
  });
});

describe('determinism', () => {
  it('the same seed and the same operations give identical statistics and data', async () => {
    const run = async () => {
      const replay = await startApp({ env: { VVOLGRAPH_SEED: 'replay' } });
      try {
        const { containers } = await seedBasics(replay);
        const p = await policy(replay, 'p', [['nec.iolm.upperLimit', 5000]]);
        // Two VMs share a name: names need not be unique, and their uuids differ from run to run.
        const vms = [
          await runningVm(replay, 'x', p, containers['tokyo-gold'], 3000), await runningVm(replay, 'y', p, containers['tokyo-gold'], 8000),
          await runningVm(replay, 'twin', p, containers['tokyo-gold'], 3000), await runningVm(replay, 'twin', p, containers['tokyo-gold'], 3000),
        ];
        for (const vm of [vms[0], vms[2], vms[3]]) await replay.query(`mutation($id: ID!) { setWorkload(input: { vmId: $id, preset: OLTP }) { __typename } }`, { id: vm.id });
        const seen = [];
        for (let t = 0; t < 5; t++) {
          await advance(replay);
          for (const vm of vms) seen.push((await control(replay, vm.disk)).io);
        }
        const listed = await replay.query(`{ virtualVolumes(first: 100) { edges { node { type contentDigest allocatedBytes } } } }`);
        // Listings tie on creation time and then order by uuid, which differs between runs: compare as sets.
        const digests = listed.virtualVolumes.edges.map((e: any) => e.node).sort((a: any, b: any) => a.contentDigest.localeCompare(b.contentDigest));
        const disks = [];
        for (const vm of vms) disks.push((await replay.query(`query($id: ID!) { node(id: $id) { ... on VirtualVolume { contentDigest allocatedBytes } } }`, { id: vm.disk })).node);
        return { seen, digests, disks };
      } finally {
        await replay.close();
      }
    };
    const [first, second] = [await run(), await run()];
    expect(second).toEqual(first);
    expect(first.digests.some((v: any) => v.type === 'DATA' && v.allocatedBytes > 0)).toBe(true);
  });
});
