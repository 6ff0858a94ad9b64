import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GiB, seedBasics, startApp, testTokens, type TestApp } from '../../helpers/app.ts';
import { createPolicy, createVm, fingerprint, mutate, ok } from '../../api/support.ts';

let app: TestApp;
let ids: Awaited<ReturnType<typeof seedBasics>>;
let arrays: Record<string, string>;

beforeAll(async () => {
  app = await startApp();
  ids = await seedBasics(app);
  const { storageArrays } = await app.query('{ storageArrays { edges { node { id name } } } }');
  arrays = Object.fromEntries(storageArrays.edges.map((e: any) => [e.node.name, e.node.id]));
});
afterAll(() => app?.close());

const advance = (seconds: number) => app.query(`mutation { advanceSimulation(input: { seconds: ${seconds} }) { __typename } }`);
const node = async (id: string, selection: string) => (await app.query(`query($id: ID!) { node(id: $id) { ${selection} } }`, { id })).node;
const write = (vvolId: string, indexes: number[]) => app.core.transact((work) => app.core.extents.write(work.tx, [{ vvolId, indexes }]));
const rowId = (globalId: string) => Buffer.from(globalId, 'base64').toString().split(':')[1];
const digests = async (vvolIds: string[]) => Promise.all(vvolIds.map(async (id) => (await node(id, '... on VirtualVolume { contentDigest }')).contentDigest));

const groupFields = 'id state sourceState targetState pending sourceVirtualMachine { id } targetVirtualMachine { id name powerState virtualVolumes { id type contentDigest } } pointsInTime { id takenAt complete volumes { contentDigest } masterVolumes { id } } progress { rpoLagSeconds bytesRemaining bytesPerSecond etaSeconds lastPointInTime health } history { transition from to }';
const planFields = 'plan { transition applied fromSourceState fromTargetState toSourceState toTargetState volumeIds bindingIds pointInTime { id } blockers }';

async function groupOf(vmId: string) {
  return (await node(vmId, `... on VirtualMachine { replicationGroup { ${groupFields} } }`)).replicationGroup;
}

async function transition(name: string, input: Record<string, unknown>) {
  return mutate(app, name, input, 'vmAdmin', `... on ${name[0].toUpperCase()}${name.slice(1)}Payload { ${planFields} group { ${groupFields} } }`);
}

