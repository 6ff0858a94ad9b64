import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GiB, seedBasics, startApp, type TestApp } from '../helpers/app.ts';
import fc from 'fast-check';
import { burstFactor } from '../../src/core/engine/io.ts';
import { presets } from '../../src/core/services/workloads.ts';

let app: TestApp;
let vmId: string;
let bronze: string;

const SET = `mutation($input: SetWorkloadInput!) { setWorkload(input: $input) { __typename
  ... on SetWorkloadPayload { virtualMachine { workload { preset readIops writeIops blockSizeBytes randomRatio zipfAlpha workingSetRatio burst { periodSeconds dutyCycle multiplier } } } }
  ... on ValidationError { field message } } }`;
const custom = { readIops: 1200, writeIops: 300, blockSizeBytes: 16384, randomRatio: 0.8, zipfAlpha: 0.9, workingSetRatio: 0.3 };

beforeAll(async () => {
  app = await startApp();
  const { policies } = await seedBasics(app);
  bronze = policies.BRONZE;
  const created = await app.query(`mutation($p: ID!) { createVirtualMachine(input: { name: "w", policyId: $p, disks: [{ sizeBytes: ${GiB} }] }) { ... on CreateVirtualMachinePayload { virtualMachine { id workload { preset } } } } }`, { p: policies.BRONZE });
  vmId = created.createVirtualMachine.virtualMachine.id;
  expect(created.createVirtualMachine.virtualMachine.workload.preset).toBe('IDLE');
});
afterAll(() => app?.close());

describe('setWorkload', () => {
  it('sets a preset, then a custom profile with bursts, and reports it on the VM', async () => {
    const oltp = await app.query(SET, { input: { vmId, preset: 'OLTP' } }, 'vmAdmin');
    expect(oltp.setWorkload.virtualMachine.workload).toMatchObject({ preset: 'OLTP', readIops: 3000, writeIops: 1500, burst: null });
    const burst = { periodSeconds: 600, dutyCycle: 0.1, multiplier: 4 };
    const set = await app.query(SET, { input: { vmId, custom: { ...custom, burst } } }, 'vmAdmin');
    expect(set.setWorkload.virtualMachine.workload).toEqual({ preset: 'CUSTOM', ...custom, burst });
    const events = await app.query(`{ events(kinds: ["vm.workloadSet"]) { data } }`);
    expect(events.events.map((e: any) => e.data.preset)).toEqual(['OLTP', 'CUSTOM']);
  });

  it.each([
    [{ custom: { ...custom, readIops: -1 } }, 'input.custom.readIops', 'readIops must not be negative'],
    [{ custom: { ...custom, zipfAlpha: 0 } }, 'input.custom.zipfAlpha', 'zipfAlpha must be above 0'],
    [{ custom: { ...custom, blockSizeBytes: 3000 } }, 'input.custom.blockSizeBytes', 'blockSizeBytes must be a power of two'],
    [{ custom: { ...custom, randomRatio: 1.5 } }, 'input.custom.randomRatio', 'randomRatio must be at most 1'],
    [{ custom: { ...custom, burst: { periodSeconds: 60, dutyCycle: 0, multiplier: 2 } } }, 'input.custom.burst.dutyCycle', 'dutyCycle must be above 0'],
    [{ preset: 'OLTP', custom }, 'input.preset', 'Give either preset or custom, not both or neither'],
    [{}, 'input.preset', 'Give either preset or custom, not both or neither'],
    [{ preset: 'CUSTOM' }, 'input.preset', 'CUSTOM is not a preset: give the profile in custom'],
  ])('refuses %j with a ValidationError on the field, changing nothing', async (input, field, message) => {
    const before = await app.query(`query($id: ID!) { node(id: $id) { ... on VirtualMachine { workload { preset readIops zipfAlpha } } } }`, { id: vmId });
    const result = await app.query(SET, { input: { vmId, ...input } }, 'vmAdmin');
    expect(result.setWorkload).toEqual({ __typename: 'ValidationError', field, message });
    expect(await app.query(`query($id: ID!) { node(id: $id) { ... on VirtualMachine { workload { preset readIops zipfAlpha } } } }`, { id: vmId })).toEqual(before);
  });
});

