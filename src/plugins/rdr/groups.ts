import { and, desc, eq, sql } from 'drizzle-orm';
import { anyOf, ConflictError, KEPT_BY, NotFoundError, pgArray, resultRows, simulatedNow, type CopyControl, type Executor, type ExtentCopier, type LifecycleContext, type PairRow, type TaskRow, type UnitOfWork } from '../../core/plugin.ts';
import { linkName, linkSettings } from './links.ts';
import { chooseTargetContainer, pairRemote, placements } from './pairing.ts';
import { rdrGroupHistory, rdrGroups, rdrPointsInTime, type GroupState, type PointVolume } from './tables.ts';

export type GroupRow = typeof rdrGroups.$inferSelect;
export type PointRow = typeof rdrPointsInTime.$inferSelect;
export type HistoryRow = typeof rdrGroupHistory.$inferSelect;
type Ctx = Pick<LifecycleContext, 'pairs' | 'volumes' | 'tasks' | 'copier'>;

/**
 * On the volumes of a VM a failover (or a test failover) registers at the target: the source volume each
 * stands in for, which a reverse makes its RV again.
 */
const SOURCE_VOLUME = 'nec.rdr.sourceVolume';

/** A VM's volumes that replication groups replicate (not its SWAP or MEMORY VVOLs). */
export const replicated = (v: { type: string }) => v.type === 'CONFIG' || v.type === 'DATA';

/** Point-in-time replicas kept per group (the oldest complete one goes when a newer completes). */
export const POINTS_IN_TIME_KEPT = 3;

export type Transition = 'SYNC' | 'TEST_FAILOVER_START' | 'TEST_FAILOVER_STOP' | 'FAILOVER' | 'REVERSE' | 'PROMOTE';

export interface Plan {
  transition: Transition;
  group: GroupRow;
  from: { source: GroupState; target: GroupState };
  to: { source: GroupState; target: GroupState };
  /** Existing volumes the transition reads or changes. */
  volumes: string[];
  /** Volumes whose binding changes (a VM powered off). */
  bindings: string[];
  pointInTime: PointRow | null;
  /** Why it cannot run now; empty when it can. */
  blockers: string[];
  /** The state that blocks it, for the ConflictError. */
  currentState: string;
}

interface VmRow {
  id: string;
  name: string;
  host: string;
  power_state: string;
  policy_id: string;
  container_id: string;
  memory_bytes: number;
}

async function vmRow(tx: Executor, id: string | null): Promise<VmRow | null> {
  if (!id) return null;
  const [vm] = resultRows<VmRow>(await tx.execute(sql`select id::text as id, name, host, power_state::text as power_state, policy_id::text as policy_id, container_id::text as container_id, memory_bytes::float8 as memory_bytes from virtual_machines where id = ${id}::uuid`));
  return vm ?? null;
}

/** A VM's own CONFIG and DATA volumes (not snapshots) with their unit numbers, and which are bound. */
interface VmVolume { id: string; type: string; unitNumber: number | null; containerId: string; provisionedBytes: number; bound: boolean; metadata: Record<string, string> }

async function vmVolumes(tx: Executor, vmId: string): Promise<VmVolume[]> {
  return resultRows(await tx.execute(sql`
    select v.id::text as id, v.type::text as type, d.unit_number as "unitNumber", v.container_id::text as "containerId", v.provisioned_bytes::float8 as "provisionedBytes", v.bind_state = 'BOUND' as bound, v.metadata
    from virtual_volumes v left join virtual_disks d on d.vvol_id = v.id
    where v.vm_id = ${vmId}::uuid and v.snapshot_id is null order by v.type, d.unit_number nulls first, v.created_at`));
}

/** The rdr pairs whose MV is one of the group's source VM's volumes. */
export async function groupPairs(ctx: Pick<Ctx, 'pairs'>, tx: Executor, sourceVmId: string): Promise<PairRow[]> {
  return (await groupsPairs(ctx, tx, [sourceVmId])).get(sourceVmId)!;
}

/** groupPairs for many source VMs at once, by VM: two statements. */
export async function groupsPairs(ctx: Pick<Ctx, 'pairs'>, tx: Executor, sourceVmIds: readonly string[]): Promise<Map<string, PairRow[]>> {
  const volumes = resultRows<{ id: string; vm_id: string }>(await tx.execute(sql`
    select id::text as id, vm_id::text as vm_id from virtual_volumes where vm_id = any(${pgArray([...sourceVmIds])}::uuid[]) and snapshot_id is null`));
  const vmOf = new Map(volumes.map((v) => [v.id, v.vm_id]));
  const pairs = await ctx.pairs.ofVolumes(tx, volumes.map((v) => v.id), 'mv', 'rdr');
  return new Map(sourceVmIds.map((vmId) => [vmId, pairs.filter((p) => vmOf.get(p.mvId) === vmId)]));
}

