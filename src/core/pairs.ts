import { and, eq, isNotNull, sql } from 'drizzle-orm';
import type { ExtentCopier } from './copier.ts';
import { simulatedNow } from './clock.ts';
import { extentCopies, replicaPairs, virtualVolumes } from './db/tables.ts';
import { isKeptCopy, KEPT_BY, type PolicyOutcome, type VirtualVolumeRow } from './plugin.ts';
import { CapacityError, ConflictError, NotFoundError, ValidationError } from './errors.ts';
import type { ExtentContent, ExtentStore } from './extents.ts';
import { isFinished, type TaskRow, type TaskService } from './tasks.ts';
import type { UnitOfWork } from './unit-of-work.ts';
import type { VolumeService } from './volumes.ts';
import { anyOf, type Executor } from './db/client.ts';

export type PairRow = typeof replicaPairs.$inferSelect;
export type SyncState = PairRow['syncState'];
export type CopyControl = PairRow['copyControl'];

/** Where a new replica of an MV goes and over which link (what `reconcile` asks the owning plugin). */
export interface ReplicaPlacement {
  containerId: string;
  link: string;
  bytesPerSecond: number;
  latencyMs?: number;
  semiSyncThresholdBytes?: number;
}

/** What a policy asks of one MV's replicas of one owner: how many, with which copy control. */
export interface ReplicaGoal {
  owner: string;
  count: number;
  copyControl: CopyControl;
  /** Called only when a replica has to be made. */
  place(mv: VirtualVolumeRow): Promise<ReplicaPlacement>;
}

export interface NewPair {
  owner: string;
  mvId: string;
  rvId: string;
  copyControl: CopyControl;
  link: string;
  bytesPerSecond: number;
  latencyMs?: number;
  semiSyncThresholdBytes?: number;
  /** Made by policy reconciliation (`reconcile`), not by hand. */
  policyManaged?: boolean;
}

/** The task kinds of pair copies; their owner is the core, which settles the pair when they end. */
export const pairTaskKinds = ['REPLICATE', 'SEPARATE', 'RESTORE'] as const;

/** Sync states from which each operation is legal (NEC's ReplicationControl rules). */
const legalFrom: Record<'replicate' | 'separate' | 'restore' | 'unpair', SyncState[]> = {
  replicate: ['SEPARATED', 'RST_SYNC', 'CANCEL', 'FAULT'],
  separate: ['RPL_SYNC', 'RST_SYNC'],
  restore: ['SEPARATED'],
  unpair: ['SEPARATED', 'CANCEL', 'FAULT'],
};

/**
 * Replication pairs (DESIGN §7), shared by ddr (same array) and rdr (another site): the state machine,
 * the copies behind each transition, synchronous mirroring of writes and background catch-up.
 * The dirty-extent bitmap of a pair is the set of extents whose content differs between MV and RV.
 */
export class PairService {
  constructor(
    private readonly tasks: TaskService,
    private readonly copier: ExtentCopier,
    private readonly extents: ExtentStore,
    private readonly volumes: VolumeService,
    /** Copy controls each owning plugin allows (rdr adds SEMI_SYNC). */
    private readonly copyControls: ReadonlyMap<string, readonly CopyControl[]>,
  ) {}

  async find(tx: Executor, id: string, field = 'input.pairId'): Promise<PairRow> {
    const [pair] = await tx.select().from(replicaPairs).where(eq(replicaPairs.id, id)).for('update');
    if (!pair) throw new NotFoundError(field, id);
    return pair;
  }

  private checkCopyControl(owner: string, copyControl: CopyControl, field: string): void {
    const allowed = this.copyControls.get(owner) ?? ['SYNC', 'BACKGROUND'];
    if (!allowed.includes(copyControl)) throw new ValidationError(field, `${owner} pairs take copy control ${allowed.join(' or ')}, not ${copyControl}`);
  }

  /**
   * A new, empty volume to be an RV of `mv` in `containerId`: the MV's size, type and policy, no VM (an
   * array-side volume until attached), capacity reserved.
   */
  createReplicaVolume(work: UnitOfWork, mvId: string, containerId: string, field: string): Promise<VirtualVolumeRow> {
    return this.volumes.createCopyTarget(work, mvId, containerId, { reserve: true, field });
  }

