import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GiB, seedBasics, startApp, type TestApp } from '../../helpers/app.ts';
import { createPolicy, createVm, fingerprint, mutate, ok, replicationGroup, snapshot, writeExtents } from '../../api/support.ts';

let app: TestApp;
let ids: Awaited<ReturnType<typeof seedBasics>>;

beforeAll(async () => {
  app = await startApp();
  ids = await seedBasics(app);
});
afterAll(() => app?.close());

const advance = (seconds: number) => app.query(`mutation { advanceSimulation(input: { seconds: ${seconds} }) { __typename } }`);
const rowId = (globalId: string) => Buffer.from(globalId, 'base64').toString().split(':')[1];
const node = async (id: string, selection: string) => (await app.query(`query($id: ID!) { node(id: $id) { ${selection} } }`, { id })).node;

describe('replication group transitions: bad input', () => {
  it('a malformed pointInTimeId is a NotFoundError naming the field, in the dry run and the real one, changing nothing', async () => {
    const { groupId } = await replicationGroup(app, ids.policies.BRONZE, ids.containers['tokyo-gold'], 'SYNCED');
    const before = await fingerprint(app);
    for (const plan of [true, false]) {
      const result = await mutate(app, 'testFailoverStart', { groupId, pointInTimeId: 'garbage', plan }, 'vmAdmin');
      expect(result, `plan: ${plan}`).toMatchObject({ __typename: 'NotFoundError', field: 'input.pointInTimeId', id: 'garbage' });
    }
    expect(await fingerprint(app)).toEqual(before);
  });
});

describe('reverse of a group its policy made', () => {
  it('the reversed pairs are the policy\'s: deleting the VM afterwards deletes the old source\'s volumes (its RVs now) and gives their space back', async () => {
    const policy = await createPolicy(app, [{ capabilityId: 'nec.rdr.replica', value: true }]);
    const usedBytes = async () => (await app.query('{ storageContainers { edges { node { name usedBytes } } } }')).storageContainers.edges.map((e: any) => e.node);
    const before = await usedBytes();
    const vm = await createVm(app, policy, { containerId: ids.containers['tokyo-gold'], disks: [GiB] });
    await app.settle();
    await advance(2);
    const groupId = (await node(vm.id, '... on VirtualMachine { replicationGroup { id } }')).replicationGroup.id;
    await ok(app, 'syncReplicationGroup', { groupId }, '__typename', 'vmAdmin');
    await advance(1);
    await ok(app, 'failoverReplicationGroup', { groupId, planned: false }, '__typename', 'vmAdmin');
    await ok(app, 'reverseReplicationGroup', { groupId }, '__typename', 'vmAdmin');
    await advance(2);
    const reversed = await node(groupId, '... on ReplicationGroup { sourceState sourceVirtualMachine { id } pairs { syncState replicaVolume { id } } }');
    expect(reversed.sourceState).toBe('SOURCE');
    expect(reversed.pairs.map((p: any) => p.syncState)).toEqual(['RPL_SYNC', 'RPL_SYNC']);
    await ok(app, 'deleteVirtualMachine', { id: reversed.sourceVirtualMachine.id }, '__typename', 'vmAdmin');
    for (const pair of reversed.pairs) expect(await node(pair.replicaVolume.id, 'id')).toBeNull();
    expect(await usedBytes()).toEqual(before);
  });
});