async function history(work: UnitOfWork, group: GroupRow, transition: string, to: { source: GroupState; target: GroupState }, detail: string): Promise<void> {
  const at = await simulatedNow(work.tx);
  await work.tx.insert(rdrGroupHistory).values({ groupId: group.id, at, transition, fromState: `${group.sourceState}/${group.targetState}`, toState: `${to.source}/${to.target}`, detail });
  work.emit({ kind: 'rdr.group.transition', entityType: 'ReplicationGroup', entityId: group.id, message: `Replication group of VM ${group.sourceVmId}: ${transition} ${group.sourceState}/${group.targetState} -> ${to.source}/${to.target}${detail ? ` (${detail})` : ''}`, data: { transition } });
}

export async function findGroup(tx: Executor, id: string, field = 'input.groupId'): Promise<GroupRow> {
  const [group] = await tx.select().from(rdrGroups).where(eq(rdrGroups.id, id)).for('update');
  if (!group) throw new NotFoundError(field, id);
  return group;
}

export async function groupOfVm(tx: Executor, vmId: string): Promise<GroupRow | null> {
  const [group] = await tx.select().from(rdrGroups).where(sql`${rdrGroups.sourceVmId} = ${vmId}::uuid or ${rdrGroups.targetVmId} = ${vmId}::uuid`);
  return group ?? null;
}

/** The groups whose target VM (a test failover's or a failover's) is one of these VMs, by that VM. */
export async function groupsTargeting(tx: Executor, vmIds: string[]): Promise<Map<string, GroupRow>> {
  if (vmIds.length === 0) return new Map();
  const groups = await tx.select().from(rdrGroups).where(anyOf(rdrGroups.targetVmId, vmIds));
  return new Map(groups.map((g) => [g.targetVmId!, g]));
}

export async function latestPoint(tx: Executor, groupId: string, id?: string | null): Promise<PointRow | null> {
  const [point] = await tx.select().from(rdrPointsInTime)
    .where(and(eq(rdrPointsInTime.groupId, groupId), eq(rdrPointsInTime.state, 'COMPLETE'), id ? eq(rdrPointsInTime.id, id) : undefined))
    .orderBy(desc(rdrPointsInTime.takenAt), desc(rdrPointsInTime.createdAt)).limit(1);
  return point ?? null;
}

/**
 * createReplicationGroup: pairs every CONFIG and DATA volume of the VM not yet remotely paired with an
 * RV in one container at another site, starts their FULL copies, and makes the group SOURCE/TARGET.
 */
export async function createGroup(ctx: Ctx, work: UnitOfWork, input: { vmId: string; targetContainerId?: string | null; targetSite?: string | null; copyControl: CopyControl; policyManaged?: boolean }): Promise<GroupRow> {
  const vm = await vmRow(work.tx, input.vmId);
  if (!vm) throw new NotFoundError('input.vmId', input.vmId);
  const existing = await groupOfVm(work.tx, vm.id);
  if (existing) throw new ConflictError(`VM ${vm.name} already belongs to replication group ${existing.id}`, existing.sourceVmId === vm.id ? existing.sourceState : existing.targetState);
  const volumes = await vmVolumes(work.tx, vm.id);
  const places = await placements(work.tx, volumes.map((v) => v.id));
  const home = places.get(volumes[0].id)!;
  const target = await chooseTargetContainer(ctx, work.tx, volumes.filter(replicated).map((v) => places.get(v.id)!), input.targetContainerId ?? null, input.targetSite ?? null, 'input.targetContainerId');
  const paired = new Set((await ctx.pairs.ofVolumes(work.tx, volumes.map((v) => v.id), 'mv', 'rdr')).map((p) => p.mvId));
  for (const volume of volumes.filter((v) => replicated(v) && !paired.has(v.id))) {
    const pair = await pairRemote(ctx, work, { mvId: volume.id, containerId: target.id, copyControl: input.copyControl, policyManaged: input.policyManaged });
    await ctx.pairs.replicate(work, pair.id, 'FULL');
  }
  const [group] = await work.tx.insert(rdrGroups).values({ sourceVmId: vm.id, sourceArrayId: home.arrayId, targetArrayId: target.arrayId, targetContainerId: target.id }).returning();
  await history(work, { ...group, sourceState: 'SOURCE', targetState: 'TARGET' }, 'CREATE', { source: 'SOURCE', target: 'TARGET' }, `to ${target.name}`);
  return group;
}

