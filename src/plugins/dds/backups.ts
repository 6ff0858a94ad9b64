import { and, asc, desc, eq, sql } from 'drizzle-orm';
import { anyOf, ConflictError, KEPT_BY, NotFoundError, ValidationError, resultRows, simulatedNow, type CopySpec, type Executor, type LifecycleContext, type TaskRow } from '../../core/plugin.ts';
import { capabilities } from './capabilities.ts';
import { ddsGenerationVolumes, ddsGenerations } from './tables.ts';

export type GenerationRow = typeof ddsGenerations.$inferSelect;
export type GenerationVolumeRow = typeof ddsGenerationVolumes.$inferSelect;
export type BackupType = GenerationRow['type'];

/**
 * Bandwidth of the path from the primary arrays to the HS backup array, shared by every backup and
 * restore going to or from that array (`dds:<arrayId>`): 500 MiB/s of simulated time.
 */
export const DDS_LINK_BYTES_PER_SECOND = 500 * 1024 ** 2;
export const BACKUP_TASK = 'BACKUP';
export const RESTORE_TASK = 'RESTORE';

/** What the backup work needs; both the lifecycle and the tick contexts carry it. */
export type DdsContext = Pick<LifecycleContext, 'work' | 'extents' | 'tasks' | 'volumes' | 'copier'>;

const defaultOf = (id: string) => capabilities.items.find((i) => i.id === id)!.default;

/** The nec.dds settings of a policy, capability defaults filled in. */
export interface DdsSettings {
  backup: boolean;
  generations: number;
  mode: BackupType;
  dedup: boolean;
  intervalMinutes: number;
}

export async function settingsOf(tx: Executor, policyId: string): Promise<DdsSettings> {
  const rules = resultRows<{ capability_id: string; value: unknown }>(
    await tx.execute(sql`select capability_id, value from policy_rules where policy_id = ${policyId}::uuid and capability_id like 'nec.dds.%'`),
  );
  const value = (id: string) => rules.find((r) => r.capability_id === id)?.value ?? defaultOf(id);
  return {
    backup: value('nec.dds.backup') === true,
    generations: Number(value('nec.dds.generations')),
    mode: value('nec.dds.mode') as BackupType,
    dedup: value('nec.dds.dedup') !== false,
    intervalMinutes: Number(value('nec.dds.intervalMinutes')),
  };
}

interface VmRow {
  id: string;
  name: string;
  host: string;
  power_state: string;
  memory_bytes: string;
  policy_id: string;
}

async function lockVm(tx: Executor, vmId: string): Promise<VmRow | undefined> {
  const [vm] = resultRows<VmRow>(await tx.execute(sql`
    select id::text, name, host, power_state::text, memory_bytes::text, policy_id::text from virtual_machines where id = ${vmId}::uuid for update`));
  return vm;
}

/** The container of a BACKUP array that takes the generations: the one supporting nec.dds with the most room. */
async function backupContainer(tx: Executor): Promise<{ id: string; array_id: string } | undefined> {
  const [container] = resultRows<{ id: string; array_id: string }>(await tx.execute(sql`
    select c.id::text, c.array_id::text from storage_containers c join storage_arrays a on a.id = c.array_id
    where a.role = 'BACKUP' and 'nec.dds' = any(c.namespaces)
    order by c.capacity_bytes - c.used_bytes desc, c.name limit 1`));
  return container;
}

async function runningRestores(tx: Executor, generationIds: readonly string[]): Promise<Set<string>> {
  if (generationIds.length === 0) return new Set();
  const rows = resultRows<{ id: string }>(await tx.execute(sql`
    select distinct params->>'generationId' as id from tasks
    where owner = 'dds' and kind = ${RESTORE_TASK} and state in ('QUEUED', 'RUNNING')
      and params->>'generationId' in (${sql.join(generationIds.map((id) => sql`${id}`), sql`, `)})`));
  return new Set(rows.map((r) => r.id));
}