  /** Pairs an MV with an RV: SEPARATED, never synced; `replicate` then makes the first copy. */
  async create(work: UnitOfWork, pair: NewPair, fields = { mvId: 'input.mvId', rvId: 'input.rvId' }): Promise<PairRow> {
    if (pair.mvId === pair.rvId) throw new ValidationError(fields.rvId, 'A volume cannot be paired with itself');
    if (!(pair.bytesPerSecond > 0)) throw new ValidationError('input.bytesPerSecond', `The link bandwidth must be positive, got ${pair.bytesPerSecond}`);
    if ((pair.latencyMs ?? 0) < 0) throw new ValidationError('input.latencyMs', `The link latency cannot be negative, got ${pair.latencyMs}`);
    this.checkCopyControl(pair.owner, pair.copyControl, 'input.copyControl');
    const vvols = await work.tx.select().from(virtualVolumes).where(anyOf(virtualVolumes.id, [pair.mvId, pair.rvId]));
    const mv = vvols.find((v) => v.id === pair.mvId);
    const rv = vvols.find((v) => v.id === pair.rvId);
    if (!mv) throw new NotFoundError(fields.mvId, pair.mvId);
    if (!rv) throw new NotFoundError(fields.rvId, pair.rvId);
    if (mv.type === 'SWAP' || mv.type === 'MEMORY') throw new ValidationError(fields.mvId, `A ${mv.type} volume is not replicated`);
    // A snapshot's VVOL holds the data the snapshot was taken with: a restore onto it (or a copy onto it
    // as an RV) would change what a revert to that snapshot gives back.
    for (const [vvol, field] of [[mv, fields.mvId], [rv, fields.rvId]] as const) {
      if (vvol.snapshotId) throw new ValidationError(field, `A snapshot's VVOL keeps the data it was taken with; it cannot be paired`);
      // The same holds for a backup generation's volume or a point in time's copy: restoring it would lose the backup.
      if (isKeptCopy(vvol)) throw new ValidationError(field, `This volume is a copy ${vvol.metadata[KEPT_BY]} keeps as it was taken (a backup generation or a point in time); it cannot be paired`);
    }
    if (rv.provisionedBytes < mv.provisionedBytes) {
      throw new ValidationError(fields.rvId, `The RV (${rv.provisionedBytes} bytes) is smaller than its MV (${mv.provisionedBytes} bytes)`);
    }
    // An RV is a volume of no VM until attached: a VM's own volume as RV would be copied onto under the VM, and
    // detachReplicaVolume would take it from the VM as if it had been attached.
    if (rv.vmId) throw new ValidationError(fields.rvId, `The volume is one of VM ${rv.vmId}'s own volumes; an RV is a volume without a VM (a new one, or one left by an earlier pair)`);
    const taken = await work.tx.select({ id: replicaPairs.id }).from(replicaPairs).where(sql`${replicaPairs.rvId} in (${pair.rvId}::uuid, ${pair.mvId}::uuid)`);
    if (taken.length > 0) throw new ConflictError(`The volume is already the RV of pair ${taken[0].id}`, 'PAIRED');
    const now = await simulatedNow(work.tx);
    const [row] = await work.tx
      .insert(replicaPairs)
      .values({ ...pair, latencyMs: pair.latencyMs ?? 0, semiSyncThresholdBytes: pair.semiSyncThresholdBytes ?? 0, stateTimes: { SEPARATED: now } })
      .returning();
    this.emit(work, row, 'paired', `RV ${row.rvId} paired with MV ${row.mvId} (${row.owner})`);
    return row;
  }

  private emit(work: UnitOfWork, pair: PairRow, what: string, message: string): void {
    work.emit({ kind: `pair.${what}`, entityType: 'ReplicaPair', entityId: pair.id, message, data: { owner: pair.owner, mvId: pair.mvId, rvId: pair.rvId, activity: pair.activity, syncState: pair.syncState } });
  }

  private legal(pair: PairRow, operation: keyof typeof legalFrom): void {
    if (!legalFrom[operation].includes(pair.syncState)) {
      throw new ConflictError(`${operation} is not possible while the pair is ${pair.syncState} (it needs ${legalFrom[operation].join(', ')})`, pair.syncState);
    }
  }