/** What each transition needs, and what it would do: the dry run (plan: true) and the guard of the real one. */
export async function plan(ctx: Ctx, tx: Executor, group: GroupRow, transition: Transition, options: { pointInTimeId?: string | null; planned?: boolean } = {}): Promise<Plan> {
  const from = { source: group.sourceState, target: group.targetState };
  const blockers: string[] = [];
  let currentState: string = group.targetState;
  const pairs = await groupPairs(ctx, tx, group.sourceVmId);
  const source = await vmRow(tx, group.sourceVmId);
  const targetVm = await vmRow(tx, group.targetVmId);
  const sourceVolumes = source ? await vmVolumes(tx, source.id) : [];
  const targetVolumes = targetVm ? await vmVolumes(tx, targetVm.id) : [];
  const pairVolumes = pairs.flatMap((p) => [p.mvId, p.rvId]);
  const requireSource = () => {
    if (group.sourceState !== 'SOURCE') {
      blockers.push(`The group's source side is ${group.sourceState}, not SOURCE`);
      currentState = group.sourceState;
    }
  };
  const requireTarget = (...states: GroupState[]) => {
    if (!states.includes(group.targetState)) {
      blockers.push(`The group's target side is ${group.targetState}; ${transition} needs ${states.join(' or ')}`);
      currentState = group.targetState;
    }
  };
  // An unplanned failover is for when the source is lost: a copy still running from it (a sync's point in
  // time, a planned failover's final sync) may never end, so it is stopped rather than waited for.
  const supersedesPending = transition === 'FAILOVER' && !options.planned;
  if (group.pending && !supersedesPending) {
    blockers.push(`A ${group.pending.transition} is still copying (task ${group.pending.taskId})`);
    currentState = `${group.pending.transition}_PENDING`;
  }
  let to = from;
  let volumes: string[] = [];
  let bindings: string[] = [];
  let pointInTime: PointRow | null = null;
  let grown: Room[] = [];
  switch (transition) {
    case 'SYNC':
      requireTarget('TARGET', 'INTEST');
      requireSource();
      if (pairs.length === 0) blockers.push('The group has no replicated volumes');
      volumes = pairVolumes;
      break;
    case 'TEST_FAILOVER_START':
      requireTarget('TARGET');
      pointInTime = await latestPoint(tx, group.id, options.pointInTimeId);
      if (!pointInTime) blockers.push(options.pointInTimeId ? `No complete point-in-time replica ${options.pointInTimeId} in this group` : 'No point-in-time replica yet: run syncReplicationGroup first');
      to = { source: group.sourceState, target: 'INTEST' };
      volumes = pointInTime?.volumes.map((v) => v.copyId) ?? [];
      break;
    case 'TEST_FAILOVER_STOP':
      requireTarget('INTEST');
      to = { source: group.sourceState, target: 'TARGET' };
      volumes = targetVolumes.map((v) => v.id);
      bindings = targetVolumes.filter((v) => v.bound).map((v) => v.id);
      break;
    case 'FAILOVER':
      requireTarget('TARGET');
      requireSource();
      to = { source: 'REMOTE_FAILEDOVER', target: 'FAILEDOVER' };
      if (options.planned) {
        if (source && source.power_state !== 'POWERED_OFF') blockers.push(`VM ${source.name} is ${source.power_state}: power it off before a planned failover, so the final sync is its last data`);
        if (pairs.length === 0) blockers.push('The group has no replicated volumes');
      } else {
        pointInTime = await latestPoint(tx, group.id, options.pointInTimeId);
        if (!pointInTime) blockers.push('No point-in-time replica to fail over to: an unplanned failover uses the last one');
        bindings = sourceVolumes.filter((v) => v.bound).map((v) => v.id);
      }
      volumes = [...pairVolumes, ...(pointInTime?.volumes.map((v) => v.copyId) ?? [])];
      break;
    case 'PROMOTE':
      requireTarget('INTEST');
      if (group.targetState === 'INTEST' && !targetVm) blockers.push('The test VM was deleted: there is no VM at the target to promote; stop the test failover');
      to = { source: 'REMOTE_FAILEDOVER', target: 'FAILEDOVER' };
      volumes = [...pairVolumes, ...targetVolumes.map((v) => v.id)];
      bindings = sourceVolumes.filter((v) => v.bound).map((v) => v.id);
      break;
    case 'REVERSE': {
      requireTarget('FAILEDOVER');
      if (group.targetState === 'FAILEDOVER' && !targetVm) blockers.push('The failed-over VM was deleted: there is nothing at the target to replicate back');
      to = { source: 'SOURCE', target: 'TARGET' };
      if (source && source.power_state !== 'POWERED_OFF') blockers.push(`VM ${source.name} (the old source) is ${source.power_state}; it must be off to become the replica`);
      if (source) grown = reverseRoom(source.container_id, sourceVolumes, targetVolumes);
      volumes = [...targetVolumes.map((v) => v.id), ...sourceVolumes.map((v) => v.id)];
      // Its copies go from the failed-over VM onto the old source's volumes: neither may be half way through another copy (a backup restore).
      const filling = await ctx.copier.filling(tx, volumes);
      if (filling) {
        if (blockers.length === 0) currentState = 'BUSY';
        blockers.push(`A volume of ${sourceVolumes.some((v) => v.id === filling.targetVvolId) ? 'the old source VM' : 'the failed-over VM'} is being filled by task ${filling.taskId}; wait for it`);
      }
      bindings = sourceVolumes.filter((v) => v.bound).map((v) => v.id);
      break;
    }
  }
  // The copies it makes (a point in time of the RVs; a VM from a point's copies; a planned failover both) reserve space.
  const copied = transition === 'SYNC' ? pairs.map((p) => p.rvId)
    : transition === 'FAILOVER' && options.planned ? pairs.flatMap((p) => [p.rvId, p.rvId])
      : transition === 'TEST_FAILOVER_START' || transition === 'FAILOVER' ? (pointInTime?.volumes.map((v) => v.copyId) ?? [])
        : [];
  const short = await roomBlockers(tx, copied, grown);
  if (short.length > 0 && blockers.length === 0) currentState = 'NO_SPACE';
  blockers.push(...short);
  return { transition, group, from, to, volumes, bindings, pointInTime, blockers, currentState };
}

