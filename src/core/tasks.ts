import { eq, sql } from 'drizzle-orm';
import { topic } from './bus.ts';
import type { ExtentCopier, CopyRequest, CopyRow, CopyStep } from './copier.ts';
import { simulatedNow } from './clock.ts';
import { anyOf, pgArray } from './db/client.ts';
import { tasks } from './db/tables.ts';
import { ConflictError, NotFoundError } from './errors.ts';
import type { TaskQueue } from './task-queue.ts';
import type { UnitOfWork } from './unit-of-work.ts';

export type TaskRow = typeof tasks.$inferSelect;
export type NewTask = Pick<TaskRow, 'kind' | 'targetType' | 'targetId'> & Partial<Pick<TaskRow, 'bytesTotal' | 'cancelable' | 'params' | 'owner'>>;
export type CopySpec = Omit<CopyRequest, 'taskId' | 'now'>;

const finishedStates: TaskRow['state'][] = ['SUCCEEDED', 'FAILED', 'CANCELLED'];
export const isFinished = (task: Pick<TaskRow, 'state'>) => finishedStates.includes(task.state);

/** Hears that a task it owns has ended (SUCCEEDED, FAILED or CANCELLED), in the same transaction. */
export type TaskFinished = (work: UnitOfWork, task: TaskRow) => Promise<void> | void;

/**
 * Tasks are rows; every change to one is published on `task:<id>` once its transaction commits. A
 * long task is a set of extent copies dispatched as a pg-boss job: it progresses, tick by tick, by the
 * bytes its copies actually move, and ends when they are all done.
 */
export class TaskService {
  constructor(
    private readonly queue: TaskQueue,
    readonly copier: ExtentCopier,
    /** By owner: `core` or a plugin's name. */
    private readonly owners: ReadonlyMap<string, TaskFinished>,
  ) {}

  /**
   * Creates the task, freezes and starts its copies, and sends its job; all in the caller's transaction.
   * A task with nothing to copy comes back SUCCEEDED without a job, and its owner's hook is not called.
   */
  async startCopies(work: UnitOfWork, task: NewTask, copies: readonly CopySpec[]): Promise<{ task: TaskRow; copies: CopyRow[] }> {
    const row = await this.insert(work, task, 'QUEUED');
    const now = await simulatedNow(work.tx);
    const started: CopyRow[] = [];
    for (const copy of copies) started.push(await this.copier.start(work.tx, { ...copy, taskId: row.id, now }));
    const bytesTotal = started.reduce((sum, c) => sum + c.bytesTotal, 0);
    if (started.every((c) => c.state === 'DONE')) {
      // Nothing to copy: done at once, without a job. The caller settles what the task was for.
      const now = new Date();
      return { task: await this.update(work, row.id, { bytesTotal, state: 'SUCCEEDED', startedAt: now, finishedAt: now }), copies: started };
    }
    await this.queue.enqueue(work.tx, row.id);
    return { task: await this.update(work, row.id, { bytesTotal }), copies: started };
  }

  /** A task that is done the moment it is created (a revert, a FAST clone): recorded for the history. */
  finishedAtOnce(work: UnitOfWork, task: NewTask): Promise<TaskRow> {
    return this.insert(work, task, 'SUCCEEDED');
  }

  private async insert(work: UnitOfWork, task: NewTask, state: 'QUEUED' | 'SUCCEEDED'): Promise<TaskRow> {
    const now = new Date();
    const [row] = await work.tx
      .insert(tasks)
      .values({ ...task, state, ...(state === 'SUCCEEDED' ? { startedAt: now, finishedAt: now, bytesDone: task.bytesTotal ?? 0 } : {}) })
      .returning();
    work.publishAfterCommit(topic('task', row.id), row);
    work.emit({ kind: `task.${state === 'SUCCEEDED' ? 'succeeded' : 'queued'}`, entityType: 'Task', entityId: row.id, message: `${row.kind} task ${state.toLowerCase()}`, data: { targetId: row.targetId } });
    return row;
  }

  async update(work: UnitOfWork, id: string, change: Partial<TaskRow>): Promise<TaskRow> {
    const [row] = await work.tx.update(tasks).set(change).where(eq(tasks.id, id)).returning();
    work.publishAfterCommit(topic('task', row.id), row);
    if (change.state && finishedStates.includes(change.state)) {
      work.emit({ kind: `task.${change.state.toLowerCase()}`, entityType: 'Task', entityId: id, message: `${row.kind} task ${change.state.toLowerCase()}${row.error ? `: ${row.error}` : ''}`, data: { targetId: row.targetId } });
    }
    return row;
  }

