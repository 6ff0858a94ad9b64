/** A small seeded PRNG (mulberry32) so demo data and simulations repeat exactly for one VVOLGRAPH_SEED. */
export function seededRandom(seed: string): () => number {
  let h = 1779033703 ^ seed.length;
  for (let i = 0; i < seed.length; i++) {
    h = Math.imul(h ^ seed.charCodeAt(i), 3432918353);
    h = (h << 13) | (h >>> 19);
  }
  let state = h >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Ranks 0..n-1 with P(k) ∝ 1/(k+1)^alpha (rank 0 hottest), sampled by inverting the CDF: the smallest
 * rank whose cumulative weight reaches u. A guide table (n equal slices of the total weight, and the
 * ranks each slice can hold) narrows the search to one slice, so a draw takes O(1) steps on average
 * instead of log n; the engine draws hundreds of thousands a tick. O(n) to build, once per shape.
 */
export class Zipf {
  private readonly cdf: Float64Array;
  private readonly sum: number;
  private readonly slicesPerWeight: number;
  /**
   * guide[s]: the first rank whose cumulative weight falls in slice s or later, computed with the same
   * floating-point product the draw uses; both are monotone, so a draw's rank lies in guide[s]..guide[s+1].
   */
  private readonly guide: Int32Array;

  constructor(readonly n: number, readonly alpha: number) {
    if (!Number.isInteger(n) || n < 1) throw new RangeError(`zipf: n must be a positive integer, got ${n}`);
    if (!(alpha > 0)) throw new RangeError(`zipf: alpha must be > 0, got ${alpha}`);
    this.cdf = new Float64Array(n);
    let sum = 0;
    for (let k = 0; k < n; k++) this.cdf[k] = sum += 1 / (k + 1) ** alpha;
    this.sum = sum;
    this.slicesPerWeight = n / sum;
    // Slices 0..n+1: a draw's slice is at most n (u·sum·n/sum may round up to n), and the search reads the next.
    this.guide = new Int32Array(n + 2);
    for (let slice = 0, k = 0; slice < n + 2; slice++) {
      while (k < n - 1 && Math.floor(this.cdf[k] * this.slicesPerWeight) < slice) k++;
      this.guide[slice] = k;
    }
  }

  sample(random: () => number): number {
    const u = random() * this.sum;
    const slice = Math.floor(u * this.slicesPerWeight);
    let lo = this.guide[slice];
    let hi = this.guide[slice + 1];
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}

/** 2654435761 (Knuth's multiplicative hash) split at 16 bits, so that rank × stride stays exact in doubles. */
const STRIDE_HIGH = 40503;
const STRIDE_LOW = 31153;

/**
 * (rank × 2654435761) mod n: spreads Zipf ranks (hot first) over n extents by a fixed stride. Exact for
 * rank, n < 2^31 without BigInt: each partial product stays below 2^48.
 */
export function spreadRank(rank: number, n: number): number {
  return (((rank * STRIDE_HIGH) % n) * 65536 + rank * STRIDE_LOW) % n;
}

export function zipfSampler(n: number, alpha: number, random: () => number): () => number {
  const zipf = new Zipf(n, alpha);
  return () => zipf.sample(random);
}