/** Space a transition reserves in a container besides its copies. */
interface Room {
  containerId: string;
  bytes: number;
}

/**
 * What a reverse does to the room at the old source, in the order it does it: the old source's volumes that no
 * live disk stands in for (a disk removed while failed over) are deleted first, giving their space back; then
 * each other one grows to the size of the one standing in for it (a disk grown while failed over), and a disk
 * added while failed over gets a new RV in the old source VM's container.
 */
function reverseRoom(containerId: string, old: VmVolume[], live: VmVolume[]): Room[] {
  const standIns = live.filter(replicated);
  const oldById = new Map(old.filter(replicated).map((v) => [v.id, v]));
  const stoodFor = new Set(standIns.map((v) => v.metadata[SOURCE_VOLUME]));
  return [
    ...[...oldById.values()].filter((v) => !stoodFor.has(v.id)).map((v) => ({ containerId: v.containerId, bytes: -v.provisionedBytes })),
    ...standIns.map((v) => {
      const was = oldById.get(v.metadata[SOURCE_VOLUME]);
      return was ? { containerId: was.containerId, bytes: Math.max(0, v.provisionedBytes - was.provisionedBytes) } : { containerId, bytes: v.provisionedBytes };
    }),
  ];
}

/**
 * Containers without room for copies of these volumes (each copy goes to its volume's container and
 * reserves its size; a volume listed twice is copied twice) and for `more`: the dry run says so instead of
 * the real run failing on it.
 */
async function roomBlockers(tx: Executor, vvolIds: string[], more: Room[] = []): Promise<string[]> {
  if (vvolIds.length === 0 && more.length === 0) return [];
  const rows = resultRows<{ name: string; free: number; needed: number }>(await tx.execute(sql`
    select c.name, (c.capacity_bytes - c.used_bytes)::float8 as free, sum(n.bytes)::float8 as needed
    from (
      select v.container_id, v.provisioned_bytes::float8 from unnest(${pgArray(vvolIds)}::uuid[]) as u(id) join virtual_volumes v on v.id = u.id
      union all
      select * from unnest(${pgArray(more.map((m) => m.containerId))}::uuid[], ${pgArray(more.map((m) => m.bytes))}::float8[])
    ) as n(container_id, bytes)
    join storage_containers c on c.id = n.container_id
    group by c.id, c.name, c.capacity_bytes, c.used_bytes order by c.name`));
  return rows.filter((r) => r.needed > r.free).map((r) => `Container ${r.name} has ${r.free} bytes free; the copies need ${r.needed}`);
}

/** Starts a point-in-time replica: at the target, a copy of each RV's map, then the MV's data as of now copied onto it over the link. */
async function startPointInTime(ctx: Ctx, work: UnitOfWork, group: GroupRow, pairs: PairRow[], purpose: 'SYNC' | 'FAILOVER'): Promise<PointRow> {
  const now = await simulatedNow(work.tx);
  const disks = new Map((await vmVolumes(work.tx, group.sourceVmId)).map((v) => [v.id, v]));
  const rvPlaces = await placements(work.tx, pairs.map((p) => p.rvId));
  const [point] = await work.tx.insert(rdrPointsInTime).values({ groupId: group.id, takenAt: now, state: 'COPYING', volumes: [] }).returning();
  const volumes: PointVolume[] = [];
  for (const pair of pairs) {
    const copy = await ctx.volumes.copyVolume(work, pair.rvId, rvPlaces.get(pair.rvId)!.containerId, { 'vvolgraph.replicaOf': pair.mvId, 'nec.rdr.pointInTime': point.id, [KEPT_BY]: 'rdr' });
    volumes.push({ mvId: pair.mvId, rvId: pair.rvId, copyId: copy.id, type: disks.get(pair.mvId)?.type ?? 'DATA', unitNumber: disks.get(pair.mvId)?.unitNumber ?? null });
  }
  const dirty = await ctx.copier.dirty(work.tx, pairs.map((p) => [p.mvId, p.rvId] as const));
  const inStep = pairs.every((p) => dirty.get(`${p.mvId}/${p.rvId}`)!.indexes.length === 0);
  let task: TaskRow | null = null;
  if (!inStep) {
    task = (await ctx.tasks.startCopies(
      work,
      { kind: purpose === 'SYNC' ? 'RDR_SYNC' : 'RDR_FAILOVER', targetType: 'ReplicationGroup', targetId: group.id, owner: 'rdr', params: { pointInTimeId: point.id } },
      pairs.map((p, i) => ({ sourceVvolId: p.mvId, targetVvolId: volumes[i].copyId, range: 'DIFF' as const, link: p.link, bytesPerSecond: p.bytesPerSecond })),
    )).task;
  }
  const [row] = await work.tx.update(rdrPointsInTime).set({ volumes, state: task ? 'COPYING' : 'COMPLETE', taskId: task?.id ?? null }).where(eq(rdrPointsInTime.id, point.id)).returning();
  if (task) await work.tx.update(rdrGroups).set({ pending: { transition: purpose, taskId: task.id, pointInTimeId: point.id } }).where(eq(rdrGroups.id, group.id));
  else await pruneOldPoints(ctx, work, group.id);
  return row;
}

