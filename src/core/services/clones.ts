import { eq } from 'drizzle-orm';
import type { Core } from '../core.ts';
import { virtualDisks, virtualMachines, virtualVolumes } from '../db/tables.ts';
import { ValidationError } from '../errors.ts';
import type { VirtualMachineRow } from '../plugin.ts';
import type { TaskRow } from '../tasks.ts';
import type { UnitOfWork } from '../unit-of-work.ts';
import { findPolicy, rulesByPolicy } from './policies.ts';
import { chooseContainer, deleteVvols, findVm, isReserved, liveVvols, reserve } from './vms.ts';

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
  const policyId = input.policyId ?? source.policyId;
  if (input.policyId) await findPolicy(work.tx, input.policyId, 'input.policyId');
  if (input.mode === 'FAST' && input.containerId && input.containerId !== source.containerId) {
    throw new ValidationError('input.containerId', 'A FAST clone shares the source\'s extents, so it stays in the source\'s container');
  }
  const sourceVvols = (await liveVvols(work.tx, source.id)).filter((v) => v.type !== 'SWAP');
  const sizes = sourceVvols.map((v) => v.provisionedBytes);
  const rules = [...(await rulesByPolicy(work.tx, [policyId])).values()].flat();
  const container = await chooseContainer(
    core,
    work.tx,
    { rules, totalBytes: sizes.reduce((a, b) => a + b, 0), largestVvolBytes: Math.max(...sizes) },
    input.mode === 'FAST' ? source.containerId : input.containerId,
    'input.containerId',
  );
  await reserve(work, container.id, sizes.reduce((a, b) => a + b, 0));
  const [vm] = await work.tx
    .insert(virtualMachines)
    .values({ name: input.name, host: source.host, policyId, containerId: container.id, memoryBytes: source.memoryBytes })
    .returning();
  const origin = input.mode === 'FAST' ? 'FAST_CLONE' : 'CLONE';
  const clones = await work.tx
    .insert(virtualVolumes)
    .values(sourceVvols.map((v) => ({ vmId: vm.id, containerId: container.id, policyId: v.policyId === source.policyId ? policyId : v.policyId, type: v.type, provisionedBytes: v.provisionedBytes, origin, parentId: v.id, metadata: { ...v.metadata, 'VMW_VmID': vm.id } } as const)))
    .returning();
  for (const [i, clone] of clones.entries()) {
    if (input.mode === 'FAST') await core.extents.copyMap(work.tx, sourceVvols[i].id, clone.id);
    work.emit({ kind: 'vvol.created', entityType: 'VirtualVolume', entityId: clone.id, message: `${clone.type} VVOL created as a ${origin} of ${sourceVvols[i].id}`, data: { vmId: vm.id, parentId: sourceVvols[i].id } });
    await core.lifecycle(work, 'vvolCreated', clone);
  }
  const sourceDisks = await work.tx.select().from(virtualDisks).where(eq(virtualDisks.vmId, source.id));
  const cloneOf = new Map(sourceVvols.map((v, i) => [v.id, clones[i].id]));
  if (sourceDisks.length > 0) {
    await work.tx.insert(virtualDisks).values(sourceDisks.map((d) => ({ vmId: vm.id, unitNumber: d.unitNumber, vvolId: cloneOf.get(d.vvolId)! })));
  }
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

/** The core's own tasks: a cancelled FULL clone is removed, with the capacity it reserved. */
export async function coreTaskFinished(core: Core, work: UnitOfWork, task: TaskRow): Promise<void> {
  if (task.kind !== 'CLONE' || task.state !== 'CANCELLED') return;
  const vvols = await work.tx.select().from(virtualVolumes).where(eq(virtualVolumes.vmId, task.targetId));
  await deleteVvols(core, work, vvols, isReserved);
  await work.tx.delete(virtualMachines).where(eq(virtualMachines.id, task.targetId));
}
