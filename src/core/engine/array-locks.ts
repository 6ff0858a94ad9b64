import { sql } from 'drizzle-orm';
import { pgArray, resultRows, type DatabaseHandle, type Executor, type LockSession } from '../db/client.ts';

/**
 * The first key of every array lock (`pg_try_advisory_lock(int, int)`): 'vvol' in ASCII, so that our
 * locks do not collide with another application's on the same database. The second key is the hash
 * of the array's id; two arrays whose ids hash alike would simply be ticked by the same process.
 */
export const ARRAY_LOCK_SPACE = 0x76766f6c;

/**
 * Which storage arrays this process ticks (DESIGN §6): exactly one process holds each array's
 * PostgreSQL session advisory lock. The locks live on a connection of their own, so they last as long
 * as the process does; when it dies its connection drops, PostgreSQL releases them, and another
 * instance takes the arrays over at its next try. Arrays not held are tried again at every tick, in one
 * statement that also names the session (`pg_backend_pid`): if the connection was replaced underneath
 * us the locks went with it, and they are taken afresh. On PGlite (one process, one session) the same
 * statement runs on the only session there is, so every array is held.
 */
export class ArrayLocks {
  private readonly held = new Set<string>();
  /** Undefined until opened; null where the database has no connection of its own to give (PGlite). */
  private session: LockSession | null | undefined;
  private backendPid: number | null = null;

  constructor(private readonly database: DatabaseHandle) {}

  /** The ids of the arrays this process ticks. */
  get arrays(): ReadonlySet<string> {
    return this.held;
  }

  /**
   * Tries to take every array not held yet and returns the arrays held. `db` runs the statement when
   * the database has no lock session of its own (PGlite: pass the tick's transaction, since a
   * statement beside an open transaction would wait for it forever). A failure (the database went away)
   * gives everything up: a process that cannot tell whether it holds an array must not tick it.
   */
  async acquire(db: Executor): Promise<ReadonlySet<string>> {
    try {
      if (this.session === undefined) this.session = await this.database.lockSession();
      const [row] = resultRows<{ pid: number; acquired: string[] }>(await (this.session?.db ?? db).execute(sql`
        select pg_backend_pid() as pid, array(
          select a.id::text from storage_arrays a
          where case when a.id = any(${pgArray([...this.held])}::uuid[]) then false
                     else pg_try_advisory_lock(${ARRAY_LOCK_SPACE}, hashtext(a.id::text)) end
          order by a.id) as acquired`));
      if (this.backendPid !== null && row.pid !== this.backendPid && this.held.size > 0) {
        // Another session than the one that took the locks: they were released with the old one.
        this.held.clear();
        this.backendPid = row.pid;
        for (const id of row.acquired) this.held.add(id);
        return this.acquire(db);
      }
      this.backendPid = row.pid;
      for (const id of row.acquired) this.held.add(id);
    } catch (error) {
      console.error('array locks: giving up every array until the next try:', error);
      this.held.clear();
      await this.closeSession();
    }
    return this.held;
  }

  /** Gives every array up (a clean shutdown): another instance takes them at its next tick. */
  async release(db: Executor): Promise<void> {
    if (this.session === undefined) return;
    // Without a session of its own (PGlite) the locks live on the database's one session: end them there.
    if (this.session === null) await db.execute(sql`select pg_advisory_unlock_all()`).catch((error) => console.error('array locks: could not release:', error));
    this.held.clear();
    await this.closeSession();
  }

  /** Closing the lock connection ends its locks (the server releases a session's locks when it ends). */
  private async closeSession(): Promise<void> {
    const session = this.session;
    this.session = undefined;
    this.backendPid = null;
    await session?.close().catch((error) => console.error('array locks: could not close the lock connection:', error));
  }
}