/**
 * Starts a backup generation of a VM: one backup volume per CONFIG and DATA volume on the BACKUP
 * array, filled by the extent copier over the dds link as one task. FULL copies every allocated extent.
 * DIFFERENTIAL starts each backup volume as a copy of the last available generation's map (extents
 * shared by content id, nothing moved) and copies only the extents that differ. Either way the copies
 * freeze the VM's volumes now: the generation is this instant's data.
 */
export async function startBackup(ctx: DdsContext, vmId: string, requested: BackupType | null, field = 'input.vmId', at?: number): Promise<{ generation: GenerationRow; task: TaskRow }> {
  const { tx } = ctx.work;
  const vm = await lockVm(tx, vmId);
  if (!vm) throw new NotFoundError(field, vmId, `No virtual machine with id "${vmId}"`);
  const [running] = await tx.select().from(ddsGenerations).where(and(eq(ddsGenerations.vmId, vm.id), eq(ddsGenerations.state, 'RUNNING')));
  if (running) throw new ConflictError(`Generation ${running.number} of VM ${vm.name} is still being backed up`, 'RUNNING');
  // A VM being restored or filled by a FULL clone holds half its data: a backup of it now would keep that.
  const [busy] = resultRows<{ id: string; kind: string }>(await tx.execute(sql`select id::text, kind from tasks where target_id = ${vm.id}::uuid and state in ('QUEUED', 'RUNNING') limit 1`));
  if (busy) throw new ConflictError(`VM ${vm.name} has a ${busy.kind} task running (${busy.id}); back it up when it is done`, 'BUSY');
  const container = await backupContainer(tx);
  if (!container) throw new ConflictError('No storage container of a BACKUP array supports nec.dds', 'NO_BACKUP_CONTAINER');
  const settings = await settingsOf(tx, vm.policy_id);
  const sources = resultRows<{ id: string; type: 'CONFIG' | 'DATA'; provisioned_bytes: string; policy_id: string; content_digest: string; unit_number: number | null }>(
    await tx.execute(sql`
      select v.id::text, v.type::text, v.provisioned_bytes::text, v.policy_id::text, v.content_digest, d.unit_number
      from virtual_volumes v left join virtual_disks d on d.vvol_id = v.id
      where v.vm_id = ${vm.id}::uuid and v.snapshot_id is null and v.type in ('CONFIG', 'DATA')
      order by v.created_at, v.type`),
  );
  const [base] = (requested ?? settings.mode) === 'DIFFERENTIAL'
    ? await tx.select().from(ddsGenerations).where(and(eq(ddsGenerations.vmId, vm.id), eq(ddsGenerations.state, 'AVAILABLE'))).orderBy(desc(ddsGenerations.number)).limit(1)
    : [];
  const baseVolumes = new Map(
    base ? (await tx.select().from(ddsGenerationVolumes).where(eq(ddsGenerationVolumes.generationId, base.id))).map((v) => [v.sourceVvolId, v.backupVvolId]) : [],
  );
  const [{ next }] = resultRows<{ next: number }>(await tx.execute(sql`select coalesce(max(number), 0)::int + 1 as next from dds_generations where vm_id = ${vm.id}::uuid`));
  const now = at ?? (await simulatedNow(tx));
  const [generation] = await tx
    .insert(ddsGenerations)
    .values({
      vmId: vm.id, vmName: vm.name, vmHost: vm.host, vmMemoryBytes: Number(vm.memory_bytes), vmPolicyId: vm.policy_id,
      number: next, type: base ? 'DIFFERENTIAL' : 'FULL', time: now, baseGenerationId: base?.id ?? null, containerId: container.id, dedup: settings.dedup,
    })
    .returning();
  const copies: CopySpec[] = [];
  const volumes: (typeof ddsGenerationVolumes.$inferInsert)[] = [];
  for (const source of sources) {
    const target = await ctx.volumes.createCopyTarget(ctx.work, source.id, container.id, { reserve: false, metadata: { 'vvolgraph.ddsGeneration': generation.id, [KEPT_BY]: 'dds' }, field });
    const from = baseVolumes.get(source.id);
    if (from) await ctx.extents.copyMap(tx, from, target.id);
    copies.push({ sourceVvolId: source.id, targetVvolId: target.id, range: from ? 'DIFF' : 'FULL', link: `dds:${container.array_id}`, bytesPerSecond: DDS_LINK_BYTES_PER_SECOND });
    volumes.push({
      generationId: generation.id, sourceVvolId: source.id, backupVvolId: target.id, type: source.type, unitNumber: source.unit_number,
      provisionedBytes: Number(source.provisioned_bytes), policyId: source.policy_id, contentDigest: source.content_digest,
    });
  }
  if (volumes.length > 0) await tx.insert(ddsGenerationVolumes).values(volumes);
  const { task } = await ctx.tasks.startCopies(
    ctx.work,
    { kind: BACKUP_TASK, targetType: 'BackupGeneration', targetId: generation.id, cancelable: true, owner: 'dds', params: { vmId: vm.id, generationId: generation.id, type: generation.type } },
    copies,
  );
  let [started] = await tx.update(ddsGenerations).set({ taskId: task.id }).where(eq(ddsGenerations.id, generation.id)).returning();
  ctx.work.emit({ kind: 'dds.backupStarted', entityType: 'BackupGeneration', entityId: generation.id, message: `${generation.type} backup generation ${generation.number} of VM ${vm.name} started`, data: { vmId: vm.id, number: generation.number, type: generation.type } });
  if (task.state === 'SUCCEEDED') {
    // Nothing differed from the previous generation: the task ended at once, and the generation with it.
    await taskFinished(ctx, task);
    [started] = await tx.select().from(ddsGenerations).where(eq(ddsGenerations.id, generation.id));
  }
  return { generation: started, task };
}

