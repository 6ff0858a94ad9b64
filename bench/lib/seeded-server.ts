/**
 * A seeded inventory served by a server in a child process: what the HTTP and WebSocket benches share.
 * Seeds through the Core of an app that does not listen (bulk inserts straight into the tables), hands an
 * in-memory PGlite over as a dump of its data directory, then starts bench/lib/server.ts on it.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp } from '../../src/app.ts';
import type { Core } from '../../src/core/core.ts';
import { loadConfig } from '../../src/core/config.ts';
import { benchTokenSpec, progress, startServer, throwawayDatabase, type BenchDatabase, type ServerProcess } from './harness.ts';
import { seedLargeInventory, type InventoryOptions, type InventoryStats } from './inventory.ts';

export interface SeededServer {
  database: BenchDatabase;
  server: ServerProcess;
  inventory: InventoryStats;
  seedSeconds: number;
  /** Stops the server and drops the throwaway database; safe to call twice. */
  cleanup(): Promise<void>;
}

export async function startSeededServer(options: InventoryOptions & {
  /** More seeding on the inventory, e.g. workloads. */
  afterSeed?: (core: Core) => Promise<void>;
  /** The server's environment beyond database, demo, seed and tokens (clock, tick). */
  env?: Record<string, string>;
}): Promise<SeededServer> {
  const database = await throwawayDatabase();
  let server: ServerProcess | undefined;
  let dumpFile: string | undefined;
  const cleanup = async () => {
    await server?.stop().catch(() => {});
    if (dumpFile) rmSync(dumpFile, { force: true });
    await database.drop().catch((error) => progress(`could not drop the bench database: ${error}`));
  };
  process.once('SIGINT', () => void cleanup().finally(() => process.exit(130)));
  try {
    progress(`seeding ${options.vms} VMs into ${database.kind}...`);
    const config = loadConfig({ VVOLGRAPH_CLOCK: 'manual', VVOLGRAPH_DEMO: 'false', VVOLGRAPH_DB: 'memory', VVOLGRAPH_SEED: options.seed, PORT: '0', VVOLGRAPH_TOKENS: benchTokenSpec });
    const seeding = performance.now();
    const seeder = await createApp({ ...config, demo: false }, { database: database.handle, listen: false });
    const inventory = await seedLargeInventory(seeder.core, options);
    await options.afterSeed?.(seeder.core);
    if (database.kind === 'pglite') {
      const dump = await database.handle.pglite!.dumpDataDir('none');
      dumpFile = join(tmpdir(), `vvolgraph-bench-${process.pid}.tar`);
      writeFileSync(dumpFile, Buffer.from(await dump.arrayBuffer()));
    }
    await seeder.close();
    const seedSeconds = (performance.now() - seeding) / 1000;
    progress(`seeded ${inventory.vms} VMs, ${inventory.vvols} VVOLs in ${seedSeconds.toFixed(1)} s; starting the server`);
    server = await startServer({
      PORT: '0',
      VVOLGRAPH_CLOCK: 'manual',
      VVOLGRAPH_DEMO: 'false',
      VVOLGRAPH_SEED: options.seed,
      VVOLGRAPH_TOKENS: benchTokenSpec,
      VVOLGRAPH_DB: 'memory',
      DATABASE_URL: database.url,
      BENCH_PGLITE_DUMP: dumpFile,
      ...options.env,
    });
    if (dumpFile) rmSync(dumpFile, { force: true });
    return { database, server, inventory, seedSeconds, cleanup };
  } catch (error) {
    await cleanup();
    throw error;
  }
}
