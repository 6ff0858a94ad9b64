import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { allocate, allocateReference, priorityWeights, type Claim, type Priority } from '../../../src/plugins/io-load-manager/allocate.ts';

const claim = (demand: number, priority: Priority, limits: { lower?: number; upper?: number } = {}): Claim => ({
  demand, priority, lower: limits.lower ?? 0, upper: limits.upper ?? 0,
});
const both = (capacity: number, claims: Claim[]) => [allocate(capacity, claims), allocateReference(capacity, claims)].map((a) => [...a]);

const capOf = (c: Claim) => (c.upper > 0 ? Math.min(c.demand, c.upper) : c.demand);
const resOf = (c: Claim) => Math.min(c.lower, capOf(c));
const sum = (xs: Iterable<number>) => { let s = 0; for (const x of xs) s += x; return s; };

describe('allocate: hand examples', () => {
  it('shares a pool by priority 4:2:1 when nobody has limits', () => {
    expect(priorityWeights).toEqual({ HIGH: 4, MEDIUM: 2, LOW: 1 });
    for (const served of both(700, [claim(10_000, 'HIGH'), claim(10_000, 'MEDIUM'), claim(10_000, 'LOW')])) {
      expect(served).toEqual([400, 200, 100]);
    }
  });

  it('serves lower limits first, then shares the rest by weight up to each cap', () => {
    // r = [500, 0, 0]; the 700 left: HIGH saturates at its demand 100 (level 25 < 700/7), the remaining 600
    // go to weights 1 and 2 at level 200: LOW 500 + 200, MEDIUM 400.
    const claims = [claim(1000, 'LOW', { lower: 500 }), claim(1000, 'MEDIUM'), claim(100, 'HIGH')];
    for (const served of both(1200, claims)) expect(served).toEqual([700, 400, 100]);
  });

  it('never serves above the upper limit, and gives what it leaves to the others', () => {
    for (const served of both(1000, [claim(1000, 'HIGH', { upper: 150 }), claim(1000, 'LOW')])) expect(served).toEqual([150, 850]);
  });

  it('splits the pool in proportion to the lower limits when they do not fit, and gives nothing else', () => {
    const claims = [claim(5000, 'LOW', { lower: 400 }), claim(5000, 'HIGH', { lower: 800 }), claim(5000, 'HIGH')];
    for (const served of both(600, claims)) expect(served).toEqual([200, 400, 0]);
  });

  it('caps a lower limit above the demand at the demand', () => {
    // r = min(300, 50) = 50, so 950 are left for the LOW claim.
    for (const served of both(1000, [claim(50, 'HIGH', { lower: 300 }), claim(2000, 'LOW')])) expect(served).toEqual([50, 950]);
    // And a pool exactly as large as the capped reservations is feasible: 50 + 100.
    for (const served of both(150, [claim(50, 'HIGH', { lower: 300 }), claim(2000, 'LOW', { lower: 100 })])) expect(served).toEqual([50, 100]);
  });

  it('handles capacity 0, no claims, zero demands and a pool larger than all demands', () => {
    for (const served of both(0, [claim(100, 'HIGH', { lower: 50 }), claim(100, 'LOW')])) expect(served).toEqual([0, 0]);
    expect(allocate(1000, [])).toEqual(new Float64Array(0));
    expect(allocateReference(0, [])).toEqual(new Float64Array(0));
    for (const served of both(1000, [claim(0, 'HIGH', { lower: 100 }), claim(0, 'LOW', { upper: 10 })])) expect(served).toEqual([0, 0]);
    for (const served of both(1e6, [claim(300, 'LOW', { lower: 100, upper: 200 }), claim(70.5, 'HIGH')])) expect(served).toEqual([200, 70.5]);
  });

  it('does not crash on upper < lower (refused by validation): the cap wins', () => {
    for (const served of both(1000, [claim(1000, 'MEDIUM', { lower: 500, upper: 200 }), claim(1000, 'MEDIUM')])) expect(served).toEqual([200, 800]);
    for (const served of both(100, [claim(1000, 'MEDIUM', { lower: 500, upper: 200 }), claim(1000, 'MEDIUM', { lower: 200 })])) expect(served).toEqual([50, 50]);
  });

  it('refuses input it cannot allocate, naming the field', () => {
    expect(() => allocate(-1, [])).toThrow(/capacity/);
    expect(() => allocate(Number.POSITIVE_INFINITY, [])).toThrow(/capacity/);
    expect(() => allocate(10, [claim(Number.NaN, 'LOW')])).toThrow(/claims\[0\]\.demand/);
    expect(() => allocate(10, [claim(1, 'LOW'), claim(1, 'LOW', { upper: -5 })])).toThrow(/claims\[1\]\.upper/);
    expect(() => allocateReference(10, [claim(1, 'URGENT' as Priority)])).toThrow(/claims\[0\]\.priority/);
    expect(() => allocate(10, [claim(1, 'toString' as Priority)])).toThrow(/claims\[0\]\.priority/);
  });
});

