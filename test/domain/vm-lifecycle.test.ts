import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GiB, seedBasics, startApp, type TestApp } from '../helpers/app.ts';

let app: TestApp;
let ids: Awaited<ReturnType<typeof seedBasics>>;

const VM_FIELDS = `id name powerState storageContainer { name array { name } }
  virtualVolumes { id vasaId type bindState provisionedBytes allocatedBytes uniqueBytes contentDigest origin policyState policyGeneration
    protocolEndpoint { name array { name } } storagePolicy { name } }`;

async function createVm(name: string, policy: string, disks: number[], extra: Record<string, unknown> = {}) {
  const data = await app.query(
    `mutation($input: CreateVirtualMachineInput!) { createVirtualMachine(input: $input) {
      __typename ... on CreateVirtualMachinePayload { virtualMachine { ${VM_FIELDS} } } ... on UserError { message } } }`,
    { input: { name, policyId: ids.policies[policy], disks: disks.map((gib) => ({ sizeBytes: gib * GiB })), ...extra } },
    'vmAdmin',
  );
  expect(data.createVirtualMachine.__typename, data.createVirtualMachine.message).toBe('CreateVirtualMachinePayload');
  return data.createVirtualMachine.virtualMachine;
}

async function vm(id: string) {
  return (await app.query(`query($id: ID!) { node(id: $id) { ... on VirtualMachine { ${VM_FIELDS} } } }`, { id })).node;
}

async function containerUsed(name: string): Promise<number> {
  const data = await app.query(`{ storageContainers(first: 10) { edges { node { name usedBytes } } } }`);
  return data.storageContainers.edges.find((e: any) => e.node.name === name).node.usedBytes;
}

/** Writes through the core's write path (the engine's workload will use the same one). */
async function write(vvolId: string, indexes: number[]) {
  await app.core.transact((work) => app.core.extents.write(work.tx, [{ vvolId, indexes }]));
}

beforeAll(async () => {
  app = await startApp();
  ids = await seedBasics(app);
});
afterAll(() => app?.close());

