import { eq } from 'drizzle-orm';
import type { Core } from '../core.ts';
import { virtualDisks, virtualMachines, virtualVolumes } from '../db/tables.ts';
import { ValidationError } from '../errors.ts';
import type { VirtualMachineRow } from '../plugin.ts';
import type { TaskRow } from '../tasks.ts';
import type { UnitOfWork } from '../unit-of-work.ts';
import { findPolicy } from './policies.ts';
import { assertNotBeingFilled, deleteVvols, findVm, isReserved, liveVvols } from './vms.ts';

/** How fast an array copies extents between its own volumes (a FULL clone). */
export const INTERNAL_COPY_BYTES_PER_SECOND = 1024 ** 3;

export interface CloneInput {
  vmId: string;
  name: string;
  mode: 'FULL' | 'FAST';
  containerId?: string | null;
  policyId?: string | null;
}

/**
 * A clone is a point-in-time copy of the source as of this transaction. FAST shares the extents (VASA
 * fastClone) and is done at once. FULL has the array copy every extent at its internal bandwidth (the
 * extent copier, frozen now); the clone cannot power on until that is done.
 */
export async function cloneVm(core: Core, work: UnitOfWork, input: CloneInput): Promise<{ vm: VirtualMachineRow; task: TaskRow }> {
  const source = await findVm(work.tx, input.vmId, 'input.vmId');
  await assertNotBeingFilled(work, source);
  const policyId = input.policyId ?? source.policyId;
  if (input.policyId) await findPolicy(work.tx, input.policyId, 'input.policyId');
  if (input.mode === 'FAST' && input.containerId && input.containerId !== source.containerId) {
    throw new ValidationError('input.containerId', 'A FAST clone shares the source\'s extents, so it stays in the source\'s container');
  }
  const sourceVvols = (await liveVvols(work.tx, source.id)).filter((v) => v.type === 'CONFIG' || v.type === 'DATA');
  const unitOf = new Map((await work.tx.select().from(virtualDisks).where(eq(virtualDisks.vmId, source.id))).map((d) => [d.vvolId, d.unitNumber]));
  const origin = input.mode === 'FAST' ? 'FAST_CLONE' : 'CLONE';
  const { vm, vvols: clones, container } = await core.volumes.createVm(work, {
    name: input.name,
    host: source.host,
    memoryBytes: source.memoryBytes,
    policyId,
    containerId: input.mode === 'FAST' ? source.containerId : input.containerId ?? null,
    field: 'input.containerId',
    volumes: sourceVvols.map((v) => ({
      type: v.type as 'CONFIG' | 'DATA',
      provisionedBytes: v.provisionedBytes,
      unitNumber: unitOf.get(v.id) ?? null,
      policyId: v.policyId === source.policyId ? policyId : v.policyId,
      origin,
      parentId: v.id,
      // The core's own keys say what a volume is (vvolgraph.replicaOf: an RV attached to the source); a clone is a disk of its own.
      metadata: Object.fromEntries(Object.entries(v.metadata).filter(([key]) => !key.startsWith('vvolgraph.'))),
    })),
  });
  if (input.mode === 'FAST') for (const [i, clone] of clones.entries()) await core.extents.copyMap(work.tx, sourceVvols[i].id, clone.id);
  const spec = { kind: 'CLONE', targetType: 'VirtualMachine', targetId: vm.id, params: { mode: input.mode, sourceVmId: source.id } };
  const task = input.mode === 'FAST'
    ? await core.tasks.finishedAtOnce(work, { ...spec, bytesTotal: sourceVvols.reduce((sum, v) => sum + v.allocatedBytes, 0) })
    : (await core.tasks.startCopies(
        work,
        { ...spec, cancelable: true },
        sourceVvols.map((v, i) => ({ sourceVvolId: v.id, targetVvolId: clones[i].id, range: 'FULL', link: `internal:${container.arrayId}`, bytesPerSecond: INTERNAL_COPY_BYTES_PER_SECOND })),
      )).task;
  work.emit({ kind: 'vm.cloned', entityType: 'VirtualMachine', entityId: vm.id, message: `VM ${vm.name} is a ${input.mode} clone of ${source.name}`, data: { sourceVmId: source.id, mode: input.mode } });
  await core.lifecycle(work, 'cloned', { source, target: vm, mode: input.mode });
  return { vm, task };
}

/** The core's own tasks: a FULL clone cancelled, or failed (its source deleted mid-copy), is removed with the capacity it reserved. */
export async function coreTaskFinished(core: Core, work: UnitOfWork, task: TaskRow): Promise<void> {
  if (task.kind !== 'CLONE' || task.state === 'SUCCEEDED') return;
  const vvols = await work.tx.select().from(virtualVolumes).where(eq(virtualVolumes.vmId, task.targetId));
  await deleteVvols(core, work, vvols, isReserved);
  const [vm] = await work.tx.delete(virtualMachines).where(eq(virtualMachines.id, task.targetId)).returning();
  if (vm) work.emit({ kind: 'vm.deleted', entityType: 'VirtualMachine', entityId: vm.id, message: `VM ${vm.name} deleted: its FULL clone task ${task.state === 'CANCELLED' ? 'was cancelled' : 'failed'}` });
}
