import { asc, eq } from 'drizzle-orm';
import type { Core } from '../core.ts';
import type { Executor } from '../db/client.ts';
import { storageArrays, storageContainers } from '../db/tables.ts';
import type { RuleCheck } from '../errors.ts';
import type { PolicyRule, StorageContainerRow } from '../plugin.ts';

export interface Placement {
  container: StorageContainerRow;
  compatible: boolean;
  checks: RuleCheck[];
  freeBytes: number;
  utilizationBefore: number;
  utilizationAfter: number;
}

export interface PlacementRequest {
  rules: PolicyRule[];
  /** Bytes to reserve in all. */
  totalBytes: number;
  /** The largest single VVOL, checked against the container's maximum VVOL size. */
  largestVvolBytes: number;
}

const GiB = 1024 ** 3;
const gib = (bytes: number) => `${(bytes / GiB).toFixed(1)} GiB`;

/** PBM's placement check of one container: each rule, the free space and the largest VVOL, each with why. */
export function checkContainer(core: Core, container: StorageContainerRow, request: PlacementRequest): Placement {
  const freeBytes = container.capacityBytes - container.usedBytes;
  const checks: RuleCheck[] = request.rules.map((rule) => core.registry.checkRuleOnContainer(rule, container));
  checks.push(
    freeBytes >= request.totalBytes
      ? { capabilityId: 'capacity', pass: true, reason: `${gib(freeBytes)} free, ${gib(request.totalBytes)} needed` }
      : { capabilityId: 'capacity', pass: false, reason: `only ${gib(freeBytes)} free, ${gib(request.totalBytes)} needed` },
    request.largestVvolBytes <= container.maxVvolSizeBytes
      ? { capabilityId: 'maxVvolSize', pass: true, reason: `largest VVOL ${gib(request.largestVvolBytes)} within ${gib(container.maxVvolSizeBytes)}` }
      : { capabilityId: 'maxVvolSize', pass: false, reason: `a VVOL of ${gib(request.largestVvolBytes)} exceeds the maximum of ${gib(container.maxVvolSizeBytes)}` },
  );
  return {
    container,
    compatible: checks.every((c) => c.pass),
    checks,
    freeBytes,
    utilizationBefore: container.usedBytes / container.capacityBytes,
    utilizationAfter: (container.usedBytes + request.totalBytes) / container.capacityBytes,
  };
}

/** Every container on a PRIMARY array, compatible ones first, the least utilized (after placement) first. */
export async function placeAll(core: Core, db: Executor, request: PlacementRequest): Promise<Placement[]> {
  const rows = await db
    .select({ container: storageContainers })
    .from(storageContainers)
    .innerJoin(storageArrays, eq(storageArrays.id, storageContainers.arrayId))
    .where(eq(storageArrays.role, 'PRIMARY'))
    .orderBy(asc(storageContainers.name));
  return rows
    .map((r) => checkContainer(core, r.container, request))
    .sort((a, b) => Number(b.compatible) - Number(a.compatible) || a.utilizationAfter - b.utilizationAfter || a.container.name.localeCompare(b.container.name));
}
