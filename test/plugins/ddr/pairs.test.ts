import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GiB, seedBasics, startApp, type TestApp } from '../../helpers/app.ts';
import { clone, createVm, ok, snapshot, writeExtents } from '../../api/support.ts';

const MiB = 1024 ** 2;
const EXTENT = 32 * MiB;

let app: TestApp;
let ids: Awaited<ReturnType<typeof seedBasics>>;

beforeAll(async () => {
  app = await startApp();
  ids = await seedBasics(app);
});
afterAll(() => app?.close());

const pairFields = 'id activity syncState rvAccess copyDiffBytes separateDiffBytes syncedAt masterVolume { contentDigest } replicaVolume { id vasaId contentDigest allocatedBytes } task { id state bytesTotal bytesDone }';

async function createDisk(name: string, sizeGiB = 4): Promise<{ id: string; vasaId: string }> {
  const created = await app.query(
    `mutation($p: ID!) { createVirtualMachine(input: { name: "${name}", policyId: $p, disks: [{ sizeBytes: ${sizeGiB * GiB} }] }) { ... on CreateVirtualMachinePayload { virtualMachine { virtualVolumes { id vasaId type } } } } }`,
    { p: ids.policies.BRONZE },
  );
  return created.createVirtualMachine.virtualMachine.virtualVolumes.find((v: any) => v.type === 'DATA');
}

async function write(vasaId: string, indexes: number[]) {
  await app.core.transact((work) => app.core.extents.write(work.tx, [{ vvolId: vasaId, indexes }]));
}

async function pairOp(name: string, input: Record<string, unknown>, selection = `pair { ${pairFields} } task { id bytesTotal state }`) {
  const result = await app.query(`mutation($input: ${name[0].toUpperCase()}${name.slice(1)}Input!) { ${name}(input: $input) { __typename ... on ConflictError { message currentState } ... on ValidationError { field message } ... on NotFoundError { field } ... on ${name[0].toUpperCase()}${name.slice(1)}Payload { ${selection} } } }`, { input }, 'vmAdmin');
  return result[name];
}

async function pair(id: string) {
  return (await app.query(`query($id: ID!) { node(id: $id) { ... on ReplicaPair { ${pairFields} } } }`, { id })).node;
}

const advance = (seconds: number) => app.query(`mutation { advanceSimulation(input: { seconds: ${seconds} }) { __typename } }`);