/**
 * Bytes a generation added to the backup array: its extents (each content id once) whose content no
 * other AVAILABLE generation holds. Without dedup, what the copies brought over is stored as it came.
 */
async function storedBytes(ctx: DdsContext, generation: GenerationRow, task: TaskRow): Promise<number> {
  if (!generation.dedup) return task.bytesDone;
  const extentBytes = ctx.extents.extentBytes;
  const [row] = resultRows<{ stored: string }>(await ctx.work.tx.execute(sql`
    with mine as (
      select distinct on (e.content_id) e.content_id,
             least(${extentBytes}::bigint, v.provisioned_bytes - e.idx::bigint * ${extentBytes}::bigint) as bytes
      from dds_generation_volumes gv
      join extents e on e.vvol_id = gv.backup_vvol_id
      join virtual_volumes v on v.id = gv.backup_vvol_id
      where gv.generation_id = ${generation.id}::uuid
      order by e.content_id, e.idx
    ),
    held as (
      select distinct e.content_id
      from dds_generations g
      join dds_generation_volumes gv on gv.generation_id = g.id
      join extents e on e.vvol_id = gv.backup_vvol_id
      where g.state = 'AVAILABLE' and g.id <> ${generation.id}::uuid
    )
    select coalesce(sum(m.bytes), 0)::text as stored from mine m where not exists (select 1 from held h where h.content_id = m.content_id)`));
  return Number(row.stored);
}

