import { sql } from 'drizzle-orm';
import { NotFoundError, pgArray, resultRows, ValidationError, type CopyControl, type Executor, type LifecycleContext, type PairRow, type UnitOfWork } from '../../core/plugin.ts';
import { linkName, linkSettings } from './links.ts';

export interface Placement {
  vvolId: string;
  vmId: string | null;
  type: string;
  policyId: string;
  provisionedBytes: number;
  containerId: string;
  arrayId: string;
  site: string;
  role: string;
}

export async function placements(tx: Executor, vvolIds: string[]): Promise<Map<string, Placement>> {
  if (vvolIds.length === 0) return new Map();
  const rows = resultRows<Placement>(await tx.execute(sql`
    select v.id::text as "vvolId", v.vm_id::text as "vmId", v.type::text as type, v.policy_id::text as "policyId", v.provisioned_bytes::float8 as "provisionedBytes", c.id::text as "containerId", a.id::text as "arrayId", a.site, a.role::text as role
    from virtual_volumes v join storage_containers c on c.id = v.container_id join storage_arrays a on a.id = c.array_id
    where v.id = any(${pgArray(vvolIds)}::uuid[])`));
  return new Map(rows.map((r) => [r.vvolId, r]));
}

interface ContainerPlace {
  id: string;
  name: string;
  arrayId: string;
  site: string;
  role: string;
  free: number;
}

async function containerPlace(tx: Executor, containerId: string): Promise<ContainerPlace | undefined> {
  const [row] = resultRows<ContainerPlace>(await tx.execute(sql`
    select c.id::text as id, c.name, a.id::text as "arrayId", a.site, a.role::text as role, (c.capacity_bytes - c.used_bytes)::float8 as free
    from storage_containers c join storage_arrays a on a.id = c.array_id where c.id = ${containerId}::uuid`));
  return row;
}

/**
 * Where the RVs of `volumes` (at `site`) go: the given container (checked), or a container on a PRIMARY array at
 * `targetSite` (any other site when none is named): one that could hold the volumes under their policies first
 * (the core's placement check), as a failover makes them a VM there that runs under those policies; then the one
 * with the most free space.
 */
export async function chooseTargetContainer(
  ctx: Pick<LifecycleContext, 'volumes'>, tx: Executor, volumes: Placement[], containerId: string | null, targetSite: string | null, field: string,
): Promise<ContainerPlace> {
  const site = volumes[0].site;
  if (containerId) {
    const place = await containerPlace(tx, containerId);
    if (!place) throw new NotFoundError(field, containerId);
    if (place.site === site) throw new ValidationError(field, `RDR replicates to another site; ${place.name} is at ${site}, like the MV (use ddr within a site)`);
    if (place.role !== 'PRIMARY') throw new ValidationError(field, `${place.name} is on a ${place.role} array; RDR replicates to a PRIMARY array`);
    return place;
  }
  const compatible = await ctx.volumes.compatibleContainers(tx, volumes.map((v) => v.policyId), volumes.map((v) => v.provisionedBytes));
  const rows = resultRows<ContainerPlace>(await tx.execute(sql`
    select c.id::text as id, c.name, a.id::text as "arrayId", a.site, a.role::text as role, (c.capacity_bytes - c.used_bytes)::float8 as free
    from storage_containers c join storage_arrays a on a.id = c.array_id
    where a.role = 'PRIMARY' and a.site <> ${site} ${targetSite ? sql`and a.site = ${targetSite}` : sql``}
    order by c.id = any(${pgArray(compatible.map((c) => c.id))}::uuid[]) desc, c.capacity_bytes - c.used_bytes desc, c.name limit 1`));
  if (!rows[0]) throw new ValidationError(field, targetSite ? `No PRIMARY array at site ${targetSite} (other than the MV's site ${site})` : `No PRIMARY array at a site other than ${site}`);
  return rows[0];
}

/** Pairs `mvId` with an RV at another site (a new one in `containerId`, or `rvId`), on the link between the two arrays. */
export async function pairRemote(
  ctx: Pick<LifecycleContext, 'pairs' | 'volumes'>,
  work: UnitOfWork,
  input: { mvId: string; rvId?: string | null; containerId?: string | null; targetSite?: string | null; copyControl: CopyControl; policyManaged?: boolean },
): Promise<PairRow> {
  const places = await placements(work.tx, [input.mvId, ...(input.rvId ? [input.rvId] : [])]);
  const mv = places.get(input.mvId);
  if (!mv) throw new NotFoundError('input.mvId', input.mvId);
  let rvId: string;
  let targetArrayId: string;
  if (input.rvId) {
    if (input.containerId) throw new ValidationError('input.containerId', 'targetContainerId places a new RV; it cannot be given with rvId');
    const rv = places.get(input.rvId);
    if (!rv) throw new NotFoundError('input.rvId', input.rvId);
    if (input.rvId !== input.mvId && rv.site === mv.site) throw new ValidationError('input.rvId', `RDR replicates to another site; this RV is at ${mv.site}, like the MV (use ddr within a site)`);
    rvId = input.rvId;
    targetArrayId = rv.arrayId;
  } else {
    const target = await chooseTargetContainer(ctx, work.tx, [mv], input.containerId ?? null, input.targetSite ?? null, 'input.targetContainerId');
    if (mv.type === 'SWAP' || mv.type === 'MEMORY') throw new ValidationError('input.mvId', `A ${mv.type} volume is not replicated`);
    rvId = (await ctx.pairs.createReplicaVolume(work, input.mvId, target.id, 'input.targetContainerId')).id;
    targetArrayId = target.arrayId;
  }
  const link = await linkSettings(work.tx, mv.arrayId, targetArrayId);
  return ctx.pairs.create(work, { owner: 'rdr', mvId: input.mvId, rvId, copyControl: input.copyControl, policyManaged: input.policyManaged, link: linkName(mv.arrayId, targetArrayId), ...link });
}
