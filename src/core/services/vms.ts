import { and, asc, eq, isNull, or, sql } from 'drizzle-orm';
import type { Core } from '../core.ts';
import { anyOf, type Executor } from '../db/client.ts';
import { protocolEndpoints, replicaPairs, snapshots, storageArrays, storageContainers, tasks, virtualDisks, virtualMachines, virtualVolumes } from '../db/tables.ts';
import { CapacityError, ConflictError, NotFoundError, ValidationError } from '../errors.ts';
import { isCopyOf, isKeptCopy, KEPT_BY, type StorageContainerRow, type VirtualMachineRow, type VirtualVolumeRow } from '../plugin.ts';
import type { UnitOfWork } from '../unit-of-work.ts';
import { checkContainer, placeAll, type PlacementRequest } from './placement.ts';
import { findPolicy, rulesByPolicy } from './policies.ts';

export const CONFIG_VVOL_BYTES = 4 * 1024 ** 3;
const DEFAULT_MEMORY_BYTES = 4 * 1024 ** 3;

export interface DiskInput {
  sizeBytes: number;
  policyId?: string | null;
}

export interface CreateVmInput {
  name: string;
  host?: string | null;
  policyId: string;
  containerId?: string | null;
  memoryBytes?: number | null;
  disks: DiskInput[];
}

type NewVvol = typeof virtualVolumes.$inferInsert;

const GiB = 1024 ** 3;

export async function findVm(db: Executor, id: string, field: string, lock = false): Promise<VirtualMachineRow> {
  const query = db.select().from(virtualMachines).where(eq(virtualMachines.id, id));
  const [vm] = lock ? await query.for('update') : await query;
  if (!vm) throw new NotFoundError(field, id, `No virtual machine with id "${id}"`);
  return vm;
}

export async function findVvol(db: Executor, id: string, field: string, lock = false): Promise<VirtualVolumeRow> {
  const query = db.select().from(virtualVolumes).where(eq(virtualVolumes.id, id));
  const [vvol] = lock ? await query.for('update') : await query;
  if (!vvol) throw new NotFoundError(field, id, `No virtual volume with id "${id}"`);
  return vvol;
}

/** The VM's own VVOLs (not the ones holding its snapshots). */
export function liveVvols(db: Executor, vmId: string): Promise<VirtualVolumeRow[]> {
  return liveVvolsOf(db, [vmId]);
}

/**
 * The own VVOLs of many VMs, each VM's in one order: by type (CONFIG, DATA, SWAP, ...), DATA by disk
 * unit, then by creation and id (a VM's volumes are made in one transaction and share a created_at).
 */
export async function liveVvolsOf(db: Executor, vmIds: readonly string[]): Promise<VirtualVolumeRow[]> {
  const rows = await db
    .select({ vvol: virtualVolumes })
    .from(virtualVolumes)
    .leftJoin(virtualDisks, and(eq(virtualDisks.vmId, virtualVolumes.vmId), eq(virtualDisks.vvolId, virtualVolumes.id)))
    .where(and(anyOf(virtualVolumes.vmId, vmIds), isNull(virtualVolumes.snapshotId)))
    .orderBy(asc(virtualVolumes.type), asc(virtualDisks.unitNumber), asc(virtualVolumes.createdAt), asc(virtualVolumes.id));
  return rows.map((row) => row.vvol);
}

/** Reserves bytes in a container atomically, or fails with the container's free space. */
export async function reserve(work: UnitOfWork, containerId: string, bytes: number): Promise<void> {
  const [container] = await work.tx
    .update(storageContainers)
    .set({ usedBytes: sql`${storageContainers.usedBytes} + ${bytes}` })
    .where(and(eq(storageContainers.id, containerId), sql`${storageContainers.usedBytes} + ${bytes} <= ${storageContainers.capacityBytes}`))
    .returning();
  if (!container) {
    const [current] = await work.tx.select().from(storageContainers).where(eq(storageContainers.id, containerId));
    throw new CapacityError(
      `Container ${current?.name ?? containerId} has ${((current ? current.capacityBytes - current.usedBytes : 0) / GiB).toFixed(1)} GiB free; ${(bytes / GiB).toFixed(1)} GiB needed`,
      bytes,
    );
  }
  await updateSpaceAlarm(work, container);
}