// ---- properties over random pools ----

/**
 * Fractional IOPS come at a milli-IOPS grain: tolerances relative to the capacity are meaningless for
 * subnormal doubles (a capacity of 5e-324 leaves a tolerance of 0), and so are such IOPS.
 */
const milli = (max: number) => fc.integer({ min: 0, max: max * 1000 }).map((m) => m / 1000);
/** A limit: 0 (none) or 10..1e6 IOPS, spread over orders of magnitude so it often binds against demands <= 1e5. */
const limitArb = fc.oneof(fc.constant(0), fc.integer({ min: 10, max: 1000 }), fc.integer({ min: 10, max: 100_000 }), fc.integer({ min: 10, max: 1_000_000 }));
const demandArb = fc.oneof(fc.integer({ min: 0, max: 100_000 }), milli(100_000));
const claimArb: fc.Arbitrary<Claim> = fc
  .record({ demand: demandArb, a: limitArb, b: limitArb, priority: fc.constantFrom<Priority>('HIGH', 'MEDIUM', 'LOW'), lowerOff: fc.boolean() })
  .map(({ demand, a, b, priority, lowerOff }) => {
    // lower <= upper when both are set, as validation requires; half the claims have no lower limit.
    const [lower, upper] = a > 0 && b > 0 ? [Math.min(a, b), Math.max(a, b)] : [a, b];
    return { demand, lower: lowerOff ? 0 : lower, upper, priority };
  });
/** Small pools often, and 0..200 claims spread evenly (fast-check alone keeps arrays short). */
const claimsArb = fc.oneof(fc.array(claimArb, { maxLength: 10 }), fc.array(claimArb, { maxLength: 200, size: 'max' }));
/**
 * Capacity 0..1e6: anywhere, or near the two boundaries that matter (Σ reservations and Σ caps), so that
 * feasible and infeasible pools, and saturated and unsaturated claims, all come up often.
 */
const poolArb = claimsArb.chain((claims) => {
  const sumRes = sum(claims.map(resOf));
  const sumCap = sum(claims.map(capOf));
  // Within a few rounding errors of a sum (n·EPSILON relative), where floating-point decisions could flip.
  const ulps = fc.integer({ min: -8, max: 8 }).map((k) => 1 + k * claims.length * Number.EPSILON);
  const near = (x: number) => fc.oneof(fc.constant(x), ulps.map((f) => f * x), milli(1.5).map((f) => f * x)).map((c) => Math.min(1e6, c));
  const capacity = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 1_000_000 }), milli(1_000_000), near(sumRes), near(sumCap));
  return capacity.map((cap) => ({ capacity: cap, claims }));
});
const runs = { numRuns: 300 };

