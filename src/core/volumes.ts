import { and, eq, isNull, sql } from 'drizzle-orm';
import { anyOf, pgArray, type Executor } from './db/client.ts';
import type { Core } from './core.ts';
import { storageContainers, virtualDisks, virtualMachines, virtualVolumes } from './db/tables.ts';
import { NotFoundError } from './errors.ts';
import type { StorageContainerRow, VirtualMachineRow, VirtualVolumeRow } from './plugin.ts';
import { placeAll } from './services/placement.ts';
import { chooseContainer, deleteVirtualMachine, deleteVvols, grow, insertVvols, isReserved, placementRequest, powerOff, reserve, vvolFileName } from './services/vms.ts';
import type { UnitOfWork } from './unit-of-work.ts';

export interface CopyTargetOptions {
  /** Thick (the source's size reserved in the container, as an RV) or thin (nothing reserved, as a snapshot or a backup). */
  reserve: boolean;
  /** Extra VASA metadata; `vvolgraph.replicaOf` is the source unless given here (a copy of a replica is a replica of its MV). */
  metadata?: Record<string, string>;
  /** The input field named by a NotFoundError for the container. */
  field: string;
}

/** A VM made of volumes that exist already (`registerVm`). */
export interface RegisterVmSpec {
  name: string;
  host: string;
  containerId: string;
  policyId: string;
  memoryBytes: number;
  /** The CONFIG volume, if any, and the DATA volumes in unit-number order. */
  configVvolId: string | null;
  diskVvolIds: string[];
}

/** One volume of a VM made by `createVm`. */
export interface NewVmVolume {
  type: 'CONFIG' | 'DATA';
  provisionedBytes: number;
  /** The disk's unit number (DATA); null for the CONFIG volume. */
  unitNumber: number | null;
  policyId?: string;
  origin?: 'RAW' | 'CLONE' | 'FAST_CLONE';
  parentId?: string | null;
  metadata?: Record<string, string>;
}

export interface NewVm {
  name: string;
  /** The ESXi host; null: one named after the container placement chooses. */
  host: string | null;
  memoryBytes: number;
  policyId: string;
  /** A container to use (it must pass placement), or null to let placement choose among the PRIMARY arrays' containers. */
  containerId: string | null;
  /** The input field a placement refusal names. */
  field: string;
  volumes: NewVmVolume[];
}

/**
 * Volumes and VMs made by the array for a copy (an RV, a backup generation, a restored or cloned VM, a
 * VM registered from replicas at another site): the one place they are created and removed, so
 * capacity, events and lifecycle hooks stay the core's.
 * Plugins reach it through their contexts (`ctx.volumes`).
 */
export class VolumeService {
  constructor(private readonly core: Core) {}

  /**
   * A new volume without a VM in `containerId`, of the source's size, type and policy, marked as a copy
   * of it (`vvolgraph.replicaOf`, so the reconciler does not apply the source's replication rules to it).
   */
  async createCopyTarget(work: UnitOfWork, sourceId: string, containerId: string, options: CopyTargetOptions): Promise<VirtualVolumeRow> {
    const [source] = await work.tx.select().from(virtualVolumes).where(eq(virtualVolumes.id, sourceId));
    if (!source) throw new NotFoundError('input.mvId', sourceId);
    const [container] = await work.tx.select({ id: storageContainers.id }).from(storageContainers).where(eq(storageContainers.id, containerId));
    if (!container) throw new NotFoundError(options.field, containerId);
    if (options.reserve) await reserve(work, containerId, source.provisionedBytes);
    const [copy] = await work.tx
      .insert(virtualVolumes)
      .values({ containerId, policyId: source.policyId, type: source.type, provisionedBytes: source.provisionedBytes, policyState: 'APPLIED', metadata: { 'vvolgraph.replicaOf': source.id, ...options.metadata } })
      .returning();
    work.emit({ kind: 'vvol.created', entityType: 'VirtualVolume', entityId: copy.id, message: `${copy.type} VVOL created as a copy of ${source.id}`, data: { sourceId: source.id } });
    await this.core.lifecycle(work, 'vvolCreated', copy);
    return copy;
  }