export async function release(work: UnitOfWork, containerId: string, bytes: number): Promise<void> {
  if (bytes === 0) return;
  const [container] = await work.tx
    .update(storageContainers)
    .set({ usedBytes: sql`greatest(0, ${storageContainers.usedBytes} - ${bytes})` })
    .where(eq(storageContainers.id, containerId))
    .returning();
  await updateSpaceAlarm(work, container);
}

/** SPACE_CAPACITY: yellow from 80 %, red from 95 % of a container's capacity. */
async function updateSpaceAlarm(work: UnitOfWork, container: StorageContainerRow): Promise<void> {
  const used = container.usedBytes / container.capacityBytes;
  const percent = `${(used * 100).toFixed(1)} %`;
  await work.setAlarm({
    kind: 'SPACE_CAPACITY',
    entityType: 'StorageContainer',
    entityId: container.id,
    status: used >= 0.95 ? 'RED' : used >= 0.8 ? 'YELLOW' : 'GREEN',
    message: used >= 0.8 ? `Container ${container.name} is ${percent} full` : `Container ${container.name} is back to ${percent}`,
  });
}

export async function insertVvols(core: Core, work: UnitOfWork, rows: NewVvol[]): Promise<VirtualVolumeRow[]> {
  if (rows.length === 0) return [];
  const vvols = await work.tx.insert(virtualVolumes).values(rows).returning();
  for (const vvol of vvols) {
    work.emit({
      kind: 'vvol.created', entityType: 'VirtualVolume', entityId: vvol.id,
      message: `${vvol.type} VVOL created${vvol.parentId ? ` as a ${vvol.origin} of ${vvol.parentId}` : ''}`,
      data: { vmId: vvol.vmId, provisionedBytes: vvol.provisionedBytes, parentId: vvol.parentId },
    });
    await core.lifecycle(work, 'vvolCreated', vvol);
  }
  return vvols;
}

export async function deleteVvols(core: Core, work: UnitOfWork, vvols: VirtualVolumeRow[], reserved: (v: VirtualVolumeRow) => boolean): Promise<void> {
  if (vvols.length === 0) return;
  const ids = vvols.map((v) => v.id);
  // Locked first: a policy reconciliation pairing them either finished (its replicas are seen and go
  // too) or skips them (it takes only rows no one holds).
  await work.tx.select({ id: virtualVolumes.id }).from(virtualVolumes).where(anyOf(virtualVolumes.id, ids)).for('update');
  await core.pairs.volumesDeleting(work, ids);
  // Fast clones and snapshots of these keep their data: they stop sharing, so all of it is theirs now.
  await work.tx.update(virtualVolumes).set({ parentId: null }).where(anyOf(virtualVolumes.parentId, ids));
  await work.tx.delete(virtualDisks).where(anyOf(virtualDisks.vvolId, ids));
  // Only what this call deleted: a policy's replica among them (say its RV, attached to the same VM) went
  // with its MV above, its capacity released and its deletion announced there.
  const deleted = new Set((await work.tx.delete(virtualVolumes).where(anyOf(virtualVolumes.id, ids)).returning({ id: virtualVolumes.id })).map((v) => v.id));
  core.extents.deleted(ids);
  const perContainer = new Map<string, number>();
  for (const vvol of vvols.filter((v) => deleted.has(v.id))) {
    if (reserved(vvol)) perContainer.set(vvol.containerId, (perContainer.get(vvol.containerId) ?? 0) + vvol.provisionedBytes);
    work.emit({ kind: 'vvol.deleted', entityType: 'VirtualVolume', entityId: vvol.id, message: `${vvol.type} VVOL deleted`, data: { vmId: vvol.vmId } });
    await core.lifecycle(work, 'vvolDeleted', vvol);
  }
  for (const [containerId, bytes] of perContainer) await release(work, containerId, bytes);
}

