/** What every bench needs: a throwaway database, a server in a child process, a load driver, machine facts. */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createThrowawayDatabase, openDatabase, type DatabaseHandle } from '../../src/core/db/client.ts';

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Fixed tokens, so the bench (client) and the server (child process) agree without talking. */
export const benchTokens = {
  storageAdmin: 'bench-storage-admin-token',
  vmAdmin: 'bench-vm-admin-token',
  viewer: 'bench-viewer-token',
} as const;
export const benchTokenSpec = Object.entries(benchTokens).map(([role, token]) => `${role}:${token}`).join(',');

export function progress(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

export function machine() {
  const model = (() => {
    try {
      return /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1].trim() ?? cpus()[0]?.model;
    } catch {
      return cpus()[0]?.model;
    }
  })();
  return { node: process.version, cpuModel: model ?? 'unknown', cpuCores: availableParallelism(), platform: `${process.platform}-${process.arch}`, cpuCalibrationMs: cpuCalibrationMs() };
}

/**
 * What every JSON line of a bench that ran against a database starts with: its name, the database, the
 * machine, and the load average when it started (`loadAverageAtStart`) and now.
 */
export function lineHeader(bench: string, database: 'pglite' | 'postgres', loadAverageAtStart: number) {
  return { bench, database, ...machine(), loadAverage1mAtStart: loadAverageAtStart, loadAverage1mAtEnd: round(loadavg()[0], 2) };
}

/** Mean, median, p99 and maximum of some figures, to a tenth. */
export function summary(values: number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  const mean = sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length);
  return { mean: round(mean, 1), p50: round(percentile(sorted, 50), 1), p99: round(percentile(sorted, 99), 1), max: round(sorted.at(-1) ?? NaN, 1) };
}

/**
 * Milliseconds this process takes for a fixed CPU-bound loop (the best of three, after one to warm up):
 * hosts of one machine kind, and one host from hour to hour, differ by a third, so figures taken at
 * different times compare only together with this.
 */
function cpuCalibrationMs(): number {
  const once = () => {
    const started = performance.now();
    let state = 1;
    let sum = 0;
    for (let i = 0; i < 5_000_000; i++) {
      state = Math.imul(state ^ (state >>> 15), state | 1) + i;
      sum += (state >>> 0) / 4294967296;
    }
    if (sum < 0) throw new Error('unreachable');
    return performance.now() - started;
  };
  once();
  return round(Math.min(once(), once(), once()), 1);
}

export interface BenchDatabase {
  kind: 'pglite' | 'postgres';
  /** The handle the bench seeds through (an in-memory PGlite, or postgres.js on the throwaway database). */
  handle: DatabaseHandle;
  /** DATABASE_URL for the server process (postgres only). */
  url?: string;
  /** Drops the throwaway database (postgres); idempotent. */
  drop(): Promise<void>;
}

/**
 * With DATABASE_URL: `create database vvolgraph_bench_<random>` on that server (dropped by drop()); else an
 * in-memory PGlite. Not migrated yet: createApp (or handle.migrate()) does that.
 */
export async function throwawayDatabase(): Promise<BenchDatabase> {
  const adminUrl = process.env.DATABASE_URL;
  if (!adminUrl) return { kind: 'pglite', handle: await openDatabase({ kind: 'pglite' }), drop: async () => {} };
  const { url, drop } = await createThrowawayDatabase(adminUrl, 'vvolgraph_bench');
  return { kind: 'postgres', handle: await openDatabase({ kind: 'postgres', url }), url, drop };
}

export interface ServerStats {
  /** CPU time the server process used (user + system) since the last stats() call, ms. */
  cpuMs: number;
  /** Event-loop delay since the last stats() call: how long a ready callback (a socket read, a timer) had to wait. */
  eventLoopP99Ms: number;
  eventLoopMaxMs: number;
}

export interface TickTimes {
  publishedAt: [number, number][];
  lastSentAt: [number, number][];
  engine: { ticks: number; meanMs: number; maxMs: number };
}