describe('the tick\'s demand', () => {
  it('follows each change between ticks at the very next tick: power, workload, a new disk, the policy applied and its rules edited', async () => {
    const advance = () => app.query(`mutation { advanceSimulation(input: { seconds: 1 }) { __typename } }`);
    const mutate = async (query: string, variables: Record<string, unknown>) => {
      const data = await app.query(query, variables, 'storageAdmin');
      expect(Object.values(data)[0]).not.toHaveProperty('message');
      return data;
    };
    const policyOf = async (name: string, upperLimit: number) =>
      (await mutate(`mutation($input: CreateStoragePolicyInput!) { createStoragePolicy(input: $input) { ... on CreateStoragePolicyPayload { storagePolicy { id } } ... on UserError { message } } }`,
        { input: { name, rules: [{ capabilityId: 'nec.iolm.upperLimit', value: upperLimit }] } })).createStoragePolicy.storagePolicy.id as string;
    const created = await mutate(`mutation($p: ID!) { createVirtualMachine(input: { name: "demand", policyId: $p, disks: [{ sizeBytes: ${GiB} }] }) { ... on CreateVirtualMachinePayload { virtualMachine { id virtualVolumes { id type } } } ... on UserError { message } } }`,
      { p: await policyOf('demand-open', 100_000) });
    const vm = created.createVirtualMachine.virtualMachine;
    const first = Buffer.from(vm.virtualVolumes.find((v: any) => v.type === 'DATA').id, 'base64').toString().split(':')[1];
    const served = (vvolId: string) => {
      // Statistics count what was served: readIops are the reads served.
      const sample = app.engine.io.last(vvolId);
      return sample?.time === app.engine.now ? { read: sample.readIops, served: sample.servedIops } : null;
    };
    const workload = (readIops: number) => mutate(`mutation($id: ID!, $w: CustomWorkloadInput!) { setWorkload(input: { vmId: $id, custom: $w }) { __typename } }`,
      { id: vm.id, w: { readIops, writeIops: 0, blockSizeBytes: 8192, randomRatio: 1, zipfAlpha: 1, workingSetRatio: 0.1 } });

    await workload(1000);
    await advance();
    expect(served(first)).toBeNull();
    await mutate(`mutation($id: ID!) { powerOnVirtualMachine(input: { id: $id }) { __typename } }`, { id: vm.id });
    await advance();
    expect(served(first)).toEqual({ read: 1000, served: 1000 });
    await workload(3000);
    await advance();
    expect(served(first)).toEqual({ read: 3000, served: 3000 });
    const added = await mutate(`mutation($id: ID!) { addVirtualDisk(input: { vmId: $id, sizeBytes: ${2 * GiB} }) { ... on AddVirtualDiskPayload { virtualVolume { id } } ... on UserError { message } } }`, { id: vm.id });
    const second = Buffer.from(added.addVirtualDisk.virtualVolume.id, 'base64').toString().split(':')[1];
    await advance();
    expect([served(first), served(second)]).toEqual([{ read: 1000, served: 1000 }, { read: 2000, served: 2000 }]);
    const capped = await policyOf('demand-capped', 1500);
    await mutate(`mutation($p: ID!, $t: ID!) { applyStoragePolicy(input: { policyId: $p, targetId: $t }) { __typename } }`, { p: capped, t: vm.id });
    await advance();
    expect([served(first), served(second)]).toEqual([{ read: 1000, served: 1000 }, { read: 1500, served: 1500 }]);
    await mutate(`mutation($id: ID!) { updateStoragePolicy(input: { id: $id, rules: [{ capabilityId: "nec.iolm.upperLimit", value: 500 }] }) { __typename } }`, { id: capped });
    await advance();
    expect([served(first), served(second)]).toEqual([{ read: 500, served: 500 }, { read: 500, served: 500 }]);
    await mutate(`mutation($id: ID!) { powerOffVirtualMachine(input: { id: $id }) { __typename } }`, { id: vm.id });
    await advance();
    expect([served(first), served(second)]).toEqual([null, null]);
  });
});