  /** Asks a cancelable task to stop; the next tick stops its copies where they are. */
  async cancel(work: UnitOfWork, id: string): Promise<TaskRow> {
    const [task] = await work.tx.select().from(tasks).where(eq(tasks.id, id)).for('update');
    if (!task) throw new NotFoundError('input.taskId', id);
    if (isFinished(task)) throw new ConflictError(`Task ${id} has already finished (${task.state})`, task.state);
    if (!task.cancelable) throw new ConflictError(`A ${task.kind} task cannot be cancelled`, task.state);
    return this.update(work, id, { cancelRequested: true });
  }

  /** Ends a task from outside its copies (e.g. a pair operation that supersedes it): its copies stop where they are. */
  async end(work: UnitOfWork, id: string, state: 'FAILED' | 'CANCELLED', error: string | null = null): Promise<TaskRow> {
    await this.copier.cancel(work.tx, [id]);
    const task = await this.update(work, id, { state, error, finishedAt: new Date(), bytesPerSecond: 0 });
    await this.owners.get(task.owner)?.(work, task);
    return task;
  }

  /**
   * The tick's progress of many tasks in one statement (a tick may move hundreds of copies), published
   * and, for those that finished, announced as `update` does for one.
   */
  private async saveProgress(work: UnitOfWork, rows: readonly TaskRow[], now: Date): Promise<void> {
    if (rows.length === 0) return;
    await work.tx.execute(sql`
      update ${tasks} t set state = u.state::task_state, bytes_done = u.done, bytes_per_second = u.rate,
        started_at = coalesce(t.started_at, ${now.toISOString()}::timestamptz), finished_at = case when u.state = 'SUCCEEDED' then ${now.toISOString()}::timestamptz end
      from unnest(${pgArray(rows.map((r) => r.id))}::uuid[], ${pgArray(rows.map((r) => r.state))}::text[],
                  ${pgArray(rows.map((r) => r.bytesDone))}::bigint[], ${pgArray(rows.map((r) => r.bytesPerSecond))}::bigint[]) as u(id, state, done, rate)
      where t.id = u.id`);
    for (const row of rows) {
      work.publishAfterCommit(topic('task', row.id), row);
      if (row.state === 'SUCCEEDED') work.emit({ kind: 'task.succeeded', entityType: 'Task', entityId: row.id, message: `${row.kind} task succeeded${row.error ? `: ${row.error}` : ''}`, data: { targetId: row.targetId } });
    }
  }

  /**
   * One tick of every task this process holds (the engine's background phase): claims waiting jobs,
   * stops cancelled tasks, moves copies by `seconds` of bandwidth, ends the tasks whose copies are done.
   */
  async run(work: UnitOfWork, seconds: number): Promise<void> {
    const held = await this.queue.claim(work);
    if (held.size === 0) return;
    const rows = await work.tx.select().from(tasks).where(anyOf(tasks.id, [...held.keys()])).orderBy(tasks.createdAt);
    const over: TaskRow[] = rows.filter(isFinished);
    for (const task of rows.filter((t) => !isFinished(t) && t.cancelRequested)) over.push(await this.end(work, task.id, 'CANCELLED'));
    const running = rows.filter((t) => !isFinished(t) && !t.cancelRequested);
    const steps = await this.copier.step(work.tx, running.map((t) => t.id), seconds);
    const stepsByTask = new Map<string, CopyStep[]>();
    for (const step of steps) stepsByTask.set(step.copy.taskId, [...(stepsByTask.get(step.copy.taskId) ?? []), step]);
    const now = new Date();
    const progressed = running.map((task): TaskRow => {
      const mine = stepsByTask.get(task.id) ?? [];
      const done = mine.every((s) => s.done);
      return {
        ...task,
        state: done ? 'SUCCEEDED' : 'RUNNING',
        startedAt: task.startedAt ?? now,
        finishedAt: done ? now : null,
        bytesDone: task.bytesDone + mine.reduce((sum, s) => sum + s.copiedBytes, 0),
        bytesPerSecond: done ? 0 : Math.round(mine.reduce((sum, s) => sum + s.grantedBytes, 0) / seconds),
      };
    });
    // A copy goes with its source or target volume (its VM deleted mid-copy): a task missing one did not succeed.
    const lost = await this.copier.lostCopies(work.tx, progressed.filter((t) => t.state === 'SUCCEEDED'));
    await this.saveProgress(work, progressed.filter((t) => !lost.has(t.id)), now);
    for (const row of progressed) {
      if (lost.has(row.id)) {
        over.push(await this.end(work, row.id, 'FAILED', 'volumes it was copying were deleted before it finished'));
        continue;
      }
      if (row.state !== 'SUCCEEDED') continue;
      await this.owners.get(row.owner)?.(work, row);
      over.push(row);
    }
    await this.queue.release(work, over.map((t) => held.get(t.id)!));
  }
}
