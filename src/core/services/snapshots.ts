import { and, eq, isNull } from 'drizzle-orm';
import { anyOf } from '../db/client.ts';
import type { Core } from '../core.ts';
import { snapshots, virtualDisks, virtualVolumes } from '../db/tables.ts';
import { NotFoundError, ValidationError } from '../errors.ts';
import type { SnapshotRow, VirtualMachineRow } from '../plugin.ts';
import type { TaskRow } from '../tasks.ts';
import type { UnitOfWork } from '../unit-of-work.ts';
import { assertNotBeingFilled, deleteVvols, findVm, isReserved } from './vms.ts';

export interface SnapshotInput {
  vmId: string;
  name: string;
  description?: string | null;
  withMemory?: boolean | null;
}

/**
 * VASA's prepareToSnapshot + snapshotVirtualVolume as one operation: every DATA VVOL of the VM gets a
 * SNAPSHOT VVOL sharing its extents at the same instant (one transaction), so the set is consistent.
 */
export async function snapshotVm(core: Core, work: UnitOfWork, input: SnapshotInput): Promise<SnapshotRow> {
  const vm = await findVm(work.tx, input.vmId, 'input.vmId', true);
  await assertNotBeingFilled(work, vm);
  const withMemory = Boolean(input.withMemory);
  if (withMemory && vm.powerState !== 'POWERED_ON') {
    throw new ValidationError('input.withMemory', `VM ${vm.name} is ${vm.powerState}: only a running VM has memory to snapshot`);
  }
  const [snapshot] = await work.tx.insert(snapshots).values({ vmId: vm.id, name: input.name, description: input.description ?? '', withMemory }).returning();
  const disks = await work.tx.select().from(virtualVolumes).where(and(eq(virtualVolumes.vmId, vm.id), eq(virtualVolumes.type, 'DATA'), isNull(virtualVolumes.snapshotId)));
  const copies = disks.length === 0 ? [] : await work.tx
    .insert(virtualVolumes)
    .values(disks.map((d) => ({ vmId: vm.id, containerId: d.containerId, policyId: d.policyId, type: 'DATA' as const, provisionedBytes: d.provisionedBytes, origin: 'SNAPSHOT' as const, parentId: d.id, snapshotId: snapshot.id, policyState: d.policyState, policyGeneration: d.policyGeneration, metadata: { ...d.metadata, 'VMW_SnapshotName': input.name } })))
    .returning();
  for (const copy of copies) await core.extents.copyMap(work.tx, copy.parentId!, copy.id);
  if (withMemory) {
    const [memory] = await work.tx
      .insert(virtualVolumes)
      .values({ vmId: vm.id, containerId: vm.containerId, policyId: vm.policyId, type: 'MEMORY', provisionedBytes: vm.memoryBytes, snapshotId: snapshot.id, policyState: 'APPLIED', metadata: { 'VMW_VmID': vm.id, 'VMW_SnapshotName': input.name } })
      .returning();
    // The memory image is written in full when it is saved.
    await core.extents.write(work.tx, [{ vvolId: memory.id, indexes: Array.from({ length: core.extents.extentCount(memory.provisionedBytes) }, (_, i) => i) }]);
    copies.push(memory);
  }
  // Announced as every other new VVOL is: they are deleted with the snapshot through the same path (vvolDeleted).
  for (const copy of copies) {
    work.emit({ kind: 'vvol.created', entityType: 'VirtualVolume', entityId: copy.id, message: `${copy.type} VVOL created for snapshot ${snapshot.name}`, data: { vmId: vm.id, snapshotId: snapshot.id, parentId: copy.parentId } });
    await core.lifecycle(work, 'vvolCreated', copy);
  }
  work.emit({ kind: 'snapshot.created', entityType: 'Snapshot', entityId: snapshot.id, message: `Snapshot ${snapshot.name} of VM ${vm.name} taken`, data: { vmId: vm.id, vvols: copies.length } });
  await core.lifecycle(work, 'snapshotTaken', snapshot, copies);
  return snapshot;
}

export async function findSnapshot(work: UnitOfWork, id: string, field: string): Promise<SnapshotRow> {
  const [snapshot] = await work.tx.select().from(snapshots).where(eq(snapshots.id, id)).for('update');
  if (!snapshot) throw new NotFoundError(field, id, `No snapshot with id "${id}"`);
  return snapshot;
}

/**
 * Each disk takes back the snapshot's extent map. It is a metadata operation on the array (the
 * snapshot's extents are shared, not copied), so its task is done when the transaction commits.
 */
export async function revertVm(core: Core, work: UnitOfWork, vmId: string, snapshotId: string): Promise<{ vm: VirtualMachineRow; task: TaskRow }> {
  const vm = await findVm(work.tx, vmId, 'input.vmId', true);
  await assertNotBeingFilled(work, vm);
  const snapshot = await findSnapshot(work, snapshotId, 'input.snapshotId');
  if (snapshot.vmId !== vm.id) throw new ValidationError('input.snapshotId', `Snapshot ${snapshot.name} belongs to another VM, not ${vm.name}`);
  // Only the disks the VM still has and may write: a disk taken with the snapshot may since have left it (an
  // attached RV detached, perhaps attached to another VM) or be read-only (an RV attached RO), and a revert of
  // this VM must not change another VM's disk or a replica's data.
  const held = await work.tx
    .select({ copy: virtualVolumes })
    .from(virtualVolumes)
    .innerJoin(virtualDisks, and(eq(virtualDisks.vvolId, virtualVolumes.parentId), eq(virtualDisks.vmId, vm.id), eq(virtualDisks.readOnly, false)))
    .where(and(eq(virtualVolumes.snapshotId, snapshot.id), eq(virtualVolumes.type, 'DATA')));
  let bytes = 0;
  for (const { copy } of held) {
    await core.extents.copyMap(work.tx, copy.id, copy.parentId!);
    bytes += copy.allocatedBytes;
  }
  await core.lifecycle(work, 'vmReverted', vm, snapshot);
  const task = await core.tasks.finishedAtOnce(work, { kind: 'REVERT', targetType: 'VirtualMachine', targetId: vm.id, bytesTotal: bytes, params: { snapshotId } });
  work.emit({ kind: 'vm.reverted', entityType: 'VirtualMachine', entityId: vm.id, message: `VM ${vm.name} reverted to snapshot ${snapshot.name}`, data: { snapshotId } });
  return { vm, task };
}

export async function deleteSnapshot(core: Core, work: UnitOfWork, id: string): Promise<SnapshotRow> {
  const snapshot = await findSnapshot(work, id, 'input.snapshotId');
  const held = await work.tx.select().from(virtualVolumes).where(eq(virtualVolumes.snapshotId, id));
  await deleteVvols(core, work, held, isReserved);
  await work.tx.delete(snapshots).where(anyOf(snapshots.id, [id]));
  work.emit({ kind: 'snapshot.deleted', entityType: 'Snapshot', entityId: id, message: `Snapshot ${snapshot.name} deleted`, data: { vmId: snapshot.vmId } });
  return snapshot;
}
