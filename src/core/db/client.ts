import { AsyncLocalStorage } from 'node:async_hooks';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import { sql, type ExtractTablesWithRelations, type SQL } from 'drizzle-orm';
import type { Logger } from 'drizzle-orm/logger';
import type { PgColumn, PgDatabase, PgQueryResultHKT, PgTransaction } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';

type NoRelations = Record<string, never>;
export type Database = PgDatabase<PgQueryResultHKT, NoRelations>;
export type Transaction = PgTransaction<PgQueryResultHKT, NoRelations, ExtractTablesWithRelations<NoRelations>>;
/** Anything that runs queries: the database or an open transaction. */
export type Executor = Database | Transaction;

export const coreMigrationsFolder = fileURLToPath(new URL('../../../migrations', import.meta.url));

/** Counts SQL statements per unit of work (an HTTP request, a tick) without threading a counter through calls. */
export class StatementCounter {
  private readonly storage = new AsyncLocalStorage<{ count: number }>();
  total = 0;
  run<T>(fn: () => T): { result: T; counter: { count: number } } {
    const counter = { count: 0 };
    return { result: this.storage.run(counter, fn), counter };
  }
  scope(): { count: number } | undefined {
    return this.storage.getStore();
  }
  record(): void {
    this.total += 1;
    const scope = this.storage.getStore();
    if (scope) scope.count += 1;
  }
}

/** A connection of this process's own, kept for as long as it lives: session state (advisory locks) stays with it. */
export interface LockSession {
  db: Executor;
  /** Closes the connection: the server ends its session's locks with it. */
  close(): Promise<void>;
}

export interface DatabaseHandle {
  db: Database;
  kind: 'pglite' | 'postgres';
  /** The embedded instance, for pg-boss's PGlite backend and for tests that copy a migrated template. */
  pglite?: PGlite;
  /** The connection string, on PostgreSQL (pg-boss opens its own small pool). */
  url?: string;
  statements: StatementCounter;
  /**
   * How many transactions may be open at once: fewer than the pool's connections, so reads always find
   * one, even when every open transaction waits for a lock (behind a long advanceSimulation, say).
   */
  transactionSlots: number;
  migrate(folder?: string, migrationsTable?: string): Promise<void>;
  /**
   * A connection of its own for session-level advisory locks, or null on PGlite,
   * which has one session only: there, whatever runs the statement (the database or an open
   * transaction on it) is that session.
   */
  lockSession(): Promise<LockSession | null>;
  close(): Promise<void>;
}

export type DatabaseTarget =
  | { kind: 'postgres'; url: string }
  | { kind: 'pglite'; dataDir?: string; loadDataDir?: Blob | File };

/** The PostgreSQL pool of this process (pg-boss and the array locks have connections of their own). */
const POOL_CONNECTIONS = 10;
const CONNECTIONS_KEPT_FOR_READS = 2;

export async function openDatabase(target: DatabaseTarget): Promise<DatabaseHandle> {
  const statements = new StatementCounter();
  const logger: Logger = { logQuery: () => statements.record() };

  if (target.kind === 'postgres') {
    const client = postgres(target.url, { max: POOL_CONNECTIONS, onnotice: () => {} });
    const db = drizzlePostgres(client, { logger }) as unknown as Database;
    return {
      db,
      kind: 'postgres',
      url: target.url,
      statements,
      transactionSlots: POOL_CONNECTIONS - CONNECTIONS_KEPT_FOR_READS,
      migrate: (folder = coreMigrationsFolder, migrationsTable) =>
        migratePostgres(db as never, { migrationsFolder: folder, migrationsTable }),
      lockSession: async () => {
        // A connection of its own, not one reserved from the pool: ending it surely ends its locks (a released
        // reserved connection goes back to the pool, locks and all, and postgres.js fails writing to a reserved
        // connection the server has closed), and it is never recycled (max_lifetime), which would drop them.
        const connection = postgres(target.url, { max: 1, max_lifetime: null, idle_timeout: 0, onnotice: () => {} });
        return { db: drizzlePostgres(connection) as unknown as Database, close: () => connection.end({ timeout: 5 }) };
      },
      close: () => client.end({ timeout: 5 }),
    };
  }

  if (target.dataDir) mkdirSync(target.dataDir, { recursive: true });
  const pglite = yieldBetweenQueries(await PGlite.create(target.dataDir, {
    ...(target.loadDataDir ? { loadDataDir: target.loadDataDir } : {}),
    // Added to PGlite's own start parameters (its postgresqlconf option would replace initdb's whole
    // postgresql.conf, time zone and locale settings included).
    startParams: [...PGlite.defaultStartParams, ...EMBEDDED_SETTINGS.flatMap((setting) => ['-c', setting])],
  }));
  const stopCheckpoints = await checkpointAsWalGrows(pglite);
  const db = drizzlePglite(pglite, { logger }) as unknown as Database;
  return {
    db,
    kind: 'pglite',
    pglite,
    statements,
    // One session: transactions and reads already take turns on it, so slots would add nothing.
    transactionSlots: Number.POSITIVE_INFINITY,
    migrate: (folder = coreMigrationsFolder, migrationsTable) =>
      migratePglite(db as never, { migrationsFolder: folder, migrationsTable }),
    lockSession: async () => null,
    close: () => {
      stopCheckpoints();
      return pglite.close();
    },
  };
}