async function pruneOldPoints(ctx: Ctx, work: UnitOfWork, groupId: string): Promise<void> {
  const complete = await work.tx.select().from(rdrPointsInTime).where(and(eq(rdrPointsInTime.groupId, groupId), eq(rdrPointsInTime.state, 'COMPLETE'))).orderBy(desc(rdrPointsInTime.takenAt), desc(rdrPointsInTime.createdAt));
  await dropPoints(ctx, work, complete.slice(POINTS_IN_TIME_KEPT));
}

/** Deletes groups with their points in time, whose copy volumes hold reserved space. */
export async function dropGroups(ctx: Ctx, work: UnitOfWork, groupIds: string[]): Promise<void> {
  if (groupIds.length === 0) return;
  await dropPoints(ctx, work, await work.tx.select().from(rdrPointsInTime).where(anyOf(rdrPointsInTime.groupId, groupIds)));
  await work.tx.delete(rdrGroups).where(anyOf(rdrGroups.id, groupIds));
}

async function dropPoints(ctx: Ctx, work: UnitOfWork, points: PointRow[]): Promise<void> {
  if (points.length === 0) return;
  await ctx.volumes.remove(work, points.flatMap((p) => p.volumes.map((v) => v.copyId)), true);
  await work.tx.delete(rdrPointsInTime).where(anyOf(rdrPointsInTime.id, points.map((p) => p.id)));
}

/** A point-in-time copy ended (the rdr-owned task): the point is complete, and a planned failover waiting for it goes on. */
export async function pointCopyFinished(ctx: Ctx, work: UnitOfWork, task: TaskRow): Promise<void> {
  const [point] = await work.tx.select().from(rdrPointsInTime).where(eq(rdrPointsInTime.taskId, task.id));
  if (!point) return;
  const [group] = await work.tx.select().from(rdrGroups).where(eq(rdrGroups.id, point.groupId)).for('update');
  await work.tx.update(rdrGroups).set({ pending: null }).where(eq(rdrGroups.id, group.id));
  const ready = { ...group, pending: null };
  if (task.state !== 'SUCCEEDED') {
    await dropPoints(ctx, work, [point]);
    await history(work, group, group.pending?.transition ?? 'SYNC', { source: group.sourceState, target: group.targetState }, `point-in-time copy ${task.state.toLowerCase()}`);
    return;
  }
  const [complete] = await work.tx.update(rdrPointsInTime).set({ state: 'COMPLETE' }).where(eq(rdrPointsInTime.id, point.id)).returning();
  await pruneOldPoints(ctx, work, group.id);
  if (group.pending?.transition === 'FAILOVER') await failOverTo(ctx, work, ready, complete, 'planned: final sync done');
  else await history(work, group, 'SYNC', { source: group.sourceState, target: group.targetState }, `point in time at ${complete.takenAt}s complete`);
}

/** The target side becomes the live VM from a point-in-time replica; the pairs go, the source is fenced. */
async function failOverTo(ctx: Ctx, work: UnitOfWork, group: GroupRow, point: PointRow, detail: string): Promise<void> {
  const source = (await vmRow(work.tx, group.sourceVmId))!;
  const copies = [];
  for (const v of point.volumes) {
    const place = (await placements(work.tx, [v.copyId])).get(v.copyId)!;
    copies.push({ ...v, live: (await ctx.volumes.copyVolume(work, v.copyId, place.containerId, { [SOURCE_VOLUME]: v.mvId })).id });
  }
  const vm = await ctx.volumes.registerVm(work, {
    name: source.name, host: `esxi-${group.targetArrayId.slice(0, 8)}`, containerId: group.targetContainerId, policyId: source.policy_id, memoryBytes: source.memory_bytes,
    configVvolId: copies.find((c) => c.type === 'CONFIG')?.live ?? null,
    diskVvolIds: copies.filter((c) => c.type === 'DATA').sort((a, b) => (a.unitNumber ?? 0) - (b.unitNumber ?? 0)).map((c) => c.live),
  });
  await leavePairs(ctx, work, group);
  if (source.power_state !== 'POWERED_OFF') await ctx.volumes.powerOff(work, source.id);
  const to = { source: 'REMOTE_FAILEDOVER', target: 'FAILEDOVER' } as const;
  await work.tx.update(rdrGroups).set({ sourceState: to.source, targetState: to.target, targetVmId: vm.id, pending: null }).where(eq(rdrGroups.id, group.id));
  await history(work, group, group.targetState === 'INTEST' ? 'PROMOTE' : 'FAILOVER', to, `${detail}; point in time at ${point.takenAt}s`);
}

