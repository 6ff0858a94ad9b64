import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { seededRandom, spreadRank, zipfSampler } from '../../src/core/random.ts';

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

  it('spreads ranks over extents exactly as the 64-bit product (rank × 2654435761) mod n would', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 2 ** 31 - 1 }), fc.nat(), (n, r) => {
      const rank = r % n;
      return spreadRank(rank, n) === Number((BigInt(rank) * 2654435761n) % BigInt(n));
    }), { numRuns: 5000 });
  });
});