  /** Grows a volume to `sizeBytes` (never shrinks it), and every smaller replica of it as a resize does, reserving the space. */
  async growTo(work: UnitOfWork, vvolId: string, sizeBytes: number): Promise<VirtualVolumeRow> {
    const [vvol] = await work.tx.select().from(virtualVolumes).where(eq(virtualVolumes.id, vvolId)).for('update');
    if (!vvol) throw new NotFoundError('input.id', vvolId);
    return vvol.provisionedBytes >= sizeBytes ? vvol : grow(work, vvol, sizeBytes);
  }

  /**
   * The PRIMARY containers that could hold volumes of these sizes under these policies (PBM's placement check:
   * every rule, the free space, the largest volume), the least utilized after placement first.
   */
  async compatibleContainers(db: Executor, policyIds: string[], vvolSizes: number[]): Promise<StorageContainerRow[]> {
    const placements = await placeAll(this.core, db, await placementRequest(db, policyIds, vvolSizes));
    return placements.filter((p) => p.compatible).map((p) => p.container);
  }

  /** Deletes volumes and their extents; `reserved` says whether they held a reservation to give back (thick). */
  async remove(work: UnitOfWork, vvolIds: readonly string[], reserved: boolean): Promise<void> {
    if (vvolIds.length === 0) return;
    const vvols = await work.tx.select().from(virtualVolumes).where(anyOf(virtualVolumes.id, [...vvolIds]));
    await deleteVvols(this.core, work, vvols, () => reserved);
  }

  /**
   * A new VM with the given volumes (empty: the caller copies data into them): placed like a new VM
   * (or in the container given), its capacity reserved, its disks numbered as given. Clones and
   * restores both make their VM here.
   */
  async createVm(work: UnitOfWork, spec: NewVm): Promise<{ vm: VirtualMachineRow; vvols: VirtualVolumeRow[]; container: StorageContainerRow }> {
    const request = await placementRequest(work.tx, [spec.policyId, ...spec.volumes.map((v) => v.policyId ?? spec.policyId)], spec.volumes.map((v) => v.provisionedBytes));
    const container = await chooseContainer(this.core, work.tx, request, spec.containerId, spec.field);
    await reserve(work, container.id, request.totalBytes);
    const [vm] = await work.tx
      .insert(virtualMachines)
      .values({ name: spec.name, host: spec.host ?? `esxi-${container.name}`, policyId: spec.policyId, containerId: container.id, memoryBytes: spec.memoryBytes })
      .returning();
    const vvols = await insertVvols(this.core, work, spec.volumes.map((v) => ({
      vmId: vm.id, containerId: container.id, policyId: v.policyId ?? spec.policyId, type: v.type, provisionedBytes: v.provisionedBytes,
      origin: v.origin ?? 'RAW', parentId: v.parentId ?? null, metadata: { ...v.metadata, 'VMW_VmID': vm.id, 'VMW_VVolName': vvolFileName(vm.name, v.unitNumber) },
    })));
    const disks = spec.volumes.flatMap((v, i) => (v.unitNumber === null ? [] : [{ vmId: vm.id, unitNumber: v.unitNumber, vvolId: vvols[i].id }]));
    if (disks.length > 0) await work.tx.insert(virtualDisks).values(disks);
    return { vm, vvols, container };
  }
  /** A new volume in `containerId` holding `sourceId`'s data as of now (its extent map copied; capacity reserved). */
  async copyVolume(work: UnitOfWork, sourceId: string, containerId: string, metadata: Record<string, string> = {}): Promise<VirtualVolumeRow> {
    const copy = await this.createCopyTarget(work, sourceId, containerId, { reserve: true, metadata, field: 'input.containerId' });
    await this.core.extents.copyMap(work.tx, sourceId, copy.id);
    return copy;
  }

