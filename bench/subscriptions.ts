/**
 * Live I/O to many subscribers: `npm run bench -- subscriptions`
 * (on PostgreSQL: `DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm run bench -- subscriptions`).
 *
 * 1. Seeds 1,000 powered-on VMs running OLTP in a throwaway database and starts the server in a child process
 *    on the REALTIME clock, one tick per second (bench/lib/seeded-server.ts).
 * 2. Opens 1,000 graphql-ws connections (viewer token in connection_init), each subscribed to `ioStats` of a
 *    VM of its own, and waits until every one has had a sample.
 * 3. Lets WARMUP_SECONDS of ticks go by (their delays are reported apart: the first ~10 ticks after a
 *    thousand subscriptions open send about twice as slowly, a warm-up that fades tick by tick), then
 *    measures for MEASURE_SECONDS: for each tick, the server notes when its first sample was published (right
 *    after the tick's transaction commits); each subscriber notes when its sample of that tick arrived. The
 *    delay is the difference (both processes read the same system clock). A sample not received within a
 *    second of the window's end counts as missed. Server CPU is taken over the window.
 * 4. Prints one JSON line. The target (p99 delay ≤ 50 ms) is reported, not asserted.
 */
import { encodeGlobalID } from '@pothos/plugin-relay';
import { createClient, type Client } from 'graphql-ws';
import { loadavg } from 'node:os';
import { WebSocket } from 'ws';
import { virtualMachines, workloads } from '../src/core/db/tables.ts';
import { presets } from '../src/core/services/workloads.ts';
import { benchTokens, lineHeader, memoryOf, percentile, progress, round, runBench, type TickTimes } from './lib/harness.ts';
import { startSeededServer } from './lib/seeded-server.ts';

const SUBSCRIBERS = Number(process.env.BENCH_SUBSCRIBERS ?? 1000);
const MEASURE_SECONDS = Number(process.env.BENCH_SUBSCRIPTIONS_SECONDS ?? 30);
const WARMUP_SECONDS = Number(process.env.BENCH_SUBSCRIPTIONS_WARMUP_SECONDS ?? 15);
const SEED = 'vvolgraph-bench-subscriptions';
const target = { maxP99DelayMs: 50 };
const subscription = 'subscription($vmId: ID!) { ioStats(vmId: $vmId) { time readIops writeIops mbps latencyMs servedIops throttledIops cacheHitRatio ssdServedRatio } }';

const wallNow = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Subscriber {
  client: Client;
  /** Arrival (epoch ms) of each sample, by its simulated time. */
  arrivals: Map<number, number>;
  firstSample: Promise<void>;
}

