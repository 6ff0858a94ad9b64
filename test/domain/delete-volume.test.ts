import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RING_SWEEP_TICKS } from '../../src/core/engine/engine.ts';
import { GiB, seedBasics, startApp, type TestApp } from '../helpers/app.ts';
import { backupGeneration, createPolicy, createVm, fingerprint, localPair, mutate, ok, writeExtents } from '../api/support.ts';

let app: TestApp;
let ids: Awaited<ReturnType<typeof seedBasics>>;

beforeAll(async () => {
  app = await startApp();
  ids = await seedBasics(app);
});
afterAll(() => app?.close());

const rowId = (globalId: string) => Buffer.from(globalId, 'base64').toString().split(':')[1];
const node = async (id: string, selection: string) => (await app.query(`query($id: ID!) { node(id: $id) { ${selection} } }`, { id })).node;
const usedBytes = async (containerId: string) => Number((await node(containerId, '... on StorageContainer { usedBytes }')).usedBytes);
const REMOVE = '... on DeleteVirtualVolumePayload { deletedId virtualMachine { id disks { unitNumber virtualVolume { id } } } }';

describe('deleteVirtualVolume of a VM\'s disk', () => {
  it('takes a disk from a running VM: its VVOL is deleted, its space given back, the other disks keep their unit numbers, and the VM keeps running I/O', async () => {
    const vm = await createVm(app, ids.policies.BRONZE, { disks: [GiB, 2 * GiB, 3 * GiB], powerOn: true, containerId: ids.containers['tokyo-gold'] });
    await writeExtents(app, vm.disks[1], [0, 1, 2]);
    await app.query(`mutation($id: ID!) { setWorkload(input: { vmId: $id, preset: OLTP }) { __typename } }`, { id: vm.id });
    const before = await usedBytes(vm.containerId);

    const removed = await ok(app, 'deleteVirtualVolume', { id: vm.disks[1] }, REMOVE, 'vmAdmin');
    expect(removed.deletedId).toBe(vm.disks[1]);
    expect(removed.virtualMachine.disks.map((d: any) => [d.unitNumber, d.virtualVolume.id])).toEqual([[0, vm.disks[0]], [2, vm.disks[2]]]);
    expect(await node(vm.disks[1], 'id')).toBeNull();
    expect(await usedBytes(vm.containerId)).toBe(before - 2 * GiB);
    const { events } = await app.query(`{ events(kinds: ["vm.diskRemoved", "vvol.unbound", "vvol.deleted"], first: 1000) { kind entityId data entity { id } } }`);
    const [vmRow, diskRow] = [vm.id, vm.disks[1]].map(rowId);
    expect(events.filter((e: any) => e.entityId === vmRow || e.entityId === diskRow).map((e: any) => e.kind)).toEqual(['vvol.unbound', 'vvol.deleted', 'vm.diskRemoved']);
    const removedEvent = events.find((e: any) => e.kind === 'vm.diskRemoved' && e.entityId === vmRow);
    expect(removedEvent).toMatchObject({ data: { vvolId: diskRow, unitNumber: 1 }, entity: { id: vm.id } });
    // The deleted VVOL's events name it by row id; as a node it is gone.
    expect(events.find((e: any) => e.kind === 'vvol.deleted' && e.entityId === diskRow).entity).toBeNull();

    await app.query(`mutation { advanceSimulation(input: { seconds: 2 }) { __typename } }`);
    const io = (await node(vm.id, '... on VirtualMachine { io { readIops } virtualVolumes { id type io { readIops } } }'));
    expect(io.io.readIops).toBeGreaterThan(0);
    expect(io.virtualVolumes.filter((v: any) => v.type === 'DATA').map((v: any) => v.id).sort()).toEqual([vm.disks[0], vm.disks[2]].sort());
    // A disk added afterwards takes the next unit number, not the freed one.
    const added = await ok(app, 'addVirtualDisk', { vmId: vm.id, sizeBytes: GiB }, '... on AddVirtualDiskPayload { virtualMachine { disks { unitNumber } } }', 'vmAdmin');
    expect(added.virtualMachine.disks.map((d: any) => d.unitNumber)).toEqual([0, 2, 3]);
  });

  it('deletes the replicas a policy made for the disk with it, and leaves the other disks\' replicas', async () => {
    const replicated = await createPolicy(app, [{ capabilityId: 'nec.ddr.replica', value: true }]);
    const vm = await createVm(app, replicated, { disks: [GiB, GiB], containerId: ids.containers['tokyo-gold'] });
    await app.settle();
    const replicasOf = async (diskId: string) => (await node(diskId, '... on VirtualVolume { localReplicas { replicaVolume { id } } }')).localReplicas.map((r: any) => r.replicaVolume.id);
    const [doomedReplica] = await replicasOf(vm.disks[1]);
    expect(doomedReplica).toBeDefined();
    expect(await replicasOf(vm.disks[0])).toHaveLength(1);

    await ok(app, 'deleteVirtualVolume', { id: vm.disks[1] }, REMOVE, 'vmAdmin');
    expect(await node(doomedReplica, 'id')).toBeNull();
    expect(await replicasOf(vm.disks[0])).toHaveLength(1);
  });

  it('refuses an RV attached read-only, naming detachReplicaVolume, and changes nothing', async () => {
    const source = await createVm(app, ids.policies.BRONZE, { containerId: ids.containers['tokyo-gold'] });
    const reader = await createVm(app, ids.policies.BRONZE, { containerId: ids.containers['tokyo-gold'] });
    const pairId = await localPair(app, source.disks[0], true);
    await ok(app, 'separatePair', { pairId, rvAccess: 'RO' }, '__typename', 'vmAdmin');
    await app.query(`mutation { advanceSimulation(input: { seconds: 5 }) { __typename } }`);
    const attached = await ok(app, 'attachReplicaVolume', { pairId, vmId: reader.id }, '... on AttachReplicaVolumePayload { pair { replicaVolume { id } } }', 'vmAdmin');
    const before = await fingerprint(app);
    const refused = await mutate(app, 'deleteVirtualVolume', { id: attached.pair.replicaVolume.id }, 'vmAdmin');
    expect(refused).toMatchObject({ __typename: 'ValidationError', field: 'input.id', message: expect.stringContaining('detachReplicaVolume') });
    expect(await fingerprint(app)).toEqual(before);
  });
});

