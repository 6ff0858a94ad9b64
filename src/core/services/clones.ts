import { and, asc, eq, gte } from 'drizzle-orm';
import type { Core } from '../core.ts';
import { extents, virtualDisks, virtualMachines, virtualVolumes } from '../db/tables.ts';
import { ValidationError } from '../errors.ts';
import type { VirtualMachineRow } from '../plugin.ts';
import { activeTasks, createTask, updateTask, type TaskRow } from '../tasks.ts';
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

interface CloneProgress {
  mode: 'FULL' | 'FAST';
  sourceVmId: string;
  /** The clone's VVOLs in copy order, and where the copy has got to. */
  vvolIds: string[];
  cursor: { vvol: number; index: number };
  credit?: number;
}

/**
 * A clone is a point-in-time copy: the clone's extent map is taken from the source in this
 * transaction. FAST shares the extents (VASA fastClone) and is done at once. FULL then has the array
 * copy every extent at its internal copy bandwidth; the clone cannot power on until that is done.
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
    await core.extents.copyMap(work.tx, sourceVvols[i].id, clone.id);
    work.emit({ kind: 'vvol.created', entityType: 'VirtualVolume', entityId: clone.id, message: `${clone.type} VVOL created as a ${origin} of ${sourceVvols[i].id}`, data: { vmId: vm.id, parentId: sourceVvols[i].id } });
    await core.lifecycle(work, 'vvolCreated', clone);
  }
  const sourceDisks = await work.tx.select().from(virtualDisks).where(eq(virtualDisks.vmId, source.id));
  const cloneOf = new Map(sourceVvols.map((v, i) => [v.id, clones[i].id]));
  if (sourceDisks.length > 0) {
    await work.tx.insert(virtualDisks).values(sourceDisks.map((d) => ({ vmId: vm.id, unitNumber: d.unitNumber, vvolId: cloneOf.get(d.vvolId)! })));
  }
  const bytesTotal = sourceVvols.reduce((sum, v) => sum + v.allocatedBytes, 0);
  const progress: CloneProgress = { mode: input.mode, sourceVmId: source.id, vvolIds: clones.map((c) => c.id), cursor: { vvol: 0, index: 0 } };
  const task = await createTask(
    work,
    { kind: 'CLONE', targetType: 'VirtualMachine', targetId: vm.id, bytesTotal, cancelable: input.mode === 'FULL', params: { ...progress } },
    input.mode === 'FAST' ? 'SUCCEEDED' : 'QUEUED',
  );
  work.emit({ kind: 'vm.cloned', entityType: 'VirtualMachine', entityId: vm.id, message: `VM ${vm.name} is a ${input.mode} clone of ${source.name}`, data: { sourceVmId: source.id, mode: input.mode } });
  await core.lifecycle(work, 'cloned', { source, target: vm, mode: input.mode });
  return { vm, task };
}

/**
 * One engine tick of every FULL clone: copy extents in index order while the bandwidth lasts.
 * Bandwidth a tick could not spend on a whole extent carries over, so short ticks still progress.
 */
export async function stepClones(core: Core, work: UnitOfWork, seconds: number): Promise<void> {
  for (const task of await activeTasks(work.tx, ['CLONE'])) {
    const progress = task.params as unknown as CloneProgress;
    if (task.cancelRequested) {
      const vvols = await work.tx.select().from(virtualVolumes).where(eq(virtualVolumes.vmId, task.targetId));
      await deleteVvols(core, work, vvols, isReserved);
      await work.tx.delete(virtualMachines).where(eq(virtualMachines.id, task.targetId));
      await updateTask(work, task.id, { state: 'CANCELLED', finishedAt: new Date(), bytesPerSecond: 0 });
      continue;
    }
    let budget = (progress.credit ?? 0) + INTERNAL_COPY_BYTES_PER_SECOND * seconds;
    let copied = 0;
    const cursor = { ...progress.cursor };
    copy: while (cursor.vvol < progress.vvolIds.length) {
      const vvolId = progress.vvolIds[cursor.vvol];
      const [vvol] = await work.tx.select({ provisionedBytes: virtualVolumes.provisionedBytes }).from(virtualVolumes).where(eq(virtualVolumes.id, vvolId));
      const limit = Math.max(1, Math.ceil(budget / core.extents.extentBytes));
      const batch = await work.tx
        .select({ index: extents.index })
        .from(extents)
        .where(and(eq(extents.vvolId, vvolId), gte(extents.index, cursor.index)))
        .orderBy(asc(extents.index))
        .limit(limit);
      for (const { index } of batch) {
        const bytes = Math.min(core.extents.extentBytes, vvol.provisionedBytes - index * core.extents.extentBytes);
        if (bytes > budget) break copy;
        budget -= bytes;
        copied += bytes;
        cursor.index = index + 1;
      }
      if (batch.length < limit) cursor.vvol += 1, (cursor.index = 0);
    }
    const done = cursor.vvol >= progress.vvolIds.length;
    await updateTask(work, task.id, {
      state: done ? 'SUCCEEDED' : 'RUNNING',
      startedAt: task.startedAt ?? new Date(),
      finishedAt: done ? new Date() : null,
      bytesDone: done ? task.bytesTotal : task.bytesDone + copied,
      bytesPerSecond: done ? 0 : Math.round(copied / seconds),
      params: { ...progress, cursor, credit: done ? 0 : budget },
    });
  }
}