describe('the demo data', () => {
  it('gives each VM the workload of its role, so its running VMs show each kind of load from the first tick', async () => {
    const demo = await startApp({ env: { VVOLGRAPH_DEMO: 'true' } });
    try {
      await demo.query('mutation { advanceSimulation(input: { seconds: 1 }) { __typename } }');
      const { virtualMachines } = await demo.query('{ virtualMachines(first: 100) { edges { node { name powerState workload { preset } io { readIops writeIops } } } } }');
      const vms = virtualMachines.edges.map((e: any) => e.node).filter((vm: any) => !vm.name.includes('clone'));
      const expected: Record<string, string> = { web: 'IDLE', db: 'OLTP', app: 'OLTP', vdi: 'VDI_BOOT_STORM', file: 'BACKUP_SCAN', mail: 'IDLE' };
      expect(vms).toHaveLength(24);
      for (const vm of vms) expect(vm.workload.preset, vm.name).toBe(expected[vm.name.split('-')[0]]);
      const running = vms.filter((vm: any) => vm.powerState === 'POWERED_ON');
      expect(new Set(running.map((vm: any) => vm.workload.preset))).toEqual(new Set(Object.values(expected)));
      const oltp = running.find((vm: any) => vm.workload.preset === 'OLTP');
      expect(oltp.io.readIops + oltp.io.writeIops).toBeGreaterThan(1000);
      expect(running.find((vm: any) => vm.workload.preset === 'BACKUP_SCAN').io.writeIops).toBe(0);
    } finally {
      await demo.close();
    }
  });
});

describe('bursts', () => {
  const profile = { ...presets.IDLE, burst: { periodSeconds: 10, dutyCycle: 0.5, multiplier: 2 } };

  it('are on for the first dutyCycle of each period: the 1-second ticks (0,1] to (4,5] burst, (5,6] to (9,10] do not', () => {
    const bursting = Array.from({ length: 20 }, (_, i) => i + 1).filter((end) => burstFactor(profile, end, 1) === 2);
    expect(bursting).toEqual([1, 2, 3, 4, 5, 11, 12, 13, 14, 15]);
  });

  it('weigh the multiplier by the share of a tick spent in bursts, so any tick length gives the same work over a period', () => {
    expect(burstFactor(profile, 10, 10)).toBe(1.5);
    expect(burstFactor(profile, 5.25, 0.5)).toBe(1.5);
    fc.assert(fc.property(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 5 }), (ticksPerPeriod, periods) => {
      const seconds = 10 / ticksPerPeriod;
      let work = 0;
      for (let i = 1; i <= ticksPerPeriod * periods; i++) work += burstFactor(profile, i * seconds, seconds) * seconds;
      expect(work).toBeCloseTo(periods * 10 * 1.5, 9);
    }));
  });
});

describe('sequential access', () => {
  it('walks the working set in order at the byte rate of the sequential share: one 32 MiB extent a second, contiguous from tick to tick', async () => {
    const created = await app.query(`mutation($p: ID!) { createVirtualMachine(input: { name: "scan", policyId: $p, disks: [{ sizeBytes: ${4 * GiB} }] }) { ... on CreateVirtualMachinePayload { virtualMachine { id virtualVolumes { id type } } } } }`, { p: bronze });
    const vm = created.createVirtualMachine.virtualMachine;
    const disk = vm.virtualVolumes.find((v: any) => v.type === 'DATA').id;
    await app.query(`mutation($id: ID!) { powerOnVirtualMachine(input: { id: $id }) { __typename } }`, { id: vm.id });
    // 128 writes of 256 KiB a second: 32 MiB, one extent.
    const scan = { readIops: 0, writeIops: 128, blockSizeBytes: 262144, randomRatio: 0, zipfAlpha: 1, workingSetRatio: 1 };
    expect((await app.query(SET, { input: { vmId: vm.id, custom: scan } })).setWorkload.__typename).toBe('SetWorkloadPayload');
    await app.settle();
    for (let i = 0; i < 10; i++) await app.query(`mutation { advanceSimulation(input: { seconds: 1 }) { __typename } }`);
    const { node } = await app.query(`query($id: ID!) { node(id: $id) { ... on VirtualVolume { allocatedExtents { offsetBytes } } } }`, { id: disk });
    const written = node.allocatedExtents.map((e: any) => e.offsetBytes / (32 * 1024 * 1024)).sort((a: number, b: number) => a - b);
    expect(written).toHaveLength(10);
    // Ten consecutive extents of the 128 (the walk may wrap past the last one to the first).
    const gaps = written.map((index: number, k: number) => (written[(k + 1) % 10] - index + 128) % 128);
    expect(gaps.filter((gap: number) => gap !== 1)).toHaveLength(1);
    await app.query(`mutation($id: ID!) { powerOffVirtualMachine(input: { id: $id }) { __typename } }`, { id: vm.id });
  });
});