describe('ddr pairs', () => {
  it('replicates FULL, then after a separation copies exactly the extents written since (DIFF), and the RV ends with the MV\'s digest', async () => {
    const mv = await createDisk('ddr-a');
    await write(mv.vasaId, Array.from({ length: 64 }, (_, i) => i)); // 2 GiB
    const created = await pairOp('pairLocalReplica', { mvId: mv.id }, `pair { ${pairFields} }`);
    expect(created.__typename).toBe('PairLocalReplicaPayload');
    expect(created.pair).toMatchObject({ activity: 'SEPARATE', syncState: 'SEPARATED', syncedAt: null });
    const pairId = created.pair.id;

    const full = await pairOp('replicatePair', { pairId, range: 'FULL' });
    expect(full.pair).toMatchObject({ activity: 'REPLICATE', syncState: 'RPL_EXEC', rvAccess: 'NR' });
    expect(full.task.bytesTotal).toBe(2 * GiB);
    await advance(1);
    expect((await pair(pairId)).task).toMatchObject({ state: 'RUNNING', bytesDone: GiB });
    await advance(2);
    const synced = await pair(pairId);
    expect(synced).toMatchObject({ syncState: 'RPL_SYNC', copyDiffBytes: 0 });
    expect(synced.replicaVolume.contentDigest).toBe(synced.masterVolume.contentDigest);

    const separated = await pairOp('separatePair', { pairId, rvAccess: 'RO' });
    expect(separated.pair).toMatchObject({ syncState: 'SEPARATED', rvAccess: 'RO' });
    await write(mv.vasaId, [3, 7, 100]);
    expect((await pair(pairId)).separateDiffBytes).toBe(3 * EXTENT);

    const diff = await pairOp('replicatePair', { pairId, range: 'DIFF' });
    expect(diff.task.bytesTotal).toBe(3 * EXTENT); // bytes copied / bytes changed = 1
    await advance(1);
    const again = await pair(pairId);
    expect(again.syncState).toBe('RPL_SYNC');
    expect(again.replicaVolume.contentDigest).toBe(again.masterVolume.contentDigest);
  });

  it('restores immediately: the MV shows the RV\'s data as soon as the restore starts, while the copy runs behind', async () => {
    const mv = await createDisk('ddr-b');
    await write(mv.vasaId, Array.from({ length: 96 }, (_, i) => i)); // 3 GiB
    const { pair: p } = await pairOp('pairLocalReplica', { mvId: mv.id }, `pair { ${pairFields} }`);
    await pairOp('replicatePair', { pairId: p.id, range: 'FULL' });
    await advance(4);
    await pairOp('separatePair', { pairId: p.id });
    const rvDigest = (await pair(p.id)).replicaVolume.contentDigest;
    await write(mv.vasaId, Array.from({ length: 64 }, (_, i) => i)); // the MV diverges by 2 GiB
    expect((await pair(p.id)).masterVolume.contentDigest).not.toBe(rvDigest);

    const restore = await pairOp('restorePair', { pairId: p.id, mode: 'PROTECT' });
    expect(restore.pair).toMatchObject({ activity: 'RESTORE_PROTECT', syncState: 'RST_EXEC' });
    expect(restore.pair.masterVolume.contentDigest).toBe(rvDigest);
    expect(restore.task.bytesTotal).toBe(2 * GiB);
    await advance(1);
    expect((await pair(p.id)).task).toMatchObject({ state: 'RUNNING', bytesDone: GiB });
    await advance(1);
    const done = await pair(p.id);
    expect(done).toMatchObject({ syncState: 'RST_SYNC' });
    expect(done.masterVolume.contentDigest).toBe(rvDigest);
  });

  it('SYNC copy control mirrors each write to the RV in the same tick', async () => {
    const mv = await createDisk('ddr-sync');
    await write(mv.vasaId, [0, 1]);
    const { pair: p } = await pairOp('pairLocalReplica', { mvId: mv.id, copyControl: 'SYNC' }, `pair { ${pairFields} }`);
    await pairOp('replicatePair', { pairId: p.id, range: 'FULL' });
    await advance(1);
    expect((await pair(p.id)).syncState).toBe('RPL_SYNC');
    await app.query(`mutation($vm: ID!) { setWorkload(input: { vmId: $vm, preset: OLTP }) { __typename } }`, { vm: (await app.query(`query($id: ID!) { node(id: $id) { ... on VirtualVolume { virtualMachine { id } } } }`, { id: mv.id })).node.virtualMachine.id });
    const vmId = (await app.query(`query($id: ID!) { node(id: $id) { ... on VirtualVolume { virtualMachine { id } } } }`, { id: mv.id })).node.virtualMachine.id;
    await app.query(`mutation($id: ID!) { powerOnVirtualMachine(input: { id: $id }) { __typename } }`, { id: vmId });
    const before = (await pair(p.id)).masterVolume.contentDigest;
    await advance(3);
    const after = await pair(p.id);
    expect(after.masterVolume.contentDigest).not.toBe(before);
    expect(after.replicaVolume.contentDigest).toBe(after.masterVolume.contentDigest);
    expect(after.copyDiffBytes).toBe(0);
  });

  it('refuses illegal transitions with a ConflictError naming the current state, and changes nothing', async () => {
    const mv = await createDisk('ddr-c');
    await write(mv.vasaId, [0, 1, 2]);
    const { pair: p } = await pairOp('pairLocalReplica', { mvId: mv.id }, `pair { ${pairFields} }`);
    expect(await pairOp('separatePair', { pairId: p.id })).toMatchObject({ __typename: 'ConflictError', currentState: 'SEPARATED' });
    await pairOp('replicatePair', { pairId: p.id, range: 'FULL' });
    const before = await pair(p.id);
    expect(await pairOp('restorePair', { pairId: p.id })).toMatchObject({ __typename: 'ConflictError', currentState: 'RPL_EXEC' });
    expect(await pairOp('unpair', { pairId: p.id }, 'unpairedId')).toMatchObject({ __typename: 'ConflictError', currentState: 'RPL_EXEC' });
    expect(await pair(p.id)).toEqual(before);
    expect(await pairOp('unpair', { pairId: p.id, force: true }, 'unpairedId')).toMatchObject({ unpairedId: p.id });
    expect(await pair(p.id)).toBeNull();
  });

  it('attaches a separated RV read-only to another VM (hot-add, bound at once); the VM reads it but never writes it; copies wait until it is detached', async () => {
    const mv = await createDisk('ddr-attach');
    await write(mv.vasaId, [0, 1, 2, 3]);
    const { pair: p } = await pairOp('pairLocalReplica', { mvId: mv.id }, `pair { ${pairFields} }`);
    await pairOp('replicatePair', { pairId: p.id, range: 'FULL' });
    await advance(1);
    await pairOp('separatePair', { pairId: p.id, rvAccess: 'RO' });
    const frozen = (await pair(p.id)).replicaVolume.contentDigest;
    const home = (await app.query(`query($id: ID!) { node(id: $id) { ... on VirtualVolume { storageContainer { id name } } } }`, { id: mv.id })).node.storageContainer;
    const reporting = (await app.query(
      `mutation($p: ID!, $c: ID!) { createVirtualMachine(input: { name: "reporting", policyId: $p, containerId: $c, disks: [{ sizeBytes: ${GiB} }] }) { ... on CreateVirtualMachinePayload { virtualMachine { id } } } }`,
      { p: ids.policies.BRONZE, c: home.id },
    )).createVirtualMachine.virtualMachine;
    await app.query(`mutation($id: ID!) { powerOnVirtualMachine(input: { id: $id }) { __typename } }`, { id: reporting.id });
    await app.query(`mutation($id: ID!) { setWorkload(input: { vmId: $id, preset: OLTP }) { __typename } }`, { id: reporting.id }, 'vmAdmin');

    const attached = await pairOp('attachReplicaVolume', { pairId: p.id, vmId: reporting.id }, 'virtualMachine { disks { unitNumber readOnly virtualVolume { id bindState } } }');
    expect(attached.__typename).toBe('AttachReplicaVolumePayload');
    expect(attached.virtualMachine.disks.at(-1)).toEqual({ unitNumber: 1, readOnly: true, virtualVolume: { id: p.replicaVolume.id, bindState: 'BOUND' } });
    await advance(5); // OLTP writes to the VM's own disk only
    const after = await app.query(`query($id: ID!) { node(id: $id) { ... on VirtualMachine { disks { readOnly virtualVolume { contentDigest } } } } }`, { id: reporting.id });
    expect(after.node.disks[1].virtualVolume.contentDigest).toBe(frozen);
    expect(after.node.disks[0].virtualVolume.contentDigest).not.toBe('0000000000000000');

    expect(await pairOp('replicatePair', { pairId: p.id })).toMatchObject({ __typename: 'ConflictError', currentState: 'ATTACHED' });
    expect(await pairOp('attachReplicaVolume', { pairId: p.id, vmId: reporting.id }, 'pair { id }')).toMatchObject({ __typename: 'ConflictError', currentState: 'ATTACHED' });
    expect((await pairOp('detachReplicaVolume', { pairId: p.id }, 'pair { id }')).__typename).toBe('DetachReplicaVolumePayload');
    expect((await pairOp('replicatePair', { pairId: p.id })).pair.syncState).toBe('RPL_SYNC'); // nothing written since: in sync at once
  });

  it('rejects a pair with itself, across arrays, with a smaller RV or an unknown copy control, naming the field, and creates nothing', async () => {
    const mv = await createDisk('ddr-d', 8);
    const small = await createDisk('ddr-small', 4);
    const count = async () => (await app.query(`{ replicaPairs(first: 1000) { edges { node { id } } } }`)).replicaPairs.edges.length;
    const before = await count();
    expect(await pairOp('pairLocalReplica', { mvId: mv.id, rvId: mv.id }, 'pair { id }')).toMatchObject({ __typename: 'ValidationError', field: 'input.rvId' });
    expect(await pairOp('pairLocalReplica', { mvId: mv.id, rvId: small.id }, 'pair { id }')).toMatchObject({ __typename: 'ValidationError', field: 'input.rvId' });
    const home = (await app.query(`query($id: ID!) { node(id: $id) { ... on VirtualVolume { storageContainer { name } } } }`, { id: mv.id })).node.storageContainer.name as string;
    const elsewhere = home.startsWith('tokyo') ? 'osaka-bulk' : 'tokyo-bulk';
    expect(await pairOp('pairLocalReplica', { mvId: mv.id, containerId: ids.containers[elsewhere] }, 'pair { id }')).toMatchObject({ __typename: 'ValidationError', field: 'input.containerId' });
    expect(await pairOp('pairLocalReplica', { mvId: mv.id, copyControl: 'SEMI_SYNC' }, 'pair { id }')).toMatchObject({ __typename: 'ValidationError', field: 'input.copyControl' });
    expect(await pairOp('pairLocalReplica', { mvId: 'garbage' }, 'pair { id }')).toMatchObject({ __typename: 'NotFoundError', field: 'input.mvId' });
    expect(await count()).toBe(before);
  });
});