/** Snapshot VVOLs are thin (they hold only what the disk no longer shares): no reservation to release. */
export const isReserved = (vvol: VirtualVolumeRow) => vvol.snapshotId === null;

/**
 * The container a VM (or a clone) goes to: the one given, if it passes every check, else the best
 * compatible one. Either way a refusal lists each container with the checks it failed.
 */
export async function chooseContainer(core: Core, db: Executor, request: PlacementRequest, containerId: string | null | undefined, field: string): Promise<StorageContainerRow> {
  if (containerId) {
    const [row] = await db.select({ container: storageContainers, arrayRole: storageArrays.role }).from(storageContainers).innerJoin(storageArrays, eq(storageArrays.id, storageContainers.arrayId)).where(eq(storageContainers.id, containerId));
    if (!row) throw new NotFoundError(field, containerId, `No storage container with id "${containerId}"`);
    const { container } = row;
    const { checks } = checkContainer(core, container, request);
    // A BACKUP array holds DirectDataShadow's generations and has no protocol endpoint: a VM there could never run.
    if (row.arrayRole !== 'PRIMARY') checks.push({ capabilityId: 'arrayRole', pass: false, reason: `its array is a ${row.arrayRole} array; VMs go on PRIMARY arrays` });
    const failed = checks.filter((c) => !c.pass);
    if (failed.length > 0) {
      throw new CapacityError(`Container ${container.name} cannot hold this: ${failed.map((c) => c.reason).join('; ')}`, request.totalBytes, [
        { containerId: container.id, containerName: container.name, failedRules: failed },
      ]);
    }
    return container;
  }
  const placements = await placeAll(core, db, request);
  const best = placements.find((p) => p.compatible);
  if (!best) {
    throw new CapacityError(
      `No compatible storage container: ${placements.map((p) => `${p.container.name} (${p.checks.filter((c) => !c.pass).map((c) => c.reason).join('; ')})`).join(', ')}`,
      request.totalBytes,
      placements.map((p) => ({ containerId: p.container.id, containerName: p.container.name, failedRules: p.checks.filter((c) => !c.pass) })),
    );
  }
  return best.container;
}

export async function placementRequest(db: Executor, policyIds: string[], vvolSizes: number[]): Promise<PlacementRequest> {
  const rules = await rulesByPolicy(db, [...new Set(policyIds)]);
  const seen = new Set<string>();
  const merged = [...rules.values()].flat().filter((r) => {
    const key = `${r.capabilityId}=${JSON.stringify(r.value)}`;
    return seen.has(key) ? false : (seen.add(key), true);
  });
  return { rules: merged, totalBytes: vvolSizes.reduce((a, b) => a + b, 0), largestVvolBytes: Math.max(...vvolSizes) };
}

export async function createVirtualMachine(core: Core, work: UnitOfWork, input: CreateVmInput): Promise<VirtualMachineRow> {
  await findPolicy(work.tx, input.policyId, 'input.policyId');
  for (const [i, disk] of input.disks.entries()) {
    if (disk.policyId) await findPolicy(work.tx, disk.policyId, `input.disks.${i}.policyId`);
  }
  await checkMaxVvolSize(work.tx, input.disks, input.containerId);
  const { vm, vvols, container } = await core.volumes.createVm(work, {
    name: input.name,
    host: input.host ?? null,
    memoryBytes: input.memoryBytes ?? DEFAULT_MEMORY_BYTES,
    policyId: input.policyId,
    containerId: input.containerId ?? null,
    field: 'input.containerId',
    volumes: [
      { type: 'CONFIG', provisionedBytes: CONFIG_VVOL_BYTES, unitNumber: null },
      ...input.disks.map((disk, i) => ({ type: 'DATA' as const, provisionedBytes: disk.sizeBytes, unitNumber: i, policyId: disk.policyId ?? undefined })),
    ],
  });
  // The config VVOL holds the .vmx and logs from the start.
  await core.extents.write(work.tx, [{ vvolId: vvols[0].id, indexes: [0] }]);
  work.emit({ kind: 'vm.created', entityType: 'VirtualMachine', entityId: vm.id, message: `VM ${vm.name} created on ${container.name}`, data: { containerId: container.id } });
  return vm;
}