/** The old pairs stop (force) and their RVs go: the failed-over VM has copies of its own. */
async function leavePairs(ctx: Ctx, work: UnitOfWork, group: GroupRow): Promise<void> {
  const pairs = await groupPairs(ctx, work.tx, group.sourceVmId);
  for (const pair of pairs) await ctx.pairs.dropReplica(work, pair);
}

/** Runs a transition (after `plan` found nothing blocking it). */
export async function apply(ctx: Ctx, work: UnitOfWork, p: Plan, options: { copyControl?: CopyControl | null }): Promise<void> {
  const { group } = p;
  switch (p.transition) {
    case 'SYNC': {
      const pairs = await groupPairs(ctx, work.tx, group.sourceVmId);
      const point = await startPointInTime(ctx, work, group, pairs, 'SYNC');
      await history(work, group, 'SYNC', p.to, point.state === 'COMPLETE' ? `in step: point in time at ${point.takenAt}s` : `copying ${point.takenAt}s's data`);
      return;
    }
    case 'TEST_FAILOVER_START': {
      const source = (await vmRow(work.tx, group.sourceVmId))!;
      const point = p.pointInTime!;
      const copies = [];
      for (const v of point.volumes) {
        const place = (await placements(work.tx, [v.copyId])).get(v.copyId)!;
        copies.push({ ...v, test: (await ctx.volumes.copyVolume(work, v.copyId, place.containerId, { [SOURCE_VOLUME]: v.mvId })).id });
      }
      const vm = await ctx.volumes.registerVm(work, {
        name: `${source.name}-test`, host: `esxi-${group.targetArrayId.slice(0, 8)}`, containerId: group.targetContainerId, policyId: source.policy_id, memoryBytes: source.memory_bytes,
        configVvolId: copies.find((c) => c.type === 'CONFIG')?.test ?? null,
        diskVvolIds: copies.filter((c) => c.type === 'DATA').sort((a, b) => (a.unitNumber ?? 0) - (b.unitNumber ?? 0)).map((c) => c.test),
      });
      await work.tx.update(rdrGroups).set({ targetState: 'INTEST', targetVmId: vm.id }).where(eq(rdrGroups.id, group.id));
      await history(work, group, 'TEST_FAILOVER_START', p.to, `test VM ${vm.id} from the point in time at ${point.takenAt}s`);
      return;
    }
    case 'TEST_FAILOVER_STOP':
      if (group.targetVmId) await ctx.volumes.removeVm(work, group.targetVmId);
      await work.tx.update(rdrGroups).set({ targetState: 'TARGET', targetVmId: null }).where(eq(rdrGroups.id, group.id));
      await history(work, group, 'TEST_FAILOVER_STOP', p.to, 'test VM removed');
      return;
    case 'FAILOVER':
      if (p.pointInTime) {
        // The pending copy's end (CANCELLED) drops its incomplete point in time and clears `pending`.
        if (group.pending) await ctx.tasks.end(work, group.pending.taskId, 'CANCELLED', 'superseded by an unplanned failover');
        await failOverTo(ctx, work, { ...group, pending: null }, p.pointInTime, 'unplanned: the last point in time');
      } else {
        const pairs = await groupPairs(ctx, work.tx, group.sourceVmId);
        const point = await startPointInTime(ctx, work, group, pairs, 'FAILOVER');
        if (point.state === 'COMPLETE') await failOverTo(ctx, work, group, point, 'planned: already in step');
        else await history(work, group, 'FAILOVER_PREPARE', p.from, `planned: final sync of ${point.takenAt}s's data running`);
      }
      return;
    case 'PROMOTE': {
      const source = (await vmRow(work.tx, group.sourceVmId))!;
      await leavePairs(ctx, work, group);
      if (source.power_state !== 'POWERED_OFF') await ctx.volumes.powerOff(work, source.id);
      await work.tx.update(rdrGroups).set({ sourceState: p.to.source, targetState: p.to.target }).where(eq(rdrGroups.id, group.id));
      await history(work, group, 'PROMOTE', p.to, `test VM ${group.targetVmId} is the live VM now`);
      return;
    }
    case 'REVERSE': {
      const liveVmId = group.targetVmId!;
      const oldSource = (await vmRow(work.tx, group.sourceVmId))!;
      const live = (await vmVolumes(work.tx, liveVmId)).filter(replicated);
      const old = new Set((await ctx.volumes.unregisterVm(work, oldSource.id)).filter(replicated).map((v) => v.id));
      // What is left of the old source stood in for disks the failed-over VM no longer has: they go as those did,
      // first, so the space they give back is there for what grows and for new RVs (as the dry run counts it).
      const stoodFor = new Set(live.map((v) => v.metadata[SOURCE_VOLUME]));
      const gone = [...old].filter((id) => !stoodFor.has(id));
      await ctx.volumes.remove(work, gone, true);
      for (const id of gone) old.delete(id);
      const link = await linkSettings(work.tx, group.targetArrayId, group.sourceArrayId);
      const copyControl = options.copyControl ?? 'BACKGROUND';
      // Under a policy asking for a remote replica, the new pairs serve it as the ones before the failover
      // did: policy-made, so deleting the VM (or dropping the rule) deletes their RVs instead of leaving them.
      const policyManaged = (await rpoOf(work.tx, [liveVmId])).has(liveVmId);
      for (const volume of live) {
        const rvId = volume.metadata[SOURCE_VOLUME];
        await ctx.volumes.setMetadata(work, volume.id, { [SOURCE_VOLUME]: null });
        if (rvId && old.delete(rvId)) {
          // The old source's volume holds the data as of the failover: only what changed since is copied back.
          await ctx.volumes.setMetadata(work, rvId, { 'vvolgraph.replicaOf': volume.id });
          await ctx.volumes.growTo(work, rvId, volume.provisionedBytes);
          const pair = await ctx.pairs.create(work, { owner: 'rdr', mvId: volume.id, rvId, copyControl, policyManaged, link: linkName(group.targetArrayId, group.sourceArrayId), ...link });
          await ctx.pairs.replicate(work, pair.id, 'DIFF');
        } else {
          const pair = await pairRemote(ctx, work, { mvId: volume.id, containerId: oldSource.container_id, copyControl, policyManaged });
          await ctx.pairs.replicate(work, pair.id, 'FULL');
        }
      }
      await dropPoints(ctx, work, await work.tx.select().from(rdrPointsInTime).where(eq(rdrPointsInTime.groupId, group.id)));
      await work.tx.update(rdrGroups).set({
        sourceVmId: liveVmId, targetVmId: null, sourceArrayId: group.targetArrayId, targetArrayId: group.sourceArrayId, targetContainerId: oldSource.container_id,
        sourceState: 'SOURCE', targetState: 'TARGET',
      }).where(eq(rdrGroups.id, group.id));
      await history(work, group, 'REVERSE', p.to, `VM ${liveVmId} replicates back to the old source's volumes (DIFF)`);
      return;
    }
  }
}