/** The dds task hook: a backup's copies are done (the generation becomes AVAILABLE, then retention runs) or stopped. */
export async function taskFinished(ctx: DdsContext, task: TaskRow): Promise<void> {
  if (task.kind !== BACKUP_TASK) return;
  const { tx } = ctx.work;
  const [generation] = await tx.select().from(ddsGenerations).where(eq(ddsGenerations.taskId, task.id)).for('update');
  if (!generation) return;
  const now = await simulatedNow(tx);
  const volumes = await tx.select().from(ddsGenerationVolumes).where(eq(ddsGenerationVolumes.generationId, generation.id));
  const backupIds = volumes.flatMap((v) => (v.backupVvolId ? [v.backupVvolId] : []));
  const landed = new Map(
    (backupIds.length === 0 ? [] : resultRows<{ id: string; content_digest: string; allocated_bytes: string }>(
      await tx.execute(sql`select id::text, content_digest, allocated_bytes::text from virtual_volumes where id in (${sql.join(backupIds.map((id) => sql`${id}::uuid`), sql`, `)})`),
    )).map((v) => [v.id, v]),
  );
  // The copies froze each source's digest: a backup volume that ended with another lost its source mid-copy (deleted with its VM).
  const incomplete = volumes.filter((v) => v.backupVvolId && landed.get(v.backupVvolId)?.content_digest !== v.contentDigest);
  // A source deleted mid-copy fails the task (the core's check); the generation says which volumes it lost.
  const failure = task.state !== 'CANCELLED' && incomplete.length > 0
    ? `${incomplete.length} volume(s) of the VM were deleted during the backup`
    : task.state !== 'SUCCEEDED' ? (task.error ?? `backup task ${task.state.toLowerCase()}`) : null;
  if (failure) {
    await ctx.volumes.remove(ctx.work, backupIds, false);
    await tx.update(ddsGenerationVolumes).set({ backupVvolId: null }).where(eq(ddsGenerationVolumes.generationId, generation.id));
    await tx.update(ddsGenerations).set({ state: 'FAILED', finishedAt: now, error: failure }).where(eq(ddsGenerations.id, generation.id));
    ctx.work.emit({ kind: 'dds.backupFailed', entityType: 'BackupGeneration', entityId: generation.id, message: `Backup generation ${generation.number} of VM ${generation.vmName} failed: ${failure}`, data: { vmId: generation.vmId } });
    return;
  }
  const logical = [...landed.values()].reduce((sum, v) => sum + Number(v.allocated_bytes), 0);
  const stored = await storedBytes(ctx, generation, task);
  await tx.update(ddsGenerations).set({ state: 'AVAILABLE', finishedAt: now, logicalBytes: logical, storedBytes: stored }).where(eq(ddsGenerations.id, generation.id));
  ctx.work.emit({ kind: 'dds.backupAvailable', entityType: 'BackupGeneration', entityId: generation.id, message: `Backup generation ${generation.number} of VM ${generation.vmName} available (${logical} bytes, ${stored} stored)`, data: { vmId: generation.vmId, logicalBytes: logical, storedBytes: stored } });
  await retain(ctx, generation.vmId, now);
}

/**
 * Retention: keeps the newest `nec.dds.generations` AVAILABLE generations of the VM and prunes the
 * older ones, oldest first. Pruning deletes a generation's backup volumes; a content id a newer
 * generation still holds lives on in that generation's own map (a DIFFERENTIAL holds a full map), so
 * no newer generation depends on the pruned volumes. A generation being restored from waits.
 */
export async function retain(ctx: DdsContext, vmId: string, now: number): Promise<GenerationRow[]> {
  const { tx } = ctx.work;
  const [vm] = resultRows<{ policy_id: string }>(await tx.execute(sql`select policy_id::text from virtual_machines where id = ${vmId}::uuid`));
  const available = await tx.select().from(ddsGenerations).where(and(eq(ddsGenerations.vmId, vmId), eq(ddsGenerations.state, 'AVAILABLE'))).orderBy(desc(ddsGenerations.number));
  if (available.length === 0) return [];
  const keep = (await settingsOf(tx, vm?.policy_id ?? available[0].vmPolicyId)).generations;
  const beyond = available.slice(keep).reverse();
  const busy = await runningRestores(tx, beyond.map((g) => g.id));
  const pruned: GenerationRow[] = [];
  for (const generation of beyond.filter((g) => !busy.has(g.id))) pruned.push(await prune(ctx, generation, now));
  return pruned;
}

