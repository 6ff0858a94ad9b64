import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GiB, seedBasics, startApp, type TestApp } from '../helpers/app.ts';

let app: TestApp;
let vmId: string;

const SET = `mutation($input: SetWorkloadInput!) { setWorkload(input: $input) { __typename
  ... on SetWorkloadPayload { virtualMachine { workload { preset readIops writeIops blockSizeBytes randomRatio zipfAlpha workingSetRatio burst { periodSeconds dutyCycle multiplier } } } }
  ... on ValidationError { field message } } }`;
const custom = { readIops: 1200, writeIops: 300, blockSizeBytes: 16384, randomRatio: 0.8, zipfAlpha: 0.9, workingSetRatio: 0.3 };

beforeAll(async () => {
  app = await startApp();
  const { policies } = await seedBasics(app);
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
