import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GiB, seedBasics, startApp, wsClient, type TestApp } from '../../helpers/app.ts';
import { createPolicy, createVm, fingerprint, mutate, ok, replicationGroup } from '../../api/support.ts';

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

/** Subscribes to replicationProgress(<target>), advances 10 s, and returns what streamed up to the message `last` accepts. */
async function progressWhileAdvancing(target: string, id: string, fields: string, last: (progress: any) => boolean): Promise<any[]> {
  const client = wsClient(app);
  const received: any[] = [];
  const done = new Promise<void>((resolve, reject) => {
    const stop = client.subscribe({ query: `subscription($id: ID!) { replicationProgress(${target}) { ${fields} } }`, variables: { id } }, {
      next: (value) => { received.push(value.data?.replicationProgress); if (last(received.at(-1))) { stop(); resolve(); } },
      error: reject,
      complete: () => resolve(),
    });
  });
  await new Promise((r) => setTimeout(r, 300));
  await advance(10);
  await done;
  await client.dispose();
  return received;
}
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

describe('replication groups', () => {
  async function protectedVm(copyControl = 'BACKGROUND') {
    await mutate(app, 'configureReplicationLink', { sourceArrayId: arrays['tokyo-m510'], targetArrayId: arrays['osaka-m310'], bytesPerSecond: GiB, latencyMs: 5 }, 'storageAdmin');
    const vm = await createVm(app, ids.policies.BRONZE, { containerId: ids.containers['tokyo-bulk'], disks: [2 * GiB, GiB] });
    await write(rowId(vm.disks[0]), [0, 1, 2, 3]);
    const created = await ok(app, 'createReplicationGroup', { vmId: vm.id, copyControl }, '... on CreateReplicationGroupPayload { group { id state targetState pairs { syncState } } }', 'vmAdmin');
    expect(created.group).toMatchObject({ state: 'SOURCE', targetState: 'TARGET' });
    expect(created.group.pairs).toHaveLength(3); // CONFIG and two DATA
    await advance(2);
    return { vm, groupId: created.group.id as string };
  }

  it('sync makes a consistent point in time; a test failover gives a test VM with its digests while the source runs on; stop removes it', async () => {
    const { vm, groupId } = await protectedVm();
    await write(rowId(vm.disks[0]), [5, 6]);
    const atSync = await digests([vm.config, ...vm.disks]);
    const synced = await transition('syncReplicationGroup', { groupId });
    expect(synced.plan).toMatchObject({ transition: 'SYNC', applied: true, blockers: [] });
    await write(rowId(vm.disks[0]), [7]); // after the point in time: not in it
    await advance(1);
    const group = await groupOf(vm.id);
    expect(group.pending).toBeNull();
    const point = group.pointsInTime[0];
    expect(point.complete).toBe(true);
    expect(point.volumes.map((v: any) => v.contentDigest)).toEqual(point.masterVolumes.map((m: any) => atSync[[vm.config, ...vm.disks].indexOf(m.id)]));

    // Dry run: the plan, nothing changed.
    const before = await fingerprint(app);
    const dry = await transition('testFailoverStart', { groupId, plan: true });
    expect(dry.plan).toMatchObject({ transition: 'TEST_FAILOVER_START', applied: false, fromTargetState: 'TARGET', toTargetState: 'INTEST', toSourceState: 'SOURCE', pointInTime: { id: point.id }, blockers: [] });
    expect(await fingerprint(app)).toEqual(before);

    const started = await transition('testFailoverStart', { groupId });
    expect(started.group).toMatchObject({ sourceState: 'SOURCE', targetState: 'INTEST' });
    const testVm = started.group.targetVirtualMachine;
    expect(testVm.name).toMatch(/-test$/);
    expect(testVm.virtualVolumes.map((v: any) => v.contentDigest).sort()).toEqual([...point.volumes.map((v: any) => v.contentDigest)].sort());
    expect((await node(testVm.id, '... on VirtualMachine { replicationGroup { state } }')).replicationGroup.state).toBe('INTEST');

    // Illegal now: a second start, a failover of a group under test.
    expect(await transition('testFailoverStart', { groupId })).toMatchObject({ __typename: 'ConflictError', currentState: 'INTEST' });
    expect(await transition('failoverReplicationGroup', { groupId, planned: false })).toMatchObject({ __typename: 'ConflictError', currentState: 'INTEST' });

    const stopped = await transition('testFailoverStop', { groupId });
    expect(stopped.group).toMatchObject({ targetState: 'TARGET', targetVirtualMachine: null });
    expect(await node(testVm.id, 'id')).toBeNull();
    expect(await transition('testFailoverStop', { groupId })).toMatchObject({ __typename: 'ConflictError', currentState: 'TARGET' });
  });

  it('planned failover syncs last, then the target VM holds the source\'s data; reverse replicates back; a failover of a non-SOURCE group is refused', async () => {
    const { vm, groupId } = await protectedVm();
    await write(rowId(vm.disks[1]), [0, 9]);
    const blocked = await transition('failoverReplicationGroup', { groupId, planned: true, plan: true });
    expect(blocked.plan.blockers).toEqual([]); // powered off already
    const final = await digests([vm.config, ...vm.disks]);
    const started = await transition('failoverReplicationGroup', { groupId, planned: true });
    expect(started.plan.applied).toBe(true);
    await advance(2);
    const group = await groupOf(vm.id);
    expect(group).toMatchObject({ sourceState: 'REMOTE_FAILEDOVER', targetState: 'FAILEDOVER', pending: null });
    expect(group.targetVirtualMachine.virtualVolumes.map((v: any) => v.contentDigest).sort()).toEqual([...final].sort());
    expect(group.history.map((h: any) => h.transition)).toEqual(['CREATE', 'FAILOVER_PREPARE', 'FAILOVER']);

    expect(await transition('failoverReplicationGroup', { groupId, planned: false })).toMatchObject({ __typename: 'ConflictError', currentState: 'REMOTE_FAILEDOVER' });
    expect(await transition('syncReplicationGroup', { groupId })).toMatchObject({ __typename: 'ConflictError', currentState: 'REMOTE_FAILEDOVER' });

    const liveVmId = group.targetVirtualMachine.id;
    const reversed = await transition('reverseReplicationGroup', { groupId });
    expect(reversed.group).toMatchObject({ sourceState: 'SOURCE', targetState: 'TARGET', sourceVirtualMachine: { id: liveVmId } });
    expect(await node(vm.id, 'id')).toBeNull(); // the old source is the replica now
    await advance(2);
    const back = await groupOf(liveVmId);
    expect(back.progress).toMatchObject({ bytesRemaining: 0, health: 'OK' });
  });

  it('unplanned failover uses the last point in time and fences the source; promote turns a test VM into the live one', async () => {
    const { vm, groupId } = await protectedVm();
    expect((await transition('failoverReplicationGroup', { groupId, planned: false, plan: true })).plan.blockers[0]).toMatch(/point-in-time/);
    expect(await transition('failoverReplicationGroup', { groupId, planned: false })).toMatchObject({ __typename: 'ConflictError' });
    await transition('syncReplicationGroup', { groupId });
    await advance(1);
    const point = (await groupOf(vm.id)).pointsInTime[0];
    await write(rowId(vm.disks[0]), [20]); // lost in an unplanned failover
    await ok(app, 'powerOnVirtualMachine', { id: vm.id }, '... on PowerOnVirtualMachinePayload { __typename }', 'vmAdmin');
    const dry = await transition('failoverReplicationGroup', { groupId, planned: false, plan: true });
    expect(dry.plan.bindingIds.length).toBeGreaterThan(0); // the source's bound volumes
    const done = await transition('failoverReplicationGroup', { groupId, planned: false });
    expect(done.plan.pointInTime.id).toBe(point.id);
    const group = await groupOf(done.group.targetVirtualMachine.id);
    expect(group.targetVirtualMachine.virtualVolumes.map((v: any) => v.contentDigest).sort()).toEqual([...point.volumes.map((v: any) => v.contentDigest)].sort());
    expect((await node(vm.id, '... on VirtualMachine { powerState }')).powerState).toBe('POWERED_OFF');

    const other = await protectedVm();
    await transition('syncReplicationGroup', { groupId: other.groupId });
    await advance(1);
    expect(await transition('promoteReplicationGroup', { groupId: other.groupId })).toMatchObject({ __typename: 'ConflictError', currentState: 'TARGET' });
    await transition('testFailoverStart', { groupId: other.groupId });
    const promoted = await transition('promoteReplicationGroup', { groupId: other.groupId });
    expect(promoted.group).toMatchObject({ sourceState: 'REMOTE_FAILEDOVER', targetState: 'FAILEDOVER' });
  });
});