  /**
   * Makes volumes without a VM (replicas) a VM in `containerId`, powered off: VASA's VM registration at a target
   * site. They are that VM's own volumes from then on, no copies (`vvolgraph.replicaOf` goes), so the VM's policy
   * is applied to them as to any VM's (PENDING for the reconciler): its cache, its replicas, its limits.
   */
  async registerVm(work: UnitOfWork, spec: RegisterVmSpec): Promise<VirtualMachineRow> {
    const [container] = await work.tx.select({ id: storageContainers.id }).from(storageContainers).where(eq(storageContainers.id, spec.containerId));
    if (!container) throw new NotFoundError('input.containerId', spec.containerId);
    const [vm] = await work.tx
      .insert(virtualMachines)
      .values({ name: spec.name, host: spec.host, policyId: spec.policyId, containerId: spec.containerId, memoryBytes: spec.memoryBytes })
      .returning();
    const ids = [...(spec.configVvolId ? [spec.configVvolId] : []), ...spec.diskVvolIds];
    await work.tx
      .update(virtualVolumes)
      .set({ vmId: vm.id, policyState: 'PENDING', policyReason: null, metadata: sql`(${virtualVolumes.metadata} - 'vvolgraph.replicaOf') || ${JSON.stringify({ VMW_VmID: vm.id })}::jsonb` })
      .where(anyOf(virtualVolumes.id, ids));
    if (spec.diskVvolIds.length > 0) await work.tx.insert(virtualDisks).values(spec.diskVvolIds.map((vvolId, unitNumber) => ({ vmId: vm.id, unitNumber, vvolId })));
    work.emit({ kind: 'vm.created', entityType: 'VirtualMachine', entityId: vm.id, message: `VM ${vm.name} registered from ${ids.length} replica volumes`, data: { containerId: spec.containerId, vvolIds: ids } });
    return vm;
  }

  /** The reverse of `registerVm`: the VM goes (powered off first), its volumes stay on the array without a VM. */
  async unregisterVm(work: UnitOfWork, vmId: string): Promise<VirtualVolumeRow[]> {
    const [vm] = await work.tx.select().from(virtualMachines).where(eq(virtualMachines.id, vmId));
    if (!vm) throw new NotFoundError('input.vmId', vmId);
    if (vm.powerState !== 'POWERED_OFF') await powerOff(this.core, work, vmId);
    await work.tx.delete(virtualDisks).where(eq(virtualDisks.vmId, vmId));
    const volumes = await work.tx.update(virtualVolumes).set({ vmId: null }).where(and(eq(virtualVolumes.vmId, vmId), isNull(virtualVolumes.snapshotId))).returning();
    const snapshotVolumes = await work.tx.select().from(virtualVolumes).where(eq(virtualVolumes.vmId, vmId));
    await deleteVvols(this.core, work, snapshotVolumes, isReserved);
    await work.tx.delete(virtualMachines).where(eq(virtualMachines.id, vmId));
    work.emit({ kind: 'vm.deleted', entityType: 'VirtualMachine', entityId: vmId, message: `VM ${vm.name} unregistered; its ${volumes.length} volumes stay on the array` });
    return volumes;
  }

  /** Powers a VM off if it runs, then deletes it with its volumes. */
  async removeVm(work: UnitOfWork, vmId: string): Promise<void> {
    const [vm] = await work.tx.select().from(virtualMachines).where(eq(virtualMachines.id, vmId));
    if (!vm) return;
    if (vm.powerState !== 'POWERED_OFF') await powerOff(this.core, work, vmId);
    await deleteVirtualMachine(this.core, work, vmId);
  }

  powerOff(work: UnitOfWork, vmId: string): Promise<VirtualMachineRow> {
    return powerOff(this.core, work, vmId);
  }

  /**
   * Sets a volume's metadata keys, a null value removing the key: `vvolgraph.replicaOf` marks it a copy of that
   * volume (policy hooks leave it alone) or, removed, a volume of its own again.
   */
  async setMetadata(work: UnitOfWork, vvolId: string, entries: Record<string, string | null>): Promise<void> {
    const removed = Object.keys(entries).filter((key) => entries[key] === null);
    const set = Object.fromEntries(Object.entries(entries).filter(([, value]) => value !== null));
    const metadata = sql`(${virtualVolumes.metadata} - ${pgArray(removed)}::text[]) || ${JSON.stringify(set)}::jsonb`;
    await work.tx.update(virtualVolumes).set({ metadata }).where(eq(virtualVolumes.id, vvolId));
  }
}