/** The file a VVOL stands for, as vSphere names it in VMW_VVolName: the VM's .vmx (CONFIG), or its disk of this unit number. */
export function vvolFileName(vmName: string, unitNumber: number | null): string {
  return unitNumber === null ? `${vmName}.vmx` : `${vmName}_${unitNumber}.vmdk`;
}

async function checkMaxVvolSize(db: Executor, disks: DiskInput[], containerId: string | null | undefined): Promise<void> {
  const containers = containerId
    ? await db.select({ max: storageContainers.maxVvolSizeBytes }).from(storageContainers).where(eq(storageContainers.id, containerId))
    : await db.select({ max: storageContainers.maxVvolSizeBytes }).from(storageContainers);
  if (containers.length === 0) return; // an unknown container is reported by placement
  const max = Math.max(...containers.map((c) => c.max));
  const i = disks.findIndex((d) => d.sizeBytes > max);
  if (i >= 0) {
    throw new ValidationError(`input.disks.${i}.sizeBytes`, `${disks[i].sizeBytes} bytes exceeds the maximum VVOL size of ${containerId ? 'the container' : 'every container'} (${max} bytes)`);
  }
}

export async function deleteVirtualMachine(core: Core, work: UnitOfWork, id: string): Promise<VirtualMachineRow> {
  const vm = await findVm(work.tx, id, 'input.id', true);
  if (vm.powerState !== 'POWERED_OFF') throw new ConflictError(`VM ${vm.name} is ${vm.powerState}; power it off first`, vm.powerState);
  const vvols = await work.tx.select().from(virtualVolumes).where(eq(virtualVolumes.vmId, id));
  await deleteVvols(core, work, vvols, isReserved);
  await work.tx.delete(virtualMachines).where(eq(virtualMachines.id, id));
  work.emit({ kind: 'vm.deleted', entityType: 'VirtualMachine', entityId: id, message: `VM ${vm.name} deleted` });
  return vm;
}

/** The protocol endpoint of the VM's array with the fewest bindings (ties: by name): spreads I/O paths. */
async function choosePe(db: Executor, containerId: string): Promise<string> {
  const [pe] = await db
    .select({ id: protocolEndpoints.id })
    .from(protocolEndpoints)
    .innerJoin(storageContainers, eq(storageContainers.arrayId, protocolEndpoints.arrayId))
    .leftJoin(virtualVolumes, eq(virtualVolumes.protocolEndpointId, protocolEndpoints.id))
    .where(eq(storageContainers.id, containerId))
    .groupBy(protocolEndpoints.id, protocolEndpoints.name)
    .orderBy(sql`count(${virtualVolumes.id})`, asc(protocolEndpoints.name))
    .limit(1);
  if (!pe) throw new ConflictError('The array of this VM has no protocol endpoint to bind through', 'NO_PROTOCOL_ENDPOINT');
  return pe.id;
}

/**
 * A VM that a task is still filling (a FULL clone, a restore onto it) holds half its data: it may not run,
 * and a snapshot or revert of it would mix the copy's data with other data under a task that then succeeds.
 */
export async function assertNotBeingFilled(work: UnitOfWork, vm: VirtualMachineRow): Promise<void> {
  const [copying] = await work.tx.select({ id: tasks.id }).from(tasks).where(and(eq(tasks.targetId, vm.id), anyOf(tasks.state, ['QUEUED', 'RUNNING']))).limit(1);
  if (copying) throw new ConflictError(`VM ${vm.name} has a task running (${copying.id}); wait for it`, 'BUSY');
}