describe('transitions whose target VM is gone', () => {
  it('promote without the test VM, and reverse without the failed-over VM, are refused with the blocker, changing nothing', async () => {
    for (const [state, name] of [['INTEST', 'promoteReplicationGroup'], ['FAILEDOVER', 'reverseReplicationGroup']] as const) {
      const { vmId, groupId } = await replicationGroup(app, ids.policies.BRONZE, ids.containers['tokyo-gold'], state);
      const target = (await node(groupId, '... on ReplicationGroup { targetVirtualMachine { id } }')).targetVirtualMachine;
      await mutate(app, 'powerOffVirtualMachine', { id: target.id }, 'vmAdmin'); // a ConflictError when it is off already
      await ok(app, 'deleteVirtualMachine', { id: target.id }, '__typename', 'vmAdmin');
      const before = await fingerprint(app);
      const refused = await transition(name, { groupId });
      expect(refused.__typename, name).toBe('ConflictError');
      expect(refused.message, name).toMatch(/deleted/);
      expect(await fingerprint(app), name).toEqual(before);
      expect(await node(vmId, 'id'), name).not.toBeNull();
    }
  });
});

describe('remote replicas from the policy', () => {
  it('a policy with nec.rdr.replica gives the VM a group with a remote replica of each volume; without the rules the pairs and replicas go', async () => {
    const policy = await createPolicy(app, [{ capabilityId: 'nec.rdr.replica', value: true }]);
    const vm = await createVm(app, policy, { containerId: ids.containers['tokyo-gold'], disks: [GiB] });
    await app.settle();
    const replicas = async () => (await node(vm.id, '... on VirtualMachine { virtualVolumes { type remoteReplicas { id replicaVolume { id storageContainer { array { site } } } } } }')).virtualVolumes;
    const paired = (await replicas()).flatMap((v: any) => v.remoteReplicas);
    expect(paired).toHaveLength(2); // CONFIG and DATA
    expect(paired.every((p: any) => p.replicaVolume.storageContainer.array.site === 'OSAKA')).toBe(true);
    expect(await groupOf(vm.id)).not.toBeNull();

    await ok(app, 'updateStoragePolicy', { id: policy, rules: [{ capabilityId: 'vasa.snapshot', value: true }] }, '... on UpdateStoragePolicyPayload { __typename }', 'storageAdmin');
    await app.settle();
    expect((await replicas()).flatMap((v: any) => v.remoteReplicas)).toEqual([]);
    for (const pair of paired) expect(await node(pair.replicaVolume.id, 'id')).toBeNull();
  });

  it('a policy without the rdr rules leaves a group made by hand, with its pairs and RVs, alone', async () => {
    const { vmId, groupId } = await replicationGroup(app, ids.policies.BRONZE, ids.containers['tokyo-gold'], 'SYNCED');
    const pairsOf = async () => (await node(groupId, '... on ReplicationGroup { pairs { id replicaVolume { id } } }')).pairs;
    const before = await pairsOf();
    expect(before).toHaveLength(2);
    await ok(app, 'applyStoragePolicy', { targetId: vmId, policyId: ids.policies.BRONZE }, '... on ApplyStoragePolicyPayload { __typename }', 'vmAdmin');
    await app.settle();
    expect(await pairsOf()).toEqual(before);
    await ok(app, 'deleteVirtualMachine', { id: vmId }, '__typename', 'vmAdmin');
  });

  it('deleting a VM whose group has points in time deletes their copies too, giving their space back', async () => {
    const policy = await createPolicy(app, [{ capabilityId: 'nec.rdr.replica', value: true }]);
    const usedBytes = async () => (await app.query('{ storageContainers { edges { node { name usedBytes } } } }')).storageContainers.edges.map((e: any) => e.node);
    const before = await usedBytes();
    const vm = await createVm(app, policy, { containerId: ids.containers['tokyo-gold'], disks: [GiB], powerOn: false });
    await write(rowId(vm.disks[0]), [0, 1, 2]);
    await app.settle();
    await advance(5);
    const group = await groupOf(vm.id);
    await transition('syncReplicationGroup', { groupId: group.id });
    await advance(3);
    expect((await groupOf(vm.id)).pointsInTime.some((p: any) => p.complete)).toBe(true);
    await ok(app, 'deleteVirtualMachine', { id: vm.id }, '__typename', 'vmAdmin');
    expect(await usedBytes()).toEqual(before);
  });

  it('replicaPairs filters by owner and syncState together', async () => {
    const vm = await createVm(app, ids.policies.GOLD, { containerId: ids.containers['tokyo-gold'], disks: [GiB], powerOn: false });
    await app.settle();
    const pairsOf = async (args: string) =>
      (await app.query(`{ replicaPairs(first: 1000${args}) { edges { node { id owner syncState masterVolume { virtualMachine { id } } } } } }`)).replicaPairs.edges.map((e: any) => e.node).filter((p: any) => p.masterVolume.virtualMachine?.id === vm.id);
    const all = await pairsOf('');
    expect(new Set(all.map((p: any) => p.owner))).toEqual(new Set(['ddr', 'rdr'])); // GOLD: a local and a remote replica
    const synced = all.filter((p: any) => p.owner === 'rdr' && p.syncState === 'RPL_SYNC');
    expect(synced.length).toBeGreaterThan(0);
    expect(await pairsOf(', owner: "rdr", syncState: RPL_SYNC')).toEqual(synced);
    expect(await pairsOf(', owner: "ddr"')).toEqual(all.filter((p: any) => p.owner === 'ddr'));
    // Its group would otherwise share the link with the tests of link rates below.
    await ok(app, 'deleteVirtualMachine', { id: vm.id }, '__typename', 'vmAdmin');
  });

  it('deleting the VM deletes its remote replicas and gives their containers the space back', async () => {
    const policy = await createPolicy(app, [{ capabilityId: 'nec.rdr.replica', value: true }]);
    const usedBytes = async () => (await app.query('{ storageContainers { edges { node { name usedBytes } } } }')).storageContainers.edges.map((e: any) => e.node);
    const before = await usedBytes();
    const vm = await createVm(app, policy, { containerId: ids.containers['tokyo-gold'], disks: [GiB], powerOn: false });
    await app.settle();
    const paired = (await node(vm.id, '... on VirtualMachine { virtualVolumes { remoteReplicas { replicaVolume { id } } } }')).virtualVolumes.flatMap((v: any) => v.remoteReplicas);
    expect(paired).toHaveLength(2);
    await ok(app, 'deleteVirtualMachine', { id: vm.id }, '__typename', 'vmAdmin');
    for (const pair of paired) expect(await node(pair.replicaVolume.id, 'id')).toBeNull();
    expect(await usedBytes()).toEqual(before);
  });
});