async function prune(ctx: DdsContext, generation: GenerationRow, now: number): Promise<GenerationRow> {
  const { tx } = ctx.work;
  const volumes = await tx.select().from(ddsGenerationVolumes).where(eq(ddsGenerationVolumes.generationId, generation.id));
  await ctx.volumes.remove(ctx.work, volumes.flatMap((v) => (v.backupVvolId ? [v.backupVvolId] : [])), false);
  await tx.update(ddsGenerationVolumes).set({ backupVvolId: null }).where(eq(ddsGenerationVolumes.generationId, generation.id));
  const [row] = await tx.update(ddsGenerations).set({ state: 'PRUNED', prunedAt: now }).where(eq(ddsGenerations.id, generation.id)).returning();
  ctx.work.emit({ kind: 'dds.generationPruned', entityType: 'BackupGeneration', entityId: generation.id, message: `Backup generation ${generation.number} of VM ${generation.vmName} pruned by retention`, data: { vmId: generation.vmId, number: generation.number } });
  return row;
}

async function findGeneration(ctx: DdsContext, id: string, field: string): Promise<GenerationRow> {
  const [generation] = await ctx.work.tx.select().from(ddsGenerations).where(eq(ddsGenerations.id, id)).for('update');
  if (!generation) throw new NotFoundError(field, id, `No backup generation with id "${id}"`);
  return generation;
}

export interface RestoreInput {
  generationId: string;
  target: 'VM' | 'NEW_VM';
  name?: string | null;
  containerId?: string | null;
  /** NEW_VM: its policy, instead of the one the VM had when backed up. */
  policyId?: string | null;
}

/**
 * Restores a generation, as a task on the dds link. Onto the VM (powered off): each of its volumes that
 * is still the VM's gets back the generation's data; only the extents that differ move. As a new VM: a
 * VM like the one backed up (placed like a new VM) whose volumes receive every extent. The VM cannot
 * power on until the task is done; its volumes then have the generation's digests.
 */