describe('allocate: properties over random pools', () => {
  it('the generator reaches every regime', () => {
    let feasible = 0, infeasible = 0, contended = 0, large = 0;
    for (const { capacity, claims } of fc.sample(poolArb, { numRuns: 1000, seed: 1 })) {
      const sumRes = sum(claims.map(resOf));
      if (sumRes > capacity) infeasible++;
      else feasible++;
      if (sumRes <= capacity && capacity < sum(claims.map(capOf))) contended++;
      if (claims.length >= 100) large++;
    }
    for (const count of [feasible, infeasible, contended, large]) expect(count).toBeGreaterThan(100);
  });

  it('never serves above the cap (demand, upper limit) nor below zero', () => {
    fc.assert(fc.property(poolArb, ({ capacity, claims }) => {
      const served = allocate(capacity, claims);
      claims.forEach((c, i) => {
        expect(served[i]).toBeGreaterThanOrEqual(0);
        expect(served[i]).toBeLessThanOrEqual(capOf(c));
      });
    }), runs);
  });

  it('meets every lower limit when they fit, and splits in proportion to them when they do not', () => {
    fc.assert(fc.property(poolArb, ({ capacity, claims }) => {
      const served = allocate(capacity, claims);
      const sumRes = sum(claims.map(resOf));
      claims.forEach((c, i) => {
        if (sumRes <= capacity) expect(served[i]).toBeGreaterThanOrEqual(resOf(c));
        else expect(Math.abs(served[i] - (capacity * resOf(c)) / sumRes)).toBeLessThanOrEqual(1e-9 * capacity);
      });
    }), runs);
  });

  it('is work-conserving: serves min(capacity, Σ caps)', () => {
    fc.assert(fc.property(poolArb, ({ capacity, claims }) => {
      const target = Math.min(capacity, sum(claims.map(capOf)));
      expect(Math.abs(sum(allocate(capacity, claims)) - target)).toBeLessThanOrEqual(1e-9 * target);
    }), runs);
  });

  it('gives unsaturated claims extra IOPS in proportion to their weights', () => {
    fc.assert(fc.property(poolArb, ({ capacity, claims }) => {
      if (sum(claims.map(resOf)) > capacity) return; // no extra to share
      const served = allocate(capacity, claims);
      const tolerance = 1e-9 * Math.max(1, capacity);
      // Every unsaturated claim's extra per unit of weight is the same water level.
      const levels = claims.flatMap((c, i) => (served[i] < capOf(c) - tolerance ? [(served[i] - resOf(c)) / priorityWeights[c.priority]] : []));
      for (const level of levels) expect(Math.abs(level - levels[0])).toBeLessThanOrEqual(tolerance);
      // And a saturated claim never sits below that level with headroom to spare: it got its whole cap.
      if (levels.length > 0) claims.forEach((c, i) => {
        if (served[i] >= capOf(c) - tolerance) expect(capOf(c) - resOf(c)).toBeLessThanOrEqual(priorityWeights[c.priority] * levels[0] + tolerance * 4);
      });
    }), runs);
  });

  it('equals the progressive-filling oracle', () => {
    fc.assert(fc.property(poolArb, ({ capacity, claims }) => {
      const fast = allocate(capacity, claims);
      const slow = allocateReference(capacity, claims);
      let worst = 0;
      for (let i = 0; i < claims.length; i++) worst = Math.max(worst, Math.abs(fast[i] - slow[i]));
      expect(worst).toBeLessThanOrEqual(1e-6 * capacity);
    }), runs);
  });

  it('is deterministic and independent of the order of the claims (bit for bit)', () => {
    const withPermutation = poolArb.chain((pool) =>
      fc.shuffledSubarray([...pool.claims.keys()], { minLength: pool.claims.length, maxLength: pool.claims.length }).map((perm) => ({ ...pool, perm })));
    fc.assert(fc.property(withPermutation, ({ capacity, claims, perm }) => {
      const served = allocate(capacity, claims);
      expect(allocate(capacity, claims)).toEqual(served);
      const permuted = allocate(capacity, perm.map((i) => claims[i]));
      expect([...permuted]).toEqual(perm.map((i) => served[i]));
    }), runs);
  });
});
