/**
 * The PerforCache L2 replacement policy on Zipf block traces: `npm run bench -- cache` (or `npx tsx bench/cache.ts`).
 *
 * For alpha 0.8, 1.0 and 1.2: 1,000,000 seeded Zipf reads over a working set of 100,000 blocks (the ranks
 * mapped to block ids by a seeded shuffle, so key order says nothing about popularity). For caches of
 * 1 %, 5 % and 10 % of the working set: the hit ratio of S3-FIFO (the plugin's cache), LRU and Belady's
 * OPT with bypass (the upper bound), S3-FIFO / OPT per case and on average (target >= 0.85), and the
 * throughput of S3-FIFO (million accesses per second, best of the cases' timed runs after a warm-up).
 * Prints one JSON line; the target is reported, not asserted.
 */
import { S3FifoCache, beladyOptHits, lruHits } from '../src/plugins/perforcache/cache.ts';
import { seededRandom, zipfSampler } from '../src/core/random.ts';

const WORKING_SET = 100_000;
const ACCESSES = 1_000_000;
const ALPHAS = [0.8, 1.0, 1.2];
const CACHE_SHARES = [0.01, 0.05, 0.1];
const SEED = 'vvolgraph-bench-cache';
const TARGET = 0.85;

const round = (x: number, digits = 4) => Math.round(x * 10 ** digits) / 10 ** digits;
const progress = (message: string) => process.stderr.write(`[bench] ${message}\n`);

function zipfTrace(alpha: number): Int32Array {
  const random = seededRandom(`${SEED}:${alpha}`);
  const blockOf = Int32Array.from({ length: WORKING_SET }, (_, i) => i);
  for (let i = WORKING_SET - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [blockOf[i], blockOf[j]] = [blockOf[j], blockOf[i]];
  }
  const rank = zipfSampler(WORKING_SET, alpha, random);
  const trace = new Int32Array(ACCESSES);
  for (let i = 0; i < ACCESSES; i++) trace[i] = blockOf[rank()];
  return trace;
}

function s3fifo(trace: Int32Array, capacity: number): { hits: number; seconds: number } {
  const cache = new S3FifoCache(capacity, 'READ_ONLY');
  const started = performance.now();
  for (let i = 0; i < trace.length; i++) cache.access(trace[i], false);
  const seconds = (performance.now() - started) / 1000;
  return { hits: cache.stats.readHits, seconds };
}

const cases = [];
let bestRate = 0;
for (const alpha of ALPHAS) {
  const trace = zipfTrace(alpha);
  const distinct = new Set(trace).size;
  for (const share of CACHE_SHARES) {
    const capacity = Math.round(WORKING_SET * share);
    s3fifo(trace, capacity); // warm-up (JIT) and a check that the timed run repeats it
    const run = s3fifo(trace, capacity);
    bestRate = Math.max(bestRate, trace.length / run.seconds / 1e6);
    const lru = lruHits(trace, capacity);
    const opt = beladyOptHits(trace, capacity);
    const c = {
      alpha,
      cacheBlocks: capacity,
      distinctBlocks: distinct,
      s3fifo: round(run.hits / ACCESSES),
      lru: round(lru / ACCESSES),
      opt: round(opt / ACCESSES),
      s3fifoOverOpt: round(run.hits / opt, 3),
      lruOverOpt: round(lru / opt, 3),
    };
    progress(JSON.stringify(c));
    cases.push(c);
  }
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const s3fifoOverOpt = round(mean(cases.map((c) => c.s3fifoOverOpt)), 3);
console.log(
  JSON.stringify({
    bench: 'cache',
    workingSet: WORKING_SET,
    accesses: ACCESSES,
    policy: 'S3-FIFO',
    cases,
    meanS3fifoOverOpt: s3fifoOverOpt,
    meanLruOverOpt: round(mean(cases.map((c) => c.lruOverOpt)), 3),
    target: TARGET,
    targetMet: s3fifoOverOpt >= TARGET,
    s3fifoMaccessesPerSecond: round(bestRate, 2),
    node: process.version,
  }),
);
