import { readFileSync } from 'node:fs';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resultRows } from '../../../src/core/db/client.ts';
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

describe('reverse while a backup is being restored onto the old source VM', () => {
  it('is blocked in its dry run as in the real run (a ConflictError BUSY changing nothing): its copies would race the restore for the same volumes', async () => {
    const vm = await createVm(app, ids.policies.BRONZE, { containerId: ids.containers['tokyo-gold'], disks: [4 * GiB] });
    await writeExtents(app, vm.disks[0], Array.from({ length: 40 }, (_, i) => i));
    const { generation } = await ok(app, 'backupVirtualMachine', { vmId: vm.id, type: 'FULL' }, '... on BackupVirtualMachinePayload { generation { id } }', 'vmAdmin');
    await advance(5);
    await writeExtents(app, vm.disks[0], Array.from({ length: 40 }, (_, i) => i)); // the restore has 40 extents to move back
    const { groupId } = await (async () => {
      const { group } = await ok(app, 'createReplicationGroup', { vmId: vm.id }, '... on CreateReplicationGroupPayload { group { id } }', 'vmAdmin');
      await advance(15);
      await ok(app, 'syncReplicationGroup', { groupId: group.id }, '__typename', 'vmAdmin');
      await advance(15);
      return { groupId: group.id as string };
    })();
    await ok(app, 'failoverReplicationGroup', { groupId, planned: false }, '__typename', 'vmAdmin');
    const { task } = await ok(app, 'restoreBackup', { generationId: generation.id, target: 'VM' }, '... on RestoreBackupPayload { task { id state } }', 'vmAdmin');
    expect(task.state).not.toBe('SUCCEEDED');
    const before = await fingerprint(app);
    const dry = await ok(app, 'reverseReplicationGroup', { groupId, plan: true }, '... on ReverseReplicationGroupPayload { plan { blockers } }', 'vmAdmin');
    expect(dry.plan.blockers).toEqual([expect.stringContaining('being filled')]);
    expect(await mutate(app, 'reverseReplicationGroup', { groupId }, 'vmAdmin')).toMatchObject({ __typename: 'ConflictError', currentState: 'BUSY' });
    expect(await fingerprint(app)).toEqual(before);
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

describe('the VM a failover registers at the target', () => {
  const keys = (v: { metadata: { key: string }[] }) => v.metadata.map((m) => m.key);
  const VOLUMES = '... on VirtualMachine { virtualVolumes { id type policyState policyReason contentDigest metadata { key } localReplicas { syncState } } }';

  it('is made of volumes of its own: its policy applies to them and its disks grow; reverse pairs each with the old source volume it stands in for, and a disk added since with a new RV', async () => {
    const policy = await createPolicy(app, [{ capabilityId: 'nec.ddr.replica', value: true }]);
    const { vmId, groupId } = await replicationGroup(app, policy, ids.containers['tokyo-gold'], 'FAILEDOVER');
    await app.settle();
    await advance(2);
    await app.settle(); // the reconciler runs after the tick that brought the replicas in step
    const live = (await node(groupId, '... on ReplicationGroup { targetVirtualMachine { id } }')).targetVirtualMachine;
    const volumes = (await node(live.id, VOLUMES)).virtualVolumes;
    expect(volumes.map((v: any) => v.type).sort()).toEqual(['CONFIG', 'DATA']);
    for (const v of volumes) {
      expect(keys(v), v.type).not.toContain('vvolgraph.replicaOf');
      // Under nec.ddr.replica, a local replica each at the target site, as for any VM there.
      expect(v, v.type).toMatchObject({ policyState: 'APPLIED', localReplicas: [{ syncState: 'RPL_SYNC' }] });
    }
    const disk = volumes.find((v: any) => v.type === 'DATA');
    expect(await ok(app, 'resizeVirtualVolume', { id: disk.id, sizeBytes: 2 * GiB }, '... on ResizeVirtualVolumePayload { virtualVolume { provisionedBytes } }', 'vmAdmin'))
      .toMatchObject({ virtualVolume: { provisionedBytes: 2 * GiB } });
    const added = (await ok(app, 'addVirtualDisk', { vmId: live.id, sizeBytes: GiB }, '... on AddVirtualDiskPayload { virtualVolume { id } }', 'vmAdmin')).virtualVolume;
    await app.settle();
    await writeExtents(app, disk.id, [1, 40]);
    await writeExtents(app, added.id, [0, 2]);

    const oldVolumes = (await node(vmId, '... on VirtualMachine { virtualVolumes { id type } }')).virtualVolumes.filter((v: any) => v.type !== 'SWAP');
    await ok(app, 'reverseReplicationGroup', { groupId }, '__typename', 'vmAdmin');
    await advance(60);
    const reversed = await node(groupId, '... on ReplicationGroup { sourceState pairs { syncState masterVolume { id contentDigest metadata { key } } replicaVolume { id contentDigest metadata { key } } } }');
    expect(reversed.sourceState).toBe('SOURCE');
    expect(reversed.pairs).toHaveLength(3);
    const rvOf = new Map(reversed.pairs.map((p: any) => [p.masterVolume.id, p.replicaVolume.id]));
    // The old source's volumes are the RVs of the volumes that stand in for them; the added disk has a new one.
    expect(oldVolumes.map((v: any) => v.id).sort()).toEqual(volumes.map((v: any) => rvOf.get(v.id)).sort());
    expect(oldVolumes.map((v: any) => v.id)).not.toContain(rvOf.get(added.id));
    for (const pair of reversed.pairs) {
      expect(pair.syncState).toBe('RPL_SYNC');
      expect(pair.replicaVolume.contentDigest).toBe(pair.masterVolume.contentDigest);
      expect(keys(pair.masterVolume)).not.toContain('nec.rdr.sourceVolume');
      expect(keys(pair.replicaVolume)).toContain('vvolgraph.replicaOf');
    }
  });

  it('a test failover\'s VM too, and under a policy asking for a remote replica the failed-over VM is NON_COMPLIANT until the group is reversed, not given a group of its own', async () => {
    const policy = await createPolicy(app, [{ capabilityId: 'nec.rdr.replica', value: true }, { capabilityId: 'nec.ddr.replica', value: true }]);
    const vm = await createVm(app, policy, { containerId: ids.containers['tokyo-gold'] });
    await app.settle();
    await advance(2);
    const { id: groupId, targetContainer } = (await node(vm.id, '... on VirtualMachine { replicationGroup { id targetContainer { id } } }')).replicationGroup;
    // At the other site, the container that could run the VM under its policy (osaka-bulk has more room, but no nec.ddr or nec.rdr).
    expect(targetContainer.id).toBe(ids.containers['osaka-gold']);
    await ok(app, 'syncReplicationGroup', { groupId }, '__typename', 'vmAdmin');
    await advance(1);
    await ok(app, 'testFailoverStart', { groupId }, '__typename', 'vmAdmin');
    await app.settle();
    await advance(2);
    await app.settle();
    const testVm = (await node(groupId, '... on ReplicationGroup { targetVirtualMachine { id } }')).targetVirtualMachine;
    for (const v of (await node(testVm.id, VOLUMES)).virtualVolumes) {
      expect(keys(v), v.type).not.toContain('vvolgraph.replicaOf');
      expect(v, v.type).toMatchObject({ policyState: 'APPLIED', localReplicas: [{ syncState: 'RPL_SYNC' }] });
    }
    await ok(app, 'testFailoverStop', { groupId }, '__typename', 'vmAdmin');

    await ok(app, 'failoverReplicationGroup', { groupId, planned: false }, '__typename', 'vmAdmin');
    await app.settle();
    await advance(2);
    await app.settle();
    const live = (await node(groupId, '... on ReplicationGroup { targetVirtualMachine { id replicationGroup { id } virtualVolumes { type compliance { status violations { capabilityId message } } remoteReplicas { id } } } }')).targetVirtualMachine;
    expect(live.replicationGroup.id).toBe(groupId);
    for (const v of live.virtualVolumes.filter((v: any) => v.type !== 'SWAP')) {
      expect(v.remoteReplicas, v.type).toEqual([]);
      expect(v.compliance, v.type).toEqual({ status: 'NON_COMPLIANT', violations: [{ capabilityId: 'nec.rdr.replica', message: expect.stringMatching(/failed over.*reverse/) }] });
    }
    await ok(app, 'reverseReplicationGroup', { groupId }, '__typename', 'vmAdmin');
    await advance(60);
    await app.settle();
    const back = (await node(live.id, '... on VirtualMachine { virtualVolumes { type compliance { status } remoteReplicas { syncState } } }')).virtualVolumes;
    for (const v of back) expect(v, v.type).toMatchObject({ compliance: { status: 'COMPLIANT' }, remoteReplicas: [{ syncState: 'RPL_SYNC' }] });
  });

  it('a disk removed while failed over gives its old source volume\'s space back before the reverse makes a new RV: a reverse that fits only with it is not refused', async () => {
    const vm = await createVm(app, ids.policies.BRONZE, { containerId: ids.containers['tokyo-gold'], disks: [GiB, 2 * GiB] });
    const { group } = await ok(app, 'createReplicationGroup', { vmId: vm.id }, '... on CreateReplicationGroupPayload { group { id } }', 'vmAdmin');
    await advance(2);
    await ok(app, 'syncReplicationGroup', { groupId: group.id }, '__typename', 'vmAdmin');
    await advance(1);
    await ok(app, 'failoverReplicationGroup', { groupId: group.id, planned: false }, '__typename', 'vmAdmin');
    const live = (await node(group.id, '... on ReplicationGroup { targetVirtualMachine { id disks { unitNumber virtualVolume { id } } } }')).targetVirtualMachine;
    const removed = live.disks.find((d: any) => d.unitNumber === 1).virtualVolume.id;
    await ok(app, 'deleteVirtualVolume', { id: removed }, '__typename', 'vmAdmin');
    const added = (await ok(app, 'addVirtualDisk', { vmId: live.id, sizeBytes: 2 * GiB }, '... on AddVirtualDiskPayload { virtualVolume { id } }', 'vmAdmin')).virtualVolume;
    const oldDisk = vm.disks[1];

    // The old source's container has 1 GiB free: the new RV (2 GiB) fits only in the space its old volume gives back.
    const container = (await node(vm.containerId, '... on StorageContainer { name capacityBytes usedBytes }'));
    const setUsed = (bytes: number) => app.core.db.execute(sql`update storage_containers set used_bytes = ${bytes} where id = ${rowId(vm.containerId)}::uuid`);
    await setUsed(container.capacityBytes - GiB);
    try {
      const dry = await ok(app, 'reverseReplicationGroup', { groupId: group.id, plan: true }, '... on ReverseReplicationGroupPayload { plan { blockers } }', 'vmAdmin');
      expect(dry.plan.blockers).toEqual([]);
      await ok(app, 'reverseReplicationGroup', { groupId: group.id }, '__typename', 'vmAdmin');
      expect(Number((await node(vm.containerId, '... on StorageContainer { usedBytes }')).usedBytes)).toBe(container.capacityBytes - GiB);
    } finally {
      await setUsed(container.usedBytes);
    }
    expect(await node(oldDisk, 'id')).toBeNull();
    await advance(60);
    const reversed = await node(group.id, '... on ReplicationGroup { sourceState pairs { syncState masterVolume { id contentDigest } replicaVolume { id contentDigest } } }');
    expect(reversed.sourceState).toBe('SOURCE');
    expect(reversed.pairs).toHaveLength(3);
    expect(reversed.pairs.map((p: any) => p.replicaVolume.id)).not.toContain(oldDisk);
    expect(reversed.pairs.some((p: any) => p.masterVolume.id === added.id)).toBe(true);
    for (const pair of reversed.pairs) expect(pair).toMatchObject({ syncState: 'RPL_SYNC', replicaVolume: { contentDigest: pair.masterVolume.contentDigest } });
  });

  it('migration 0013 makes the volumes of such VMs made before their own, so the reverse still finds the old source volumes', async () => {
    const { vmId, groupId } = await replicationGroup(app, ids.policies.BRONZE, ids.containers['tokyo-gold'], 'FAILEDOVER');
    await app.settle();
    const live = (await node(groupId, '... on ReplicationGroup { targetVirtualMachine { id } }')).targetVirtualMachine;
    const marks = async () => resultRows<{ of: string | null; source: string | null; state: string }>(await app.core.db.execute(sql`
      select metadata->>'vvolgraph.replicaOf' as of, metadata->>'nec.rdr.sourceVolume' as source, policy_state::text as state
      from virtual_volumes where vm_id = ${rowId(live.id)}::uuid order by type`));
    const made = await marks();
    expect(made.every((m) => m.of === null && m.source !== null && m.state === 'APPLIED')).toBe(true);
    // As a database from before has them; then the migration's statements, as they run at start-up.
    await app.core.db.execute(sql`update virtual_volumes set metadata = (metadata - 'nec.rdr.sourceVolume') || jsonb_build_object('vvolgraph.replicaOf', metadata->>'nec.rdr.sourceVolume') where vm_id = ${rowId(live.id)}::uuid`);
    for (const statement of readFileSync(new URL('../../../migrations/0013_failed_over_volumes_own.sql', import.meta.url), 'utf8').split('--> statement-breakpoint')) {
      await app.core.db.execute(sql.raw(statement));
    }
    expect(await marks()).toEqual(made.map((m) => ({ ...m, state: 'PENDING' })));
    const oldVolumes = (await node(vmId, '... on VirtualMachine { virtualVolumes { id } }')).virtualVolumes.map((v: any) => v.id).sort();
    await ok(app, 'reverseReplicationGroup', { groupId }, '__typename', 'vmAdmin');
    const rvs = (await node(groupId, '... on ReplicationGroup { pairs { replicaVolume { id } } }')).pairs.map((p: any) => p.replicaVolume.id).sort();
    expect(rvs).toEqual(oldVolumes);
  });
});