export interface Progress {
  rpoLagSeconds: number;
  bytesRemaining: number;
  bytesPerSecond: number;
  etaSeconds: number;
  lastPointInTime: number | null;
  health: 'OK' | 'INITIAL_COPY' | 'RPO_EXCEEDED' | 'FAULT' | 'FAILED_OVER' | 'NOT_REPLICATING';
  rpoSeconds: number | null;
}

/** The group's RPO: its source VM's policy's nec.rdr.rpoSeconds (the capability's default when the policy asks for a replica without one). */
export async function rpoOf(tx: Executor, vmIds: string[]): Promise<Map<string, number>> {
  if (vmIds.length === 0) return new Map();
  const rows = resultRows<{ vm: string; replica: unknown; rpo: unknown }>(await tx.execute(sql`
    select m.id::text as vm,
      (select value from policy_rules r where r.policy_id = m.policy_id and r.capability_id = 'nec.rdr.replica' limit 1) as replica,
      (select value from policy_rules r where r.policy_id = m.policy_id and r.capability_id = 'nec.rdr.rpoSeconds' limit 1) as rpo
    from virtual_machines m where m.id = any(${pgArray(vmIds)}::uuid[])`));
  const result = new Map<string, number>();
  for (const row of rows) if (row.replica === true) result.set(row.vm, typeof row.rpo === 'number' ? row.rpo : 300);
  return result;
}

/** The pair's lag: how far behind the MV its RV's last exact point in time is (from its creation when never synced). */
export const pairLag = (pair: Pick<PairRow, 'syncedAt' | 'stateTimes'>, now: number) => Math.max(0, now - (pair.syncedAt ?? pair.stateTimes['SEPARATED'] ?? 0));

/**
 * The progress of many groups (the tick's RPO check of every group): five statements whatever their
 * number. `rpos` holds the RPO of each source VM that has one.
 */
export async function groupsProgress(ctx: Pick<Ctx, 'pairs' | 'copier'>, tx: Executor, groups: GroupRow[], now: number, rpos: ReadonlyMap<string, number>): Promise<Map<string, Progress>> {
  if (groups.length === 0) return new Map();
  const pairsOf = await groupsPairs(ctx, tx, groups.map((g) => g.sourceVmId));
  const points = await tx.selectDistinctOn([rdrPointsInTime.groupId]).from(rdrPointsInTime)
    .where(and(anyOf(rdrPointsInTime.groupId, groups.map((g) => g.id)), eq(rdrPointsInTime.state, 'COMPLETE')))
    .orderBy(rdrPointsInTime.groupId, desc(rdrPointsInTime.takenAt), desc(rdrPointsInTime.createdAt));
  const lastPoint = new Map(points.map((p) => [p.groupId, p.takenAt]));
  const sets = groups.map((group) => ({
    pairs: group.targetState === 'FAILEDOVER' ? [] : pairsOf.get(group.sourceVmId)!,
    base: { lastPointInTime: lastPoint.get(group.id) ?? null, rpoSeconds: rpos.get(group.sourceVmId) ?? null },
  }));
  const progresses = await pairSetsProgress(ctx, tx, sets, now);
  return new Map(groups.map((group, i) => [
    group.id,
    group.targetState === 'FAILEDOVER' ? { ...sets[i].base, rpoLagSeconds: 0, bytesRemaining: 0, bytesPerSecond: 0, etaSeconds: 0, health: 'FAILED_OVER' as const } : progresses[i],
  ]));
}