function subscribe(url: string, vmId: string): Subscriber {
  const client = createClient({
    url,
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${benchTokens.viewer}` },
    retryAttempts: 0,
  });
  const arrivals = new Map<number, number>();
  const firstSample = new Promise<void>((resolve, reject) => {
    client.subscribe<{ ioStats: { time: number } }>({ query: subscription, variables: { vmId } }, {
      next: (message) => {
        if (message.errors?.length) return reject(new Error(JSON.stringify(message.errors)));
        arrivals.set(message.data!.ioStats.time, wallNow());
        resolve();
      },
      error: (error) => reject(error instanceof Error ? error : new Error(JSON.stringify(error))),
      complete: () => {},
    });
  });
  return { client, arrivals, firstSample };
}

/** Each sample's delay from its tick's publication (sorted), the samples that never arrived, and each tick's server spread (sorted). */
function delaysOf(ticks: TickTimes, subscribers: Subscriber[]): { delays: number[]; missed: number; serverSpreads: number[] } {
  const delays: number[] = [];
  let missed = 0;
  for (const [time, publishedAt] of ticks.publishedAt) {
    for (const { arrivals } of subscribers) {
      const arrived = arrivals.get(time);
      if (arrived === undefined) missed += 1;
      else delays.push(arrived - publishedAt);
    }
  }
  const published = new Map(ticks.publishedAt);
  const serverSpreads = ticks.lastSentAt.map(([time, at]) => at - published.get(time)!).filter(Number.isFinite).sort((a, b) => a - b);
  return { delays: delays.sort((a, b) => a - b), missed, serverSpreads };
}

async function main(): Promise<void> {
  const startedAt = performance.now();
  const loadAverage = round(loadavg()[0], 2);
  let vmIds: string[] = [];
  const { database, server, inventory, seedSeconds, cleanup } = await startSeededServer({
    vms: SUBSCRIBERS,
    seed: SEED,
    poweredOn: 1,
    afterSeed: async (core) => {
      vmIds = (await core.db.select({ id: virtualMachines.id }).from(virtualMachines).orderBy(virtualMachines.name)).map((vm) => vm.id);
      await core.db.insert(workloads).values(vmIds.map((vmId) => ({ vmId, ...presets.OLTP })));
    },
    env: { VVOLGRAPH_CLOCK: 'realtime', VVOLGRAPH_TICK_MS: '1000' },
  });
  const subscribers: Subscriber[] = [];
  try {
    const idleMemory = memoryOf(server.pid);
    const url = `${server.url.replace(/^http/, 'ws')}/graphql`;
    progress(`subscribing ${SUBSCRIBERS} graphql-ws clients`);
    // In batches, so the server is not asked for a thousand handshakes at once.
    for (let i = 0; i < vmIds.length; i += 100) {
      const batch = vmIds.slice(i, i + 100).map((id) => subscribe(url, encodeGlobalID('VirtualMachine', id)));
      subscribers.push(...batch);
      await Promise.all(batch.map((s) => s.firstSample));
    }
    const connectedMemory = memoryOf(server.pid);
    progress(`all subscribed; warming up for ${WARMUP_SECONDS} s`);
    await server.ticks();
    await sleep(WARMUP_SECONDS * 1000);
    const warmup = delaysOf(await server.ticks(), subscribers);
    progress(`measuring for ${MEASURE_SECONDS} s`);
    await server.stats();
    const clientCpu = process.cpuUsage();
    const windowStart = wallNow();
    await sleep(MEASURE_SECONDS * 1000);
    const ticks = await server.ticks();
    const stats = await server.stats();
    const windowMs = wallNow() - windowStart;
    const clientCpuUsed = process.cpuUsage(clientCpu);
    const memory = memoryOf(server.pid);
    await sleep(1000);

    const { delays, missed, serverSpreads } = delaysOf(ticks, subscribers);
    const p99 = percentile(delays, 99);
    const line = {
      ...lineHeader('subscriptions', database.kind, loadAverage),
      server: 'child process (bench/lib/server.ts = src/main.ts serve), realtime clock, 1 tick/s',
      dataset: { vms: inventory.vms, poweredOn: inventory.poweredOn, vvols: inventory.vvols, workload: 'OLTP', seedSeconds: round(seedSeconds, 1) },
      subscribers: subscribers.length,
      connections: subscribers.length,
      ticksMeasured: ticks.publishedAt.length,
      samplesReceived: delays.length,
      samplesMissed: missed,
      warmupSeconds: WARMUP_SECONDS,
      warmupDelayMs: { p50: round(percentile(warmup.delays, 50)), p99: round(percentile(warmup.delays, 99)), max: round(warmup.delays.at(-1) ?? NaN) },
      delayMs: { p50: round(percentile(delays, 50)), p99: round(p99), max: round(delays[delays.length - 1] ?? NaN) },
      // From a tick's publication to the server's last WebSocket write for it: the server's share of the delay.
      serverSendSpreadMs: { p50: round(percentile(serverSpreads, 50)), max: round(serverSpreads[serverSpreads.length - 1] ?? NaN) },
      engineTickMs: { mean: round(ticks.engine.meanMs, 1), max: round(ticks.engine.maxMs, 1) },
      serverCpuPercentOfOneCore: round((stats.cpuMs / windowMs) * 100, 1),
      serverCpuMsPerTick: round(stats.cpuMs / Math.max(1, ticks.publishedAt.length), 1),
      serverEventLoopP99Ms: stats.eventLoopP99Ms,
      // The receiving side shares the machine: its time per tick is part of every delay measured.
      clientCpuMsPerTick: round((clientCpuUsed.user + clientCpuUsed.system) / 1000 / Math.max(1, ticks.publishedAt.length), 1),
      serverRssMB: { idle: idleMemory?.rssMB ?? null, subscribed: connectedMemory?.rssMB ?? null, end: memory?.rssMB ?? null, peak: memory?.peakRssMB ?? null },
      targets: { p99DelayAtMost50ms: p99 <= target.maxP99DelayMs && missed === 0 },
      totalSeconds: round((performance.now() - startedAt) / 1000, 1),
    };
    process.stdout.write(`${JSON.stringify(line)}\n`);
  } finally {
    await Promise.all(subscribers.map((s) => s.client.dispose()));
    await cleanup();
  }
}

runBench(main);