export interface ServerProcess {
  url: string;
  pid: number;
  database: string;
  /** Asks the server for its CPU time and event-loop delay since the previous call (and resets them). */
  stats(): Promise<ServerStats>;
  /** When each tick's I/O samples were published (epoch ms by simulated time) since the previous call, and the engine's tick statistics. */
  ticks(): Promise<TickTimes>;
  stop(): Promise<void>;
}

/**
 * Starts bench/lib/server.ts (what `src/main.ts serve` does) in a child process on the same Node, with tsx's
 * loader, and waits until it listens. The child is node itself (not npx), so its pid is the server's.
 * It talks JSON lines: it prints { url, pid, database } once listening, and { stats } for each "stats" line
 * written to its stdin.
 */
export async function startServer(env: Record<string, string | undefined>): Promise<ServerProcess> {
  const childEnv: NodeJS.ProcessEnv = { ...process.env };
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined) delete childEnv[key];
    else childEnv[key] = value;
  }
  // BENCH_SERVER_NODE_ARGS passes flags to the server's node only, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
  const nodeArgs = process.env.BENCH_SERVER_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  const child: ChildProcess = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', join(repoRoot, 'bench', 'lib', 'server.ts')], {
    cwd: repoRoot,
    env: childEnv,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let stopping = false;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const waiters: ((message: any) => boolean)[] = [];
  const failures: ((error: Error) => void)[] = [];
  child.once('exit', (code, signal) => {
    if (stopping) return;
    const error = new Error(`the server (pid ${child.pid}) exited unexpectedly: code ${code}, signal ${signal}`);
    progress(error.message);
    for (const fail of failures.splice(0)) fail(error);
  });
  let buffer = '';
  child.stdout!.on('data', (chunk: Buffer) => {
    buffer += chunk.toString('utf8');
    const lines = buffer.split('\n');
    buffer = lines.pop()!;
    for (const line of lines) {
      let message: unknown;
      try {
        message = JSON.parse(line);
      } catch {
        process.stderr.write(`[server] ${line}\n`);
        continue;
      }
      const i = waiters.findIndex((accepts) => accepts(message));
      if (i >= 0) waiters.splice(i, 1);
      else process.stderr.write(`[server] ${line}\n`);
    }
  });
  const next = <T>(accepts: (message: any) => T | undefined) =>
    new Promise<T>((resolve, reject) => {
      failures.push(reject);
      waiters.push((message) => {
        const value = accepts(message);
        if (value === undefined) return false;
        resolve(value);
        return true;
      });
    });
  const ready = await next<{ url: string; pid: number; database: string }>((m) => (typeof m?.url === 'string' ? m : undefined));
  const timer = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());
  return {
    ...ready,
    stats: () => {
      const reply = next<ServerStats>((m) => m?.stats);
      child.stdin!.write('stats\n');
      return reply;
    },
    ticks: () => {
      const reply = next<TickTimes>((m) => m?.ticks);
      child.stdin!.write('ticks\n');
      return reply;
    },
    stop: async () => {
      stopping = true;
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await Promise.race([exited, timer(10_000)]);
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await exited;
      }
    },
  };
}

/** Resident and peak resident memory of a process, in MB, from /proc/<pid>/status. */
export function memoryOf(pid: number): { rssMB: number; peakRssMB: number } | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rssMB: round(kb('VmRSS') / 1024, 1), peakRssMB: round(kb('VmHWM') / 1024, 1) };
  } catch {
    return null;
  }
}

/** Clock ticks per second of /proc's CPU times (USER_HZ: 100 on Linux). */
const USER_HZ = 100;

/**
 * CPU time (user + system, ms) used so far by every process named `postgres` on this machine: a local
 * PostgreSQL's server processes. Null when there is none to read (PGlite, or a server elsewhere).
 */
export function postgresCpuMs(): number | null {
  let ticks = 0;
  let found = false;
  for (const pid of readdirSync('/proc').filter((name) => /^\d+$/.test(name))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      // The command name is in parentheses and may hold spaces: fields are counted after its closing one.
      const close = stat.lastIndexOf(')');
      if (stat.slice(stat.indexOf('(') + 1, close) !== 'postgres') continue;
      const fields = stat.slice(close + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of the whole line)
      found = true;
    } catch {
      // The process ended while being read.
    }
  }
  return found ? (ticks * 1000) / USER_HZ : null;
}