describe('a planned failover waiting for its final sync', () => {
  it('keeps the source VM as it is: powering it on or reverting it is a ConflictError changing nothing, and the failed-over VM gets the data as of the failover', async () => {
    const vm = await createVm(app, ids.policies.BRONZE, { containerId: ids.containers['tokyo-gold'], disks: [4 * GiB] });
    const { group } = await ok(app, 'createReplicationGroup', { vmId: vm.id }, '... on CreateReplicationGroupPayload { group { id } }', 'vmAdmin');
    await advance(1);
    const empty = await snapshot(app, vm.id);
    await writeExtents(app, vm.disks[0], Array.from({ length: 64 }, (_, i) => i)); // 2 GiB: the final sync takes a while
    const final = await Promise.all([vm.config, ...vm.disks].map(async (id) => (await node(id, '... on VirtualVolume { contentDigest }')).contentDigest));
    const started = await ok(app, 'failoverReplicationGroup', { groupId: group.id, planned: true }, '... on FailoverReplicationGroupPayload { group { pending } }', 'vmAdmin');
    expect(started.group.pending).toBe('FAILOVER');

    const before = await fingerprint(app);
    expect(await mutate(app, 'powerOnVirtualMachine', { id: vm.id }, 'vmAdmin')).toMatchObject({ __typename: 'ConflictError', currentState: 'FAILOVER_PENDING' });
    expect(await mutate(app, 'revertVirtualMachine', { vmId: vm.id, snapshotId: empty.id }, 'vmAdmin')).toMatchObject({ __typename: 'ConflictError', currentState: 'FAILOVER_PENDING' });
    expect(await fingerprint(app)).toEqual(before);

    await advance(60);
    const done = await node(group.id, '... on ReplicationGroup { pending targetState targetVirtualMachine { virtualVolumes { contentDigest } } }');
    expect(done).toMatchObject({ pending: null, targetState: 'FAILEDOVER' });
    expect(done.targetVirtualMachine.virtualVolumes.map((v: any) => v.contentDigest)).toEqual(final);
    // Failed over: the old source may run again (reverse needs it off).
    expect((await mutate(app, 'powerOnVirtualMachine', { id: vm.id }, 'vmAdmin')).__typename).toBe('PowerOnVirtualMachinePayload');
  });
});

describe('a disk added to a group\'s source VM', () => {
  it('joins the group made by hand: it is replicated, in the points in time, and the failed-over VM has it with its data', async () => {
    const vm = await createVm(app, ids.policies.BRONZE, { containerId: ids.containers['tokyo-gold'], disks: [GiB] });
    const { group } = await ok(app, 'createReplicationGroup', { vmId: vm.id }, '... on CreateReplicationGroupPayload { group { id pairs { copyControl replicaVolume { storageContainer { id } } } } }', 'vmAdmin');
    const added = await ok(app, 'addVirtualDisk', { vmId: vm.id, sizeBytes: GiB }, '... on AddVirtualDiskPayload { virtualVolume { id } }', 'vmAdmin');
    await app.settle();
    await writeExtents(app, added.virtualVolume.id, [0, 3]);
    await advance(2);
    const pairs = (await node(group.id, '... on ReplicationGroup { pairs { syncState copyControl masterVolume { id } replicaVolume { storageContainer { id } } } }')).pairs;
    expect(pairs).toHaveLength(3);
    expect(pairs.find((p: any) => p.masterVolume.id === added.virtualVolume.id)).toMatchObject({ syncState: 'RPL_SYNC', ...group.pairs[0] });

    await ok(app, 'syncReplicationGroup', { groupId: group.id }, '__typename', 'vmAdmin');
    await advance(1);
    const source = await node(vm.id, '... on VirtualMachine { disks { unitNumber virtualVolume { contentDigest } } }');
    await ok(app, 'failoverReplicationGroup', { groupId: group.id, planned: false }, '__typename', 'vmAdmin');
    const failedOver = await node(group.id, '... on ReplicationGroup { targetVirtualMachine { disks { unitNumber virtualVolume { contentDigest } } } }');
    expect(failedOver.targetVirtualMachine.disks).toEqual(source.disks);
  });
});

