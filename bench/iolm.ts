/**
 * IO Load Manager's per-tick IOPS allocation: `npm run bench -- iolm` (or `npx tsx bench/iolm.ts`).
 *
 * 1. Generates seeded random pools of n = 10, 100, 1,000 and 10,000 claims, in three kinds: infeasible
 *    (capacity below the sum of the capped lower limits), contended (between that sum and the sum of the
 *    caps) and ample (above every cap).
 * 2. Checks `allocate` against the progressive-filling oracle `allocateReference` (n <= 1,000: the oracle
 *    is O(n²)), the reservation shortfall of feasible pools and work conservation.
 * 3. Times both: the median over repeated runs of the time per allocation, in microseconds.
 * 4. Prints one JSON line. Exits 1 (after printing) if an accuracy target is missed; times are reported only.
 */
import { allocate, allocateReference, type Claim, type Priority } from '../src/plugins/io-load-manager/allocate.ts';
import { seededRandom } from '../src/core/random.ts';

const SEED = 'vvolgraph-bench-iolm';
const SIZES = [10, 100, 1000, 10_000];
const ORACLE_MAX_N = 1000;
const KINDS = ['infeasible', 'contended', 'ample'] as const;
const POOLS_PER_KIND = 4;
/** Each timing keeps repeating a size's pools for this long (and at least MIN_REPEATS times). */
const TIME_BUDGET_MS = 400;
const MIN_REPEATS = 15;
const targets = { maxAllocationErrorIops: 1e-6, maxReservationShortfallIops: 0, maxWorkConservationRelError: 1e-9 };

const random = seededRandom(SEED);
const priorities: Priority[] = ['HIGH', 'MEDIUM', 'LOW'];
/** 10..1e6 IOPS, spread evenly over the orders of magnitude, integral as policies set them. */
const limit = () => Math.round(10 * 10 ** (5 * random()));

function claims(n: number): Claim[] {
  return Array.from({ length: n }, () => {
    const lower = random() < 0.5 ? limit() : 0;
    const upper = random() < 0.3 ? Math.max(lower, limit()) : 0;
    // Workload demand is fractional; a tenth of the volumes are idle.
    const demand = random() < 0.1 ? 0 : random() * 100_000;
    return { demand, lower, upper, priority: priorities[Math.floor(random() * 3)] };
  });
}

const capOf = (c: Claim) => (c.upper > 0 ? Math.min(c.demand, c.upper) : c.demand);
const resOf = (c: Claim) => Math.min(c.lower, capOf(c));
const sum = (xs: Iterable<number>) => { let s = 0; for (const x of xs) s += x; return s; };

interface Pool { kind: (typeof KINDS)[number]; capacity: number; claims: Claim[]; sumRes: number; sumCap: number }

function pool(n: number, kind: Pool['kind']): Pool {
  const cs = claims(n);
  const sumRes = sum(cs.map(resOf));
  const sumCap = sum(cs.map(capOf));
  const u = random();
  const capacity =
    kind === 'infeasible' ? sumRes * (0.2 + 0.75 * u)
    : kind === 'contended' ? sumRes + (sumCap - sumRes) * (0.05 + 0.9 * u)
    : sumCap * (1 + u);
  return { kind, capacity, claims: cs, sumRes, sumCap };
}

/** Median time of one allocation over `pools`, in microseconds: each sample runs them all once. */
function time(fn: typeof allocate, pools: Pool[]): number {
  for (let i = 0; i < 3; i++) for (const p of pools) fn(p.capacity, p.claims); // warm-up (JIT)
  const samples: number[] = [];
  const start = performance.now();
  while (samples.length < MIN_REPEATS || performance.now() - start < TIME_BUDGET_MS) {
    const t0 = performance.now();
    for (const p of pools) fn(p.capacity, p.claims);
    samples.push(((performance.now() - t0) * 1000) / pools.length);
  }
  samples.sort((a, b) => a - b);
  return samples[samples.length >> 1];
}

const round = (x: number, digits: number) => Number(x.toPrecision(digits));

const sizes = [];
for (const n of SIZES) {
  const pools = KINDS.flatMap((kind) => Array.from({ length: POOLS_PER_KIND }, () => pool(n, kind)));
  let maxErrorIops: number | null = n <= ORACLE_MAX_N ? 0 : null;
  let shortfallIops = 0;
  let workConservationRelError = 0;
  for (const p of pools) {
    const served = allocate(p.capacity, p.claims);
    if (maxErrorIops !== null) {
      const reference = allocateReference(p.capacity, p.claims);
      for (let i = 0; i < n; i++) maxErrorIops = Math.max(maxErrorIops, Math.abs(served[i] - reference[i]));
    }
    if (p.kind !== 'infeasible') {
      const shortfall = sum(p.claims.map((c, i) => Math.max(0, resOf(c) - served[i])));
      shortfallIops = Math.max(shortfallIops, shortfall);
    }
    const target = Math.min(p.capacity, p.sumCap);
    workConservationRelError = Math.max(workConservationRelError, Math.abs(sum(served) - target) / target);
  }
  const usPerAllocation = time(allocate, pools);
  const referenceUsPerAllocation = n <= ORACLE_MAX_N ? time(allocateReference, pools) : null;
  process.stderr.write(`[bench] iolm n=${n}: ${usPerAllocation.toFixed(1)} µs per allocation, max error ${maxErrorIops} IOPS\n`);
  sizes.push({
    n, pools: pools.length, maxErrorIops, shortfallIops, workConservationRelError,
    usPerAllocation: round(usPerAllocation, 3),
    referenceUsPerAllocation: referenceUsPerAllocation === null ? null : round(referenceUsPerAllocation, 3),
  });
}

const maxAllocationErrorIops = Math.max(...sizes.map((s) => s.maxErrorIops ?? 0));
const maxReservationShortfallIops = Math.max(...sizes.map((s) => s.shortfallIops));
const maxWorkConservationRelError = Math.max(...sizes.map((s) => s.workConservationRelError));
const ok = maxAllocationErrorIops <= targets.maxAllocationErrorIops
  && maxReservationShortfallIops <= targets.maxReservationShortfallIops
  && maxWorkConservationRelError <= targets.maxWorkConservationRelError;

console.log(JSON.stringify({
  bench: 'iolm', seed: SEED, kinds: KINDS, poolsPerKind: POOLS_PER_KIND,
  maxAllocationErrorIops, maxReservationShortfallIops, maxWorkConservationRelError,
  usPerAllocation: Object.fromEntries(sizes.map((s) => [s.n, s.usPerAllocation])),
  referenceUsPerAllocation: Object.fromEntries(sizes.filter((s) => s.referenceUsPerAllocation !== null).map((s) => [s.n, s.referenceUsPerAllocation])),
  sizes, targets, ok, node: process.version,
}));
if (!ok) process.exit(1);
