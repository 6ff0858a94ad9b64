import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeGlobalID } from '@pothos/plugin-relay';
import { count, eq } from 'drizzle-orm';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { createApp, type App, type AppOptions } from '../../src/app.ts';
import { loadConfig, type Role } from '../../src/core/config.ts';
import { createThrowawayDatabase, openDatabase, type DatabaseHandle } from '../../src/core/db/client.ts';
import { storageArrays, virtualVolumes } from '../../src/core/db/tables.ts';
import { seedInventory, seedPolicies } from '../../src/core/demo.ts';

export const testTokens: Record<Role, string> = {
  storageAdmin: 'test-storage-admin-token',
  vmAdmin: 'test-vm-admin-token',
  viewer: 'test-viewer-token',
};

export const databaseKind = process.env.DATABASE_URL ? 'postgres' : 'pglite';

/** A database of its own for one test app: a copy of the migrated template, or a fresh PostgreSQL database. */
async function freshDatabase(): Promise<{ database: DatabaseHandle; drop: () => Promise<void> }> {
  const url = process.env.DATABASE_URL;
  if (!url) {
    const template = process.env.VVOLGRAPH_TEST_TEMPLATE;
    const database = await openDatabase({ kind: 'pglite', loadDataDir: template ? new Blob([readFileSync(template)]) : undefined });
    return { database, drop: async () => {} };
  }
  const { url: target, drop } = await createThrowawayDatabase(url, 'vvolgraph_test');
  return { database: await openDatabase({ kind: 'postgres', url: target }), drop };
}

export interface TestApp extends App {
  /** Sends a GraphQL operation over HTTP as `role` (or with no token when role is null). */
  gql<T = any>(query: string, variables?: Record<string, unknown>, role?: Role | null): Promise<{ status: number; data: T; errors?: { message: string; extensions?: Record<string, unknown> }[]; extensions?: Record<string, unknown> }>;
  /** Like gql, but fails on any GraphQL error and returns data. */
  query<T = any>(query: string, variables?: Record<string, unknown>, role?: Role): Promise<T>;
  /** Waits until no policy reconciliation is pending. */
  settle(): Promise<void>;
}

export interface StartOptions extends AppOptions {
  env?: Record<string, string>;
  /** Join this PostgreSQL database (another instance's) instead of a fresh one; closing the app leaves it. */
  sharedDatabaseUrl?: string;
  /** Open the embedded database stored in this directory instead of a fresh one; closing the app leaves it. */
  dataDir?: string;
}

export async function startApp(options: StartOptions = {}): Promise<TestApp> {
  const config = loadConfig({
    VVOLGRAPH_CLOCK: 'manual',
    VVOLGRAPH_DEMO: 'false',
    VVOLGRAPH_DB: 'memory',
    VVOLGRAPH_SEED: 'test',
    PORT: '0',
    VVOLGRAPH_TOKENS: Object.entries(testTokens).map(([role, token]) => `${role}:${token}`).join(','),
    ...options.env,
  });
  const { database, drop } = options.sharedDatabaseUrl
    ? { database: await openDatabase({ kind: 'postgres', url: options.sharedDatabaseUrl }), drop: async () => {} }
    : options.dataDir
      ? { database: await openDatabase({ kind: 'pglite', dataDir: options.dataDir }), drop: async () => {} }
      : await freshDatabase();
  const app = await createApp({ ...config, databaseUrl: undefined }, { ...options, database }).catch(async (error: unknown) => {
    await drop();
    throw error;
  });
  const gql: TestApp['gql'] = async (query, variables = {}, role = 'storageAdmin') => {
    const response = await fetch(`${app.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(role ? { authorization: `Bearer ${testTokens[role]}` } : {}) },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await response.json()) as { data: any; errors?: any[]; extensions?: Record<string, unknown> };
    return { status: response.status, ...body };
  };
  return {
    ...app,
    gql,
    query: async (query, variables, role = 'storageAdmin') => {
      const result = await gql(query, variables, role);
      if (result.errors?.length) throw new Error(`GraphQL errors: ${JSON.stringify(result.errors)}`);
      return result.data;
    },
    settle: async () => {
      // A pass skips rows another transaction holds (SKIP LOCKED), and a task that ends on its own (a job on
      // PostgreSQL) may leave new VVOLs waiting after it: kick again until none is left PENDING.
      for (let attempt = 0; ; attempt++) {
        await app.core.reconciler.settled();
        const [{ pending }] = await app.core.db.select({ pending: count() }).from(virtualVolumes).where(eq(virtualVolumes.policyState, 'PENDING'));
        if (pending === 0 || attempt === 50) return;
        await new Promise((resolve) => setTimeout(resolve, 10));
        app.core.reconciler.kick();
      }
    },
    close: async () => {
      await app.close();
      await drop();
    },
  };
}

/**
 * A database that outlives the apps started on it, for restarts: a fresh PostgreSQL database with
 * DATABASE_URL, else an embedded one stored in a temporary directory. `options` starts an app on it.
 */
export async function lastingDatabase(): Promise<{ options: Pick<StartOptions, 'sharedDatabaseUrl' | 'dataDir'>; drop: () => Promise<void> }> {
  if (process.env.DATABASE_URL) {
    const { url, drop } = await createThrowawayDatabase(process.env.DATABASE_URL, 'vvolgraph_restart');
    return { options: { sharedDatabaseUrl: url }, drop };
  }
  const dir = mkdtempSync(join(tmpdir(), 'vvolgraph-restart-'));
  return { options: { dataDir: dir }, drop: async () => rmSync(dir, { recursive: true, force: true }) };
}

export const globalId = (type: string, id: string) => encodeGlobalID(type, id);

/** A graphql-ws client of the app, authenticated as `role` in connection_init, that does not retry. */
export function wsClient(app: TestApp, role: Role = 'viewer'): Client {
  return createClient({ url: `${app.url.replace('http', 'ws')}/graphql`, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${testTokens[role]}` }, retryAttempts: 0 });
}

/** Arrays, pools, containers, endpoints and GOLD/SILVER/BRONZE, without VMs; ids are global ids. */
export async function seedBasics(app: App): Promise<{ containers: Record<string, string>; policies: Record<string, string> }> {
  const { containers } = await seedInventory(app.core);
  const policies = await seedPolicies(app.core);
  return {
    containers: Object.fromEntries(Object.entries(containers).map(([name, id]) => [name, globalId('StorageContainer', id)])),
    policies: Object.fromEntries(Object.entries(policies).map(([name, id]) => [name, globalId('StoragePolicy', id)])),
  };
}

export const GiB = 1024 ** 3;

/**
 * Sets the DRAM (L1) cache of every PRIMARY array, e.g. 0 to see perforcache or the tiers alone. Before the VMs
 * run: the engine reads it with the workload's demand, again only when that changes (a power-on, a workload set).
 */
export async function setDramCache(app: App, bytes: number): Promise<void> {
  await app.core.db.update(storageArrays).set({ cacheBytes: bytes }).where(eq(storageArrays.role, 'PRIMARY'));
}
