import { sql } from 'drizzle-orm';
import type { Bus } from './bus.ts';
import { topic } from './bus.ts';
import { anyOf, resultRows, type Database, type Executor } from './db/client.ts';
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
  private readonly rolledBackCallbacks: (() => void)[] = [];
  private committed = false;
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

  /**
   * Runs if the transaction ends without committing: for state kept in memory beside the database's (a plugin's
   * model of what it wrote) that must not go on saying what the rolled-back transaction did.
   */
  afterRollback(callback: () => void): void {
    this.rolledBackCallbacks.push(callback);
  }

  /** Every event emitted so far, written or not. */
  get emitted(): readonly NewEvent[] {
    return [...this.written, ...this.pending];
  }

  /** @internal transact's: the transaction is over. */
  ended(): void {
    if (!this.committed) for (const callback of this.rolledBackCallbacks.splice(0)) callback();
    for (const callback of this.endedCallbacks.splice(0)) callback();
  }

  /**
   * Raises, changes or (with status GREEN) clears the alarm of this kind on this entity; only a change of status
   * is an event (and an `alarms` message). A raised alarm whose status holds takes the new message, so its figures
   * stay those of now.
   */
  setAlarm(change: AlarmChange): Promise<void> {
    return this.setAlarms([change]);
  }

  /**
   * setAlarm for many alarms at once (an engine hook's alarms of one tick): two statements at most,
   * whatever their number, and a third to read back those that changed. The last change of an alarm wins.
   */
  async setAlarms(changes: readonly AlarmChange[]): Promise<void> {
    const latest = [...new Map(changes.map((c) => [`${c.kind}/${c.entityId}`, c])).values()];
    const raised = latest.filter((c) => c.status !== 'GREEN');
    const cleared = latest.filter((c) => c.status === 'GREEN');
    const changedIds: string[] = [];
    if (raised.length > 0) {
      // One statement: the upsert writes a new status or message; `before` (the statement's snapshot, which the
      // upsert's own writes do not change) tells which of those it wrote changed the status.
      const rows = resultRows<{ id: string }>(
        await this.tx.execute(sql`
          with c as (
            select * from jsonb_to_recordset(${JSON.stringify(raised.map((c) => ({ kind: c.kind, entity_type: c.entityType, entity_id: c.entityId, status: c.status, message: c.message })))}::jsonb)
              as c(kind alarm_kind, entity_type text, entity_id text, status alarm_status, message text)
          ),
          before as (select a.kind, a.entity_id, a.status from ${alarms} a join c on a.kind = c.kind and a.entity_id = c.entity_id),
          written as (
            insert into ${alarms} (kind, entity_type, entity_id, status, message) select kind, entity_type, entity_id, status, message from c
            on conflict (kind, entity_id) do update set status = excluded.status, message = excluded.message, updated_at = now()
              where ${alarms}.status <> excluded.status or ${alarms}.message <> excluded.message
            returning kind, entity_id, status, id
          )
          select w.id::text as id from written w left join before b on b.kind = w.kind and b.entity_id = w.entity_id
          where b.status is distinct from w.status`),
      );
      changedIds.push(...rows.map((r) => r.id));
    }
    if (cleared.length > 0) {
      const rows = resultRows<{ id: string }>(
        await this.tx.execute(sql`
          update ${alarms} a set status = 'GREEN', message = c.message, updated_at = now()
          from jsonb_to_recordset(${JSON.stringify(cleared.map((c) => ({ kind: c.kind, entity_id: c.entityId, message: c.message })))}::jsonb)
               as c(kind text, entity_id text, message text)
          where a.kind = c.kind::alarm_kind and a.entity_id = c.entity_id and a.status <> 'GREEN'
          returning a.id::text as id`),
      );
      changedIds.push(...rows.map((r) => r.id));
    }
    if (changedIds.length === 0) return;
    const changed = new Map((await this.tx.select().from(alarms).where(anyOf(alarms.id, changedIds))).map((a) => [`${a.kind}/${a.entityId}`, a]));
    for (const change of latest) {
      const alarm = changed.get(`${change.kind}/${change.entityId}`);
      if (!alarm) continue;
      this.alarmChanges.push(alarm);
      this.emit({
        kind: change.status === 'GREEN' ? 'alarm.cleared' : 'alarm.raised',
        entityType: change.entityType,
        entityId: change.entityId,
        message: change.message,
        data: { alarmKind: change.kind, status: change.status },
      });
    }
  }

  async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const rows = this.pending.splice(0).map((e) => ({ ...e, data: e.data ?? {} }));
    this.written.push(...(await this.tx.insert(events).values(rows).returning()));
  }

  publish(): void {
    this.committed = true;
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
