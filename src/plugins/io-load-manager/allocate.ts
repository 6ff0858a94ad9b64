/**
 * NEC IO Load Manager's per-pool, per-tick IOPS allocation (DESIGN.md §6): mClock-style
 * reservation (lower limit) / weight (priority) / limit (upper limit, and the demand itself),
 * computed exactly by water-filling in O(n log n). A pure function: no clock, no state.
 */

export const priorities = ['HIGH', 'MEDIUM', 'LOW'] as const;
export type Priority = (typeof priorities)[number];

/** One volume's claim on the pool for one tick, in IOPS. `lower`/`upper` 0 = no limit. */
export interface Claim {
  demand: number;
  lower: number;
  upper: number;
  priority: Priority;
}

/**
 * Weights of the priorities when the IOPS left after lower limits are shared. NEC documents three
 * relative priorities (high, medium, low) and no ratio; 4:2:1 is our choice, the same as vSphere's disk shares
 * (High 2000 : Normal 1000 : Low 500), so a volume keeps the relative share an administrator
 * used to SIOC expects. Integers on purpose: sums of weights are exact in floating point.
 */
export const priorityWeights: Readonly<Record<Priority, number>> = Object.freeze({ HIGH: 4, MEDIUM: 2, LOW: 1 });

/**
 * Inputs in a form both allocators share: cap c_i, reservation r_i, weight w_i and the index of the
 * priority in `priorities`. Throws a RangeError naming the field on input it cannot allocate.
 */
function prepare(capacity: number, claims: readonly Claim[]) {
  if (!Number.isFinite(capacity) || capacity < 0) throw new RangeError(`allocate: capacity must be a finite number >= 0, got ${capacity}`);
  const n = claims.length;
  const cap = new Float64Array(n);
  const res = new Float64Array(n);
  const weight = new Float64Array(n);
  const rank = new Uint8Array(n);
  const check = (i: number, field: string, value: number) => {
    if (!Number.isFinite(value) || value < 0) throw new RangeError(`allocate: claims[${i}].${field} must be a finite number >= 0, got ${value}`);
  };
  for (let i = 0; i < n; i++) {
    const { demand, lower, upper, priority } = claims[i];
    check(i, 'demand', demand);
    check(i, 'lower', lower);
    check(i, 'upper', upper);
    const r = priorities.indexOf(priority);
    if (r < 0) throw new RangeError(`allocate: claims[${i}].priority must be HIGH, MEDIUM or LOW, got ${String(priority)}`);
    // upper < lower is refused by validation; should it reach us anyway, the cap wins (r_i <= c_i always).
    cap[i] = upper > 0 ? Math.min(demand, upper) : demand;
    res[i] = Math.min(lower, cap[i]);
    weight[i] = priorityWeights[priority];
    rank[i] = r;
  }
  return { n, cap, res, weight, rank };
}

/** Σ of the values in ascending order: the same bits whatever order they came in. */
function canonicalSum(values: Float64Array): number {
  const sorted = values.slice().sort(); // a typed array sorts numerically, natively
  let s = 0;
  for (let i = 0; i < sorted.length; i++) s += sorted[i];
  return s;
}

/**
 * Served IOPS per claim, in the order of `claims`:
 * 1. nobody gets more than c_i = min(demand, upper || +inf);
 * 2. reservations r_i = min(lower, c_i) first; if they do not fit, capacity is split in proportion to r_i;
 * 3. the rest is shared by weight up to each cap: r_i + min(w_i·λ, c_i − r_i), λ the water level.
 * Work-conserving: Σ served = min(capacity, Σ c_i). O(n) when the pool covers every cap, else O(n log n).
 *
 * Bit for bit independent of the order of the claims (permuting them permutes the result): every sum
 * that decides a result is taken in an order set by the values alone, so seeded simulations replay
 * exactly whatever order the VVOLs come from the database in.
 */
