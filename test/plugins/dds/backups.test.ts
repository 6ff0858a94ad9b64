import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GiB, seedBasics, startApp, type TestApp } from '../../helpers/app.ts';
import { fingerprint } from '../../api/support.ts';

const MiB = 1024 ** 2;
const EXTENT = 32 * MiB;
const LINK = 500 * MiB;

let app: TestApp;
let ids: Awaited<ReturnType<typeof seedBasics>>;

beforeAll(async () => {
  app = await startApp();
  ids = await seedBasics(app);
});
afterAll(() => app?.close());

const generationFields = `id number type state time logicalBytes storedBytes dedupRatio baseGeneration { number }
  task { id state bytesDone bytesTotal bytesPerSecond }
  volumes { type unitNumber contentDigest sourceVolume { id contentDigest } backupVolume { id vasaId contentDigest allocatedBytes virtualMachine { id } } }`;

interface Vm {
  id: string;
  config: { id: string; vasaId: string };
  data: { id: string; vasaId: string };
}

async function createVm(name: string, policyId = ids.policies.BRONZE, sizeGiB = 4): Promise<Vm> {
  const created = await app.query(
    `mutation($p: ID!) { createVirtualMachine(input: { name: "${name}", policyId: $p, disks: [{ sizeBytes: ${sizeGiB * GiB} }] }) { ... on CreateVirtualMachinePayload { virtualMachine { id virtualVolumes { id vasaId type } } } } }`,
    { p: policyId },
  );
  const vm = created.createVirtualMachine.virtualMachine;
  return { id: vm.id, config: vm.virtualVolumes.find((v: any) => v.type === 'CONFIG'), data: vm.virtualVolumes.find((v: any) => v.type === 'DATA') };
}

