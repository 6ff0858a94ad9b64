import { and, eq, sql } from 'drizzle-orm';
import { anyOf, pgArray, resultRows, type Executor } from './db/client.ts';
import { copyExtents, extentCopies, tasks, virtualVolumes } from './db/tables.ts';
import { type ExtentContent, type ExtentStore } from './extents.ts';
import { ValidationError } from './errors.ts';

export type CopyRow = typeof extentCopies.$inferSelect;

/** Work-list rows a copy looks at beyond what its bandwidth pays for, so trims (which cost no bytes) keep moving. */
const TRIMS_PER_STEP = 64;

export interface CopyRequest {
  taskId: string;
  sourceVvolId: string;
  targetVvolId: string;
  /** FULL copies every extent of the source; DIFF only those whose content differs on the target. */
  range: 'FULL' | 'DIFF';
  /** Copies on the same link share its bandwidth (e.g. `internal:<array>` or `link:<arrayA>:<arrayB>`). */
  link: string;
  bytesPerSecond: number;
  /** Simulated seconds now: the point in time the copy freezes. */
  now: number;
  /** The target shows the frozen data at once (an immediate restore); the copy then only moves the bytes behind. */
  immediate?: boolean;
}

export interface CopyStep {
  copy: CopyRow;
  copiedBytes: number;
  /** The bandwidth the copy had this tick (its share of the link), in bytes: its rate, even when whole extents land unevenly. */
  grantedBytes: number;
  done: boolean;
}

/**
 * The extent copier (DESIGN §5, shared mechanisms): a point-in-time, bandwidth-limited copy of one
 * VVOL's extents onto another, with progress in bytes. ddr, rdr and dds configure it; the core's FULL
 * clone uses it too. The dirty-extent bitmap of two VVOLs is the set of extents whose content ids
 * differ: since every write makes a content id never used before, that is exactly the extents written
 * on either side since they last held the same data.
 */
export class ExtentCopier {
  constructor(private readonly extents: ExtentStore) {}

  /** Freezes the source's extents that need copying and starts the copy. Two statements, whatever the size. */
  async start(db: Executor, request: CopyRequest): Promise<CopyRow> {
    if (!(request.bytesPerSecond > 0)) throw new ValidationError('bytesPerSecond', `bytesPerSecond must be positive, got ${request.bytesPerSecond}`);
    if (request.sourceVvolId === request.targetVvolId) throw new ValidationError('targetVvolId', 'A volume cannot be copied onto itself');
    const [source] = await db.select({ digest: virtualVolumes.contentDigest }).from(virtualVolumes).where(eq(virtualVolumes.id, request.sourceVvolId));
    if (!source) throw new ValidationError('sourceVvolId', `No virtual volume ${request.sourceVvolId}`);
    const [target] = await db.select({ provisionedBytes: virtualVolumes.provisionedBytes }).from(virtualVolumes).where(eq(virtualVolumes.id, request.targetVvolId));
    if (!target) throw new ValidationError('targetVvolId', `No virtual volume ${request.targetVvolId}`);
    const [copy] = await db
      .insert(extentCopies)
      .values({
        taskId: request.taskId,
        sourceVvolId: request.sourceVvolId,
        targetVvolId: request.targetVvolId,
        range: request.range,
        immediate: request.immediate ?? false,
        link: request.link,
        bytesPerSecond: request.bytesPerSecond,
        frozenAt: request.now,
        frozenDigest: source.digest,
        bytesTotal: 0,
      })
      .returning();
    const differs = request.range === 'FULL' ? sql`true` : sql`s.content_id is distinct from t.content_id`;
    // A source larger than its target (a restore from an RV larger than its MV) lands only what fits: an
    // extent past the target's end would be data outside the volume (and count negative bytes in it).
    const fits = this.extents.extentCount(target.provisionedBytes);
    const [{ total, extents }] = resultRows<{ total: string; extents: number }>(
      await db.execute(sql`
        with work as (
          insert into ${copyExtents} (copy_id, idx, content_id)
          select ${copy.id}::uuid, coalesce(s.idx, t.idx), s.content_id
          from (select idx, content_id from extents where vvol_id = ${request.sourceVvolId}::uuid) s
          full join (select idx, content_id from extents where vvol_id = ${request.targetVvolId}::uuid) t on s.idx = t.idx
          where ((s.idx is not null and ${differs}) or s.idx is null) and coalesce(s.idx, t.idx) < ${fits}
          returning idx, content_id
        )
        select coalesce(sum(case when w.content_id is null then 0
                                 else least(${this.extents.extentBytes}::bigint, v.provisioned_bytes - w.idx::bigint * ${this.extents.extentBytes}::bigint) end), 0)::text as total,
               count(w.idx)::int as extents
        from virtual_volumes v left join work w on true where v.id = ${request.sourceVvolId}::uuid`),
    );
    // Nothing differs: the copy is done the moment it starts.
    const [started] = await db.update(extentCopies).set({ bytesTotal: Number(total), state: extents === 0 ? 'DONE' : 'RUNNING' }).where(eq(extentCopies.id, copy.id)).returning();
    if (request.immediate) await this.extents.assign(db, await this.workList(db, started, 0, Number.MAX_SAFE_INTEGER));
    return started;
  }

