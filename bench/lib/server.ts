/**
 * The server side of a bench, in a process of its own: `src/main.ts serve` (loadConfig + createApp),
 * except that an embedded database can be loaded from a PGlite dump the bench seeded (BENCH_PGLITE_DUMP),
 * so an in-memory PGlite can be handed over from the seeding process. With DATABASE_URL it is exactly
 * what `serve` does.
 *
 * Prints one JSON line when listening: { url, pid, database }; answers each "stats" line on stdin with
 * { stats: { cpuMs, eventLoopP99Ms, eventLoopMaxMs } } since the previous one, and each "ticks" line with
 * { ticks: { publishedAt, lastSentAt: [simulated time, epoch ms][], engine } } (when each tick's I/O samples
 * went out, and when the server wrote its last WebSocket message after that). Stops on SIGTERM/SIGINT or
 * when stdin closes (the bench process went away).
 */
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { WebSocket } from 'ws';
import { createApp } from '../../src/app.ts';
import { loadConfig } from '../../src/core/config.ts';
import { openDatabase } from '../../src/core/db/client.ts';

const config = loadConfig();
const dump = process.env.BENCH_PGLITE_DUMP;
const database = !config.databaseUrl && dump ? await openDatabase({ kind: 'pglite', loadDataDir: new Blob([readFileSync(dump)]) }) : undefined;
const app = await createApp(config, database ? { database } : {});

let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  await app.close().catch((error) => console.error('server close failed', error));
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.on('error', stop);

// When each tick's samples went out: the first ioStats publication of a tick happens right after its
// transaction commits; its last WebSocket message written since then tells the server's own share of
// the delivery. Keyed by the samples' simulated time; read (and cleared) with a "ticks" line.
const wallNow = () => performance.timeOrigin + performance.now();
const tickPublishedAt = new Map<number, number>();
const tickLastSentAt = new Map<number, number>();
let tickSending: number | undefined;
const publish = app.core.bus.publish.bind(app.core.bus);
app.core.bus.publish = ((topicName: string, payload: { time?: number }) => {
  if (topicName.startsWith('io:') && payload?.time !== undefined && !tickPublishedAt.has(payload.time)) {
    tickPublishedAt.set(payload.time, wallNow());
    tickSending = payload.time;
  }
  publish(topicName, payload as never);
}) as typeof app.core.bus.publish;
const send = WebSocket.prototype.send;
WebSocket.prototype.send = function (this: WebSocket, ...args: unknown[]) {
  (send as (...sent: unknown[]) => void).apply(this, args);
  if (tickSending !== undefined) tickLastSentAt.set(tickSending, wallNow());
} as typeof send;

const loop = monitorEventLoopDelay({ resolution: 10 });
loop.enable();
let cpu = process.cpuUsage();
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line.trim() === 'ticks') {
    const { ticks, meanMs, maxMs } = app.engine.statistics;
    process.stdout.write(`${JSON.stringify({ ticks: { publishedAt: [...tickPublishedAt], lastSentAt: [...tickLastSentAt], engine: { ticks, meanMs, maxMs } } })}\n`);
    tickPublishedAt.clear();
    tickLastSentAt.clear();
    return;
  }
  if (line.trim() !== 'stats') return;
  const used = process.cpuUsage(cpu);
  cpu = process.cpuUsage();
  const ms = (ns: number) => Math.round(ns / 1e4) / 100;
  const stats = { cpuMs: Math.round((used.user + used.system) / 1000), eventLoopP99Ms: ms(loop.percentile(99)), eventLoopMaxMs: ms(loop.max) };
  loop.reset();
  process.stdout.write(`${JSON.stringify({ stats })}\n`);
});

process.stdout.write(`${JSON.stringify({ url: app.url, pid: process.pid, database: app.core.database.kind })}\n`);