export async function restore(ctx: DdsContext, input: RestoreInput): Promise<{ generation: GenerationRow; task: TaskRow; vmId: string }> {
  const { tx } = ctx.work;
  const generation = await findGeneration(ctx, input.generationId, 'input.generationId');
  if (generation.state !== 'AVAILABLE') {
    throw new ConflictError(`Generation ${generation.number} of VM ${generation.vmName} is ${generation.state}; only an AVAILABLE generation can be restored`, generation.state);
  }
  if (input.target === 'VM' && input.containerId) throw new ValidationError('input.containerId', 'containerId places a NEW_VM; a restore onto the VM keeps its volumes where they are');
  if (input.target === 'VM' && input.name) throw new ValidationError('input.name', 'name names a NEW_VM; a restore onto the VM keeps its name');
  if (input.target === 'VM' && input.policyId) throw new ValidationError('input.policyId', 'policyId is a NEW_VM\'s policy; a restore onto the VM keeps its policies');
  const volumes = await tx.select().from(ddsGenerationVolumes).where(eq(ddsGenerationVolumes.generationId, generation.id)).orderBy(asc(ddsGenerationVolumes.type), asc(ddsGenerationVolumes.unitNumber));
  const [container] = resultRows<{ array_id: string }>(await tx.execute(sql`select array_id::text from storage_containers where id = ${generation.containerId}::uuid`));
  const link = `dds:${container.array_id}`;
  let vmId: string;
  let pairs: { from: string; to: string; range: 'FULL' | 'DIFF' }[];
  if (input.target === 'VM') {
    const vm = await lockVm(tx, generation.vmId);
    if (!vm) throw new ValidationError('input.target', `VM ${generation.vmName} no longer exists; restore the generation as a NEW_VM`);
    if (vm.power_state !== 'POWERED_OFF') throw new ConflictError(`VM ${vm.name} is ${vm.power_state}; power it off before restoring onto it`, vm.power_state);
    const [busy] = resultRows<{ id: string }>(await tx.execute(sql`select id::text from tasks where target_id = ${vm.id}::uuid and state in ('QUEUED', 'RUNNING') limit 1`));
    if (busy) throw new ConflictError(`VM ${vm.name} has a task running (${busy.id}); wait for it`, 'BUSY');
    // Not a disk the VM only reads (an RV attached read-only): the pair keeps that replica's data, not the VM.
    const live = new Set(
      resultRows<{ id: string }>(await tx.execute(sql`
        select v.id::text from virtual_volumes v where v.vm_id = ${vm.id}::uuid and v.snapshot_id is null
          and not exists (select 1 from virtual_disks d where d.vvol_id = v.id and d.read_only)`)).map((r) => r.id),
    );
    pairs = volumes.filter((v) => live.has(v.sourceVvolId)).map((v) => ({ from: v.backupVvolId!, to: v.sourceVvolId, range: 'DIFF' as const }));
    if (pairs.length === 0) throw new ValidationError('input.target', `None of the volumes of generation ${generation.number} belongs to VM ${vm.name} any more; restore it as a NEW_VM`);
    // A pair restoring onto one of its disks (its task is the pair's, not the VM's) would race this copy for the same extents.
    const filling = await ctx.copier.filling(tx, pairs.map((p) => p.to));
    if (filling) throw new ConflictError(`A disk of VM ${vm.name} is being filled by task ${filling.taskId} (a pair's restore); wait for it`, 'BUSY');
    vmId = vm.id;
  } else {
    const policyId = await newVmPolicy(tx, generation, input.policyId ?? null);
    const { vm, vvols } = await ctx.volumes.createVm(ctx.work, {
      name: input.name ?? `${generation.vmName}-restore-${generation.number}`,
      host: generation.vmHost,
      memoryBytes: generation.vmMemoryBytes,
      policyId,
      containerId: input.containerId ?? null,
      field: 'input.containerId',
      // Volumes that were under the VM's policy take the new VM's (as a clone's do); the others keep theirs.
      volumes: volumes.map((v) => ({
        type: v.type, provisionedBytes: v.provisionedBytes, unitNumber: v.unitNumber, policyId: v.policyId === generation.vmPolicyId ? policyId : v.policyId,
        metadata: { 'vvolgraph.restoredFrom': v.backupVvolId! },
      })),
    });
    ctx.work.emit({ kind: 'vm.created', entityType: 'VirtualMachine', entityId: vm.id, message: `VM ${vm.name} created to restore backup generation ${generation.number} of ${generation.vmName}`, data: { generationId: generation.id } });
    pairs = volumes.map((v, i) => ({ from: v.backupVvolId!, to: vvols[i].id, range: 'FULL' as const }));
    vmId = vm.id;
  }
  const { task } = await ctx.tasks.startCopies(
    ctx.work,
    // Not cancelable: a half-restored VM is of no use, and the restore onto a VM has already overwritten part of it.
    { kind: RESTORE_TASK, targetType: 'VirtualMachine', targetId: vmId, owner: 'dds', params: { generationId: generation.id, target: input.target } },
    pairs.map((p) => ({ sourceVvolId: p.from, targetVvolId: p.to, range: p.range, link, bytesPerSecond: DDS_LINK_BYTES_PER_SECOND })),
  );
  ctx.work.emit({ kind: 'dds.restoreStarted', entityType: 'BackupGeneration', entityId: generation.id, message: `Restore of backup generation ${generation.number} of ${generation.vmName} onto ${input.target === 'VM' ? 'the VM' : 'a new VM'} started`, data: { vmId, target: input.target } });
  return { generation, task, vmId };
}

/**
 * The policy of a VM restored from a generation: the one asked for, else the VM's policy when it was backed
 * up. That one may have been deleted since (the generation outlives its VM, and a policy no VM or volume
 * uses can go): then the caller must name one.
 */
async function newVmPolicy(tx: Executor, generation: GenerationRow, asked: string | null): Promise<string> {
  const policyId = asked ?? generation.vmPolicyId;
  const [policy] = resultRows<{ id: string }>(await tx.execute(sql`select id::text from storage_policies where id = ${policyId}::uuid`));
  if (policy) return policyId;
  if (asked) throw new NotFoundError('input.policyId', asked, `No storage policy with id "${asked}"`);
  throw new ValidationError('input.policyId', `The policy VM ${generation.vmName} had when generation ${generation.number} was taken has been deleted; name the new VM's policy`);
}

