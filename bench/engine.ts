/**
 * The simulation tick at scale: `npm run bench -- engine`
 * (on PostgreSQL: `DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm run bench -- engine`).
 *
 * 1. Seeds 10,000 VMs (bench/lib/inventory.ts: about half powered on, ~35,000 VVOLs) in a throwaway database
 *    (an in-memory PGlite, or `vvolgraph_bench_<random>` on DATABASE_URL's server, dropped at the end), then
 *    bulk-inserts a workload for every powered-on VM: a seeded mix of OLTP, VDI_BOOT_STORM, BACKUP_SCAN, IDLE.
 * 2. Starts the app IN-PROCESS (no HTTP listener) on the manual clock, and runs WARMUP + TICKS one-second ticks
 *    through the engine directly: `app.engine.advance(1, work)` inside `app.core.transact(...)`, one
 *    transaction per tick (commit included in the tick's wall time). The reconciler the tick kicks is let
 *    settle between ticks, outside the measurement.
 * 3. Per tick: wall ms, SQL statements, extents written, VVOLs with I/O; and a breakdown by phase, measured by
 *    wrapping (in this process only) the plugins' tick hooks, the extent store's write, the DRAM caches' pass and the engine's
 *    statistics step: `loadDemand` is the time from the tick's start to the first hook (schedule), `rest`
 *    what no wrapper saw (clones, the simulation_state update, the unit of work's flush, COMMIT).
 *    It also counts the distinct extents written in each window of 10 measured ticks: what writing every ten ticks would write.
 *    And the DRAM caches' figures: the accesses the core sampled per tick and the share of their reads the caches served.
 *    And the CPU the measured ticks used: this process's, and a local PostgreSQL's (every process named postgres).
 * 4. Prints one JSON line. Targets are reported, not asserted. BENCH_ENGINE_TICKS / BENCH_ENGINE_VMS override;
 *    BENCH_ENGINE_CPU_PROFILE=<file> writes a V8 CPU profile of the measured ticks, BENCH_ENGINE_HEAP_PROFILE=<file> a
 *    sampling profile of what they allocate.
 */
import { asc, eq, sql } from 'drizzle-orm';
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { loadavg } from 'node:os';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createApp } from '../src/app.ts';
import { loadConfig } from '../src/core/config.ts';
import { virtualMachines, workloads } from '../src/core/db/tables.ts';
import type { ExtentWrite } from '../src/core/extents.ts';
import type { TickContext } from '../src/core/plugin.ts';
import { seededRandom } from '../src/core/random.ts';
import { presets, type Preset } from '../src/core/services/workloads.ts';
import { benchTokenSpec, lineHeader, memoryOf, postgresCpuMs, progress, round, summary, throwawayDatabase } from './lib/harness.ts';
import { seedLargeInventory } from './lib/inventory.ts';

const VMS = Number(process.env.BENCH_ENGINE_VMS ?? 10_000);
const WARMUP = 3;
const TICKS = Number(process.env.BENCH_ENGINE_TICKS ?? 30);
const COALESCE_TICKS = 10;
const SEED = 'vvolgraph-bench-engine';
/** The workload mix of the powered-on VMs. */
const MIX: [Preset, number][] = [['OLTP', 0.2], ['VDI_BOOT_STORM', 0.3], ['BACKUP_SCAN', 0.1], ['IDLE', 0.4]];
setFlagsFromString('--expose-gc');
/** A full collection, so heap figures compare live data, not garbage. */
const collect = runInNewContext('gc') as () => void;
const targets = { maxMeanTickMs: 100, maxRssMB: 1024 };

interface Phase { ms: number; statements: number; calls: number }
type Phases = Record<string, Phase>;