describe('createVirtualMachine', () => {
  it('places a GOLD VM on the only container that offers all of GOLD, with CONFIG and one DATA VVOL per disk, reserving capacity', async () => {
    const before = await containerUsed('tokyo-gold');
    const created = await createVm('gold-1', 'GOLD', [40, 60]);
    expect(created.storageContainer.name).toBe('tokyo-gold');
    expect(created.powerState).toBe('POWERED_OFF');
    expect(created.virtualVolumes.map((v: any) => v.type)).toEqual(['CONFIG', 'DATA', 'DATA']);
    expect(created.virtualVolumes.map((v: any) => v.provisionedBytes)).toEqual([4 * GiB, 40 * GiB, 60 * GiB]);
    expect(created.virtualVolumes.every((v: any) => v.bindState === 'UNBOUND' && v.origin === 'RAW' && v.storagePolicy.name === 'GOLD')).toBe(true);
    // As much again for GOLD's local replica of each volume (nec.ddr), in the same container, once reconciled.
    await app.settle();
    expect(await containerUsed('tokyo-gold')).toBe(before + 2 * 104 * GiB);
  });

  it('puts each VVOL under its policy through reconciliation: PENDING, IN_PROGRESS while GOLD\'s replicas make their first copy, then APPLIED at the policy generation', async () => {
    const created = await createVm('gold-2', 'GOLD', [10]);
    await app.settle();
    // The CONFIG VVOL holds data, so its local replica (nec.ddr) has a first copy to make; the empty disk's has none.
    expect((await vm(created.id)).virtualVolumes.map((v: any) => [v.type, v.policyState])).toEqual([['CONFIG', 'IN_PROGRESS'], ['DATA', 'APPLIED']]);
    await app.query(`mutation { advanceSimulation(input: { seconds: 1 }) { __typename } }`);
    await app.settle();
    const after = await vm(created.id);
    expect(after.virtualVolumes.map((v: any) => [v.policyState, v.policyGeneration])).toEqual([['APPLIED', 1], ['APPLIED', 1]]);
    const { events } = await app.query(`{ events(first: 1000, kinds: ["vvol.created", "vvol.policyInProgress", "vvol.policyApplied"]) { id kind entityId data } }`);
    const kinds = (vvol: any) => events.filter((e: any) => e.entityId === vvol.vasaId).map((e: any) => e.kind);
    expect(kinds(after.virtualVolumes[0])).toEqual(['vvol.created', 'vvol.policyInProgress', 'vvol.policyApplied']);
    expect(kinds(after.virtualVolumes[1])).toEqual(['vvol.created', 'vvol.policyApplied']);
    for (const vvol of after.virtualVolumes) expect(events.filter((e: any) => e.entityId === vvol.vasaId).at(-1).data.generation).toBe(1);
  });

  it('lists a VM\'s VVOLs as CONFIG, then DATA in disk order, however their rows change: the volumes of one VM share a creation time', async () => {
    const created = await createVm('vm-order', 'BRONZE', [5, 4, 3, 2, 1]);
    expect(created.virtualVolumes.map((v: any) => [v.type, v.provisionedBytes / GiB])).toEqual([['CONFIG', 4], ['DATA', 5], ['DATA', 4], ['DATA', 3], ['DATA', 2], ['DATA', 1]]);
    for (const vvol of [...created.virtualVolumes].reverse()) await write(Buffer.from(vvol.id, 'base64').toString().split(':')[1], [0, 1]);
    expect((await vm(created.id)).virtualVolumes.map((v: any) => v.id)).toEqual(created.virtualVolumes.map((v: any) => v.id));
  });

  it('names each VVOL\'s file after its own VM in VMW_VVolName (the .vmx, a disk per unit number), a hot-added disk\'s and a clone\'s too', async () => {
    const names = async (id: string) =>
      (await app.query(`query($id: ID!) { node(id: $id) { ... on VirtualMachine { virtualVolumes { type metadata { key value } } } } }`, { id })).node.virtualVolumes
        .map((v: any) => [v.type, v.metadata.find((m: any) => m.key === 'VMW_VVolName')?.value ?? null]);
    const created = await createVm('named', 'BRONZE', [1, 1]);
    await app.query(`mutation($vmId: ID!) { addVirtualDisk(input: { vmId: $vmId, sizeBytes: ${GiB} }) { __typename } }`, { vmId: created.id });
    expect(await names(created.id)).toEqual([['CONFIG', 'named.vmx'], ['DATA', 'named_0.vmdk'], ['DATA', 'named_1.vmdk'], ['DATA', 'named_2.vmdk']]);
    const cloned = await app.query(`mutation($vmId: ID!) { cloneVirtualMachine(input: { vmId: $vmId, name: "named-copy", mode: FAST }) { ... on CloneVirtualMachinePayload { virtualMachine { id } } } }`, { vmId: created.id });
    expect(await names(cloned.cloneVirtualMachine.virtualMachine.id)).toEqual([['CONFIG', 'named-copy.vmx'], ['DATA', 'named-copy_0.vmdk'], ['DATA', 'named-copy_1.vmdk'], ['DATA', 'named-copy_2.vmdk']]);
  });

  it('uses the given container when it passes every check', async () => {
    const created = await createVm('silver-osaka', 'SILVER', [100], { containerId: ids.containers['osaka-bulk'] });
    expect(created.storageContainer.name).toBe('osaka-bulk');
  });
});