describe('a VM with an attached RV', () => {
  it('clones into ordinary disks: the clone of the attached RV is not marked as a replica, so policies reach it', async () => {
    const src = await createVm(app, ids.policies.BRONZE, { containerId: ids.containers['tokyo-gold'] });
    const reader = await createVm(app, ids.policies.BRONZE, { containerId: ids.containers['tokyo-gold'] });
    const { pair } = await ok(app, 'pairLocalReplica', { mvId: src.disks[0] }, '... on PairLocalReplicaPayload { pair { id } }');
    await ok(app, 'attachReplicaVolume', { pairId: pair.id, vmId: reader.id }, '... on AttachReplicaVolumePayload { __typename }', 'vmAdmin');
    const metadataOf = async (vmId: string) =>
      (await app.query(`query($id: ID!) { node(id: $id) { ... on VirtualMachine { virtualVolumes { type metadata { key } } } } }`, { id: vmId })).node.virtualVolumes.flatMap((v: any) => v.metadata.map((m: any) => m.key));
    expect(await metadataOf(reader.id)).toContain('vvolgraph.replicaOf');
    const copy = await clone(app, reader.id, 'FAST');
    expect(await metadataOf(copy.vmId)).not.toContain('vvolgraph.replicaOf');
  });

  it('reverting it to a snapshot taken while the RV was attached leaves the RV alone once it is detached (now another VM\'s disk), and leaves a read-only RV alone', async () => {
    const vm = await createVm(app, ids.policies.BRONZE, { containerId: ids.containers['tokyo-gold'] });
    const other = await createVm(app, ids.policies.BRONZE, { containerId: ids.containers['tokyo-gold'] });
    await writeExtents(app, vm.disks[0], [0, 1]);
    const { pair: created } = await ok(app, 'pairLocalReplica', { mvId: vm.disks[0] }, '... on PairLocalReplicaPayload { pair { id } }');
    const pairId = created.id;
    await ok(app, 'replicatePair', { pairId, range: 'FULL' }, '__typename', 'vmAdmin');
    await advance(1);
    await ok(app, 'separatePair', { pairId }, '__typename', 'vmAdmin');
    await ok(app, 'attachReplicaVolume', { pairId, vmId: vm.id }, '__typename', 'vmAdmin');
    const snap = await snapshot(app, vm.id); // holds the MV and the RV as disks 0 and 1
    await ok(app, 'detachReplicaVolume', { pairId }, '__typename', 'vmAdmin');
    await writeExtents(app, vm.disks[0], [5]);
    await ok(app, 'replicatePair', { pairId }, '__typename', 'vmAdmin');
    await advance(1);
    await ok(app, 'separatePair', { pairId }, '__typename', 'vmAdmin');
    await ok(app, 'attachReplicaVolume', { pairId, vmId: other.id }, '__typename', 'vmAdmin');
    const separated = await pair(pairId);
    await ok(app, 'revertVirtualMachine', { vmId: vm.id, snapshotId: snap.id }, '__typename', 'vmAdmin');
    // Before, the revert gave the RV (the other VM's disk now, and a SEPARATED replica) the snapshot's data.
    expect((await pair(pairId)).replicaVolume.contentDigest).toBe(separated.replicaVolume.contentDigest);
    expect((await pair(pairId)).masterVolume.contentDigest).not.toBe(separated.masterVolume.contentDigest); // the VM's own disk did revert

    // Read-only: attached RO again to the VM, the RV is a disk the VM only reads; a revert leaves it too.
    await ok(app, 'detachReplicaVolume', { pairId }, '__typename', 'vmAdmin');
    await ok(app, 'replicatePair', { pairId }, '__typename', 'vmAdmin');
    await advance(1);
    await ok(app, 'separatePair', { pairId, rvAccess: 'RO' }, '__typename', 'vmAdmin');
    await ok(app, 'attachReplicaVolume', { pairId, vmId: vm.id }, '__typename', 'vmAdmin');
    const readOnly = await snapshot(app, vm.id);
    await ok(app, 'detachReplicaVolume', { pairId }, '__typename', 'vmAdmin');
    await writeExtents(app, vm.disks[0], [6]);
    await ok(app, 'replicatePair', { pairId }, '__typename', 'vmAdmin');
    await advance(1);
    await ok(app, 'separatePair', { pairId, rvAccess: 'RO' }, '__typename', 'vmAdmin');
    await ok(app, 'attachReplicaVolume', { pairId, vmId: vm.id }, '__typename', 'vmAdmin');
    const before = await pair(pairId);
    await ok(app, 'revertVirtualMachine', { vmId: vm.id, snapshotId: readOnly.id }, '__typename', 'vmAdmin');
    expect((await pair(pairId)).replicaVolume.contentDigest).toBe(before.replicaVolume.contentDigest);
  });
});