async function main(): Promise<void> {
  const startedAt = performance.now();
  const loadAverageAtStart = round(loadavg()[0], 2);
  const database = await throwawayDatabase();
  let app: Awaited<ReturnType<typeof createApp>> | undefined;
  const cleanup = async () => {
    await app?.close().catch(() => {});
    await database.drop().catch((error) => progress(`could not drop the bench database: ${error}`));
  };
  process.once('SIGINT', () => void cleanup().finally(() => process.exit(130)));
  try {
    progress(`seeding ${VMS} VMs into ${database.kind}...`);
    const config = loadConfig({ VVOLGRAPH_CLOCK: 'manual', VVOLGRAPH_DEMO: 'false', VVOLGRAPH_DB: 'memory', VVOLGRAPH_SEED: SEED, PORT: '0', VVOLGRAPH_TOKENS: benchTokenSpec });
    const seeding = performance.now();
    app = await createApp({ ...config, demo: false }, { database: database.handle, listen: false });
    const { core, engine } = app;
    const inventory = await seedLargeInventory(core, { vms: VMS, seed: SEED });

    // A workload for each powered-on VM, picked by a seeded stream in name order.
    const running = await core.db.select({ id: virtualMachines.id }).from(virtualMachines).where(eq(virtualMachines.powerState, 'POWERED_ON')).orderBy(asc(virtualMachines.name));
    const random = seededRandom(`${SEED}:workloads`);
    const pick = (): Preset => {
      let r = random();
      for (const [preset, weight] of MIX) if ((r -= weight) < 0) return preset;
      return MIX[MIX.length - 1][0];
    };
    const mix: Record<string, number> = {};
    const rows = running.map(({ id }) => {
      const preset = pick();
      mix[preset] = (mix[preset] ?? 0) + 1;
      return { vmId: id, ...presets[preset] };
    });
    await core.db.transaction(async (tx) => {
      for (let i = 0; i < rows.length; i += 1000) await tx.insert(workloads).values(rows.slice(i, i + 1000));
    });
    await core.db.execute(sql`vacuum analyze`);
    const seedSeconds = (performance.now() - seeding) / 1000;
    progress(`seeded ${inventory.vms} VMs (${inventory.poweredOn} on), ${inventory.vvols} VVOLs, workloads ${JSON.stringify(mix)} in ${seedSeconds.toFixed(1)} s`);

    // Instrumentation: wrap the hooks, the extent store's write, the DRAM caches' pass and the engine's statistics step.
    const counter = database.handle.statements;
    let phases: Phases = {};
    let tickStart = 0;
    let firstHookAt = 0;
    let lastMark = 0;
    let extentsWritten = 0;
    // What writing every COALESCE_TICKS ticks would write instead: the distinct extents of each window of measured ticks.
    const windowExtents = new Set<string>();
    const distinctPerWindow: number[] = [];
    let measuring = false;
    let activeVvols = 0;
    /** The last tick's I/O rows, read after the tick: what the DRAM cache sampled and served. */
    let lastIo: TickContext['io'] = [];
    const add = (name: string, ms: number, statements: number) => {
      const p = (phases[name] ??= { ms: 0, statements: 0, calls: 0 });
      p.ms += ms;
      p.statements += statements;
      p.calls += 1;
    };
    const timed = async <T>(name: string, fn: () => Promise<T> | T): Promise<T> => {
      const t0 = performance.now();
      const s0 = counter.total;
      if (!firstHookAt) firstHookAt = t0;
      try {
        return await fn();
      } finally {
        add(name, performance.now() - t0, counter.total - s0);
        lastMark = performance.now();
      }
    };
    for (const plugin of core.plugins) {
      if (!plugin.hooks) continue;
      const hooks: Record<string, unknown> = { ...plugin.hooks };
      for (const phase of ['demand', 'schedule', 'serve', 'background', 'observe'] as const) {
        const hook = plugin.hooks[phase];
        if (!hook) continue;
        hooks[phase] = (ctx: TickContext) => {
          activeVvols = ctx.io.length;
          lastIo = ctx.io;
          return timed(`${plugin.name}.${phase}`, () => hook(ctx));
        };
      }
      (plugin as { hooks: unknown }).hooks = hooks;
    }
    // The DRAM caches' pass (sampling every VVOL, the arrays' CLOCK caches) is synchronous, between the extent write and the serve hooks.
    const serveDram = engine.dram.serve.bind(engine.dram);
    engine.dram.serve = (...args: Parameters<typeof serveDram>) => {
      const t0 = performance.now();
      serveDram(...args);
      add('dram.serve', performance.now() - t0, 0);
      lastMark = performance.now();
    };
    // The tick's writes are counted after it ends: counted by key inside it, the ~15,000 extents took ~12 ms of each measured tick (CPU profile).
    let tickWrites: ExtentWrite[][] = [];
    const write = core.extents.write.bind(core.extents);
    core.extents.write = (db, writes: ExtentWrite[]) => {
      tickWrites.push(writes);
      return timed('extents.write', () => write(db, writes));
    };
    const countWrites = () => {
      for (const writes of tickWrites) {
        for (const w of writes) {
          extentsWritten += w.indexes.length;
          if (measuring) for (const index of w.indexes) windowExtents.add(`${w.vvolId}/${index}`);
        }
      }
      tickWrites = [];
    };
    const engineRecord = engine as unknown as { record: (...args: unknown[]) => void };
    const record = engineRecord.record.bind(engine);
    engineRecord.record = (...args: unknown[]) => {
      const t0 = performance.now();
      record(...args);
      add('statistics+ringBuffers', performance.now() - t0, 0);
      lastMark = performance.now();
    };

    // BENCH_ENGINE_TRACE_SQL=1 (PGlite only): time each statement inside the tick transactions, by its text's start.
    const sqlTimes = new Map<string, { ms: number; calls: number; rows: number }>();
    let tracing = false;
    const pglite = database.handle.pglite as unknown as { transaction: (fn: (tx: any) => Promise<unknown>) => Promise<unknown> } | undefined;
    if (process.env.BENCH_ENGINE_TRACE_SQL && pglite) {
      const transaction = pglite.transaction.bind(pglite);
      pglite.transaction = (fn) =>
        transaction((tx) => {
          for (const method of ['query', 'exec'] as const) {
            const original = tx[method].bind(tx);
            tx[method] = async (text: string, ...rest: unknown[]) => {
              const t0 = performance.now();
              const result = await original(text, ...rest);
              if (tracing) {
                const key = text.replace(/\s+/g, ' ').slice(0, 110);
                const entry = sqlTimes.get(key) ?? { ms: 0, calls: 0, rows: 0 };
                entry.ms += performance.now() - t0;
                entry.calls += 1;
                entry.rows += (result as { rows?: unknown[]; affectedRows?: number })?.rows?.length || (result as { affectedRows?: number })?.affectedRows || 0;
                sqlTimes.set(key, entry);
              }
              return result;
            };
          }
          return fn(tx);
        });
    }

    // The same on PostgreSQL: postgres.js's transaction client, timed from the call to the settled result.
    const client = (core.db as unknown as { $client?: { begin?: (fn: (tx: any) => Promise<unknown>) => Promise<unknown> } }).$client;
    if (process.env.BENCH_ENGINE_TRACE_SQL && database.kind === 'postgres' && client?.begin) {
      const begin = client.begin.bind(client);
      client.begin = (fn) =>
        begin((tx) => {
          const unsafe = tx.unsafe.bind(tx);
          tx.unsafe = (text: string, ...rest: unknown[]) => {
            const t0 = performance.now();
            const query = unsafe(text, ...rest);
            const then = query.then.bind(query);
            let recorded = false;
            query.then = (resolve?: (v: unknown) => unknown, reject?: (e: unknown) => unknown) =>
              then((result: unknown[]) => {
                if (tracing && !recorded) {
                  recorded = true;
                  const key = text.replace(/\s+/g, ' ').slice(0, 110);
                  const entry = sqlTimes.get(key) ?? { ms: 0, calls: 0, rows: 0 };
                  entry.ms += performance.now() - t0;
                  entry.calls += 1;
                  entry.rows += Array.isArray(result) ? result.length || ((result as { count?: number }).count ?? 0) : 0;
                  sqlTimes.set(key, entry);
                }
                return resolve ? resolve(result) : result;
              }, reject);
            return query;
          };
          return fn(tx);
        });
    }

    collect();
    let heapAfterWarmup = 0;
    const perTick: { ms: number; statements: number; extents: number; active: number; phases: Phases; loadDemandMs: number; restMs: number; sampled: number; dramReadHitRatio: number }[] = [];
    // CPU the measured ticks used, in this process and in a local PostgreSQL's processes: on two cores,
    // a tick cannot take less than half their sum, however well the two overlap.
    const cpu = { nodeMs: 0, postgresMs: 0 as number | null };
    // BENCH_ENGINE_CPU_PROFILE=<file>: a V8 CPU profile of the measured ticks only; BENCH_ENGINE_HEAP_PROFILE=<file>:
    // a sampling profile of what they allocate (open either in Chrome's DevTools).
    const profileFile = process.env.BENCH_ENGINE_CPU_PROFILE;
    const heapProfileFile = process.env.BENCH_ENGINE_HEAP_PROFILE;
    const profiler = profileFile || heapProfileFile ? new Session() : undefined;
    for (let i = 0; i < WARMUP + TICKS; i++) {
      if (profiler && i === WARMUP) {
        profiler.connect();
        if (profileFile) {
          await profiler.post('Profiler.enable');
          await profiler.post('Profiler.start');
        }
        if (heapProfileFile) {
          await profiler.post('HeapProfiler.enable');
          await profiler.post('HeapProfiler.startSampling', { samplingInterval: 16384, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
        }
      }
      phases = {};
      extentsWritten = 0;
      firstHookAt = 0;
      const s0 = counter.total;
      const postgresBefore = database.kind === 'postgres' ? postgresCpuMs() : null;
      const nodeBefore = process.cpuUsage();
      tickStart = performance.now();
      tracing = measuring = i >= WARMUP;
      await core.transact((work) => engine.advance(1, work), { advancesClock: true });
      const ms = performance.now() - tickStart;
      const nodeUsed = process.cpuUsage(nodeBefore);
      countWrites();
      const postgresAfter = database.kind === 'postgres' ? postgresCpuMs() : null;
      if (measuring) {
        cpu.nodeMs += (nodeUsed.user + nodeUsed.system) / 1000;
        cpu.postgresMs = postgresBefore === null || postgresAfter === null || cpu.postgresMs === null ? null : cpu.postgresMs + postgresAfter - postgresBefore;
      }
      const statements = counter.total - s0;
      const loadDemandMs = firstHookAt ? firstHookAt - tickStart : NaN;
      const seen = Object.values(phases).reduce((s, p) => s + p.ms, 0);
      const restMs = ms - loadDemandMs - seen;
      await core.reconciler.settled();
      if (i === WARMUP - 1) {
        collect();
        heapAfterWarmup = process.memoryUsage().heapUsed;
      }
      if (measuring && (i - WARMUP + 1) % COALESCE_TICKS === 0) {
        distinctPerWindow.push(windowExtents.size);
        windowExtents.clear();
      }
      let sampled = 0;
      let sampledReads = 0;
      let dramHits = 0;
      for (const io of lastIo) {
        const { writes, dramHits: hits } = io.sampled;
        sampled += writes.length;
        for (let k = 0; k < writes.length; k++) {
          sampledReads += 1 - writes[k];
          dramHits += hits[k];
        }
      }
      if (i >= WARMUP) perTick.push({ ms, statements, extents: extentsWritten, active: activeVvols, phases, loadDemandMs, restMs, sampled, dramReadHitRatio: sampledReads > 0 ? dramHits / sampledReads : 0 });
      progress(`tick ${engine.tick}${i < WARMUP ? ' (warm-up)' : ''}: ${ms.toFixed(1)} ms, ${statements} statements, ${extentsWritten} extents, ${activeVvols} VVOLs; loadDemand ${loadDemandMs.toFixed(1)} ms, ${Object.entries(phases).map(([k, p]) => `${k} ${p.ms.toFixed(1)} ms/${p.statements} st`).join(', ')}, rest ${restMs.toFixed(1)} ms`);
    }
    void lastMark;
    if (profileFile) writeFileSync(profileFile, JSON.stringify((await profiler!.post('Profiler.stop')).profile));
    if (heapProfileFile) writeFileSync(heapProfileFile, JSON.stringify((await profiler!.post('HeapProfiler.stopSampling')).profile));
    profiler?.disconnect();

    const memory = memoryOf(process.pid);
    collect();
    const heapGrowthKBPerTick = round((process.memoryUsage().heapUsed - heapAfterWarmup) / 1024 / Math.max(1, TICKS), 0);
    const heapMB = round(process.memoryUsage().heapUsed / 1024 / 1024, 1);
    const names = [...new Set(perTick.flatMap((t) => Object.keys(t.phases)))];
    const mean = (f: (t: (typeof perTick)[number]) => number) => round(perTick.reduce((s, t) => s + f(t), 0) / Math.max(1, perTick.length), 1);
    const wall = summary(perTick.map((t) => t.ms));
    const statementsSeen = [...new Set(perTick.map((t) => t.statements))].sort((a, b) => a - b);
    const line = {
      ...lineHeader('engine', database.kind, loadAverageAtStart),
      server: 'in-process (createApp, listen: false), VVOLGRAPH_CLOCK=manual',
      dataset: { vms: inventory.vms, poweredOn: inventory.poweredOn, vvols: inventory.vvols, workloads: mix, seedSeconds: round(seedSeconds, 1) },
      warmupTicks: WARMUP,
      ticks: perTick.length,
      activeVvolsPerTick: perTick[0]?.active ?? 0,
      tickMs: wall,
      sqlStatementsPerTick: statementsSeen.length === 1 ? statementsSeen[0] : statementsSeen,
      extentsWrittenPerTick: summary(perTick.map((t) => t.extents)),
      // The core's sampled accesses (all arrays) and the share of their reads the arrays' DRAM caches served.
      dram: { sampledAccessesPerTick: mean((t) => t.sampled), readHitRatio: round(perTick.reduce((s, t) => s + t.dramReadHitRatio, 0) / Math.max(1, perTick.length), 3) },
      // Writing extents every COALESCE_TICKS ticks (not done) would write the distinct ones of each window once.
      distinctExtentsPerWindow: { windowTicks: COALESCE_TICKS, windows: distinctPerWindow.length, mean: round(distinctPerWindow.reduce((a, b) => a + b, 0) / Math.max(1, distinctPerWindow.length), 0) },
      meanMsByPhase: {
        loadDemand: mean((t) => t.loadDemandMs),
        ...Object.fromEntries(names.map((n) => [n, mean((t) => t.phases[n]?.ms ?? 0)])),
        'rest (clones, simulation_state, flush, commit)': mean((t) => t.restMs),
      },
      statementsByPhase: Object.fromEntries(names.map((n) => [n, perTick[0]?.phases[n]?.statements ?? 0])),
      // Node: this process (every thread, the garbage collector's too); PostgreSQL: all its local processes, null on PGlite (in Node's figure).
      cpuMsPerTick: { node: round(cpu.nodeMs / Math.max(1, perTick.length), 1), postgres: cpu.postgresMs === null ? null : round(cpu.postgresMs / Math.max(1, perTick.length), 1) },
      ...(sqlTimes.size ? { sqlMeanMsPerTick: Object.fromEntries([...sqlTimes].sort((a, b) => b[1].ms - a[1].ms).map(([k, v]) => [k, { ms: round(v.ms / perTick.length, 1), perTick: round(v.calls / perTick.length, 2), rowsPerCall: Math.round(v.rows / v.calls) }])) } : {}),
      rssMB: memory?.rssMB ?? null,
      peakRssMB: memory?.peakRssMB ?? null,
      heapUsedMB: heapMB,
      // Live heap added per tick after a full GC (the ring buffers fill up to 60 samples per VVOL and VM).
      heapGrowthKBPerTick,
      targets: {
        meanTickAtMost100ms: wall.mean <= targets.maxMeanTickMs,
        rssAtMost1GiB: (memory?.peakRssMB ?? Infinity) <= targets.maxRssMB,
      },
      totalSeconds: round((performance.now() - startedAt) / 1000, 1),
    };
    process.stdout.write(`${JSON.stringify(line)}\n`);
  } finally {
    await cleanup();
  }
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