export async function powerOn(core: Core, work: UnitOfWork, id: string): Promise<VirtualMachineRow> {
  const vm = await findVm(work.tx, id, 'input.id', true);
  if (vm.powerState === 'POWERED_ON') throw new ConflictError(`VM ${vm.name} is already POWERED_ON`, vm.powerState);
  await assertNotBeingFilled(work, vm);
  await reserve(work, vm.containerId, vm.memoryBytes);
  await insertVvols(core, work, [{ vmId: id, containerId: vm.containerId, policyId: vm.policyId, type: 'SWAP', provisionedBytes: vm.memoryBytes, metadata: { 'VMW_VmID': id, 'VMW_VVolName': `${vm.name}.vswp` } }]);
  const peId = await choosePe(work.tx, vm.containerId);
  const bound = await work.tx
    .update(virtualVolumes)
    .set({ bindState: 'BOUND', protocolEndpointId: peId })
    .where(and(eq(virtualVolumes.vmId, id), isNull(virtualVolumes.snapshotId)))
    .returning({ id: virtualVolumes.id, type: virtualVolumes.type });
  for (const vvol of bound) {
    work.emit({ kind: 'vvol.bound', entityType: 'VirtualVolume', entityId: vvol.id, message: `${vvol.type} VVOL bound`, data: { protocolEndpointId: peId, vmId: id } });
  }
  const [on] = await work.tx.update(virtualMachines).set({ powerState: 'POWERED_ON' }).where(eq(virtualMachines.id, id)).returning();
  work.emit({ kind: 'vm.poweredOn', entityType: 'VirtualMachine', entityId: id, message: `VM ${vm.name} powered on` });
  await core.lifecycle(work, 'vmPoweredOn', on);
  return on;
}

export async function powerOff(core: Core, work: UnitOfWork, id: string): Promise<VirtualMachineRow> {
  const vm = await findVm(work.tx, id, 'input.id', true);
  if (vm.powerState === 'POWERED_OFF') throw new ConflictError(`VM ${vm.name} is already POWERED_OFF`, vm.powerState);
  const unbound = await work.tx
    .update(virtualVolumes)
    .set({ bindState: 'UNBOUND', protocolEndpointId: null })
    .where(and(eq(virtualVolumes.vmId, id), isNull(virtualVolumes.snapshotId)))
    .returning();
  for (const vvol of unbound) {
    work.emit({ kind: 'vvol.unbound', entityType: 'VirtualVolume', entityId: vvol.id, message: `${vvol.type} VVOL unbound`, data: { vmId: id } });
  }
  await deleteVvols(core, work, unbound.filter((v) => v.type === 'SWAP'), isReserved);
  const [off] = await work.tx.update(virtualMachines).set({ powerState: 'POWERED_OFF' }).where(eq(virtualMachines.id, id)).returning();
  work.emit({ kind: 'vm.poweredOff', entityType: 'VirtualMachine', entityId: id, message: `VM ${vm.name} powered off` });
  await core.lifecycle(work, 'vmPoweredOff', off);
  return off;
}

/**
 * Makes an array-side volume (one of no VM, such as a separated replica) the VM's next disk; bound at
 * once through the VM's protocol endpoint if the VM runs (a hot-add, as backup proxies do).
 */
