/**
 * PerforOptimizer's tiering against a clairvoyant oracle: `npm run bench -- tiering` (or `npx tsx bench/tiering.ts`).
 *
 * 200 VVOLs × 512 extents start on NL_SAS; the pool's SSD holds 10 % of the extents, SAS 30 %; each VVOL may
 * keep at most 20 % of itself on SSD. A seeded, stable Zipf workload (α 1.0 over all extents, hot ranks
 * scattered by a random permutation) runs in 10 s ticks: heat decays (half-life one analysis interval)
 * and records each tick's I/O; every 5-minute analysis interval the RelocationCycle asks for a plan, whose
 * moves (at most the plugin's budget, BUDGET_SHARE of the pool's extents) take effect at once. Hysteresis: a move must gain at least what moving
 * a 32 MiB extent costs in heat (minGain), so tail extents whose heat is mostly noise stop trading places.
 *
 * Per interval (epoch) the share of its I/O served from SSD is compared with the oracle's: the SSD-capacity
 * extents that actually received the most I/O in that epoch, subject to the same per-VVOL maximum. After
 * the stable phase the hot set is re-permuted, and the bench counts the intervals until the ratio is back
 * above 0.9. Prints one JSON line; the targets are reported, not asserted.
 */
import { seededRandom, zipfSampler } from '../src/core/random.ts';
import { HeatMap, RelocationCycle, extentLimits, moveCostHeat, plan, ssdServedRatio, type PlanVvol, type Tier } from '../src/plugins/perforoptimizer/tiering.ts';
import { BUDGET_SHARE } from '../src/plugins/perforoptimizer/engine.ts';

const VVOLS = 200;
const PER_VVOL = 512;
const N = VVOLS * PER_VVOL;
const SSD_CAPACITY = Math.round(N * 0.1);
const SAS_CAPACITY = Math.round(N * 0.3);
/** The plugin's own budget per interval: a larger one would make the recovery after a shift look faster than the plugin's. */
const BUDGET = Math.max(1, Math.floor(N * BUDGET_SHARE));
const SSD_MAX_PERCENT = 20;
const ALPHA = 1.0;
const TICK_SECONDS = 10;
const INTERVAL_SECONDS = 300;
const HALF_LIFE_SECONDS = INTERVAL_SECONDS;
const IOS_PER_INTERVAL = 1_000_000;
const READ_SHARE = 0.7;
const RANDOM_RATIO = 0.8;
const BLOCK_BYTES = 8192;
const STABLE_EPOCHS = 12;
const WARMUP_EPOCHS = 4;
const SHIFTED_EPOCHS = 12;
const TARGET = 0.9;
/** Hysteresis: a move must gain at least what moving a 32 MiB extent costs (DESIGN.md §6's default extent). */
const MIN_GAIN = moveCostHeat(32 * 1048576);

const progress = (message: string) => process.stderr.write(`[bench] ${message}\n`);
const round = (x: number, digits = 3) => Math.round(x * 10 ** digits) / 10 ** digits;