  /** A copy onto or from an RV that a VM has attached would change a disk under the VM's feet. */
  private async notAttached(tx: Executor, pair: PairRow, operation: string): Promise<void> {
    const [rv] = await tx.select({ vmId: virtualVolumes.vmId }).from(virtualVolumes).where(eq(virtualVolumes.id, pair.rvId));
    if (rv?.vmId) throw new ConflictError(`${operation} is not possible while the RV is attached to VM ${rv.vmId}; detach it first`, 'ATTACHED');
  }

  /**
   * The RV of a SEPARATED pair (or of one separating with rvUse IMMEDIATE), to attach to a VM (for backup
   * or reporting): read-only if the pair was separated RO. Refused while the RV is being copied otherwise,
   * or already attached.
   */
  async attachable(work: UnitOfWork, id: string): Promise<{ pair: PairRow; rv: VirtualVolumeRow; readOnly: boolean }> {
    const pair = await this.find(work.tx, id);
    const usable = pair.syncState === 'SEPARATED' || (pair.syncState === 'SEP_EXEC' && pair.rvUse === 'IMMEDIATE');
    if (!usable) throw new ConflictError(`An RV can be attached once its pair is SEPARATED (or separating with rvUse IMMEDIATE); it is ${pair.syncState}`, pair.syncState);
    const [rv] = await work.tx.select().from(virtualVolumes).where(eq(virtualVolumes.id, pair.rvId)).for('update');
    if (rv.vmId) throw new ConflictError(`The RV is already attached to VM ${rv.vmId}`, 'ATTACHED');
    return { pair, rv, readOnly: pair.rvAccess !== 'RW' };
  }

  /** The RV of a pair, if a VM has it attached. */
  async attachedRv(work: UnitOfWork, id: string): Promise<VirtualVolumeRow> {
    const pair = await this.find(work.tx, id);
    const [rv] = await work.tx.select().from(virtualVolumes).where(eq(virtualVolumes.id, pair.rvId)).for('update');
    if (!rv.vmId) throw new ConflictError('The RV is not attached to a VM', 'DETACHED');
    return rv;
  }

  private async enter(work: UnitOfWork, pair: PairRow, change: Partial<PairRow> & { syncState: SyncState }, now: number): Promise<PairRow> {
    const [row] = await work.tx
      .update(replicaPairs)
      .set({ ...change, stateTimes: { ...pair.stateTimes, [change.syncState]: now } })
      .where(eq(replicaPairs.id, pair.id))
      .returning();
    this.emit(work, row, 'stateChanged', `Pair ${row.id}: ${pair.activity}/${pair.syncState} -> ${row.activity}/${row.syncState}`);
    return row;
  }

  /**
   * Stops the pair's running copy because another operation takes over: the pair lets go of the task
   * first, so its end (CANCELLED) does not move the pair to CANCEL on the way.
   */
  private async stopCopy(work: UnitOfWork, pair: PairRow, reason: string): Promise<void> {
    if (!pair.taskId) return;
    await work.tx.update(replicaPairs).set({ taskId: null }).where(eq(replicaPairs.id, pair.id));
    await this.tasks.end(work, pair.taskId, 'CANCELLED', reason);
  }

  private copyTask(work: UnitOfWork, pair: PairRow, kind: (typeof pairTaskKinds)[number], source: string, target: string, range: 'FULL' | 'DIFF', immediate = false): Promise<{ task: TaskRow }> {
    return this.tasks.startCopies(
      work,
      { kind, targetType: 'ReplicaPair', targetId: pair.id, cancelable: true, params: { pairId: pair.id, owner: pair.owner } },
      [{ sourceVvolId: source, targetVvolId: target, range, link: pair.link, bytesPerSecond: pair.bytesPerSecond, immediate }],
    );
  }