/** One pair's progress (ddr's or rdr's): the RPO is its MV's VM's policy's, the last point in time its last exact sync. */
export async function pairProgress(ctx: Pick<Ctx, 'copier'>, tx: Executor, pair: PairRow, now: number): Promise<Progress> {
  return (await eachPairProgress(ctx, tx, [pair], now))[0];
}

/** pairProgress of many pairs, each on its own: four statements whatever their number. */
export async function eachPairProgress(ctx: Pick<Ctx, 'copier'>, tx: Executor, pairs: readonly PairRow[], now: number): Promise<Progress[]> {
  if (pairs.length === 0) return [];
  const vmOf = new Map(resultRows<{ id: string; vm_id: string | null }>(await tx.execute(sql`
    select id::text as id, vm_id::text as vm_id from virtual_volumes where id = any(${pgArray(pairs.map((p) => p.mvId))}::uuid[])`)).map((r) => [r.id, r.vm_id]));
  const rpos = await rpoOf(tx, [...new Set([...vmOf.values()].filter((id): id is string => id !== null))]);
  return pairSetsProgress(ctx, tx, pairs.map((pair) => {
    const vmId = vmOf.get(pair.mvId);
    return { pairs: [pair], base: { lastPointInTime: pair.syncedAt, rpoSeconds: vmId ? (rpos.get(vmId) ?? null) : null } };
  }), now);
}

/** The progress of several sets of pairs (each replicating together): two statements for all of them. */
async function pairSetsProgress(ctx: Pick<Ctx, 'copier'>, tx: Executor, sets: { pairs: PairRow[]; base: Pick<Progress, 'lastPointInTime' | 'rpoSeconds'> }[], now: number): Promise<Progress[]> {
  const all = sets.flatMap((set) => set.pairs);
  const dirty = all.length === 0 ? new Map() : await (ctx.copier as ExtentCopier).dirty(tx, all.map((p) => [p.mvId, p.rvId] as const));
  const taskIds = all.map((p) => p.taskId).filter((id): id is string => id !== null);
  const copies = new Map(taskIds.length === 0 ? [] : resultRows<{ id: string; rate: number; left: number }>(await tx.execute(sql`
    select id::text as id, bytes_per_second::float8 as rate, (bytes_total - bytes_done)::float8 as left from tasks where id = any(${pgArray(taskIds)}::uuid[])`)).map((r) => [r.id, r]));
  return sets.map(({ pairs, base }) => progressOf(pairs, base, now, dirty, copies));
}

type RunningCopy = { rate: number; left: number };

/**
 * What a pair still has to move: the extents that differ, and, during an immediate restore (the MV shows
 * the RV's data at once, so nothing differs), the bytes its copy still moves behind that view.
 */
const bytesLeft = (pair: PairRow, dirty: ReadonlyMap<string, { bytes: number }>, copies: ReadonlyMap<string, RunningCopy>) =>
  dirty.get(`${pair.mvId}/${pair.rvId}`)!.bytes + (pair.syncState === 'RST_EXEC' && pair.taskId ? (copies.get(pair.taskId)?.left ?? 0) : 0);

function progressOf(pairs: PairRow[], base: Pick<Progress, 'lastPointInTime' | 'rpoSeconds'>, now: number, dirty: ReadonlyMap<string, { bytes: number }>, copies: ReadonlyMap<string, RunningCopy>): Progress {
  if (pairs.length === 0) return { ...base, rpoLagSeconds: 0, bytesRemaining: 0, bytesPerSecond: 0, etaSeconds: 0, health: 'NOT_REPLICATING' };
  const bytesRemaining = pairs.reduce((sum, p) => sum + bytesLeft(p, dirty, copies), 0);
  const tasks = new Set(pairs.map((p) => p.taskId).filter((id): id is string => id !== null));
  const bytesPerSecond = [...tasks].reduce((sum, id) => sum + (copies.get(id)?.rate ?? 0), 0);
  // The pairs share one link: until their copies report a rate, the link's bandwidth is what they will get.
  const rate = bytesPerSecond > 0 ? bytesPerSecond : pairs[0].bytesPerSecond;
  const rpoLagSeconds = Math.max(...pairs.map((p) => pairLag(p, now)));
  const { rpoSeconds } = base;
  const health: Progress['health'] = pairs.some((p) => p.syncState === 'FAULT' || p.syncState === 'CANCEL')
    ? 'FAULT'
    : rpoSeconds !== null && rpoLagSeconds > rpoSeconds
      ? 'RPO_EXCEEDED'
      : pairs.some((p) => p.syncedAt === null) ? 'INITIAL_COPY' : 'OK';
  return { ...base, rpoLagSeconds, bytesRemaining, bytesPerSecond, etaSeconds: bytesRemaining === 0 ? 0 : bytesRemaining / rate, health };
}