export async function attachVolume(work: UnitOfWork, vmId: string, vvol: VirtualVolumeRow, readOnly: boolean): Promise<VirtualMachineRow> {
  const vm = await findVm(work.tx, vmId, 'input.vmId', true);
  const [{ arrays }] = await work.tx
    .select({ arrays: sql<number>`count(distinct ${storageContainers.arrayId})::int` })
    .from(storageContainers)
    .where(anyOf(storageContainers.id, [vm.containerId, vvol.containerId]));
  if (arrays !== 1) throw new ValidationError('input.vmId', `VM ${vm.name} is on another array than the volume; its host reaches only its own array's protocol endpoints`);
  const [{ next }] = await work.tx.select({ next: sql<number>`coalesce(max(${virtualDisks.unitNumber}) + 1, 0)::int` }).from(virtualDisks).where(eq(virtualDisks.vmId, vmId));
  await work.tx.insert(virtualDisks).values({ vmId, unitNumber: next, vvolId: vvol.id, readOnly });
  const binding = vm.powerState === 'POWERED_ON' ? { bindState: 'BOUND' as const, protocolEndpointId: await choosePe(work.tx, vm.containerId) } : {};
  await work.tx.update(virtualVolumes).set({ vmId, ...binding }).where(eq(virtualVolumes.id, vvol.id));
  work.emit({ kind: 'vvol.attached', entityType: 'VirtualVolume', entityId: vvol.id, message: `${vvol.type} VVOL attached to VM ${vm.name} as disk ${next}${readOnly ? ' (read-only)' : ''}`, data: { vmId, unitNumber: next, readOnly } });
  return vm;
}

/** Undoes `attachVolume`: the volume is unbound and belongs to no VM again. */
export async function detachVolume(work: UnitOfWork, vvol: VirtualVolumeRow): Promise<void> {
  await work.tx.delete(virtualDisks).where(eq(virtualDisks.vvolId, vvol.id));
  await work.tx.update(virtualVolumes).set({ vmId: null, bindState: 'UNBOUND', protocolEndpointId: null }).where(eq(virtualVolumes.id, vvol.id));
  work.emit({ kind: 'vvol.detached', entityType: 'VirtualVolume', entityId: vvol.id, message: `${vvol.type} VVOL detached from VM ${vvol.vmId}`, data: { vmId: vvol.vmId } });
}

export async function addDisk(core: Core, work: UnitOfWork, vmId: string, disk: DiskInput): Promise<VirtualVolumeRow> {
  const vm = await findVm(work.tx, vmId, 'input.vmId', true);
  const policyId = disk.policyId ?? vm.policyId;
  if (disk.policyId) await findPolicy(work.tx, disk.policyId, 'input.policyId');
  const [container] = await work.tx.select().from(storageContainers).where(eq(storageContainers.id, vm.containerId));
  if (disk.sizeBytes > container.maxVvolSizeBytes) {
    throw new ValidationError('input.sizeBytes', `${disk.sizeBytes} bytes exceeds the maximum VVOL size of ${container.name} (${container.maxVvolSizeBytes} bytes)`);
  }
  await chooseContainer(core, work.tx, await placementRequest(work.tx, [policyId], [disk.sizeBytes]), vm.containerId, 'input.vmId');
  await reserve(work, vm.containerId, disk.sizeBytes);
  const bound = vm.powerState === 'POWERED_ON';
  const peId = bound ? await choosePe(work.tx, vm.containerId) : null;
  const [{ next }] = await work.tx.select({ next: sql<number>`coalesce(max(${virtualDisks.unitNumber}) + 1, 0)::int` }).from(virtualDisks).where(eq(virtualDisks.vmId, vmId));
  const [vvol] = await insertVvols(core, work, [
    { vmId, containerId: vm.containerId, policyId, type: 'DATA', provisionedBytes: disk.sizeBytes, bindState: bound ? 'BOUND' : 'UNBOUND', protocolEndpointId: peId, metadata: { 'VMW_VmID': vmId, 'VMW_VVolName': vvolFileName(vm.name, next) } },
  ]);
  await work.tx.insert(virtualDisks).values({ vmId, unitNumber: next, vvolId: vvol.id });
  return vvol;
}

/**
 * VASA deleteVirtualVolume, of a VM's disk or of a volume no VM has (an RV left by an unpair). The VVOL goes as a
 * deleted VM's do: its capacity is given back, the replicas a policy made of it deleted, its cache and the rest with it.
 * Returns the VM a disk was taken from, or null.
 */