export function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export interface GraphqlCase {
  url: string;
  token: string;
  query: string;
  variables: Record<string, unknown>;
  clients: number;
  requests: number;
  /** Stops issuing requests after this long, whatever is left. */
  maxSeconds: number;
  /** Checks a parsed response (throws if wrong); run on the first response of each client. */
  check?: (body: GraphqlBody) => void;
}

export interface GraphqlBody {
  data?: any;
  errors?: { message: string }[];
  extensions?: { sqlStatements?: number };
}

export interface CaseResult {
  requests: number;
  seconds: number;
  requestsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  /** Distinct values of extensions.sqlStatements seen (one, if nothing varies). */
  sqlStatements: number[];
  /** Requests that got no HTTP answer (connection reset or refused); not in the latencies. */
  connectionErrors: number;
  firstConnectionError?: string;
  truncated: boolean;
}

/**
 * `clients` loops, each sending the next request as soon as its last answer is read, until `requests` were
 * sent (or maxSeconds passed). Latency is from sending to the last byte of the body. Bodies are parsed in
 * full only for the first answer of each client (check); the others are scanned for errors and for
 * extensions.sqlStatements, so the client spends little CPU that the server could use.
 */
export async function driveGraphql(c: GraphqlCase): Promise<CaseResult> {
  const body = JSON.stringify({ query: c.query, variables: c.variables });
  const headers = { 'content-type': 'application/json', accept: 'application/json', authorization: `Bearer ${c.token}` };
  const latencies: number[] = [];
  const statements = new Set<number>();
  let issued = 0;
  let connectionErrors = 0;
  let firstConnectionError: string | undefined;
  const started = performance.now();
  const deadline = started + c.maxSeconds * 1000;
  const client = async () => {
    let first = true;
    while (issued < c.requests && performance.now() < deadline) {
      issued += 1;
      const t0 = performance.now();
      let response: Response;
      let text: string;
      try {
        response = await fetch(`${c.url}/graphql`, { method: 'POST', headers, body });
        text = await response.text();
      } catch (error) {
        // undici reports a reset keep-alive connection as "fetch failed" with the socket error as cause.
        connectionErrors += 1;
        firstConnectionError ??= String((error as { cause?: unknown }).cause ?? error);
        continue;
      }
      latencies.push(performance.now() - t0);
      if (response.status !== 200) throw new Error(`HTTP ${response.status}: ${text.slice(0, 500)}`);
      if (first) {
        first = false;
        const parsed = JSON.parse(text) as GraphqlBody;
        if (parsed.errors?.length) throw new Error(`GraphQL errors: ${JSON.stringify(parsed.errors).slice(0, 1000)}`);
        c.check?.(parsed);
      } else if (text.startsWith('{"errors"') || text.includes('"errors":[')) {
        throw new Error(`GraphQL errors: ${text.slice(0, 1000)}`);
      }
      const match = /"sqlStatements":(\d+)/.exec(text.slice(-200));
      if (!match) throw new Error('the response has no extensions.sqlStatements');
      statements.add(Number(match[1]));
    }
  };
  await Promise.all(Array.from({ length: c.clients }, client));
  const seconds = (performance.now() - started) / 1000;
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    requests: latencies.length,
    seconds: round(seconds, 2),
    requestsPerSecond: round(latencies.length / seconds, 1),
    p50Ms: round(percentile(sorted, 50)),
    p99Ms: round(percentile(sorted, 99)),
    meanMs: round(sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length)),
    sqlStatements: [...statements].sort((a, b) => a - b),
    connectionErrors,
    ...(firstConnectionError ? { firstConnectionError } : {}),
    truncated: latencies.length + connectionErrors < c.requests,
  };
}

/** Runs a bench's main and exits: 0 once it printed its line, 1 (with the error) if it failed; open handles do not keep it alive. */
export function runBench(main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (error) => {
      console.error(error);
      process.exit(1);
    },
  );
}
