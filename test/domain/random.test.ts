import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { seededRandom, spreadRank, Zipf, zipfSampler } from '../../src/core/random.ts';

describe('seeded randomness', () => {
  it('repeats exactly for one seed and differs between seeds', () => {
    const a = seededRandom('x');
    const b = seededRandom('x');
    const c = seededRandom('y');
    const take = (r: () => number) => Array.from({ length: 5 }, r);
    const first = take(a);
    expect(take(b)).toEqual(first);
    expect(take(c)).not.toEqual(first);
    expect(first.every((v) => v >= 0 && v < 1)).toBe(true);
  });

  it('zipf frequencies follow 1/(k+1)^alpha', () => {
    const n = 100;
    const alpha = 1.2;
    const sample = zipfSampler(n, alpha, seededRandom('zipf'));
    const counts = new Array(n).fill(0);
    const draws = 200_000;
    for (let i = 0; i < draws; i++) counts[sample()]++;
    const norm = Array.from({ length: n }, (_, k) => 1 / (k + 1) ** alpha).reduce((s, v) => s + v, 0);
    for (const k of [0, 1, 4, 9]) {
      const expected = draws / (k + 1) ** alpha / norm;
      expect(Math.abs(counts[k] - expected)).toBeLessThan(5 * Math.sqrt(expected));
    }
    expect(() => zipfSampler(10, 0, Math.random)).toThrow('alpha');
  });

  it('zipf draws every rank at its probability, whatever the shape', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 300 }), fc.double({ min: 0.1, max: 3, noNaN: true }), fc.string(), (n, alpha, seed) => {
      const sample = zipfSampler(n, alpha, seededRandom(seed));
      const draws = 20_000;
      const counts = new Array(n).fill(0);
      for (let i = 0; i < draws; i++) counts[sample()]++;
      const norm = Array.from({ length: n }, (_, k) => 1 / (k + 1) ** alpha).reduce((s, v) => s + v, 0);
      return counts.every((count, k) => {
        const p = 1 / (k + 1) ** alpha / norm;
        return Math.abs(count - draws * p) <= 6 * Math.sqrt(draws * p * (1 - p)) + 1;
      });
    }), { numRuns: 60, seed: 20261202 });
  });

  it('zipf draws the rank a plain binary search of the CDF finds, draw for draw', () => {
    // The guide table is only a shortcut: the same u must give the same rank as searching the whole CDF.
    const reference = (n: number, alpha: number) => {
      const cdf: number[] = [];
      let sum = 0;
      for (let k = 0; k < n; k++) cdf.push((sum += 1 / (k + 1) ** alpha));
      return (u: number) => {
        const target = u * sum;
        let lo = 0;
        let hi = n - 1;
        while (lo < hi) {
          const mid = (lo + hi) >>> 1;
          if (cdf[mid] < target) lo = mid + 1;
          else hi = mid;
        }
        return lo;
      };
    };
    // Draws at the guide's slice boundaries and a few ulps either side, where rounding decides the slice.
    const bits = new Float64Array(1);
    const asInteger = new BigInt64Array(bits.buffer);
    const nudged = (u: number, ulps: number) => {
      bits[0] = u;
      asInteger[0] += BigInt(ulps);
      return bits[0];
    };
    const boundaries = (n: number) => Array.from({ length: n }, (_, j) => [-2, -1, 0, 1, 2].map((d) => (j === 0 && d < 0 ? 0 : nudged(j / n, d)))).flat();
    fc.assert(fc.property(fc.integer({ min: 1, max: 2000 }), fc.double({ min: 0.01, max: 3, noNaN: true }),
      fc.array(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), { maxLength: 200 }), (n, alpha, us) => {
        const zipf = new Zipf(n, alpha);
        const rankOf = reference(n, alpha);
        return [...us, 1 - 2 ** -53, ...boundaries(n)].every((u) => zipf.sample(() => u) === rankOf(u));
      }), { numRuns: 200, seed: 20261202 });
  });

  it('spreads ranks over extents exactly as the 64-bit product (rank × 2654435761) mod n would', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), fc.nat(), (n, r) => {
      const rank = r % n;
      return spreadRank(rank, n) === Number((BigInt(rank) * 2654435761n) % BigInt(n));
    }), { numRuns: 5000 });
  });
});