describe('an unplanned failover while a sync is copying', () => {
  it('is not blocked by it (the source may be lost): it fails over to the last complete point in time and stops the sync, as its dry run says', async () => {
    const vm = await createVm(app, ids.policies.BRONZE, { containerId: ids.containers['tokyo-gold'], disks: [4 * GiB] });
    const { group } = await ok(app, 'createReplicationGroup', { vmId: vm.id }, '... on CreateReplicationGroupPayload { group { id } }', 'vmAdmin');
    await advance(1);
    await ok(app, 'syncReplicationGroup', { groupId: group.id }, '__typename', 'vmAdmin'); // in step: complete at once
    const complete = (await node(group.id, '... on ReplicationGroup { pointsInTime { id complete volumes { contentDigest } } }')).pointsInTime[0];
    expect(complete.complete).toBe(true);
    await writeExtents(app, vm.disks[0], Array.from({ length: 64 }, (_, i) => i));
    const sync = await ok(app, 'syncReplicationGroup', { groupId: group.id }, '... on SyncReplicationGroupPayload { group { pending } }', 'vmAdmin');
    expect(sync.group.pending).toBe('SYNC');

    const dry = await ok(app, 'failoverReplicationGroup', { groupId: group.id, planned: false, plan: true }, '... on FailoverReplicationGroupPayload { plan { blockers pointInTime { id } } }', 'vmAdmin');
    expect(dry.plan).toEqual({ blockers: [], pointInTime: { id: complete.id } });
    const done = await ok(app, 'failoverReplicationGroup', { groupId: group.id, planned: false },
      '... on FailoverReplicationGroupPayload { plan { pointInTime { id } } group { pending targetState pointsInTime { id complete } targetVirtualMachine { virtualVolumes { contentDigest } } } }', 'vmAdmin');
    expect(done.plan.pointInTime.id).toBe(complete.id);
    expect(done.group).toMatchObject({ pending: null, targetState: 'FAILEDOVER' });
    expect(done.group.pointsInTime.every((p: any) => p.complete)).toBe(true); // the sync's half-copied point is gone
    // The point lists its copies in pair order, the VM its volumes CONFIG first: compare as sets.
    expect(done.group.targetVirtualMachine.virtualVolumes.map((v: any) => v.contentDigest).sort()).toEqual(complete.volumes.map((v: any) => v.contentDigest).sort());
    const running = (await app.query('{ tasks(first: 1000) { edges { node { kind state } } } }')).tasks.edges.map((e: any) => e.node).filter((t: any) => t.kind === 'RDR_SYNC' && (t.state === 'RUNNING' || t.state === 'QUEUED'));
    expect(running).toEqual([]);
  });
});

describe('a transition whose copies do not fit', () => {
  it('is blocked in its dry run as in the real run (a ConflictError NO_SPACE changing nothing), not promised and then refused', async () => {
    const { groupId } = await replicationGroup(app, ids.policies.BRONZE, ids.containers['tokyo-gold'], 'SYNCED');
    const target = (await node(groupId, '... on ReplicationGroup { targetContainer { id name capacityBytes usedBytes } }')).targetContainer;
    const setUsed = (bytes: number) => app.core.db.execute(sql`update storage_containers set used_bytes = ${bytes} where id = ${rowId(target.id)}::uuid`);
    await setUsed(target.capacityBytes - 1); // no room for a copy of the point in time
    try {
      for (const [name, input] of [['testFailoverStart', {}], ['failoverReplicationGroup', { planned: false }], ['syncReplicationGroup', {}]] as const) {
        const dry = await ok(app, name, { groupId, plan: true, ...input }, `... on ${name[0].toUpperCase()}${name.slice(1)}Payload { plan { blockers } }`, 'vmAdmin');
        expect(dry.plan.blockers, name).toEqual([expect.stringMatching(new RegExp(`^Container ${target.name} has 1 bytes free`))]);
        const before = await fingerprint(app);
        expect(await mutate(app, name, { groupId, ...input }, 'vmAdmin'), name).toMatchObject({ __typename: 'ConflictError', currentState: 'NO_SPACE' });
        expect(await fingerprint(app), name).toEqual(before);
      }
    } finally {
      await setUsed(target.usedBytes);
    }
    expect((await mutate(app, 'testFailoverStart', { groupId }, 'vmAdmin')).__typename).toBe('TestFailoverStartPayload');
  });
});
