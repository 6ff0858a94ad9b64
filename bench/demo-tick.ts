/**
 * The tick with the demo data: `npm run bench -- demo-tick`
 * (on PostgreSQL: `DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm run bench -- demo-tick`).
 *
 * The engine bench measures the tick at scale with I/O only; this one measures it with everything the
 * demo sets up at once (what `npm start` simulates and what a test suite advancing the demo pays per
 * simulated second): local and remote replica pairs, replication groups with an RPO, scheduled backups,
 * tiering and caching policies.
 *
 * 1. Starts the app IN-PROCESS on the manual clock with the demo data (an in-memory PGlite, or
 *    `vvolgraph_bench_<random>` on DATABASE_URL's server, dropped at the end) and gives every running VM
 *    the OLTP workload.
 * 2. Runs WARMUP + TICKS one-second ticks, each `advanceSimulation(1)` in a transaction of its own.
 * 3. Prints one JSON line: wall time and SQL statements per tick, RSS.
 */
import { eq } from 'drizzle-orm';
import { loadavg } from 'node:os';
import { createApp } from '../src/app.ts';
import { loadConfig } from '../src/core/config.ts';
import { virtualMachines, workloads } from '../src/core/db/tables.ts';
import { presets } from '../src/core/services/workloads.ts';
import { benchTokenSpec, lineHeader, memoryOf, percentile, progress, round, runBench, summary, throwawayDatabase } from './lib/harness.ts';

const WARMUP = 3;
const TICKS = Number(process.env.BENCH_DEMO_TICKS ?? 30);

async function main(): Promise<void> {
  const loadAverageAtStart = round(loadavg()[0], 2);
  const database = await throwawayDatabase();
  const config = loadConfig({ VVOLGRAPH_CLOCK: 'manual', VVOLGRAPH_DB: 'memory', VVOLGRAPH_SEED: 'vvolgraph-bench-demo', PORT: '0', VVOLGRAPH_TOKENS: benchTokenSpec });
  const app = await createApp({ ...config, demo: true }, { database: database.handle, listen: false });
  try {
    const { core, engine } = app;
    const running = await core.db.select({ id: virtualMachines.id }).from(virtualMachines).where(eq(virtualMachines.powerState, 'POWERED_ON'));
    await core.transact(async (work) => {
      await work.tx.delete(workloads);
      await work.tx.insert(workloads).values(running.map((vm) => ({ vmId: vm.id, ...presets.OLTP })));
    });
    const counter = database.handle.statements;
    const ticks: { ms: number; statements: number }[] = [];
    for (let i = 0; i < WARMUP + TICKS; i++) {
      const s0 = counter.total;
      const t0 = performance.now();
      await core.transact((work) => engine.advance(1, work), { advancesClock: true });
      const tick = { ms: performance.now() - t0, statements: counter.total - s0 };
      await core.reconciler.settled();
      if (i >= WARMUP) ticks.push(tick);
      progress(`tick ${engine.tick}${i < WARMUP ? ' (warm-up)' : ''}: ${tick.ms.toFixed(1)} ms, ${tick.statements} statements`);
    }
    const statements = ticks.map((t) => t.statements).sort((a, b) => a - b);
    const memory = memoryOf(process.pid);
    const line = {
      ...lineHeader('demo-tick', database.kind, loadAverageAtStart),
      dataset: { runningVms: running.length, workload: 'OLTP' },
      warmupTicks: WARMUP,
      ticks: ticks.length,
      tickMs: summary(ticks.map((t) => t.ms)),
      sqlStatementsPerTick: { min: statements[0], p50: percentile(statements, 50), max: statements.at(-1) },
      rssMB: memory?.rssMB ?? null,
      peakRssMB: memory?.peakRssMB ?? null,
    };
    process.stdout.write(`${JSON.stringify(line)}\n`);
  } finally {
    await app.close().catch(() => {});
    await database.drop().catch((error) => progress(`could not drop the bench database: ${error}`));
  }
}

runBench(main);