  private async workList(db: Executor, copy: CopyRow, fromIndex: number, limit: number): Promise<ExtentContent[]> {
    const rows = resultRows<{ idx: number; content_id: string | null }>(
      await db.execute(sql`
        select idx, content_id::text as content_id from ${copyExtents}
        where copy_id = ${copy.id}::uuid and idx >= ${fromIndex} order by idx limit ${limit}`),
    );
    return rows.map((r) => ({ vvolId: copy.targetVvolId, index: r.idx, contentId: r.content_id === null ? null : BigInt(r.content_id) }));
  }

  /**
   * Moves every running copy of the given tasks forward by `seconds` of bandwidth, in extent order.
   * Copies on one link split its bandwidth evenly, and what one cannot use goes to the others.
   * An extent is copied whole or not at all; bandwidth left over is credit for the next tick.
   */
  async step(db: Executor, taskIds: readonly string[], seconds: number): Promise<CopyStep[]> {
    if (taskIds.length === 0) return [];
    const rows = await db
      .select({ copy: extentCopies, sourceBytes: virtualVolumes.provisionedBytes })
      .from(extentCopies)
      .innerJoin(virtualVolumes, eq(virtualVolumes.id, extentCopies.sourceVvolId))
      .where(and(anyOf(extentCopies.taskId, taskIds), eq(extentCopies.state, 'RUNNING')))
      .orderBy(extentCopies.createdAt, extentCopies.id);
    if (rows.length === 0) return [];
    const copies = rows.map((r) => r.copy);
    const sizes = new Map(rows.map((r) => [r.copy.sourceVvolId, r.sourceBytes]));
    const budgets = shareLinks(copies, seconds);
    // One statement for every copy's next extents: as many as its budget could pay for, and room for trims (free).
    const limits = copies.map((c) => Math.ceil((budgets.get(c.id)! + c.credit) / this.extents.extentBytes) + TRIMS_PER_STEP);
    const next = resultRows<{ copy_id: string; idx: number; content_id: string | null }>(
      await db.execute(sql`
        select w.copy_id::text as copy_id, e.idx, e.content_id::text as content_id
        from unnest(${pgArray(copies.map((c) => c.id))}::uuid[], ${pgArray(copies.map((c) => c.cursor))}::int[], ${pgArray(limits)}::int[]) as w(copy_id, cursor, lim)
        cross join lateral (
          select idx, content_id from ${copyExtents} where copy_id = w.copy_id and idx >= w.cursor order by idx limit w.lim
        ) e
        order by w.copy_id, e.idx`),
    );
    const byCopy = new Map<string, typeof next>();
    for (const row of next) {
      const list = byCopy.get(row.copy_id) ?? [];
      list.push(row);
      byCopy.set(row.copy_id, list);
    }
    const writes: ExtentContent[] = [];
    const steps: CopyStep[] = [];
    for (const [i, copy] of copies.entries()) {
      let budget = budgets.get(copy.id)! + copy.credit;
      let copied = 0;
      let cursor = copy.cursor;
      const list = byCopy.get(copy.id) ?? [];
      let done = list.length < limits[i];
      for (const row of list) {
        const bytes = row.content_id === null ? 0 : this.extents.bytesAt(row.idx, sizes.get(copy.sourceVvolId)!);
        if (bytes > budget) {
          done = false;
          break;
        }
        budget -= bytes;
        copied += bytes;
        cursor = row.idx + 1;
        if (!copy.immediate) writes.push({ vvolId: copy.targetVvolId, index: row.idx, contentId: row.content_id === null ? null : BigInt(row.content_id) });
      }
      if (done && list.length > 0 && cursor <= list[list.length - 1].idx) done = false;
      steps.push({ copy: { ...copy, cursor, bytesDone: copy.bytesDone + copied, credit: done ? 0 : budget, state: done ? 'DONE' : 'RUNNING' }, copiedBytes: copied, grantedBytes: budgets.get(copy.id)!, done });
    }
    await this.extents.assign(db, writes);
    await db.execute(sql`
      update ${extentCopies} c set cursor = u.cursor, bytes_done = u.done, credit = u.credit, state = u.state::copy_state
      from unnest(${pgArray(steps.map((s) => s.copy.id))}::uuid[], ${pgArray(steps.map((s) => s.copy.cursor))}::int[],
                  ${pgArray(steps.map((s) => s.copy.bytesDone))}::bigint[], ${pgArray(steps.map((s) => s.copy.credit))}::float8[],
                  ${pgArray(steps.map((s) => s.copy.state))}::text[]) as u(id, cursor, done, credit, state)
      where c.id = u.id`);
    return steps;
  }