  /** replicate(FULL | DIFF): MV -> RV; the RV is not accessible until separated again. */
  async replicate(work: UnitOfWork, id: string, range: 'FULL' | 'DIFF'): Promise<{ pair: PairRow; task: TaskRow }> {
    const pair = await this.find(work.tx, id);
    this.legal(pair, 'replicate');
    await this.notAttached(work.tx, pair, 'replicate');
    // From RST_SYNC a catch-up copy may be running: one copy per pair, or the two would race on the RV.
    await this.stopCopy(work, pair, 'superseded by replicate');
    const now = await simulatedNow(work.tx);
    const { task } = await this.copyTask(work, pair, 'REPLICATE', pair.mvId, pair.rvId, range);
    const state = isFinished(task) ? { syncState: 'RPL_SYNC' as const, taskId: null, syncedAt: now } : { syncState: 'RPL_EXEC' as const, taskId: task.id };
    return { pair: await this.enter(work, pair, { activity: 'REPLICATE', rvAccess: 'NR', ...state }, now), task };
  }

  /**
   * separate(rvAccess, rvUse): the RV keeps the MV's data as of now. What the RV still lacks is copied
   * first (SEP_EXEC); IMMEDIATE lets hosts use the RV during that copy (it shows that data at once, the copy
   * moving the bytes behind, as an immediate restore does), COMPLETE only after it.
   */
  async separate(work: UnitOfWork, id: string, rvAccess: 'RO' | 'RW', rvUse: 'COMPLETE' | 'IMMEDIATE'): Promise<{ pair: PairRow; task: TaskRow | null }> {
    const pair = await this.find(work.tx, id);
    this.legal(pair, 'separate');
    const now = await simulatedNow(work.tx);
    await this.stopCopy(work, pair, 'superseded by separate');
    const dirty = (await this.copier.dirty(work.tx, [[pair.mvId, pair.rvId]])).get(`${pair.mvId}/${pair.rvId}`)!;
    if (dirty.indexes.length === 0) {
      return { pair: await this.enter(work, pair, { activity: 'SEPARATE', syncState: 'SEPARATED', rvAccess, rvUse, taskId: null, syncedAt: now }, now), task: null };
    }
    const { task } = await this.copyTask(work, pair, 'SEPARATE', pair.mvId, pair.rvId, 'DIFF', rvUse === 'IMMEDIATE');
    return { pair: await this.enter(work, pair, { activity: 'SEPARATE', syncState: 'SEP_EXEC', rvAccess, rvUse, taskId: task.id }, now), task };
  }

  /**
   * restore(UPDATE | PROTECT): RV -> MV, immediate: the MV shows the RV's data from now on while the
   * copy runs behind. UPDATE keeps mirroring MV writes to the RV afterwards; PROTECT leaves the RV as it is.
   */
  async restore(work: UnitOfWork, id: string, mode: 'UPDATE' | 'PROTECT'): Promise<{ pair: PairRow; task: TaskRow }> {
    const pair = await this.find(work.tx, id);
    this.legal(pair, 'restore');
    await this.notAttached(work.tx, pair, 'restore');
    const filling = await this.copier.filling(work.tx, [pair.mvId]);
    if (filling) throw new ConflictError(`The MV is being filled by task ${filling.taskId} (a clone or a restore); restore the pair when it is done`, 'BUSY');
    const now = await simulatedNow(work.tx);
    const { task } = await this.copyTask(work, pair, 'RESTORE', pair.rvId, pair.mvId, 'DIFF', true);
    const activity = mode === 'UPDATE' ? 'RESTORE' : 'RESTORE_PROTECT';
    const state = isFinished(task) ? { syncState: 'RST_SYNC' as const, taskId: null, syncedAt: now } : { syncState: 'RST_EXEC' as const, taskId: task.id };
    return { pair: await this.enter(work, pair, { activity, rvAccess: 'NR', ...state }, now), task };
  }

  async changeCopyControl(work: UnitOfWork, id: string, copyControl: CopyControl): Promise<PairRow> {
    const pair = await this.find(work.tx, id);
    this.checkCopyControl(pair.owner, copyControl, 'input.copyControl');
    if (pair.syncState === 'FAULT') throw new ConflictError('The copy control of a faulted pair cannot change; replicate or unpair it', pair.syncState);
    const [row] = await work.tx.update(replicaPairs).set({ copyControl }).where(eq(replicaPairs.id, id)).returning();
    this.emit(work, row, 'copyControlChanged', `Pair ${id}: copy control ${pair.copyControl} -> ${copyControl}`);
    return row;
  }