describe('power', () => {
  it('power-on creates the SWAP VVOL and binds every VVOL to a protocol endpoint of the VM\'s array; power-off undoes both', async () => {
    const created = await createVm('power-1', 'BRONZE', [20], { memoryBytes: 8 * GiB });
    const container = created.storageContainer.name;
    const used = await containerUsed(container);
    const on = await app.query(`mutation($id: ID!) { powerOnVirtualMachine(input: { id: $id }) { ... on PowerOnVirtualMachinePayload { virtualMachine { ${VM_FIELDS} } } } }`, { id: created.id }, 'vmAdmin');
    const running = on.powerOnVirtualMachine.virtualMachine;
    expect(running.powerState).toBe('POWERED_ON');
    expect(running.virtualVolumes.map((v: any) => v.type).sort()).toEqual(['CONFIG', 'DATA', 'SWAP']);
    const swap = running.virtualVolumes.find((v: any) => v.type === 'SWAP');
    expect(swap.provisionedBytes).toBe(8 * GiB);
    for (const v of running.virtualVolumes) {
      expect(v.bindState).toBe('BOUND');
      expect(v.protocolEndpoint.array.name).toBe(created.storageContainer.array.name);
    }
    expect(await containerUsed(container)).toBe(used + 8 * GiB);

    const off = await app.query(`mutation($id: ID!) { powerOffVirtualMachine(input: { id: $id }) { ... on PowerOffVirtualMachinePayload { virtualMachine { ${VM_FIELDS} } } } }`, { id: created.id }, 'vmAdmin');
    const stopped = off.powerOffVirtualMachine.virtualMachine;
    expect(stopped.powerState).toBe('POWERED_OFF');
    expect(stopped.virtualVolumes.map((v: any) => v.type)).toEqual(['CONFIG', 'DATA']);
    expect(stopped.virtualVolumes.every((v: any) => v.bindState === 'UNBOUND' && v.protocolEndpoint === null)).toBe(true);
    expect(await containerUsed(container)).toBe(used);
    const events = await app.query(`{ events(first: 1000, kinds: ["vvol.bound", "vvol.unbound"]) { kind entityId } }`);
    expect(events.events.filter((e: any) => e.kind === 'vvol.bound' && running.virtualVolumes.some((v: any) => v.vasaId === e.entityId))).toHaveLength(3);
  });

  it('a disk added to a running VM is bound at once; growing it reserves the difference', async () => {
    const created = await createVm('disk-1', 'BRONZE', [10]);
    await app.query(`mutation($id: ID!) { powerOnVirtualMachine(input: { id: $id }) { __typename } }`, { id: created.id });
    const added = await app.query(
      `mutation($vmId: ID!) { addVirtualDisk(input: { vmId: $vmId, sizeBytes: ${5 * GiB} }) { ... on AddVirtualDiskPayload { virtualVolume { id type bindState } virtualMachine { disks { unitNumber } } } } }`,
      { vmId: created.id },
    );
    expect(added.addVirtualDisk.virtualVolume).toMatchObject({ type: 'DATA', bindState: 'BOUND' });
    expect(added.addVirtualDisk.virtualMachine.disks.map((d: any) => d.unitNumber)).toEqual([0, 1]);
    const used = await containerUsed(created.storageContainer.name);
    const grown = await app.query(
      `mutation($id: ID!) { resizeVirtualVolume(input: { id: $id, sizeBytes: ${8 * GiB} }) { ... on ResizeVirtualVolumePayload { virtualVolume { provisionedBytes } } } }`,
      { id: added.addVirtualDisk.virtualVolume.id },
    );
    expect(grown.resizeVirtualVolume.virtualVolume.provisionedBytes).toBe(8 * GiB);
    expect(await containerUsed(created.storageContainer.name)).toBe(used + 3 * GiB);
  });

  it('deleting a VM releases all its capacity', async () => {
    const used = await containerUsed('tokyo-gold');
    const created = await createVm('doomed', 'GOLD', [30]);
    const result = await app.query(`mutation($id: ID!) { deleteVirtualMachine(input: { id: $id }) { ... on DeleteVirtualMachinePayload { deletedId } } }`, { id: created.id });
    expect(result.deleteVirtualMachine.deletedId).toBe(created.id);
    expect(await containerUsed('tokyo-gold')).toBe(used);
    expect((await app.query(`query($id: ID!) { node(id: $id) { id } }`, { id: created.id })).node).toBeNull();
  });
});