describe('RPO, progress and its subscription', () => {
  it('a pair\'s own progress: as a field, and replicationProgress(pairId) over graphql-ws, bytes falling at the link\'s rate', async () => {
    await mutate(app, 'configureReplicationLink', { sourceArrayId: arrays['tokyo-m510'], targetArrayId: arrays['osaka-m310'], bytesPerSecond: 64 * 1024 ** 2, latencyMs: 5 }, 'storageAdmin');
    const vm = await createVm(app, ids.policies.BRONZE, { containerId: ids.containers['tokyo-bulk'], disks: [2 * GiB] });
    await write(rowId(vm.disks[0]), Array.from({ length: 16 }, (_, i) => i)); // 512 MiB: 8 s at 64 MiB/s
    const { pair } = await ok(app, 'pairRemoteReplica', { mvId: vm.disks[0] }, '... on PairRemoteReplicaPayload { pair { id } }', 'vmAdmin');
    await ok(app, 'replicatePair', { pairId: pair.id, range: 'FULL' }, '... on ReplicatePairPayload { __typename }', 'vmAdmin');

    const received = await progressWhileAdvancing('pairId: $id', pair.id, 'time bytesRemaining bytesPerSecond etaSeconds lastPointInTime health', (r) => r.health === 'OK');
    // Two extents (64 MiB) a second; the ETA is what is left at that rate; in step after 8 s.
    const untilSynced = received.slice(0, received.findIndex((r) => r.health === 'OK') + 1);
    expect(untilSynced.map((r) => r.bytesRemaining)).toEqual([14, 12, 10, 8, 6, 4, 2, 0].map((n) => n * 32 * 1024 ** 2));
    expect(untilSynced.slice(0, -1).every((r) => r.health === 'INITIAL_COPY' && r.bytesPerSecond === 64 * 1024 ** 2 && r.etaSeconds === r.bytesRemaining / r.bytesPerSecond)).toBe(true);
    const start = untilSynced[0].time - 1; // the simulated time when the replicate started
    expect(untilSynced.at(-1)).toEqual({ time: start + 8, health: 'OK', bytesRemaining: 0, bytesPerSecond: 0, etaSeconds: 0, lastPointInTime: start + 8 });
    const field = await node(pair.id, '... on ReplicaPair { syncedAt progress { bytesRemaining lastPointInTime health } }');
    expect(field.progress).toEqual({ bytesRemaining: 0, lastPointInTime: field.syncedAt, health: 'OK' });
    expect(field.syncedAt).toBeGreaterThanOrEqual(start + 8);
  });

  it('a lag past the policy\'s RPO is NON_COMPLIANT with a REPLICATION alarm, cleared once the link catches up; progress streams over graphql-ws', async () => {
    await mutate(app, 'configureReplicationLink', { sourceArrayId: arrays['tokyo-m510'], targetArrayId: arrays['osaka-m310'], bytesPerSecond: 32 * 1024 ** 2, latencyMs: 5 }, 'storageAdmin');
    const policy = await createPolicy(app, [{ capabilityId: 'nec.rdr.replica', value: true }, { capabilityId: 'nec.rdr.rpoSeconds', value: 5 }, { capabilityId: 'nec.rdr.copyControl', value: 'BACKGROUND' }]);
    const vm = await createVm(app, policy, { containerId: ids.containers['tokyo-gold'], disks: [4 * GiB] });
    await write(rowId(vm.disks[0]), Array.from({ length: 64 }, (_, i) => i)); // 2 GiB: 64 s at 32 MiB/s
    await app.settle();
    const group = await groupOf(vm.id);
    expect(group).not.toBeNull();

    const received = await progressWhileAdvancing('groupId: $id', group.id, 'time rpoLagSeconds bytesRemaining etaSeconds health', (r) => r.time >= 10);
    // One message per tick, lag growing by a second each, past the 5 s RPO from 6 s on.
    expect(received.map((r) => r.rpoLagSeconds)).toEqual(received.map((r) => r.time - received[0].time + received[0].rpoLagSeconds));
    const last = received.at(-1);
    expect(last).toMatchObject({ health: 'RPO_EXCEEDED' });
    // ETA: what is left at the link's 32 MiB/s (one extent a second).
    expect(last.bytesRemaining).toBeGreaterThan(0);
    expect(last.etaSeconds).toBeCloseTo(last.bytesRemaining / (32 * 1024 ** 2), 0);

    const compliance = await node(vm.id, '... on VirtualMachine { compliance { status violations { capabilityId expected current } } }');
    expect(compliance.compliance.status).toBe('NON_COMPLIANT');
    expect(compliance.compliance.violations).toContainEqual(expect.objectContaining({ capabilityId: 'nec.rdr.rpoSeconds', expected: '5 s' }));
    const alarm = async () => (await app.query('{ alarms(first: 1000) { edges { node { kind entityId status } } } }')).alarms.edges.map((e: any) => e.node).find((a: any) => a.kind === 'REPLICATION' && a.entityId === rowId(group.id));
    expect((await alarm())?.status).toBe('RED');

    await mutate(app, 'configureReplicationLink', { sourceArrayId: arrays['tokyo-m510'], targetArrayId: arrays['osaka-m310'], bytesPerSecond: 8 * GiB, latencyMs: 5 }, 'storageAdmin');
    await advance(3);
    expect(await alarm(), 'cleared: no longer among the raised alarms').toBeUndefined();
    expect((await node(vm.id, '... on VirtualMachine { compliance { status } }')).compliance.status).toBe('COMPLIANT');
    expect((await groupOf(vm.id)).progress).toMatchObject({ health: 'OK', bytesRemaining: 0, etaSeconds: 0 });
  });

  it('the tick checks the progress and the alarm of every replication group at once: its statements do not grow with the groups', async () => {
    const policy = await createPolicy(app, [{ capabilityId: 'nec.rdr.replica', value: true }, { capabilityId: 'nec.rdr.rpoSeconds', value: 600 }, { capabilityId: 'nec.rdr.copyControl', value: 'BACKGROUND' }]);
    const rdr = app.core.plugins.find((p) => p.name === 'rdr')!;
    const observe = rdr.hooks!.observe!;
    let statements = 0;
    (rdr.hooks as { observe: typeof observe }).observe = async (ctx) => {
      const { result, counter } = app.core.database.statements.run(() => observe(ctx));
      await result;
      statements = counter.count;
    };
    try {
      const observed = async () => {
        await advance(1);
        return statements;
      };
      await createVm(app, policy, { containerId: ids.containers['tokyo-gold'], disks: [GiB] });
      await app.settle();
      const withOne = await observed();
      for (let i = 0; i < 3; i++) await createVm(app, policy, { containerId: ids.containers['tokyo-gold'], disks: [GiB, GiB] });
      await app.settle();
      const withFour = await observed();
      expect(withOne).toBeGreaterThan(0);
      expect(withFour).toBe(withOne);
    } finally {
      (rdr.hooks as { observe: typeof observe }).observe = observe;
    }
  });
});