describe('rdr links and remote pairs', () => {
  it('configures a link between sites, refuses a bad one naming the field, and pairs only across sites', async () => {
    const linkSel = '... on ConfigureReplicationLinkPayload { link { bytesPerSecond latencyMs semiSyncThresholdBytes sourceArray { name } targetArray { name } } }';
    const set = await mutate(app, 'configureReplicationLink', { sourceArrayId: arrays['tokyo-m510'], targetArrayId: arrays['osaka-m310'], bytesPerSecond: 64 * 1024 ** 2, latencyMs: 8 }, 'storageAdmin', linkSel);
    expect(set.link).toMatchObject({ bytesPerSecond: 64 * 1024 ** 2, latencyMs: 8, sourceArray: { name: 'tokyo-m510' }, targetArray: { name: 'osaka-m310' } });
    const vm = await createVm(app, ids.policies.BRONZE, { containerId: ids.containers['tokyo-bulk'] });
    const before = await fingerprint(app);
    const bad = [
      [{ bytesPerSecond: -1, latencyMs: 5 }, 'input.bytesPerSecond'],
      [{ bytesPerSecond: 0, latencyMs: 5 }, 'input.bytesPerSecond'],
      [{ bytesPerSecond: 1e6, latencyMs: -1 }, 'input.latencyMs'],
      [{ bytesPerSecond: 1e6, latencyMs: 1, targetArrayId: arrays['tokyo-m510'] }, 'input.targetArrayId'],
      [{ bytesPerSecond: 1e6, latencyMs: 1, targetArrayId: arrays['osaka-hs'] }, 'input.targetArrayId'],
    ] as const;
    for (const [input, field] of bad) {
      const result = await mutate(app, 'configureReplicationLink', { sourceArrayId: arrays['tokyo-m510'], targetArrayId: arrays['osaka-m310'], ...input }, 'storageAdmin');
      expect(result, JSON.stringify(input)).toMatchObject({ __typename: 'ValidationError', field });
    }
    expect(await mutate(app, 'pairRemoteReplica', { mvId: vm.disks[0], targetContainerId: ids.containers['tokyo-gold'] }, 'vmAdmin')).toMatchObject({ __typename: 'ValidationError', field: 'input.targetContainerId' });
    expect(await fingerprint(app)).toEqual(before);
    const { pair } = await ok(app, 'pairRemoteReplica', { mvId: vm.disks[0] }, '... on PairRemoteReplicaPayload { pair { id owner syncState link linkBytesPerSecond linkLatencyMs replicaVolume { storageContainer { array { site } } } } }', 'vmAdmin');
    expect(pair).toMatchObject({ owner: 'rdr', syncState: 'SEPARATED', linkBytesPerSecond: 64 * 1024 ** 2, linkLatencyMs: 8, replicaVolume: { storageContainer: { array: { site: 'OSAKA' } } } });
    // A link change reaches the pairs on it.
    await mutate(app, 'configureReplicationLink', { sourceArrayId: arrays['tokyo-m510'], targetArrayId: arrays['osaka-m310'], bytesPerSecond: 128 * 1024 ** 2, latencyMs: 4 }, 'storageAdmin', linkSel);
    expect(await node(pair.id, '... on ReplicaPair { linkBytesPerSecond linkLatencyMs }')).toEqual({ linkBytesPerSecond: 128 * 1024 ** 2, linkLatencyMs: 4 });
  });

  it('SYNC writes wait for the remote side: a VM under SYNC shows the link latency over one under BACKGROUND', async () => {
    await mutate(app, 'configureReplicationLink', { sourceArrayId: arrays['tokyo-m510'], targetArrayId: arrays['osaka-m310'], bytesPerSecond: 4 * GiB, latencyMs: 20 }, 'storageAdmin');
    const latency: Record<string, number> = {};
    for (const copyControl of ['SYNC', 'BACKGROUND']) {
      const vm = await createVm(app, ids.policies.BRONZE, { containerId: ids.containers['tokyo-bulk'], disks: [4 * GiB] });
      const { pair } = await ok(app, 'pairRemoteReplica', { mvId: vm.disks[0], copyControl }, '... on PairRemoteReplicaPayload { pair { id } }', 'vmAdmin');
      await ok(app, 'replicatePair', { pairId: pair.id, range: 'FULL' }, '... on ReplicatePairPayload { task { id } }', 'vmAdmin');
      await advance(2);
      expect((await node(pair.id, '... on ReplicaPair { syncState }')).syncState).toBe('RPL_SYNC');
      await ok(app, 'setWorkload', { vmId: vm.id, preset: 'OLTP' }, '... on SetWorkloadPayload { __typename }', 'vmAdmin');
      await ok(app, 'powerOnVirtualMachine', { id: vm.id }, '... on PowerOnVirtualMachinePayload { __typename }', 'vmAdmin');
      await advance(3);
      latency[copyControl] = (await node(vm.id, '... on VirtualMachine { io { latencyMs } }')).io.latencyMs;
      const synced = await node(pair.id, '... on ReplicaPair { masterVolume { contentDigest } replicaVolume { contentDigest } }');
      if (copyControl === 'SYNC') expect(synced.replicaVolume.contentDigest).toBe(synced.masterVolume.contentDigest);
      await ok(app, 'powerOffVirtualMachine', { id: vm.id }, '... on PowerOffVirtualMachinePayload { __typename }', 'vmAdmin');
    }
    // OLTP is one third writes: a third of the 20 ms link latency, before queueing.
    expect(latency.SYNC - latency.BACKGROUND).toBeGreaterThan(20 / 3 - 0.5);
  });

  it('SEMI_SYNC copies behind while the unsent data stays under the threshold, and makes writes wait above it', async () => {
    await mutate(app, 'configureReplicationLink', { sourceArrayId: arrays['tokyo-m510'], targetArrayId: arrays['osaka-m310'], bytesPerSecond: 32 * 1024 ** 2, latencyMs: 10, semiSyncThresholdBytes: 10 * GiB }, 'storageAdmin');
    const vm = await createVm(app, ids.policies.BRONZE, { containerId: ids.containers['tokyo-bulk'], disks: [8 * GiB] });
    const { pair } = await ok(app, 'pairRemoteReplica', { mvId: vm.disks[0], copyControl: 'SEMI_SYNC' }, '... on PairRemoteReplicaPayload { pair { id } }', 'vmAdmin');
    await ok(app, 'replicatePair', { pairId: pair.id, range: 'FULL' }, '... on ReplicatePairPayload { task { id } }', 'vmAdmin');
    await advance(1);
    await ok(app, 'setWorkload', { vmId: vm.id, preset: 'OLTP' }, '... on SetWorkloadPayload { __typename }', 'vmAdmin');
    await ok(app, 'powerOnVirtualMachine', { id: vm.id }, '... on PowerOnVirtualMachinePayload { __typename }', 'vmAdmin');
    await advance(3);
    const below = await node(pair.id, '... on ReplicaPair { copyDiffBytes masterVolume { contentDigest } replicaVolume { contentDigest } }');
    expect(below.copyDiffBytes).toBeGreaterThan(0); // asynchronous: a backlog under the threshold
    const asyncLatency = (await node(vm.id, '... on VirtualMachine { io { latencyMs } }')).io.latencyMs;
    // Lower the threshold under the backlog: writes now wait for the remote side.
    await mutate(app, 'configureReplicationLink', { sourceArrayId: arrays['tokyo-m510'], targetArrayId: arrays['osaka-m310'], bytesPerSecond: 32 * 1024 ** 2, latencyMs: 10, semiSyncThresholdBytes: 1 }, 'storageAdmin');
    await advance(1);
    const waitingLatency = (await node(vm.id, '... on VirtualMachine { io { latencyMs } }')).io.latencyMs;
    expect(waitingLatency - asyncLatency).toBeGreaterThan(10 / 3 - 0.5);
    await ok(app, 'powerOffVirtualMachine', { id: vm.id }, '... on PowerOffVirtualMachinePayload { __typename }', 'vmAdmin');
  });
});