const random = seededRandom('vvolgraph-bench-tiering');
const zipf = zipfSampler(N, ALPHA, random);
const permutation = () => {
  const p = Array.from({ length: N }, (_, i) => i);
  for (let i = N - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
};

const bounds = { SSD: { max: SSD_MAX_PERCENT } };
const ssdMaxPerVvol = extentLimits(PER_VVOL, bounds).max[0];
const tierOf: Tier[] = new Array(N).fill('NL_SAS');
const used: Record<Tier, number> = { SSD: 0, SAS: 0, NL_SAS: N };
const capacity: Record<Tier, number> = { SSD: SSD_CAPACITY, SAS: SAS_CAPACITY, NL_SAS: N };
const heat = new HeatMap(HALF_LIFE_SECONDS, N);
const cycle = new RelocationCycle(INTERVAL_SECONDS, 'AUTO');

/** The oracle's SSD share: the most-accessed extents of the epoch, at most SSD_CAPACITY, at most ssdMaxPerVvol per VVOL. */
function oracleShare(ios: Float64Array): number {
  const order = Array.from({ length: N }, (_, i) => i).sort((a, b) => ios[b] - ios[a] || a - b);
  const perVvol = new Int32Array(VVOLS);
  let taken = 0;
  let served = 0;
  let total = 0;
  for (const i of order) {
    total += ios[i];
    if (taken < SSD_CAPACITY && perVvol[Math.floor(i / PER_VVOL)] < ssdMaxPerVvol) {
      perVvol[Math.floor(i / PER_VVOL)]++;
      taken++;
      served += ios[i];
    }
  }
  return total > 0 ? served / total : 0;
}

const planMs: number[] = [];
const movesPerInterval: number[] = [];

/** Plans from the current heat and applies the moves (checking the pool and the per-VVOL maximum). */
function relocate(): void {
  const vvols: PlanVvol[] = [];
  for (let v = 0; v < VVOLS; v++) {
    const extents = [];
    for (let k = 0; k < PER_VVOL; k++) {
      const i = v * PER_VVOL + k;
      extents.push({ extent: i, tier: tierOf[i], heat: heat.heat(i) });
    }
    vvols.push({ id: `vvol-${String(v).padStart(3, '0')}`, capacityExtents: PER_VVOL, extents, bounds });
  }
  const poolFree = { SSD: capacity.SSD - used.SSD, SAS: capacity.SAS - used.SAS, NL_SAS: capacity.NL_SAS - used.NL_SAS };
  const started = performance.now();
  const { moves, infeasible } = plan({ vvols, poolFree, budget: BUDGET, minGain: MIN_GAIN });
  planMs.push(performance.now() - started);
  if (infeasible.length) throw new Error(`unexpected infeasible VVOLs: ${JSON.stringify(infeasible.slice(0, 3))}`);
  if (moves.length > BUDGET) throw new Error(`${moves.length} moves over the budget ${BUDGET}`);
  cycle.planned(moves.length);
  for (const m of moves) {
    if (tierOf[m.extent] !== m.from) throw new Error(`extent ${m.extent} is on ${tierOf[m.extent]}, not ${m.from}`);
    tierOf[m.extent] = m.to;
    used[m.from]--;
    if (++used[m.to] > capacity[m.to]) throw new Error(`${m.to} over capacity`);
  }
  for (let v = 0; v < VVOLS; v++) {
    let ssd = 0;
    for (let k = 0; k < PER_VVOL; k++) if (tierOf[v * PER_VVOL + k] === 'SSD') ssd++;
    if (ssd > ssdMaxPerVvol) throw new Error(`vvol ${v} has ${ssd} extents on SSD, over ${ssdMaxPerVvol}`);
  }
  cycle.relocated(moves.length);
  movesPerInterval.push(moves.length);
}

/** Runs one analysis interval of I/O (the placement fixed), then the relocation at its end; returns the SSD share ratio. */
function epoch(hot: number[]): { ratio: number; ssdShare: number; oracle: number } {
  const ios = new Float64Array(N);
  const reads = new Float64Array(N);
  const writes = new Float64Array(N);
  const ticks = INTERVAL_SECONDS / TICK_SECONDS;
  const perTick = IOS_PER_INTERVAL / ticks;
  const served = tierOf.slice();
  for (let t = 0; t < ticks; t++) {
    const touched: number[] = [];
    for (let k = 0; k < perTick; k++) {
      const i = hot[zipf()];
      if (reads[i] === 0 && writes[i] === 0) touched.push(i);
      if (random() < READ_SHARE) reads[i]++;
      else writes[i]++;
    }
    heat.decay(TICK_SECONDS);
    for (const i of touched) {
      heat.record(i, { reads: reads[i], writes: writes[i], randomRatio: RANDOM_RATIO, bytes: (reads[i] + writes[i]) * BLOCK_BYTES });
      ios[i] += reads[i] + writes[i];
      reads[i] = 0;
      writes[i] = 0;
    }
    if (cycle.tick(TICK_SECONDS) === 'CALCULATING') relocate();
  }
  const ssdShare = ssdServedRatio(ios, served);
  const oracle = oracleShare(ios);
  return { ratio: ssdShare / oracle, ssdShare, oracle };
}

const startedAt = performance.now();
const stable: ReturnType<typeof epoch>[] = [];
let hot = permutation();
for (let e = 0; e < STABLE_EPOCHS; e++) {
  stable.push(epoch(hot));
  progress(`stable epoch ${e}: ratio ${round(stable[e].ratio)} (SSD share ${round(stable[e].ssdShare)}, oracle ${round(stable[e].oracle)}), ${movesPerInterval.at(-1)} moves`);
}
hot = permutation();
const shifted: ReturnType<typeof epoch>[] = [];
for (let e = 0; e < SHIFTED_EPOCHS; e++) {
  shifted.push(epoch(hot));
  progress(`shifted epoch ${e}: ratio ${round(shifted[e].ratio)} (SSD share ${round(shifted[e].ssdShare)}, oracle ${round(shifted[e].oracle)}), ${movesPerInterval.at(-1)} moves`);
}

const steady = stable.slice(WARMUP_EPOCHS).map((s) => s.ratio);
const steadyAverage = steady.reduce((a, b) => a + b, 0) / steady.length;
const warmup = stable.findIndex((s) => s.ratio >= TARGET);
const recovery = shifted.findIndex((s) => s.ratio >= TARGET);
const line = {
  bench: 'tiering',
  vvols: VVOLS,
  extentsPerVvol: PER_VVOL,
  extents: N,
  ssdCapacityExtents: SSD_CAPACITY,
  sasCapacityExtents: SAS_CAPACITY,
  ssdMaxPercentPerVvol: SSD_MAX_PERCENT,
  budgetPerInterval: BUDGET,
  zipfAlpha: ALPHA,
  analysisIntervalSeconds: INTERVAL_SECONDS,
  tickSeconds: TICK_SECONDS,
  halfLifeSeconds: HALF_LIFE_SECONDS,
  minGain: MIN_GAIN,
  iosPerInterval: IOS_PER_INTERVAL,
  stable: {
    ratioPerEpoch: stable.map((s) => round(s.ratio)),
    ssdSharePerEpoch: stable.map((s) => round(s.ssdShare)),
    oracleSharePerEpoch: stable.map((s) => round(s.oracle)),
    warmupIntervals: warmup < 0 ? null : warmup,
    steadyStateFromEpoch: WARMUP_EPOCHS,
    steadyStateAverage: round(steadyAverage),
    lastMoves: movesPerInterval[STABLE_EPOCHS - 1],
  },
  shift: {
    ratioPerEpoch: shifted.map((s) => round(s.ratio)),
    recoveryIntervals: recovery < 0 ? null : recovery,
    lastMoves: movesPerInterval.at(-1),
  },
  movesPerInterval,
  planMs: { mean: round(planMs.reduce((a, b) => a + b, 0) / planMs.length, 1), max: round(Math.max(...planMs), 1) },
  targets: { steadyStateAtLeast0_9: steadyAverage >= TARGET },
  seconds: round((performance.now() - startedAt) / 1000, 1),
  node: process.version,
};
console.log(JSON.stringify(line));