  /** Stops the running copies of these tasks where they are: what was copied stays copied. */
  async cancel(db: Executor, taskIds: readonly string[]): Promise<void> {
    if (taskIds.length === 0) return;
    await db.update(extentCopies).set({ state: 'CANCELLED' }).where(and(anyOf(extentCopies.taskId, taskIds), eq(extentCopies.state, 'RUNNING')));
  }

  /** The running copies on `link` take its new bandwidth (a reconfigured replication link). */
  async relink(db: Executor, link: string, bytesPerSecond: number): Promise<void> {
    if (!(bytesPerSecond > 0)) throw new ValidationError('bytesPerSecond', `bytesPerSecond must be positive, got ${bytesPerSecond}`);
    await db.update(extentCopies).set({ bytesPerSecond }).where(sql`${extentCopies.link} = ${link} and ${extentCopies.state} = 'RUNNING'`);
  }

  /** Of these tasks, those whose copies no longer add up to their total: a copy is deleted with its source or target volume. */
  async lostCopies(db: Executor, tasks: readonly { id: string; bytesTotal: number }[]): Promise<Set<string>> {
    if (tasks.length === 0) return new Set();
    const rows = await db
      .select({ taskId: extentCopies.taskId, bytesTotal: sql<string>`sum(${extentCopies.bytesTotal})` })
      .from(extentCopies)
      .where(anyOf(extentCopies.taskId, tasks.map((t) => t.id)))
      .groupBy(extentCopies.taskId);
    const kept = new Map(rows.map((r) => [r.taskId, Number(r.bytesTotal)]));
    return new Set(tasks.filter((t) => !kept.has(t.id) || kept.get(t.id)! < t.bytesTotal).map((t) => t.id));
  }

  /**
   * A copy onto one of these volumes whose task has not ended, if any: another copy onto them would race it for their
   * extents, or change a volume the task has finished with but still answers for (a VM's restore succeeds with all its volumes).
   */
  async filling(db: Executor, vvolIds: readonly string[]): Promise<CopyRow | null> {
    if (vvolIds.length === 0) return null;
    const [row] = await db.select({ copy: extentCopies }).from(extentCopies).innerJoin(tasks, eq(tasks.id, extentCopies.taskId))
      .where(and(anyOf(extentCopies.targetVvolId, [...vvolIds]), anyOf(tasks.state, ['QUEUED', 'RUNNING']))).limit(1);
    return row?.copy ?? null;
  }

  async copiesOf(db: Executor, taskIds: readonly string[]): Promise<CopyRow[]> {
    if (taskIds.length === 0) return [];
    return db.select().from(extentCopies).where(anyOf(extentCopies.taskId, taskIds)).orderBy(extentCopies.createdAt, extentCopies.id);
  }

  /**
   * The dirty-extent bitmap of each pair (a, b): extents whose content differs, with their bytes
   * (sized by a), from the extent store's memory (ExtentStore.differing): one statement checks it against
   * the database, whatever the number of pairs and extents.
   */
  dirty(db: Executor, pairs: readonly (readonly [string, string])[]): Promise<Map<string, { indexes: number[]; bytes: number }>> {
    return this.extents.differing(db, pairs);
  }
}

/** Each copy's share of its link's bandwidth this tick: even shares, what a copy cannot use handed on. */
function shareLinks(copies: readonly CopyRow[], seconds: number): Map<string, number> {
  const budgets = new Map<string, number>();
  const byLink = new Map<string, CopyRow[]>();
  for (const copy of copies) {
    const group = byLink.get(copy.link);
    if (group) group.push(copy);
    else byLink.set(copy.link, [copy]);
  }
  for (const group of byLink.values()) {
    let left = Math.min(...group.map((c) => c.bytesPerSecond)) * seconds;
    const pending = [...group].sort((a, b) => a.bytesTotal - a.bytesDone - (b.bytesTotal - b.bytesDone));
    for (const [i, copy] of pending.entries()) {
      const share = Math.min(left / (pending.length - i), copy.bytesTotal - copy.bytesDone);
      budgets.set(copy.id, share);
      left -= share;
    }
  }
  return budgets;
}