/** WAL written since the last checkpoint past which the embedded database checkpoints (its max_wal_size). */
export const EMBEDDED_CHECKPOINT_WAL_BYTES = 128 * 1024 * 1024;

/**
 * PGlite runs PostgreSQL as one standalone backend: there is no checkpointer, and a standalone backend
 * never checkpoints because WAL grew, so WAL piles up for as long as the server runs: the demo writes
 * ~48 KB a tick, 4 GB a day on the realtime clock, on disk or, for an in-memory database, in memory.
 * checkpointAsWalGrows checkpoints; a checkpoint then keeps recycled segments up to max_wal_size (1 GB
 * by default), hence 128 MB: WAL stays under ~256 MB. Not more often: every checkpoint makes the next
 * change of each page log the whole page.
 */
const EMBEDDED_SETTINGS = [`max_wal_size=${EMBEDDED_CHECKPOINT_WAL_BYTES / 1024 / 1024}MB`, 'min_wal_size=32MB'];

/** Checks every second how much WAL was written since the last checkpoint, and checkpoints past EMBEDDED_CHECKPOINT_WAL_BYTES. */
async function checkpointAsWalGrows(pglite: PGlite): Promise<() => void> {
  const position = async () => Number((await pglite.query<{ bytes: string }>(`select (pg_current_wal_insert_lsn() - '0/0')::text as bytes`)).rows[0].bytes);
  let checkpointedAt = await position();
  let busy = false;
  const timer = setInterval(() => {
    if (busy || pglite.closed) return;
    busy = true;
    void (async () => {
      if ((await position()) - checkpointedAt < EMBEDDED_CHECKPOINT_WAL_BYTES) return;
      await pglite.exec('checkpoint');
      checkpointedAt = await position();
    })()
      .catch((error) => {
        if (!pglite.closed) console.error('embedded database: checkpoint failed', error);
      })
      .finally(() => (busy = false));
  }, 1000);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * PGlite runs each statement synchronously on this thread, and hands its lock from one waiting query to the
 * next through promises: with many requests in flight, statements and their resolvers' work chain as
 * microtasks for seconds without the event loop turning, so sockets go unread and the HTTP server's
 * keep-alive timers close connections that already carry a request (clients see ECONNRESET; nodejs/node#43456).
 * Queries (not transactions, which hold PGlite's own lock) take turns here, each after one turn of the loop.
 */
function yieldBetweenQueries(pglite: PGlite): PGlite {
  const query = pglite.query.bind(pglite);
  let turn: Promise<unknown> = Promise.resolve();
  pglite.query = ((...args: Parameters<typeof query>) => {
    const run = turn.then(() => new Promise<void>((resolve) => setImmediate(resolve))).then(() => query(...args));
    turn = run.catch(() => {});
    return run;
  }) as typeof pglite.query;
  return pglite;
}

/** `db.execute()` returns `{ rows }` on PGlite and an array on postgres.js; this is the one place that knows. */
export function resultRows<T>(result: unknown): T[] {
  return (Array.isArray(result) ? result : (result as { rows: T[] }).rows) as T[];
}

/**
 * One array parameter as a PostgreSQL array literal, cast in SQL (`${pgArray(ids)}::uuid[]`): drizzle
 * would otherwise expand a JS array into a list of parameters. Only for ids, numbers and hex strings.
 */
export function pgArray(values: readonly (string | number)[]): string {
  return `{${values.join(',')}}`;
}

/**
 * `column = any($1::type[])`: a set of keys as ONE array parameter. Unlike `inArray`, whose statement text has
 * a parameter per key, the text is the same whatever the batch size, so postgres.js prepares it once and
 * sends one small parameter instead of hundreds. For id (uuid) and text columns.
 */
export function anyOf(column: PgColumn, values: readonly string[]): SQL {
  return sql`${column} = any(${pgArray(values)}::${sql.raw(column.getSQLType())}[])`;
}

/**
 * Creates an empty database beside the one `adminUrl` names (tests, benchmarks) and returns its URL and
 * how to drop it again.
 */
export async function createThrowawayDatabase(adminUrl: string, prefix: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  let dropped = false;
  return {
    url: url.toString(),
    drop: async () => {
      if (dropped) return;
      dropped = true;
      const dropper = postgres(adminUrl, { max: 1, onnotice: () => {} });
      await dropper.unsafe(`drop database if exists ${name} with (force)`);
      await dropper.end();
    },
  };
}