/** Deletes a generation that is not running nor being restored from: its volumes, and the row. */
export async function deleteGeneration(ctx: DdsContext, id: string): Promise<GenerationRow> {
  const { tx } = ctx.work;
  const generation = await findGeneration(ctx, id, 'input.generationId');
  if (generation.state === 'RUNNING') throw new ConflictError(`Generation ${generation.number} of VM ${generation.vmName} is still being backed up; cancel its task first`, 'RUNNING');
  if ((await runningRestores(tx, [generation.id])).size > 0) throw new ConflictError(`Generation ${generation.number} of VM ${generation.vmName} is being restored from`, 'RESTORING');
  const volumes = await tx.select().from(ddsGenerationVolumes).where(eq(ddsGenerationVolumes.generationId, generation.id));
  await ctx.volumes.remove(ctx.work, volumes.flatMap((v) => (v.backupVvolId ? [v.backupVvolId] : [])), false);
  await tx.delete(ddsGenerations).where(eq(ddsGenerations.id, generation.id));
  ctx.work.emit({ kind: 'dds.generationDeleted', entityType: 'BackupGeneration', entityId: generation.id, message: `Backup generation ${generation.number} of VM ${generation.vmName} deleted`, data: { vmId: generation.vmId } });
  return generation;
}

/**
 * The schedule (engine background phase): every VM whose policy has nec.dds.backup true gets a backup
 * (in the policy's mode) once `intervalMinutes` of simulated time have passed since its last one, the
 * first at once; a VM with a backup still running, or being restored or cloned into, waits. One
 * statement when nothing is due.
 */
export async function runSchedule(ctx: DdsContext, now: number, arrays: ReadonlySet<string>): Promise<GenerationRow[]> {
  if (arrays.size === 0) return [];
  // Only the VMs on the arrays this process ticks: the instance that holds a VM's array backs it up.
  const due = resultRows<{ id: string }>(await ctx.work.tx.execute(sql`
    select vm.id::text from virtual_machines vm
    join storage_containers home on home.id = vm.container_id and home.array_id in (${sql.join([...arrays].map((id) => sql`${id}::uuid`), sql`, `)})
    join policy_rules b on b.policy_id = vm.policy_id and b.capability_id = 'nec.dds.backup' and b.value = 'true'::jsonb
    left join policy_rules i on i.policy_id = vm.policy_id and i.capability_id = 'nec.dds.intervalMinutes'
    left join lateral (
      select max(g.time) as last, bool_or(g.state = 'RUNNING') as running from dds_generations g where g.vm_id = vm.id
    ) g on true
    where not coalesce(g.running, false)
      and not exists (select 1 from tasks t where t.target_id = vm.id and t.state in ('QUEUED', 'RUNNING'))
      and (g.last is null or g.last + coalesce((i.value #>> '{}')::float8, ${Number(defaultOf('nec.dds.intervalMinutes'))}) * 60 <= ${now})
    order by vm.created_at, vm.id`));
  const started: GenerationRow[] = [];
  for (const vm of due) started.push((await startBackup(ctx, vm.id, null, 'vmId', now)).generation);
  return started;
}

/** Generations by VM, newest first, for many VMs at once. */
export async function generationsOf(db: Executor, vmIds: readonly string[]): Promise<GenerationRow[]> {
  if (vmIds.length === 0) return [];
  return db.select().from(ddsGenerations).where(anyOf(ddsGenerations.vmId, [...vmIds])).orderBy(desc(ddsGenerations.number));
}

export async function volumesOf(db: Executor, generationIds: readonly string[]): Promise<GenerationVolumeRow[]> {
  if (generationIds.length === 0) return [];
  return db.select().from(ddsGenerationVolumes).where(anyOf(ddsGenerationVolumes.generationId, [...generationIds])).orderBy(asc(ddsGenerationVolumes.type), asc(ddsGenerationVolumes.unitNumber));
}
