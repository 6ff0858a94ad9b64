import { workloads } from '../db/tables.ts';
import type { UnitOfWork } from '../unit-of-work.ts';
import { findVm } from './vms.ts';

export type WorkloadRow = typeof workloads.$inferSelect;
export type WorkloadProfile = Omit<WorkloadRow, 'vmId' | 'updatedAt'>;
export type Preset = Exclude<WorkloadRow['preset'], 'CUSTOM'>;

/** The presets of DESIGN §6, as profiles. */
export const presets: Record<Preset, WorkloadProfile> = {
  OLTP: { preset: 'OLTP', readIops: 3000, writeIops: 1500, blockSizeBytes: 8192, randomRatio: 0.95, zipfAlpha: 1.1, workingSetRatio: 0.2, burst: null },
  VDI_BOOT_STORM: { preset: 'VDI_BOOT_STORM', readIops: 800, writeIops: 200, blockSizeBytes: 32768, randomRatio: 0.7, zipfAlpha: 1.3, workingSetRatio: 0.05, burst: { periodSeconds: 3600, dutyCycle: 0.05, multiplier: 20 } },
  BACKUP_SCAN: { preset: 'BACKUP_SCAN', readIops: 2000, writeIops: 0, blockSizeBytes: 262144, randomRatio: 0.02, zipfAlpha: 0.01, workingSetRatio: 1, burst: null },
  IDLE: { preset: 'IDLE', readIops: 5, writeIops: 5, blockSizeBytes: 4096, randomRatio: 0.5, zipfAlpha: 1, workingSetRatio: 0.01, burst: null },
};

export async function setWorkload(work: UnitOfWork, vmId: string, profile: WorkloadProfile): Promise<WorkloadRow> {
  const vm = await findVm(work.tx, vmId, 'input.vmId', true);
  const [row] = await work.tx
    .insert(workloads)
    .values({ vmId, ...profile })
    .onConflictDoUpdate({ target: workloads.vmId, set: { ...profile, updatedAt: new Date() } })
    .returning();
  work.emit({ kind: 'vm.workloadSet', entityType: 'VirtualMachine', entityId: vmId, message: `VM ${vm.name} now runs the ${profile.preset} workload`, data: { ...profile } });
  return row;
}