export async function deleteVolume(core: Core, work: UnitOfWork, id: string): Promise<VirtualMachineRow | null> {
  const vvol = await findVvol(work.tx, id, 'input.id', true);
  if (vvol.vmId === null) {
    await assertDeletableVolume(work, vvol);
    await deleteVvols(core, work, [vvol], isReserved);
    return null;
  }
  return removeDisk(core, work, vvol);
}

/** A volume of no VM is the array's own: deleted unless a feature keeps it, and only once it is in no pair. */
async function assertDeletableVolume(work: UnitOfWork, vvol: VirtualVolumeRow): Promise<void> {
  if (isKeptCopy(vvol)) throw new ValidationError('input.id', `This volume is a copy ${vvol.metadata[KEPT_BY]} keeps (a backup generation or a point in time); it goes with what it belongs to`);
  const [pair] = await work.tx.select({ id: replicaPairs.id }).from(replicaPairs).where(or(eq(replicaPairs.mvId, vvol.id), eq(replicaPairs.rvId, vvol.id))).limit(1);
  if (pair) throw new ConflictError(`This volume is in replica pair ${pair.id}; unpair it first`, 'PAIRED');
}

/**
 * Takes a disk from its VM, running or not, as a vSphere hot-remove does. A VM with snapshots keeps its disks (a
 * revert would need this one back); a VM keeps at least one disk, as it is created with one.
 */
async function removeDisk(core: Core, work: UnitOfWork, vvol: VirtualVolumeRow): Promise<VirtualMachineRow> {
  const [disk] = await work.tx.select().from(virtualDisks).where(eq(virtualDisks.vvolId, vvol.id));
  if (!disk || vvol.snapshotId) throw new ValidationError('input.id', `Only a VM's disks and volumes of no VM can be deleted; this is a ${vvol.snapshotId ? 'snapshot' : vvol.type} VVOL of a VM`);
  if (disk.readOnly) throw new ValidationError('input.id', 'This disk is a replica attached read-only: detachReplicaVolume takes it from the VM and keeps its pair');
  const vm = await findVm(work.tx, disk.vmId, 'input.id', true);
  const [snapshot] = await work.tx.select({ name: snapshots.name }).from(snapshots).where(eq(snapshots.vmId, vm.id)).limit(1);
  if (snapshot) throw new ConflictError(`VM ${vm.name} has snapshots (${snapshot.name}); delete them before removing a disk`, 'HAS_SNAPSHOTS');
  await assertNotBeingFilled(work, vm);
  const [{ disks }] = await work.tx.select({ disks: sql<number>`count(*)::int` }).from(virtualDisks).where(and(eq(virtualDisks.vmId, vm.id), eq(virtualDisks.readOnly, false)));
  if (disks <= 1) throw new ValidationError('input.id', `This is VM ${vm.name}'s only disk; a VM keeps at least one (delete the VM instead)`);
  // A running VM's disk is unbound as it goes, as a power-off unbinds it: who follows bindings sees it end.
  if (vvol.bindState === 'BOUND') work.emit({ kind: 'vvol.unbound', entityType: 'VirtualVolume', entityId: vvol.id, message: `${vvol.type} VVOL unbound`, data: { vmId: vm.id } });
  await deleteVvols(core, work, [vvol], isReserved);
  work.emit({ kind: 'vm.diskRemoved', entityType: 'VirtualMachine', entityId: vm.id, message: `Disk ${disk.unitNumber} removed from VM ${vm.name}`, data: { vvolId: vvol.id, unitNumber: disk.unitNumber } });
  return vm;
}

