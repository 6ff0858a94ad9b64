import { and, eq, inArray, isNull, sql } from 'drizzle-orm';
import type { Core } from './core.ts';
import { storageContainers, virtualDisks, virtualMachines, virtualVolumes } from './db/tables.ts';
import { NotFoundError } from './errors.ts';
import type { VirtualMachineRow, VirtualVolumeRow } from './plugin.ts';
import { deleteVirtualMachine, deleteVvols, isReserved, powerOff, powerOn } from './services/vms.ts';
import type { UnitOfWork } from './unit-of-work.ts';

export interface AttachSpec {
  name: string;
  host: string;
  containerId: string;
  policyId: string;
  memoryBytes: number;
  /** The CONFIG volume, if any, and the DATA volumes in unit-number order. */
  configVvolId: string | null;
  diskVvolIds: string[];
}

/**
 * What replication needs beyond pairs (DESIGN §5's shared mechanisms): point-in-time copies of volumes
 * on another array, volumes that become a VM there (a test failover, a failover), and their removal.
 * rdr uses it; any plugin that brings a VM up from replicas would.
 */
export class ReplicaVms {
  constructor(private readonly core: Core) {}

  /** A new volume in `containerId` holding `sourceVvolId`'s data as of now (its extent map copied; capacity reserved). */
  async copyVolume(work: UnitOfWork, sourceVvolId: string, containerId: string, metadata: Record<string, string> = {}): Promise<VirtualVolumeRow> {
    const rv = await this.core.pairs.createReplicaVolume(work, sourceVvolId, containerId, 'input.containerId');
    await this.core.extents.copyMap(work.tx, sourceVvolId, rv.id);
    const [copy] = await work.tx.update(virtualVolumes).set({ metadata: { ...rv.metadata, ...metadata } }).where(eq(virtualVolumes.id, rv.id)).returning();
    return copy;
  }

  /** Makes array-side volumes (replicas) a VM in `containerId`, powered off: VASA's VM registration at the target site. */
  async attach(work: UnitOfWork, spec: AttachSpec): Promise<VirtualMachineRow> {
    const [container] = await work.tx.select({ id: storageContainers.id }).from(storageContainers).where(eq(storageContainers.id, spec.containerId));
    if (!container) throw new NotFoundError('input.containerId', spec.containerId);
    const [vm] = await work.tx
      .insert(virtualMachines)
      .values({ name: spec.name, host: spec.host, policyId: spec.policyId, containerId: spec.containerId, memoryBytes: spec.memoryBytes })
      .returning();
    const ids = [...(spec.configVvolId ? [spec.configVvolId] : []), ...spec.diskVvolIds];
    await work.tx
      .update(virtualVolumes)
      .set({ vmId: vm.id, metadata: sql`${virtualVolumes.metadata} || ${JSON.stringify({ VMW_VmID: vm.id })}::jsonb` })
      .where(inArray(virtualVolumes.id, ids));
    if (spec.diskVvolIds.length > 0) await work.tx.insert(virtualDisks).values(spec.diskVvolIds.map((vvolId, unitNumber) => ({ vmId: vm.id, unitNumber, vvolId })));
    work.emit({ kind: 'vm.created', entityType: 'VirtualMachine', entityId: vm.id, message: `VM ${vm.name} registered from ${ids.length} replica volumes`, data: { containerId: spec.containerId, vvolIds: ids } });
    return vm;
  }

  /** Takes a VM's volumes back to the array (no VM) and removes the VM: the reverse of `attach`. */
  async detach(work: UnitOfWork, vmId: string): Promise<VirtualVolumeRow[]> {
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
  async remove(work: UnitOfWork, vmId: string): Promise<void> {
    const [vm] = await work.tx.select().from(virtualMachines).where(eq(virtualMachines.id, vmId));
    if (!vm) return;
    if (vm.powerState !== 'POWERED_OFF') await powerOff(this.core, work, vmId);
    await deleteVirtualMachine(this.core, work, vmId);
  }

  powerOn(work: UnitOfWork, vmId: string): Promise<VirtualMachineRow> {
    return powerOn(this.core, work, vmId);
  }

  powerOff(work: UnitOfWork, vmId: string): Promise<VirtualMachineRow> {
    return powerOff(this.core, work, vmId);
  }

  /** Deletes volumes that belong to no VM (replicas, point-in-time copies), releasing their capacity. */
  async deleteVolumes(work: UnitOfWork, vvolIds: readonly string[]): Promise<void> {
    if (vvolIds.length === 0) return;
    const rows = await work.tx.select().from(virtualVolumes).where(inArray(virtualVolumes.id, [...vvolIds]));
    await deleteVvols(this.core, work, rows, isReserved);
  }

  /** Marks a volume as a copy of `mvId` (`vvolgraph.replicaOf`: policy hooks leave it alone), or with null as a volume of its own again. */
  async setCopyOf(work: UnitOfWork, vvolId: string, mvId: string | null): Promise<void> {
    const metadata = mvId === null
      ? sql`${virtualVolumes.metadata} - 'vvolgraph.replicaOf'`
      : sql`${virtualVolumes.metadata} || ${JSON.stringify({ 'vvolgraph.replicaOf': mvId })}::jsonb`;
    await work.tx.update(virtualVolumes).set({ metadata }).where(eq(virtualVolumes.id, vvolId));
  }
}
