import { and, eq, inArray } from 'drizzle-orm';
import { topic } from './bus.ts';
import type { Executor } from './db/client.ts';
import { tasks } from './db/tables.ts';
import { ConflictError, NotFoundError } from './errors.ts';
import type { UnitOfWork } from './unit-of-work.ts';

export type TaskRow = typeof tasks.$inferSelect;
export type NewTask = Pick<TaskRow, 'kind' | 'targetType' | 'targetId'> & Partial<Pick<TaskRow, 'bytesTotal' | 'cancelable' | 'params'>>;

const finished: TaskRow['state'][] = ['SUCCEEDED', 'FAILED', 'CANCELLED'];

/** Tasks are rows; every change to one is published on `task:<id>` once its transaction commits. */
export async function createTask(work: UnitOfWork, task: NewTask, state: 'QUEUED' | 'SUCCEEDED' = 'QUEUED'): Promise<TaskRow> {
  const now = new Date();
  const [row] = await work.tx
    .insert(tasks)
    .values({ ...task, state, ...(state === 'SUCCEEDED' ? { startedAt: now, finishedAt: now, bytesDone: task.bytesTotal ?? 0 } : {}) })
    .returning();
  publishTask(work, row);
  work.emit({ kind: `task.${state === 'SUCCEEDED' ? 'succeeded' : 'queued'}`, entityType: 'Task', entityId: row.id, message: `${row.kind} task ${state.toLowerCase()}`, data: { targetId: row.targetId } });
  return row;
}

function publishTask(work: UnitOfWork, task: TaskRow): void {
  work.publishAfterCommit(topic('task', task.id), task);
}

export async function updateTask(work: UnitOfWork, id: string, change: Partial<TaskRow>): Promise<TaskRow> {
  const [row] = await work.tx.update(tasks).set(change).where(eq(tasks.id, id)).returning();
  publishTask(work, row);
  if (change.state && finished.includes(change.state)) {
    work.emit({ kind: `task.${change.state.toLowerCase()}`, entityType: 'Task', entityId: id, message: `${row.kind} task ${change.state.toLowerCase()}${row.error ? `: ${row.error}` : ''}`, data: { targetId: row.targetId } });
  }
  return row;
}

export async function activeTasks(db: Executor, kinds: string[]): Promise<TaskRow[]> {
  return db.select().from(tasks).where(and(inArray(tasks.state, ['QUEUED', 'RUNNING']), inArray(tasks.kind, kinds))).orderBy(tasks.createdAt);
}

/** Asks a cancelable task to stop; the work loop that owns it stops it cleanly at its next step. */
export async function cancelTask(work: UnitOfWork, id: string): Promise<TaskRow> {
  const [task] = await work.tx.select().from(tasks).where(eq(tasks.id, id)).for('update');
  if (!task) throw new NotFoundError('input.taskId', id);
  if (finished.includes(task.state)) throw new ConflictError(`Task ${id} has already finished (${task.state})`, task.state);
  if (!task.cancelable) throw new ConflictError(`A ${task.kind} task cannot be cancelled`, task.state);
  return updateTask(work, id, { cancelRequested: true });
}