async function write(vasaId: string, indexes: number[]) {
  await app.core.transact((work) => app.core.extents.write(work.tx, [{ vvolId: vasaId, indexes }]));
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

async function mutation(name: string, input: Record<string, unknown>, selection: string) {
  const Name = `${name[0].toUpperCase()}${name.slice(1)}`;
  const result = await app.query(
    `mutation($input: ${Name}Input!) { ${name}(input: $input) { __typename ... on UserError { message } ... on ConflictError { currentState } ... on ValidationError { field } ... on NotFoundError { field } ... on ${Name}Payload { ${selection} } } }`,
    { input },
    'vmAdmin',
  );
  return result[name];
}

const backup = (vmId: string, type?: 'FULL' | 'DIFFERENTIAL') => mutation('backupVirtualMachine', { vmId, type }, `generation { ${generationFields} } task { id state bytesTotal target { __typename id } }`);
const restore = (generationId: string, target: 'VM' | 'NEW_VM', extra: Record<string, unknown> = {}) =>
  mutation('restoreBackup', { generationId, target, ...extra }, `task { id state bytesTotal kind target { id } } virtualMachine { id name virtualVolumes { type contentDigest } }`);

async function generation(id: string) {
  return (await app.query(`query($id: ID!) { node(id: $id) { ... on BackupGeneration { ${generationFields} } } }`, { id })).node;
}

async function vmVolumes(vmId: string): Promise<{ type: string; contentDigest: string }[]> {
  return (await app.query(`query($id: ID!) { node(id: $id) { ... on VirtualMachine { virtualVolumes { type contentDigest } } } }`, { id: vmId })).node.virtualVolumes;
}

async function task(id: string) {
  return (await app.query(`query($id: ID!) { node(id: $id) { ... on Task { state bytesDone bytesTotal bytesPerSecond } } }`, { id })).node;
}

const advance = (seconds: number) => app.query(`mutation { advanceSimulation(input: { seconds: ${seconds} }) { __typename } }`);

/** The digests of the generation's volumes, by type (CONFIG, DATA). */
const digests = (g: any) => Object.fromEntries(g.volumes.map((v: any) => [v.type, v.contentDigest]));

/** A VM with `extents` written and a FULL backup of it taken to the end: the VM, the generation and its digests. */
async function backedUp(name: string, extents: number) {
  const vm = await createVm(name);
  await write(vm.data.vasaId, range(0, extents));
  const g = await backup(vm.id, 'FULL');
  await advance(2);
  return { vm, g, kept: digests(await generation(g.generation.id)) };
}

describe('dds backups', () => {
  it('FULL copies every allocated extent at the link bandwidth; DIFFERENTIAL then copies and stores exactly the changed extents', async () => {
    const vm = await createVm('dds-a');
    await write(vm.data.vasaId, range(0, 32)); // 1 GiB, plus the CONFIG volume's one extent
    const full = await backup(vm.id, 'FULL');
    expect(full.__typename).toBe('BackupVirtualMachinePayload');
    expect(full.generation).toMatchObject({ number: 1, type: 'FULL', state: 'RUNNING' });
    expect(full.task.target).toEqual({ __typename: 'BackupGeneration', id: full.generation.id }); // a plugin's node, resolved as any node
    expect(full.task.bytesTotal).toBe(GiB + EXTENT);
    const backupVolume = full.generation.volumes.find((v: any) => v.type === 'DATA').backupVolume;
    expect(backupVolume.virtualMachine).toBeNull();

    // Whole extents only, the unspent credit carried over: 480 MiB, then 992 MiB, then the rest.
    await advance(1);
    expect(await task(full.task.id)).toMatchObject({ state: 'RUNNING', bytesDone: 15 * EXTENT, bytesPerSecond: LINK });
    await advance(1);
    expect(await task(full.task.id)).toMatchObject({ state: 'RUNNING', bytesDone: 31 * EXTENT });
    await advance(1);
    const first = await generation(full.generation.id);
    expect(first).toMatchObject({ state: 'AVAILABLE', logicalBytes: GiB + EXTENT, storedBytes: GiB + EXTENT, dedupRatio: 1 });
    expect(first.task).toMatchObject({ state: 'SUCCEEDED', bytesDone: GiB + EXTENT });
    for (const volume of first.volumes) {
      expect(volume.backupVolume.contentDigest).toBe(volume.contentDigest);
      expect(volume.backupVolume.contentDigest).toBe(volume.sourceVolume.contentDigest);
    }

    await write(vm.data.vasaId, [3, 7, 100]); // two rewritten, one new
    const diff = await backup(vm.id, 'DIFFERENTIAL');
    expect(diff.generation).toMatchObject({ number: 2, type: 'DIFFERENTIAL', state: 'RUNNING', baseGeneration: { number: 1 } });
    expect(diff.task.bytesTotal).toBe(3 * EXTENT); // bytes copied / bytes changed = 1
    await write(vm.data.vasaId, [120]); // after the point in time: not part of this generation
    await advance(1);
    const second = await generation(diff.generation.id);
    expect(second).toMatchObject({ state: 'AVAILABLE', logicalBytes: GiB + 2 * EXTENT, storedBytes: 3 * EXTENT });
    expect(second.dedupRatio).toBeCloseTo((GiB + 2 * EXTENT) / (3 * EXTENT), 10);
    const data = second.volumes.find((v: any) => v.type === 'DATA');
    expect(data.backupVolume.contentDigest).toBe(data.contentDigest);
    expect(data.contentDigest).not.toBe(data.sourceVolume.contentDigest); // the source moved on after the point in time
    expect(digests(first).DATA).not.toBe(digests(second).DATA);

    const { node } = await app.query(`query($id: ID!) { node(id: $id) { ... on VirtualMachine { backups { number type state logicalBytes storedBytes dedupRatio time } } } }`, { id: vm.id });
    expect(node.backups.map((g: any) => [g.number, g.type, g.state])).toEqual([[2, 'DIFFERENTIAL', 'AVAILABLE'], [1, 'FULL', 'AVAILABLE']]);
  });

  it('deduplicates by content id across VMs: the backup of a FAST clone stores nothing new, and its later changes only', async () => {
    const source = await createVm('dds-dedup-src');
    await write(source.data.vasaId, range(0, 16));
    const a = await backup(source.id, 'FULL');
    await advance(2);
    expect(await generation(a.generation.id)).toMatchObject({ state: 'AVAILABLE', storedBytes: 16 * EXTENT + EXTENT });

    const cloned = await app.query(`mutation($id: ID!) { cloneVirtualMachine(input: { vmId: $id, name: "dds-dedup-clone", mode: FAST }) { ... on CloneVirtualMachinePayload { virtualMachine { id virtualVolumes { type vasaId } } } } }`, { id: source.id });
    const clone = cloned.cloneVirtualMachine.virtualMachine;
    const b = await backup(clone.id, 'FULL');
    expect(b.task.bytesTotal).toBe(17 * EXTENT); // FULL still ships every extent ...
    await advance(2);
    const shared = await generation(b.generation.id);
    expect(shared).toMatchObject({ state: 'AVAILABLE', logicalBytes: 17 * EXTENT, storedBytes: 0, dedupRatio: null }); // ... but stores none of them

    await write(clone.virtualVolumes.find((v: any) => v.type === 'DATA').vasaId, [1, 40]);
    const c = await backup(clone.id, 'DIFFERENTIAL');
    await advance(1);
    expect(await generation(c.generation.id)).toMatchObject({ state: 'AVAILABLE', storedBytes: 2 * EXTENT, logicalBytes: 18 * EXTENT });
  });

  it('restores onto the powered-off VM (only what differs moves) and as a new VM, both ending with the generation\'s digests', async () => {
    const { vm, g, kept } = await backedUp('dds-restore', 20);

    await write(vm.data.vasaId, [0, 1, 2, 50]); // three overwritten, one new: four extents differ
    await app.query(`mutation($id: ID!) { powerOnVirtualMachine(input: { id: $id }) { __typename } }`, { id: vm.id });
    expect(await restore(g.generation.id, 'VM')).toMatchObject({ __typename: 'ConflictError', currentState: 'POWERED_ON' });
    await app.query(`mutation($id: ID!) { powerOffVirtualMachine(input: { id: $id }) { __typename } }`, { id: vm.id });

    const onto = await restore(g.generation.id, 'VM');
    expect(onto.task).toMatchObject({ kind: 'RESTORE', state: 'QUEUED', bytesTotal: 3 * EXTENT, target: { id: vm.id } }); // the trimmed extent moves no bytes
    const busy = await app.query(`mutation($id: ID!) { powerOnVirtualMachine(input: { id: $id }) { __typename ... on ConflictError { currentState } } }`, { id: vm.id });
    expect(busy.powerOnVirtualMachine).toEqual({ __typename: 'ConflictError', currentState: 'BUSY' });
    expect(await backup(vm.id)).toMatchObject({ __typename: 'ConflictError', currentState: 'BUSY' }); // it would keep half-restored data
    await advance(1);
    expect(await task(onto.task.id)).toMatchObject({ state: 'SUCCEEDED', bytesDone: 3 * EXTENT });
    const after = Object.fromEntries((await vmVolumes(vm.id)).filter((v) => v.type !== 'SWAP').map((v) => [v.type, v.contentDigest]));
    expect(after).toEqual(kept);

    const asNew = await restore(g.generation.id, 'NEW_VM', { name: 'dds-restored' });
    expect(asNew.virtualMachine.name).toBe('dds-restored');
    expect(asNew.task.bytesTotal).toBe(21 * EXTENT);
    await advance(1);
    expect(await task(asNew.task.id)).toMatchObject({ state: 'RUNNING', bytesDone: 15 * EXTENT });
    await advance(1);
    expect(await task(asNew.task.id)).toMatchObject({ state: 'SUCCEEDED', bytesDone: 21 * EXTENT });
    const restored = await vmVolumes(asNew.virtualMachine.id);
    expect(Object.fromEntries(restored.map((v) => [v.type, v.contentDigest]))).toEqual(kept);
  });

  it('a volume of a restore still running cannot have a pair restored onto it (ConflictError BUSY), even once its own extents have landed: the restore ends with the generation\'s digests', async () => {
    const { g, kept } = await backedUp('dds-filling', 30);
    const asNew = await restore(g.generation.id, 'NEW_VM', { name: 'dds-filling-restored' });
    const volumes = (await app.query(`query($id: ID!) { node(id: $id) { ... on VirtualMachine { virtualVolumes { id type } } } }`, { id: asNew.virtualMachine.id })).node.virtualVolumes;
    const pairIds: string[] = [];
    for (const volume of volumes) pairIds.push((await mutation('pairLocalReplica', { mvId: volume.id }, 'pair { id }')).pair.id);
    // A second in, the CONFIG volume's one extent has landed, the DATA volume's 30 have not: the task answers for both.
    await advance(1);
    expect(await task(asNew.task.id)).toMatchObject({ state: 'RUNNING' });
    const before = await fingerprint(app);
    for (const pairId of pairIds) {
      expect(await mutation('restorePair', { pairId, mode: 'UPDATE' }, 'pair { syncState }')).toMatchObject({ __typename: 'ConflictError', currentState: 'BUSY' });
    }
    expect(await fingerprint(app)).toEqual(before);
    await advance(3);
    expect(await task(asNew.task.id)).toMatchObject({ state: 'SUCCEEDED' });
    expect(Object.fromEntries((await vmVolumes(asNew.virtualMachine.id)).map((v) => [v.type, v.contentDigest]))).toEqual(kept);
  });

  it('a VM whose disk a pair is restoring onto cannot be restored from a backup meanwhile (ConflictError BUSY)', async () => {
    const { vm, g } = await backedUp('dds-pair-restoring', 30);
    const { pair } = await mutation('pairLocalReplica', { mvId: vm.data.id }, 'pair { id }');
    await mutation('replicatePair', { pairId: pair.id, range: 'FULL' }, '__typename');
    await advance(2);
    expect(await mutation('separatePair', { pairId: pair.id }, 'pair { syncState }')).toMatchObject({ pair: { syncState: 'SEPARATED' } });
    await write(vm.data.vasaId, range(0, 30)); // the RV now differs from the MV in 30 extents: the restore takes a while
    expect(await mutation('restorePair', { pairId: pair.id, mode: 'UPDATE' }, 'pair { syncState }')).toMatchObject({ pair: { syncState: 'RST_EXEC' } });
    const before = await fingerprint(app);
    expect(await restore(g.generation.id, 'VM')).toMatchObject({ __typename: 'ConflictError', currentState: 'BUSY' });
    expect(await fingerprint(app)).toEqual(before);
  });

  it('restores a deleted VM whose policy was deleted too as a NEW_VM under the policy named (a ValidationError naming policyId without one, nothing made)', async () => {
    const policy = await app.query(`mutation { createStoragePolicy(input: { name: "dds-gone", rules: [{ capabilityId: "vasa.snapshot", value: true }] }) { ... on CreateStoragePolicyPayload { storagePolicy { id } } } }`);
    const policyId = policy.createStoragePolicy.storagePolicy.id;
    const vm = await createVm('dds-policy-gone', policyId);
    // Its volumes under BRONZE, the VM's own policy unused by any volume: once the VM is deleted, nothing holds that policy.
    for (const vvol of [vm.config, vm.data]) await mutation('applyStoragePolicy', { targetId: vvol.id, policyId: ids.policies.BRONZE }, '__typename');
    await write(vm.data.vasaId, [0, 1]);
    const g = await backup(vm.id, 'FULL');
    await advance(1);
    const kept = digests(await generation(g.generation.id));
    await mutation('deleteVirtualMachine', { id: vm.id }, '__typename');
    expect((await app.query(`mutation($id: ID!) { deleteStoragePolicy(input: { id: $id }) { __typename } }`, { id: policyId })).deleteStoragePolicy.__typename).toBe('DeleteStoragePolicyPayload');

    const before = await fingerprint(app);
    // Before, this was "Unexpected error." (the new VM's row named the deleted policy).
    expect(await restore(g.generation.id, 'NEW_VM')).toMatchObject({ __typename: 'ValidationError', field: 'input.policyId' });
    expect(await restore(g.generation.id, 'NEW_VM', { policyId })).toMatchObject({ __typename: 'NotFoundError', field: 'input.policyId' });
    expect(await restore(g.generation.id, 'VM', { policyId: ids.policies.SILVER })).toMatchObject({ __typename: 'ValidationError', field: 'input.policyId' });
    expect(await fingerprint(app)).toEqual(before);

    const restored = await restore(g.generation.id, 'NEW_VM', { policyId: ids.policies.SILVER });
    expect(restored.__typename).toBe('RestoreBackupPayload');
    await advance(1);
    expect(Object.fromEntries((await vmVolumes(restored.virtualMachine.id)).map((v) => [v.type, v.contentDigest]))).toEqual(kept);
    const placed = await app.query(`query($id: ID!) { node(id: $id) { ... on VirtualMachine { storagePolicy { name } virtualVolumes { storagePolicy { name } } } } }`, { id: restored.virtualMachine.id });
    expect(placed.node.storagePolicy.name).toBe('SILVER');
    expect(placed.node.virtualVolumes.map((v: any) => v.storagePolicy.name)).toEqual(['BRONZE', 'BRONZE']); // their own policies, kept
  });

  it('a restore onto the VM leaves a replica the VM has attached read-only as its pair keeps it', async () => {
    const vm = await createVm('dds-ro-rv');
    await write(vm.data.vasaId, [0, 1]);
    const pairFields = '... on ReplicaPair { syncState replicaVolume { contentDigest } }';
    const { pair } = (await mutation('pairLocalReplica', { mvId: vm.data.id }, 'pair { id }')) as { pair: { id: string } };
    const sync = async (rvAccess: 'RO') => {
      await mutation('replicatePair', { pairId: pair.id, range: 'FULL' }, '__typename');
      await advance(1);
      await mutation('separatePair', { pairId: pair.id, rvAccess }, '__typename');
      await mutation('attachReplicaVolume', { pairId: pair.id, vmId: vm.id }, '__typename');
    };
    await sync('RO');
    const g = await backup(vm.id, 'FULL'); // holds the attached RV as the VM's second disk
    await advance(1);
    await mutation('detachReplicaVolume', { pairId: pair.id }, '__typename');
    await write(vm.data.vasaId, [2]);
    await sync('RO');
    const separated = (await app.query(`query($id: ID!) { node(id: $id) { ${pairFields} } }`, { id: pair.id })).node;
    const restored = await restore(g.generation.id, 'VM');
    await advance(1);
    expect(await task(restored.task.id)).toMatchObject({ state: 'SUCCEEDED' });
    // Before, the restore copied the backup onto the read-only RV: the SEPARATED replica changed.
    expect((await app.query(`query($id: ID!) { node(id: $id) { ${pairFields} } }`, { id: pair.id })).node).toEqual(separated);
  });

  it('shares the dds link: two backups running at once each get half its bandwidth', async () => {
    const a = await createVm('dds-link-a');
    const b = await createVm('dds-link-b');
    await write(a.data.vasaId, range(0, 40));
    await write(b.data.vasaId, range(0, 40));
    const ga = await backup(a.id, 'FULL');
    const gb = await backup(b.id, 'FULL');
    await advance(1);
    const [ta, tb] = [await task(ga.task.id), await task(gb.task.id)];
    expect(ta.bytesPerSecond + tb.bytesPerSecond).toBe(LINK);
    expect(ta.bytesDone + tb.bytesDone).toBeLessThanOrEqual(LINK);
    expect(ta.bytesDone + tb.bytesDone).toBeGreaterThan(LINK - 4 * EXTENT);
    expect(await backup(a.id)).toMatchObject({ __typename: 'ConflictError', currentState: 'RUNNING' });
    await advance(6);
    expect((await generation(ga.generation.id)).state).toBe('AVAILABLE');
    expect((await generation(gb.generation.id)).state).toBe('AVAILABLE');
  });
});

describe('dds retention', () => {
  it('prunes the oldest generations beyond nec.dds.generations; a DIFFERENTIAL whose base was pruned still restores exactly; a pruned one is a ConflictError and changes nothing', async () => {
    const policy = await app.query(
      `mutation { createStoragePolicy(input: { name: "dds-keep-2", rules: [{ capabilityId: "nec.dds.backup", value: true }, { capabilityId: "nec.dds.generations", value: 2 }, { capabilityId: "nec.dds.intervalMinutes", value: 10080 }] }) { ... on CreateStoragePolicyPayload { storagePolicy { id } } } }`,
    );
    const vm = await createVm('dds-retention', policy.createStoragePolicy.storagePolicy.id);
    await write(vm.data.vasaId, range(0, 8));
    // The schedule takes the first generation at the next tick (a VM under a backup policy without one yet).
    await advance(2);
    const list = async () => (await app.query(`query($id: ID!) { node(id: $id) { ... on VirtualMachine { backups { id number type state } } } }`, { id: vm.id })).node.backups;
    const [g1] = await list();
    expect(g1).toMatchObject({ number: 1, type: 'FULL', state: 'AVAILABLE' });
    const g1Volumes = (await generation(g1.id)).volumes.map((v: any) => v.backupVolume.id);

    await write(vm.data.vasaId, [1, 9]);
    const g2 = await backup(vm.id);
    expect(g2.generation.type).toBe('DIFFERENTIAL'); // the policy's default mode
    await advance(1);
    await write(vm.data.vasaId, [2, 10]);
    const g3 = await backup(vm.id);
    await advance(1);
    expect((await list()).map((g: any) => [g.number, g.state])).toEqual([[3, 'AVAILABLE'], [2, 'AVAILABLE'], [1, 'PRUNED']]);
    for (const id of g1Volumes) expect((await app.query(`query($id: ID!) { node(id: $id) { id } }`, { id })).node).toBeNull();
    const pruned = await generation(g1.id);
    expect(pruned.volumes.every((v: any) => v.backupVolume === null)).toBe(true);

    const before = await fingerprint(app);
    const refused = await restore(g1.id, 'NEW_VM');
    expect(refused).toMatchObject({ __typename: 'ConflictError', currentState: 'PRUNED' });
    expect(refused.message).toMatch(/PRUNED/);
    expect(await fingerprint(app)).toEqual(before);

    // g3 was based on g2, itself on the pruned g1: it holds a full map, so it restores exactly.
    await write(vm.data.vasaId, [3]);
    const g4 = await backup(vm.id);
    await advance(1);
    expect((await list()).map((g: any) => [g.number, g.state])).toEqual([[4, 'AVAILABLE'], [3, 'AVAILABLE'], [2, 'PRUNED'], [1, 'PRUNED']]);
    const g3Digests = digests(await generation(g3.generation.id));
    const asNew = await restore(g3.generation.id, 'NEW_VM');
    await advance(2);
    expect(Object.fromEntries((await vmVolumes(asNew.virtualMachine.id)).map((v) => [v.type, v.contentDigest]))).toEqual(g3Digests);
    expect((await generation(g4.generation.id)).storedBytes).toBe(EXTENT);
  });

  it('deleteBackup removes a generation and its volumes; unknown ids are NotFoundErrors naming the field', async () => {
    const vm = await createVm('dds-delete');
    await write(vm.data.vasaId, [0]);
    const g = await backup(vm.id, 'FULL');
    expect(await mutation('deleteBackup', { generationId: g.generation.id }, 'deletedId')).toMatchObject({ __typename: 'ConflictError', currentState: 'RUNNING' });
    await advance(1);
    const volumes = (await generation(g.generation.id)).volumes.map((v: any) => v.backupVolume.id);
    expect(await mutation('deleteBackup', { generationId: g.generation.id }, 'deletedId')).toEqual({ __typename: 'DeleteBackupPayload', deletedId: g.generation.id });
    expect(await generation(g.generation.id)).toBeNull();
    for (const id of volumes) expect((await app.query(`query($id: ID!) { node(id: $id) { id } }`, { id })).node).toBeNull();
    expect(await mutation('deleteBackup', { generationId: g.generation.id }, 'deletedId')).toMatchObject({ __typename: 'NotFoundError', field: 'input.generationId' });
    expect(await restore(vm.id, 'VM')).toMatchObject({ __typename: 'NotFoundError', field: 'input.generationId' });
  });
});

describe('dds failures', () => {
  it('a cancelled backup, and one whose VM is deleted mid-copy, end FAILED with their backup volumes removed', async () => {
    const vm = await createVm('dds-cancel');
    await write(vm.data.vasaId, range(0, 40));
    const cancelled = await backup(vm.id, 'FULL');
    await advance(1);
    await app.query(`mutation($id: ID!) { cancelTask(input: { taskId: $id }) { __typename } }`, { id: cancelled.task.id });
    await advance(1);
    const stopped = await generation(cancelled.generation.id);
    expect(stopped).toMatchObject({ state: 'FAILED', dedupRatio: null, task: { state: 'CANCELLED' } });
    expect(stopped.volumes.every((v: any) => v.backupVolume === null)).toBe(true);

    const doomed = await backup(vm.id, 'FULL');
    expect(doomed.generation.type).toBe('FULL');
    await advance(1);
    await app.query(`mutation($id: ID!) { deleteVirtualMachine(input: { id: $id }) { __typename } }`, { id: vm.id });
    await advance(1);
    const lost = (await app.query(`query($id: ID!) { backupGenerations(vmId: $id) { number state error volumes { backupVolume { id } } } }`, { id: vm.id })).backupGenerations;
    expect(lost[0]).toMatchObject({ number: 2, state: 'FAILED', error: expect.stringMatching(/deleted during the backup/) });
    expect(lost[0].volumes.every((v: any) => v.backupVolume === null)).toBe(true);
  });

  it('without dedup a generation stores what was copied to it', async () => {
    const policy = await app.query(
      `mutation { createStoragePolicy(input: { name: "dds-no-dedup", rules: [{ capabilityId: "nec.dds.backup", value: true }, { capabilityId: "nec.dds.dedup", value: false }, { capabilityId: "nec.dds.mode", value: "FULL" }] }) { ... on CreateStoragePolicyPayload { storagePolicy { id } } } }`,
    );
    const vm = await createVm('dds-no-dedup', policy.createStoragePolicy.storagePolicy.id);
    await write(vm.data.vasaId, range(0, 4));
    await advance(2); // the schedule's first generation (FULL, as the policy says), started at the first tick and copied at the second
    const again = await backup(vm.id);
    expect(again.generation.type).toBe('FULL');
    await advance(1);
    const list = (await app.query(`query($id: ID!) { node(id: $id) { ... on VirtualMachine { backups { number type state logicalBytes storedBytes dedupRatio } } } }`, { id: vm.id })).node.backups;
    expect(list).toEqual([
      { number: 2, type: 'FULL', state: 'AVAILABLE', logicalBytes: 5 * EXTENT, storedBytes: 5 * EXTENT, dedupRatio: 1 },
      { number: 1, type: 'FULL', state: 'AVAILABLE', logicalBytes: 5 * EXTENT, storedBytes: 5 * EXTENT, dedupRatio: 1 },
    ]);
  });
});

describe('dds schedule', () => {
  let minuteApp: TestApp;
  beforeAll(async () => {
    // Minute-long ticks, so hours of simulated time pass in a few dozen ticks.
    minuteApp = await startApp({ env: { VVOLGRAPH_TICK_MS: '60000' } });
  });
  afterAll(() => minuteApp?.close());

  it('backs a VM up every intervalMinutes of simulated time while its policy asks for it, keeps the newest generations, and stops when the policy no longer has dds rules', async () => {
    const basics = await seedBasics(minuteApp);
    const created = await minuteApp.query(
      `mutation { createStoragePolicy(input: { name: "dds-every-15", rules: [{ capabilityId: "nec.dds.backup", value: true }, { capabilityId: "nec.dds.intervalMinutes", value: 15 }, { capabilityId: "nec.dds.generations", value: 3 }] }) { ... on CreateStoragePolicyPayload { storagePolicy { id } } } }`,
    );
    const vm = (await minuteApp.query(
      `mutation($p: ID!) { createVirtualMachine(input: { name: "dds-scheduled", policyId: $p, disks: [{ sizeBytes: ${GiB} }] }) { ... on CreateVirtualMachinePayload { virtualMachine { id } } } }`,
      { p: created.createStoragePolicy.storagePolicy.id },
    )).createVirtualMachine.virtualMachine;
    const list = async () => (await minuteApp.query(`query($id: ID!) { node(id: $id) { ... on VirtualMachine { backups { number state time } } } }`, { id: vm.id })).node.backups;
    await minuteApp.query(`mutation { advanceSimulation(input: { seconds: 3600 }) { __typename } }`);
    const generations = await list();
    // At 60 s, then every 15 minutes: 60, 960, 1860, 2760; the newest three kept.
    expect(generations.map((g: any) => [g.number, g.time, g.state])).toEqual([
      [4, 2760, 'AVAILABLE'], [3, 1860, 'AVAILABLE'], [2, 960, 'AVAILABLE'], [1, 60, 'PRUNED'],
    ]);

    await minuteApp.query(`mutation($vm: ID!, $p: ID!) { applyStoragePolicy(input: { targetId: $vm, policyId: $p }) { __typename } }`, { vm: vm.id, p: basics.policies.BRONZE });
    await minuteApp.query(`mutation { advanceSimulation(input: { seconds: 3600 }) { __typename } }`);
    expect((await list()).length).toBe(4);
  });
});