describe('deleteVirtualVolume of a volume of no VM', () => {
  it('deletes an RV an unpair left, giving its space back; one still in a pair is a ConflictError PAIRED and a backup volume a ValidationError, changing nothing', async () => {
    const vm = await createVm(app, ids.policies.BRONZE, { containerId: ids.containers['tokyo-gold'], disks: [2 * GiB] });
    const pairId = await localPair(app, vm.disks[0], true);
    const rvId = (await node(pairId, '... on ReplicaPair { replicaVolume { id } }')).replicaVolume.id;

    const before = await fingerprint(app);
    expect(await mutate(app, 'deleteVirtualVolume', { id: rvId }, 'vmAdmin')).toMatchObject({ __typename: 'ConflictError', currentState: 'PAIRED' });
    expect(await fingerprint(app)).toEqual(before);
    const generation = await backupGeneration(app, vm.id, true);
    const backupVolume = (await node(generation, '... on BackupGeneration { volumes { backupVolume { id } } }')).volumes[0].backupVolume.id;
    const afterBackup = await fingerprint(app);
    expect(await mutate(app, 'deleteVirtualVolume', { id: backupVolume }, 'vmAdmin')).toMatchObject({ __typename: 'ValidationError', field: 'input.id', message: expect.stringContaining('dds keeps') });
    expect(await fingerprint(app)).toEqual(afterBackup);

    await ok(app, 'unpair', { pairId, force: true }, '__typename', 'vmAdmin');
    const used = await usedBytes(vm.containerId);
    const deleted = await ok(app, 'deleteVirtualVolume', { id: rvId }, '... on DeleteVirtualVolumePayload { deletedId virtualMachine { id } }', 'vmAdmin');
    expect(deleted).toMatchObject({ deletedId: rvId, virtualMachine: null });
    expect(await node(rvId, 'id')).toBeNull();
    expect(await usedBytes(vm.containerId)).toBe(used - 2 * GiB);
  });
});


describe('the recent samples of deleted VVOLs and VMs', () => {
  it(`are dropped from memory at the next sweep (every ${RING_SWEEP_TICKS} ticks); a stopped VM keeps its own`, async () => {
    const deleted = await createVm(app, ids.policies.BRONZE, { disks: [GiB, GiB], powerOn: true });
    const stopped = await createVm(app, ids.policies.BRONZE, { powerOn: true });
    for (const vm of [deleted, stopped]) await app.query(`mutation($id: ID!) { setWorkload(input: { vmId: $id, preset: OLTP }) { __typename } }`, { id: vm.id });
    await app.query(`mutation { advanceSimulation(input: { seconds: 2 }) { __typename } }`);
    await ok(app, 'deleteVirtualVolume', { id: deleted.disks[1] }, '__typename', 'vmAdmin');
    for (const vm of [deleted, stopped]) await ok(app, 'powerOffVirtualMachine', { id: vm.id }, '__typename', 'vmAdmin');
    await ok(app, 'deleteVirtualMachine', { id: deleted.id }, '__typename', 'vmAdmin');
    const gone = [deleted.id, ...deleted.disks].map(rowId);
    const kept = [stopped.id, stopped.disks[0]].map(rowId);
    const held = () => new Set(app.engine.io.ids());
    for (const id of [...gone, ...kept]) expect(held().has(id), id).toBe(true);

    const { simulation } = await app.query('{ simulation { tick } }');
    await app.query(`mutation($s: Float!) { advanceSimulation(input: { seconds: $s }) { __typename } }`, { s: RING_SWEEP_TICKS - (simulation.tick % RING_SWEEP_TICKS) });
    for (const id of gone) expect(held().has(id), id).toBe(false);
    for (const id of kept) expect(held().has(id), id).toBe(true);
    expect((await node(stopped.id, '... on VirtualMachine { recentIo(last: 2) { readIops } }')).recentIo).toHaveLength(2);
  });
});