export async function resizeVvol(work: UnitOfWork, id: string, sizeBytes: number): Promise<VirtualVolumeRow> {
  const vvol = await findVvol(work.tx, id, 'input.id', true);
  if (vvol.type !== 'DATA' || vvol.snapshotId) throw new ValidationError('input.id', `Only a VM's DATA VVOLs can be resized; this is a ${vvol.snapshotId ? 'snapshot' : vvol.type} VVOL`);
  // Replicas, backups and points in time follow their source (an RV grows with its MV): only a VM's own disk is resized.
  if (vvol.vmId === null || isCopyOf(vvol)) throw new ValidationError('input.id', `Only a VM's DATA VVOLs can be resized; this one is a copy of another volume (a replica, backup or point in time)`);
  if (sizeBytes < vvol.provisionedBytes) {
    throw new ValidationError('input.sizeBytes', `VASA does not shrink a VVOL: ${sizeBytes} is smaller than the current ${vvol.provisionedBytes} bytes`);
  }
  const [container] = await work.tx.select().from(storageContainers).where(eq(storageContainers.id, vvol.containerId));
  if (sizeBytes > container.maxVvolSizeBytes) {
    throw new ValidationError('input.sizeBytes', `${sizeBytes} bytes exceeds the maximum VVOL size of ${container.name} (${container.maxVvolSizeBytes} bytes)`);
  }
  if (sizeBytes === vvol.provisionedBytes) return vvol;
  return grow(work, vvol, sizeBytes);
}

/** Grows a VVOL and, since an RV may not be smaller than its MV, every replica of it that is smaller. */
export async function grow(work: UnitOfWork, vvol: VirtualVolumeRow, sizeBytes: number, seen = new Set<string>()): Promise<VirtualVolumeRow> {
  seen.add(vvol.id);
  await reserve(work, vvol.containerId, sizeBytes - vvol.provisionedBytes);
  const [resized] = await work.tx.update(virtualVolumes).set({ provisionedBytes: sizeBytes }).where(eq(virtualVolumes.id, vvol.id)).returning();
  work.emit({ kind: 'vvol.resized', entityType: 'VirtualVolume', entityId: vvol.id, message: `VVOL grown to ${sizeBytes} bytes`, data: { from: vvol.provisionedBytes, to: sizeBytes } });
  const replicas = await work.tx
    .select({ rv: virtualVolumes })
    .from(replicaPairs)
    .innerJoin(virtualVolumes, eq(virtualVolumes.id, replicaPairs.rvId))
    .where(eq(replicaPairs.mvId, vvol.id))
    .for('update', { of: virtualVolumes });
  for (const { rv } of replicas) if (rv.provisionedBytes < sizeBytes && !seen.has(rv.id)) await grow(work, rv, sizeBytes, seen);
  return resized;
}

/** Points a VM (all its VVOLs) or one VVOL at a policy; the reconciler then brings each VVOL to it. */
export async function applyPolicy(work: UnitOfWork, target: { vmId?: string; vvolId?: string }, policyId: string): Promise<VirtualVolumeRow[]> {
  await findPolicy(work.tx, policyId, 'input.policyId');
  let where;
  if (target.vmId) {
    await findVm(work.tx, target.vmId, 'input.targetId', true);
    await work.tx.update(virtualMachines).set({ policyId }).where(eq(virtualMachines.id, target.vmId));
    where = and(eq(virtualVolumes.vmId, target.vmId), isNull(virtualVolumes.snapshotId));
  } else {
    const vvol = await findVvol(work.tx, target.vvolId!, 'input.targetId', true);
    if (vvol.snapshotId) throw new ValidationError('input.targetId', 'A snapshot VVOL keeps the policy it was taken under');
    where = eq(virtualVolumes.id, vvol.id);
  }
  const vvols = await work.tx.update(virtualVolumes).set({ policyId, policyState: 'PENDING', policyReason: null }).where(where).returning();
  for (const vvol of vvols) {
    work.emit({ kind: 'vvol.policyPending', entityType: 'VirtualVolume', entityId: vvol.id, message: 'Storage policy change pending', data: { policyId } });
  }
  return vvols;
}