  /** unpair: from SEPARATED (or CANCEL, FAULT); `force` from any state, stopping the running copy. */
  async unpair(work: UnitOfWork, id: string, force: boolean): Promise<PairRow> {
    const pair = await this.find(work.tx, id);
    if (!force) this.legal(pair, 'unpair');
    await this.stopCopy(work, pair, 'pair removed');
    await work.tx.delete(replicaPairs).where(eq(replicaPairs.id, id));
    this.emit(work, pair, 'unpaired', `Pair ${id} removed${force ? ' (forced)' : ''}`);
    return pair;
  }

  /**
   * Brings one MV's replicas of `goal.owner` to what its policy asks (policy-driven pairing): makes,
   * pairs and replicates missing replicas, resumes separated or failed ones, changes the copy control,
   * and unpairs and deletes the replicas the policy made but no longer wants. In progress until every
   * wanted pair is in sync. Pairs made by hand are left alone.
   */
  async reconcile(work: UnitOfWork, mv: VirtualVolumeRow, goal: ReplicaGoal): Promise<PolicyOutcome> {
    if (mv.vmId === null || mv.snapshotId !== null || mv.type === 'SWAP' || mv.type === 'MEMORY') return;
    const pairs = (await this.ofVolumes(work.tx, [mv.id], 'mv', goal.owner)).filter((p) => p.policyManaged);
    for (const surplus of pairs.slice(goal.count)) await this.remove(work, surplus);
    const kept = pairs.slice(0, goal.count);
    for (let i = kept.length; i < goal.count; i++) {
      const placement = await goal.place(mv);
      let rv: VirtualVolumeRow;
      try {
        rv = await this.createReplicaVolume(work, mv.id, placement.containerId, 'policy');
      } catch (error) {
        if (error instanceof CapacityError) return { infeasible: `no room for replica ${i + 1} of ${goal.count}: ${error.message}` };
        throw error;
      }
      const { containerId: _, ...link } = placement;
      kept.push(await this.create(work, { owner: goal.owner, mvId: mv.id, rvId: rv.id, copyControl: goal.copyControl, policyManaged: true, ...link }));
    }
    let copying = 0;
    const attached: string[] = [];
    const attachedTo = new Map((await work.tx.select({ id: virtualVolumes.id, vmId: virtualVolumes.vmId }).from(virtualVolumes).where(anyOf(virtualVolumes.id, kept.map((p) => p.rvId)))).map((v) => [v.id, v.vmId]));
    for (const pair of kept) {
      let current = pair.copyControl === goal.copyControl ? pair : await this.changeCopyControl(work, pair.id, goal.copyControl);
      // A separated RV a VM has attached stays as the VM sees it: it is copied again once detached.
      const vmId = attachedTo.get(pair.rvId);
      if (vmId) attached.push(`the RV of pair ${pair.id} is attached to VM ${vmId}`);
      else if (legalFrom.replicate.includes(current.syncState)) current = (await this.replicate(work, pair.id, current.syncedAt === null ? 'FULL' : 'DIFF')).pair;
      if (current.syncState !== 'RPL_SYNC') copying++;
    }
    if (attached.length > 0) return { inProgress: `${attached.join('; ')}: detach it to bring the replica back in step` };
    if (copying > 0) return { inProgress: `${copying} of ${goal.count} ${goal.owner} replicas copying` };
  }

  /** Unpairs (stopping any copy) and deletes the RV if a policy made it. */
  private async remove(work: UnitOfWork, pair: PairRow): Promise<void> {
    if (!pair.policyManaged) {
      await this.unpair(work, pair.id, true);
      return;
    }
    await this.dropReplica(work, pair);
  }

  /**
   * Unpairs (stopping any copy) and deletes the RV: the array's own replica, no longer wanted. An RV a VM
   * has attached stays, as that VM's disk: deleting it would pull a disk from under a VM that may be running.
   */
  async dropReplica(work: UnitOfWork, pair: PairRow): Promise<void> {
    await this.unpair(work, pair.id, true);
    const [rv] = await work.tx.select({ vmId: virtualVolumes.vmId }).from(virtualVolumes).where(eq(virtualVolumes.id, pair.rvId));
    if (rv && rv.vmId === null) await this.volumes.remove(work, [pair.rvId], true);
  }

