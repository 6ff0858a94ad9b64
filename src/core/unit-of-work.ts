import { and, eq, ne, sql } from 'drizzle-orm';
import type { Bus } from './bus.ts';
import { topic } from './bus.ts';
import type { Database, Executor } from './db/client.ts';
import { alarms, events } from './db/tables.ts';

export type EventRow = typeof events.$inferSelect;
export type AlarmRow = typeof alarms.$inferSelect;

export interface NewEvent {
  /** Dotted, lower case: `<entity>.<what happened>`, e.g. `vm.poweredOn`, `vvol.bound`. */
  kind: string;
  entityType: string;
  entityId: string;
  message: string;
  data?: Record<string, unknown>;
}

export interface AlarmChange {
  kind: AlarmRow['kind'];
  entityType: string;
  entityId: string;
  status: AlarmRow['status'];
  message: string;
}

/**
 * One transaction's worth of change: its events are written in one statement before commit and
 * published only after commit, so a subscriber never sees a change that rolled back.
 */
export class UnitOfWork {
  private readonly pending: NewEvent[] = [];
  private readonly written: EventRow[] = [];
  private readonly alarmChanges: AlarmRow[] = [];
  private readonly committedCallbacks: (() => void)[] = [];
  private readonly endedCallbacks: (() => void)[] = [];
  private readonly messages: [string, unknown][] = [];

  constructor(readonly tx: Executor, private readonly bus: Bus) {}

  emit(event: NewEvent): void {
    this.pending.push(event);
  }

  /** Publishes `payload` on `topicName` once the transaction has committed. */
  publishAfterCommit(topicName: string, payload: unknown): void {
    this.messages.push([topicName, payload]);
  }

  afterCommit(callback: () => void): void {
    this.committedCallbacks.push(callback);
  }

  /** Runs once the transaction has ended, committed or not. */
  afterEnd(callback: () => void): void {
    this.endedCallbacks.push(callback);
  }

  /** Every event emitted so far, written or not. */
  get emitted(): readonly NewEvent[] {
    return [...this.written, ...this.pending];
  }

  /** @internal transact's: the transaction is over. */
  ended(): void {
    for (const callback of this.endedCallbacks.splice(0)) callback();
  }

  /** Raises, changes or (with status GREEN) clears the alarm of this kind on this entity; only a change is an event. */
  async setAlarm(change: AlarmChange): Promise<void> {
    const changed =
      change.status === 'GREEN'
        ? await this.tx
            .update(alarms)
            .set({ status: 'GREEN', message: change.message, updatedAt: sql`now()` })
            .where(and(eq(alarms.kind, change.kind), eq(alarms.entityId, change.entityId), ne(alarms.status, 'GREEN')))
            .returning()
        : await this.tx
            .insert(alarms)
            .values(change)
            .onConflictDoUpdate({
              target: [alarms.kind, alarms.entityId],
              set: { status: change.status, message: change.message, updatedAt: sql`now()` },
              setWhere: ne(alarms.status, change.status),
            })
            .returning();
    if (changed.length === 0) return;
    this.alarmChanges.push(changed[0]);
    this.emit({
      kind: change.status === 'GREEN' ? 'alarm.cleared' : 'alarm.raised',
      entityType: change.entityType,
      entityId: change.entityId,
      message: change.message,
      data: { alarmKind: change.kind, status: change.status },
    });
  }

  async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const rows = this.pending.splice(0).map((e) => ({ ...e, data: e.data ?? {} }));
    this.written.push(...(await this.tx.insert(events).values(rows).returning()));
  }

  publish(): void {
    for (const event of this.written) {
      this.bus.publish(topic('events'), event);
    }
    for (const alarm of this.alarmChanges) this.bus.publish(topic('alarms'), alarm);
    for (const [name, payload] of this.messages) this.bus.publish(name, payload);
    for (const callback of this.committedCallbacks) callback();
  }
}

/** Runs `fn` in one transaction with a unit of work; publishes its events once committed. */
export async function transact<T>(db: Database, bus: Bus, fn: (work: UnitOfWork) => Promise<T>, retries = 0): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    let work: UnitOfWork | undefined;
    try {
      const result = await db.transaction(async (tx) => {
        work = new UnitOfWork(tx, bus);
        const value = await fn(work);
        await work.flush();
        return value;
      });
      work!.publish();
      return result;
    } catch (error) {
      if (attempt >= retries || !isTransient(error)) throw error;
    } finally {
      work?.ended();
    }
  }
}

/**
 * PostgreSQL chose this transaction as a deadlock victim, or could not serialize it: nothing of it
 * happened, and running it again is safe when all it does is in the database and its unit of work.
 */
function isTransient(error: unknown): boolean {
  for (let e: any = error; e; e = e.cause) if (e.code === '40P01' || e.code === '40001') return true;
  return false;
}