export function allocate(capacity: number, claims: readonly Claim[]): Float64Array {
  const { n, cap, res, weight, rank } = prepare(capacity, claims);
  // A floating-point sum of n terms is known only to within about n·EPSILON of itself: another order of
  // the same terms may land that far away. Decisions on sums allow for it.
  const fuzz = n * Number.EPSILON;

  // The uncontended pool, the common case: everyone gets its cap, no sort needed. The margin is four
  // times the sum's rounding, so wherever this test could go either way with the order of the claims,
  // the general path below saturates everyone too: the result does not depend on the order.
  let sumCap = 0;
  for (let i = 0; i < n; i++) sumCap += cap[i];
  if (sumCap * (1 + 4 * fuzz) <= capacity) return cap;

  const served = new Float64Array(n);
  const sumRes = canonicalSum(res);
  // Reservations that fit within the fuzz are taken as fitting: lower limits are then met exactly,
  // at the cost of serving ~1e-14 relative above capacity.
  if (sumRes > capacity + fuzz * sumRes) {
    // Infeasible guarantees: each gets its share of the pool in proportion to its reservation, nothing else.
    // (sumRes > capacity >= 0, so no division by zero; min() only guards against an ulp above r_i.)
    for (let i = 0; i < n; i++) served[i] = Math.min(res[i], (capacity * res[i]) / sumRes);
    return served;
  }

  // Water-filling. Claim i saturates when the level λ reaches h_i / w_i (h_i = c_i − r_i, its headroom).
  // One list of headrooms per priority, sorted natively: within one weight, by h is by h / w.
  const weights = priorities.map((p) => priorityWeights[p]);
  const counts = new Uint32Array(priorities.length);
  for (let i = 0; i < n; i++) if (cap[i] > res[i]) counts[rank[i]]++;
  const heads = priorities.map((_, p) => new Float64Array(counts[p]));
  const at = new Uint32Array(priorities.length); // filling, then walking, each list
  for (let i = 0; i < n; i++) if (cap[i] > res[i]) heads[rank[i]][at[rank[i]]++] = cap[i] - res[i];
  let unsaturatedWeight = 0;
  for (let p = 0; p < heads.length; p++) {
    heads[p].sort();
    unsaturatedWeight += heads[p].length * weights[p]; // integers: exact
  }
  at.fill(0);

  // Walk the claims by the level at which they saturate (merging the lists; ties by headroom, then by
  // priority: an order of the values alone). While the next one saturates at or below the level that what
  // is left would reach if shared among all unsaturated weights (rest / W), it takes its whole headroom;
  // the first that does not fixes λ for itself and everyone after it. If none is left, λ = +inf.
  let rest = Math.max(0, capacity - sumRes);
  let lambda = Number.POSITIVE_INFINITY;
  for (;;) {
    let next = -1;
    let nextLevel = Number.POSITIVE_INFINITY;
    let nextHead = 0;
    for (let p = 0; p < heads.length; p++) {
      if (at[p] === heads[p].length) continue;
      const head = heads[p][at[p]];
      const level = head / weights[p];
      if (level < nextLevel || (level === nextLevel && head < nextHead)) {
        next = p;
        nextLevel = level;
        nextHead = head;
      }
    }
    if (next < 0) break;
    if (nextLevel > rest / unsaturatedWeight) {
      lambda = rest / unsaturatedWeight;
      break;
    }
    rest = Math.max(0, rest - nextHead); // max(): rounding must not turn the last ulp into a negative level
    unsaturatedWeight -= weights[next];
    at[next]++;
  }

  for (let i = 0; i < n; i++) {
    const head = cap[i] - res[i];
    // The same expression as in the walk: a claim the walk saturated compares <= λ here too (or falls an
    // ulp short of its cap, should rounding have lowered λ by an ulp since).
    served[i] = head === 0 || head / weight[i] <= lambda ? cap[i] : Math.min(cap[i], res[i] + weight[i] * lambda);
  }
  return served;
}

/**
 * The oracle: the same allocation by progressive filling, O(n²), with no sort and no water level.
 * Each round offers every unsaturated claim its weight's share of what is left; the claims whose
 * headroom fits in that share take their headroom (they would saturate at any higher level too),
 * and the round repeats with what they left; when nobody saturates, everyone takes the share and
 * it is done. Each round removes at least one claim, so there are at most n rounds.
 */
export function allocateReference(capacity: number, claims: readonly Claim[]): Float64Array {
  const { n, cap, res, weight } = prepare(capacity, claims);
  const served = new Float64Array(n);
  let sumRes = 0;
  for (let i = 0; i < n; i++) sumRes += res[i];
  if (sumRes > capacity) {
    for (let i = 0; i < n; i++) served[i] = (capacity * res[i]) / sumRes;
    return served;
  }
  let left = capacity - sumRes;
  let active: number[] = [];
  for (let i = 0; i < n; i++) {
    served[i] = res[i];
    if (cap[i] > res[i]) active.push(i);
  }
  while (left > 0 && active.length > 0) {
    let total = 0;
    for (const i of active) total += weight[i];
    const share = (i: number) => (left * weight[i]) / total;
    const saturating = active.filter((i) => cap[i] - served[i] <= share(i));
    if (saturating.length === 0) {
      for (const i of active) served[i] += share(i);
      break;
    }
    for (const i of saturating) {
      left -= cap[i] - served[i];
      served[i] = cap[i];
    }
    active = active.filter((i) => served[i] < cap[i]);
  }
  return served;
}