  /** Volumes about to be deleted: their pairs go (copies stopped), and so do the replicas policies made of them. */
  async volumesDeleting(work: UnitOfWork, vvolIds: readonly string[]): Promise<void> {
    const asMv = await this.ofVolumes(work.tx, vvolIds, 'mv');
    for (const pair of asMv) await this.remove(work, pair);
    const asRv = await this.ofVolumes(work.tx, vvolIds, 'rv');
    for (const pair of asRv) await this.unpair(work, pair.id, true);
  }

  /** A pair's copy task ended: the pair moves on (DESIGN §7's states). */
  async copyFinished(work: UnitOfWork, task: TaskRow): Promise<void> {
    const [pair] = await work.tx.select().from(replicaPairs).where(and(eq(replicaPairs.taskId, task.id))).for('update');
    if (!pair) return;
    const [copy] = await this.copier.copiesOf(work.tx, [task.id]);
    const now = await simulatedNow(work.tx);
    if (task.state === 'CANCELLED') {
      await this.enter(work, pair, { syncState: 'CANCEL', taskId: null }, now);
      return;
    }
    if (task.state === 'FAILED') {
      await this.enter(work, pair, { syncState: 'FAULT', taskId: null }, now);
      return;
    }
    const pointInTime = copy?.frozenAt ?? now;
    if (pair.syncState === 'SEP_EXEC') {
      await this.enter(work, pair, { syncState: 'SEPARATED', taskId: null, syncedAt: pointInTime }, now);
    } else if (pair.syncState === 'RST_EXEC') {
      await this.enter(work, pair, { syncState: 'RST_SYNC', taskId: null, syncedAt: pointInTime }, now);
    } else if (pair.syncState === 'RPL_EXEC') {
      const dirty = (await this.copier.dirty(work.tx, [[pair.mvId, pair.rvId]])).get(`${pair.mvId}/${pair.rvId}`)!;
      if (dirty.indexes.length > 0 && pair.copyControl !== 'BACKGROUND') {
        // Writes landed during the copy: another round before writes can be mirrored one by one.
        const { task: next } = await this.copyTask(work, pair, 'REPLICATE', pair.mvId, pair.rvId, 'DIFF');
        await work.tx.update(replicaPairs).set({ taskId: next.id, syncedAt: pointInTime }).where(eq(replicaPairs.id, pair.id));
      } else {
        await this.enter(work, pair, { syncState: 'RPL_SYNC', taskId: null, syncedAt: dirty.indexes.length === 0 ? now : pointInTime }, now);
      }
    } else if (pair.syncState === 'RPL_SYNC' || pair.syncState === 'RST_SYNC') {
      // A background catch-up copy finished: the RV holds the MV as of its start.
      await work.tx.update(replicaPairs).set({ taskId: null, syncedAt: pointInTime }).where(eq(replicaPairs.id, pair.id));
    }
  }