describe('snapshots', () => {
  it('a snapshot keeps the disks\' content; revert brings it back exactly', async () => {
    const created = await createVm('snap-1', 'BRONZE', [1, 1]);
    const disks = created.virtualVolumes.filter((v: any) => v.type === 'DATA');
    await write(disks[0].vasaId, [0, 1, 2]);
    await write(disks[1].vasaId, [5]);
    const before = (await vm(created.id)).virtualVolumes.filter((v: any) => v.type === 'DATA').map((v: any) => v.contentDigest);

    const snap = await app.query(
      `mutation($vmId: ID!) { snapshotVirtualMachine(input: { vmId: $vmId, name: "s1" }) { ... on SnapshotVirtualMachinePayload { snapshot { id virtualVolumes { type origin contentDigest uniqueBytes parent { vasaId } } } } } }`,
      { vmId: created.id },
    );
    const snapshot = snap.snapshotVirtualMachine.snapshot;
    expect(snapshot.virtualVolumes.map((v: any) => v.origin)).toEqual(['SNAPSHOT', 'SNAPSHOT']);
    expect(snapshot.virtualVolumes.map((v: any) => v.contentDigest).sort()).toEqual([...before].sort());
    expect(snapshot.virtualVolumes.every((v: any) => v.uniqueBytes === 0)).toBe(true);

    await write(disks[0].vasaId, [1, 7]);
    const changed = (await vm(created.id)).virtualVolumes.find((v: any) => v.vasaId === disks[0].vasaId);
    expect(changed.contentDigest).not.toBe(before[0]);
    const held = await app.query(`query($id: ID!) { node(id: $id) { ... on Snapshot { virtualVolumes { uniqueBytes parent { vasaId } } } } }`, { id: snapshot.id });
    // The snapshot now alone holds the old extent 1 (extent 7 was never written before).
    expect(held.node.virtualVolumes.find((v: any) => v.parent.vasaId === disks[0].vasaId).uniqueBytes).toBe(32 * 1024 * 1024);

    const reverted = await app.query(
      `mutation($vmId: ID!, $snapshotId: ID!) { revertVirtualMachine(input: { vmId: $vmId, snapshotId: $snapshotId }) { ... on RevertVirtualMachinePayload { task { kind state progress } virtualMachine { id } } } }`,
      { vmId: created.id, snapshotId: snapshot.id },
    );
    expect(reverted.revertVirtualMachine.task).toEqual({ kind: 'REVERT', state: 'SUCCEEDED', progress: 1 });
    const after = (await vm(created.id)).virtualVolumes.filter((v: any) => v.type === 'DATA').map((v: any) => v.contentDigest);
    expect(after).toEqual(before);

    const deleted = await app.query(`mutation($id: ID!) { deleteSnapshot(input: { snapshotId: $id }) { ... on DeleteSnapshotPayload { deletedId } } }`, { id: snapshot.id });
    expect(deleted.deleteSnapshot.deletedId).toBe(snapshot.id);
    expect((await app.query(`query($id: ID!) { node(id: $id) { id } }`, { id: snapshot.id })).node).toBeNull();
  });
});

