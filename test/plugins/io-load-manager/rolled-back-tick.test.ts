import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { definePlugin } from '../../../src/core/plugin.ts';
import { builtInPlugins } from '../../../src/plugins/index.ts';
import { GiB, seedBasics, startApp, type TestApp } from '../../helpers/app.ts';

/** Fails the tick in its last phase while `failing` is set: everything the tick did rolls back. */
let failing = false;
const saboteur = definePlugin({
  name: 'tick-saboteur',
  version: '1.0.0',
  hooks: {
    observe: () => {
      if (failing) throw new Error('the tick fell over');
    },
  },
});

let app: TestApp;
let ids: Awaited<ReturnType<typeof seedBasics>>;

beforeAll(async () => {
  app = await startApp({ builtIns: [...builtInPlugins, saboteur] });
  ids = await seedBasics(app);
});
afterAll(() => app?.close());

const advance = (seconds = 1) => app.gql(`mutation($s: Float!) { advanceSimulation(input: { seconds: $s }) { __typename } }`, { s: seconds });
const capabilityAlarms = async () => (await app.query(`{ alarms(kind: CAPABILITY, first: 1000) { edges { node { status entityType } } } }`)).alarms.edges.map((e: any) => e.node);

describe('io-load-manager after a tick that rolled back', () => {
  it('raises the pool alarm in the next tick that commits: what it remembers rolls back with the tick', async () => {
    const greedy = (await app.query(`mutation { createStoragePolicy(input: { name: "greedy", rules: [{ capabilityId: "nec.iolm.lowerLimit", value: 1000000 }] }) { ... on CreateStoragePolicyPayload { storagePolicy { id } } } }`))
      .createStoragePolicy.storagePolicy.id;
    const vm = (await app.query(
      `mutation($p: ID!, $c: ID!) { createVirtualMachine(input: { name: "greedy-vm", policyId: $p, containerId: $c, disks: [{ sizeBytes: ${100 * GiB} }] }) { ... on CreateVirtualMachinePayload { virtualMachine { id } } } }`,
      { p: greedy, c: ids.containers['osaka-gold'] },
    )).createVirtualMachine.virtualMachine;
    await app.query(`mutation($id: ID!) { powerOnVirtualMachine(input: { id: $id }) { __typename } }`, { id: vm.id });
    const custom = { readIops: 1_000_000, writeIops: 0, blockSizeBytes: 8192, randomRatio: 1, zipfAlpha: 1, workingSetRatio: 0.1 };
    await app.query(`mutation($id: ID!, $w: CustomWorkloadInput!) { setWorkload(input: { vmId: $id, custom: $w }) { __typename } }`, { id: vm.id, w: custom });

    failing = true;
    try {
      // The osaka pool's 250,000 IOPS are short of the 1,000,000 guaranteed; the tick that saw it fails.
      expect((await advance()).errors?.[0]?.message).toBe('Unexpected error.');
    } finally {
      failing = false;
    }
    expect(await capabilityAlarms()).toEqual([]);

    expect((await advance()).errors).toBeUndefined();
    expect(await capabilityAlarms()).toEqual([{ status: 'RED', entityType: 'StoragePool' }]);
  });
});