  /**
   * The tick's part (background phase): writes to the MV of a mirroring pair reach its RV in the same
   * tick (SYNC; SEMI_SYNC above its threshold); BACKGROUND (and SEMI_SYNC below it) catch up by copies.
   * Returns the MVs whose writes waited for a remote side this tick, with the link latency.
   */
  async tick(work: UnitOfWork, written: readonly ExtentContent[]): Promise<Map<string, number>> {
    const pairs = await work.tx.select().from(replicaPairs).where(anyOf(replicaPairs.syncState, ['RPL_SYNC', 'RST_SYNC', 'RST_EXEC']));
    const waited = new Map<string, number>();
    const following = pairs.filter((p) => p.activity !== 'RESTORE_PROTECT');
    // The backlogs come from the extent store's memory, kept extent by extent as writes, mirrors and copies land.
    const dirty = await this.copier.dirty(work.tx, following.map((p) => [p.mvId, p.rvId] as const));
    if (pairs.length === 0) return waited;
    const byMv = new Map<string, ExtentContent[]>();
    for (const w of written) byMv.set(w.vvolId, [...(byMv.get(w.vvolId) ?? []), w]);
    const mirrored: ExtentContent[] = [];
    /** Pairs in step at the end of the tick, whose syncedAt becomes now (one statement for all). */
    const syncedNow: PairRow[] = [];
    const now = await simulatedNow(work.tx);
    for (const pair of following) {
      const backlog = dirty.get(`${pair.mvId}/${pair.rvId}`)!;
      const writes = byMv.get(pair.mvId) ?? [];
      const writtenNow = new Set(writes.map((w) => w.index));
      const inStep = backlog.indexes.every((i) => writtenNow.has(i));
      // SYNC waits once in step; SEMI_SYNC waits only while its unsent data is above the threshold (and
      // its older backlog keeps draining behind); BACKGROUND never waits.
      const waits = pair.syncState !== 'RST_EXEC' && (pair.copyControl === 'SYNC'
        ? inStep && !pair.taskId
        : pair.copyControl === 'SEMI_SYNC' && backlog.bytes > pair.semiSyncThresholdBytes);
      if (waits) {
        for (const w of writes) mirrored.push({ vvolId: pair.rvId, index: w.index, contentId: w.contentId });
        if (writes.length > 0) waited.set(pair.mvId, Math.max(waited.get(pair.mvId) ?? 0, pair.latencyMs));
      }
      const unsent = waits ? backlog.indexes.filter((i) => !writtenNow.has(i)) : backlog.indexes;
      if (unsent.length > 0 && !pair.taskId && pair.syncState !== 'RST_EXEC') {
        const { task } = await this.copyTask(work, pair, 'REPLICATE', pair.mvId, pair.rvId, 'DIFF');
        await work.tx.update(replicaPairs).set({ taskId: task.id }).where(eq(replicaPairs.id, pair.id));
      } else if (unsent.length === 0 && !pair.taskId) {
        // In step at the end of this tick: the RV holds the MV as of now.
        syncedNow.push(pair);
      }
    }
    if (syncedNow.length > 0) {
      // Unless a copy fills the MV (a backup restored onto it, a FULL clone): it writes later in this tick, after this
      // step, so the RV cannot be said to hold the MV as of now; the next tick sees the backlog and catches up.
      const filled = await work.tx.select({ id: extentCopies.targetVvolId }).from(extentCopies)
        .where(and(eq(extentCopies.state, 'RUNNING'), eq(extentCopies.immediate, false), anyOf(extentCopies.targetVvolId, syncedNow.map((p) => p.mvId))));
      const filling = new Set(filled.map((c) => c.id));
      const synced = syncedNow.filter((p) => !filling.has(p.mvId)).map((p) => p.id);
      if (synced.length > 0) await work.tx.update(replicaPairs).set({ syncedAt: now }).where(anyOf(replicaPairs.id, synced));
    }
    await this.extents.assign(work.tx, mirrored);
    return waited;
  }

  /**
   * A link's bandwidth, latency or SEMI_SYNC threshold changed (rdr's configurable links): every pair on
   * it, and every copy running on it, takes the new figures from the next tick on.
   */
  async reconfigureLink(work: UnitOfWork, link: string, settings: { bytesPerSecond: number; latencyMs: number; semiSyncThresholdBytes: number }): Promise<PairRow[]> {
    if (!(settings.bytesPerSecond > 0)) throw new ValidationError('input.bytesPerSecond', `The link bandwidth must be positive, got ${settings.bytesPerSecond}`);
    if (!(settings.latencyMs >= 0)) throw new ValidationError('input.latencyMs', `The link latency cannot be negative, got ${settings.latencyMs}`);
    const rows = await work.tx.update(replicaPairs).set(settings).where(eq(replicaPairs.link, link)).returning();
    await this.copier.relink(work.tx, link, settings.bytesPerSecond);
    for (const row of rows) this.emit(work, row, 'linkChanged', `Pair ${row.id}: link ${link} now ${settings.bytesPerSecond} B/s, ${settings.latencyMs} ms`);
    return rows;
  }

  /** Pairs by MV or RV, for GraphQL fields (one statement for many volumes). */
  async ofVolumes(tx: Executor, vvolIds: readonly string[], side: 'mv' | 'rv', owner?: string): Promise<PairRow[]> {
    if (vvolIds.length === 0) return [];
    const column = side === 'mv' ? replicaPairs.mvId : replicaPairs.rvId;
    return tx.select().from(replicaPairs).where(and(anyOf(column, [...vvolIds]), owner ? eq(replicaPairs.owner, owner) : isNotNull(replicaPairs.id))).orderBy(replicaPairs.createdAt, replicaPairs.id);
  }
}