describe('clones', () => {
  it('a FAST clone has the source\'s digests and no unique bytes; after writes to either side, uniqueBytes counts exactly the rewritten extents', async () => {
    const source = await createVm('fast-src', 'GOLD', [2]);
    const disk = source.virtualVolumes.find((v: any) => v.type === 'DATA');
    await write(disk.vasaId, [0, 1, 2, 3, 4]);
    const cloned = await app.query(
      `mutation($vmId: ID!) { cloneVirtualMachine(input: { vmId: $vmId, name: "fast-dst", mode: FAST }) { ... on CloneVirtualMachinePayload { task { kind state progress } virtualMachine { ${VM_FIELDS} } } } }`,
      { vmId: source.id },
    );
    const { task, virtualMachine: clone } = cloned.cloneVirtualMachine;
    expect(task).toMatchObject({ kind: 'CLONE', state: 'SUCCEEDED', progress: 1 });
    const src = await vm(source.id);
    expect(clone.virtualVolumes.map((v: any) => v.contentDigest)).toEqual(src.virtualVolumes.map((v: any) => v.contentDigest));
    expect(clone.virtualVolumes.every((v: any) => v.origin === 'FAST_CLONE' && v.uniqueBytes === 0)).toBe(true);
    expect(clone.storageContainer.name).toBe(source.storageContainer.name);

    const cloneDisk = clone.virtualVolumes.find((v: any) => v.type === 'DATA');
    await write(cloneDisk.vasaId, [1, 9]); // 1 rewritten, 9 new on the clone
    await write(disk.vasaId, [3]); // rewritten on the source: the clone alone keeps the old 3
    const after = await vm(clone.id);
    const afterDisk = after.virtualVolumes.find((v: any) => v.type === 'DATA');
    expect(afterDisk.contentDigest).not.toBe((await vm(source.id)).virtualVolumes.find((v: any) => v.type === 'DATA').contentDigest);
    expect(afterDisk.uniqueBytes).toBe(3 * 32 * 1024 * 1024);
    const unshared = await app.query(
      `query($id: ID!, $base: ID!) { node(id: $id) { ... on VirtualVolume { unsharedExtents(baseId: $base) { index } allocatedExtents { index } } } }`,
      { id: afterDisk.id, base: disk.id },
    );
    expect(unshared.node.unsharedExtents.map((e: any) => e.index)).toEqual([1, 3, 9]);
    expect(unshared.node.allocatedExtents.map((e: any) => e.index)).toEqual([0, 1, 2, 3, 4, 9]);
  });

  it('a FULL clone copies at the array\'s bandwidth as simulated time passes, then has the source\'s data', async () => {
    // The GOLD VMs of the tests above replicate (nec.ddr) over the same internal link: let them finish first.
    await app.query(`mutation { advanceSimulation(input: { seconds: 60 }) { __typename } }`);
    const source = await createVm('full-src', 'BRONZE', [8]);
    const disk = source.virtualVolumes.find((v: any) => v.type === 'DATA');
    await write(disk.vasaId, Array.from({ length: 256 }, (_, i) => i)); // 8 GiB written + 32 MiB of config
    const cloned = await app.query(
      `mutation($vmId: ID!) { cloneVirtualMachine(input: { vmId: $vmId, name: "full-dst", mode: FULL }) { ... on CloneVirtualMachinePayload { task { id state bytesTotal bytesDone cancelable } virtualMachine { id } } } }`,
      { vmId: source.id },
    );
    const { task, virtualMachine } = cloned.cloneVirtualMachine;
    expect(task).toMatchObject({ state: 'QUEUED', bytesDone: 0, cancelable: true, bytesTotal: 8 * GiB + 32 * 1024 * 1024 });

    const powerOn = await app.query(`mutation($id: ID!) { powerOnVirtualMachine(input: { id: $id }) { __typename ... on ConflictError { currentState } } }`, { id: virtualMachine.id });
    expect(powerOn.powerOnVirtualMachine).toEqual({ __typename: 'ConflictError', currentState: 'BUSY' });

    const taskQuery = `query($id: ID!) { node(id: $id) { ... on Task { state bytesDone bytesPerSecond etaSeconds progress } } }`;
    await app.query(`mutation { advanceSimulation(input: { seconds: 3 }) { __typename } }`);
    const running = (await app.query(taskQuery, { id: task.id })).node;
    expect(running.state).toBe('RUNNING');
    expect(running.bytesDone).toBe(3 * GiB);
    expect(running.bytesPerSecond).toBe(GiB);
    expect(running.etaSeconds).toBeCloseTo((task.bytesTotal - 3 * GiB) / GiB);

    await app.query(`mutation { advanceSimulation(input: { seconds: 10 }) { __typename } }`);
    const done = (await app.query(taskQuery, { id: task.id })).node;
    expect(done).toMatchObject({ state: 'SUCCEEDED', progress: 1, bytesDone: task.bytesTotal });
    const [src, dst] = [await vm(source.id), await vm(virtualMachine.id)];
    expect(dst.virtualVolumes.map((v: any) => v.contentDigest)).toEqual(src.virtualVolumes.map((v: any) => v.contentDigest));
    expect(dst.virtualVolumes.every((v: any) => v.origin === 'CLONE' && v.uniqueBytes === v.allocatedBytes)).toBe(true);
  });

  /** A FULL clone, in the source's container, of a new VM with a 4 GiB disk written whole: 4 s of copying. */
  async function fullCloneOfWrittenVm(name: string) {
    const source = await createVm(`${name}-src`, 'BRONZE', [4]);
    await write(source.virtualVolumes.find((v: any) => v.type === 'DATA').vasaId, Array.from({ length: 128 }, (_, i) => i));
    const container = source.storageContainer.name;
    const used = await containerUsed(container);
    const cloned = await app.query(
      `mutation($vmId: ID!) { cloneVirtualMachine(input: { vmId: $vmId, name: "${name}-dst", mode: FULL, containerId: "${ids.containers[container]}" }) { ... on CloneVirtualMachinePayload { task { id } virtualMachine { id } } } }`,
      { vmId: source.id },
    );
    const { task, virtualMachine } = cloned.cloneVirtualMachine;
    return { source, container, used, task, virtualMachine };
  }

  it('cancelling a FULL clone stops it cleanly and releases the clone\'s capacity', async () => {
    const { container, used, task, virtualMachine } = await fullCloneOfWrittenVm('cancel');
    expect(await containerUsed(container)).toBe(used + 8 * GiB);
    await app.query(`mutation { advanceSimulation(input: { seconds: 1 }) { __typename } }`);
    const cancel = await app.query(`mutation($id: ID!) { cancelTask(input: { taskId: $id }) { ... on CancelTaskPayload { task { cancelRequested state } } } }`, { id: task.id }, 'vmAdmin');
    expect(cancel.cancelTask.task).toEqual({ cancelRequested: true, state: 'RUNNING' });
    await app.query(`mutation { advanceSimulation(input: { seconds: 1 }) { __typename } }`);
    const after = (await app.query(`query($id: ID!) { node(id: $id) { ... on Task { state bytesDone } } }`, { id: task.id })).node;
    expect(after.state).toBe('CANCELLED');
    expect(after.bytesDone).toBe(GiB);
    expect((await app.query(`query($id: ID!) { node(id: $id) { id } }`, { id: virtualMachine.id })).node).toBeNull();
    expect(await containerUsed(container)).toBe(used);
    const events = await app.query(`query { events(kinds: ["vm.*"], first: 1000) { kind entityId } }`);
    const cloneId = Buffer.from(virtualMachine.id, 'base64').toString().split(':')[1];
    expect(events.events.filter((e: any) => e.entityId === cloneId).map((e: any) => e.kind)).toEqual(['vm.cloned', 'vm.deleted']);
  });

  it('a FULL clone whose source, or which itself, is deleted mid-copy fails instead of succeeding half copied, and gives its space back', async () => {
    for (const deleted of ['source', 'clone'] as const) {
      const { source, container, used, task, virtualMachine } = await fullCloneOfWrittenVm(`vanish-${deleted}`);
      await app.query(`mutation { advanceSimulation(input: { seconds: 1 }) { __typename } }`);
      const deleteId = deleted === 'source' ? source.id : virtualMachine.id;
      const gone = await app.query(`mutation($id: ID!) { deleteVirtualMachine(input: { id: $id }) { __typename } }`, { id: deleteId }, 'vmAdmin');
      expect(gone.deleteVirtualMachine.__typename).toBe('DeleteVirtualMachinePayload');
      await app.query(`mutation { advanceSimulation(input: { seconds: 10 }) { __typename } }`);
      const after = (await app.query(`query($id: ID!) { node(id: $id) { ... on Task { state error bytesDone } } }`, { id: task.id })).node;
      expect(after, deleted).toMatchObject({ state: 'FAILED', error: expect.stringContaining('deleted'), bytesDone: GiB });
      expect((await app.query(`query($id: ID!) { node(id: $id) { id } }`, { id: virtualMachine.id })).node, deleted).toBeNull();
      expect(await containerUsed(container), deleted).toBe(used - (deleted === 'source' ? 8 * GiB : 0));
    }
  });
});
