import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { S3FifoCache, beladyOptHits, lruHits, type CacheMode } from '../../../src/plugins/perforcache/cache.ts';
import { seededRandom } from '../../../src/core/random.ts';

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
const reads = (cache: S3FifoCache, keys: number[]) => keys.map((k) => cache.access(k, false));
const cachedIn = (cache: S3FifoCache, key: number) => cache.locate(key) === 'SMALL' || cache.locate(key) === 'MAIN';

/** The true optimum by exhaustive search (admit or bypass, evict any block): tiny traces only. */
function bruteForceOptimum(trace: number[], capacity: number): number {
  const memo = new Map<string, number>();
  const best = (t: number, cached: number): number => {
    if (t === trace.length) return 0;
    const id = `${t}:${cached}`;
    const known = memo.get(id);
    if (known !== undefined) return known;
    const bit = 1 << trace[t];
    let result: number;
    if (cached & bit) {
      result = 1 + best(t + 1, cached);
    } else {
      result = best(t + 1, cached); // bypass
      const members = range(0, 30).filter((k) => cached & (1 << k));
      if (members.length < capacity) result = Math.max(result, best(t + 1, cached | bit));
      else for (const k of members) result = Math.max(result, best(t + 1, (cached & ~(1 << k)) | bit));
    }
    memo.set(id, result);
    return result;
  };
  return best(0, 0);
}

type Op =
  | { kind: 'access'; key: number; write: boolean }
  | { kind: 'resize'; capacity: number }
  | { kind: 'mode'; mode: CacheMode };

const KEYS = 24;
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('access' as const), key: fc.integer({ min: 0, max: KEYS }), write: fc.boolean() }), weight: 20 },
  { arbitrary: fc.record({ kind: fc.constant('resize' as const), capacity: fc.integer({ min: 0, max: 15 }) }), weight: 1 },
  { arbitrary: fc.record({ kind: fc.constant('mode' as const), mode: fc.constantFrom<CacheMode>('READ_ONLY', 'READ_WRITE') }), weight: 1 },
);
const traceArb = fc.array(fc.integer({ min: 0, max: 40 }), { maxLength: 300 });

function run(cache: S3FifoCache, ops: Op[]): boolean[] {
  const hits: boolean[] = [];
  for (const op of ops) {
    if (op.kind === 'access') hits.push(cache.access(op.key, op.write));
    else if (op.kind === 'resize') cache.resize(op.capacity);
    else cache.setMode(op.mode);
  }
  return hits;
}

describe('S3FifoCache: the algorithm on hand-made sequences', () => {
  // Capacity 10: small FIFO 1 block, main FIFO 9 blocks, ghost 9 keys.
  it('promotes blocks hit while in the small FIFO, sends one-hit wonders to the ghost, and a scan does not pollute main', () => {
    const cache = new S3FifoCache(10, 'READ_ONLY');
    expect(reads(cache, range(1, 9))).toEqual(Array(9).fill(false));
    expect(reads(cache, range(1, 9))).toEqual(Array(9).fill(true)); // each accessed twice while in small
    expect(reads(cache, [10])).toEqual([false]); // accessed once
    expect(range(1, 10).map((k) => cache.locate(k))).toEqual(Array(10).fill('SMALL'));
    expect(cache.size).toBe(10);

    expect(reads(cache, [100])).toEqual([false]); // full: evicting from small promotes 1..9, 10 goes to the ghost
    expect(range(1, 9).every((k) => cache.locate(k) === 'MAIN')).toBe(true);
    expect(cache.locate(10)).toBe('GHOST');
    expect(cache.locate(100)).toBe('SMALL');

    expect(reads(cache, range(101, 119))).toEqual(Array(19).fill(false)); // a scan of one-hit wonders
    expect(cache.size).toBe(10);
    expect(cache.ghostSize).toBe(9);
    expect(range(1, 9).every((k) => cache.locate(k) === 'MAIN')).toBe(true);
    expect(cache.locate(119)).toBe('SMALL');
    expect(range(110, 118).every((k) => cache.locate(k) === 'GHOST')).toBe(true);
    expect(cache.locate(10)).toBeNull(); // pushed out of the ghost FIFO
    expect(cache.locate(109)).toBeNull();

    expect(reads(cache, range(1, 9))).toEqual(Array(9).fill(true)); // main survived the scan
    expect(cache.stats).toEqual({ readHits: 18, readMisses: 30, writeHits: 0, writeMisses: 0 });

    // LRU of the same size loses the hot blocks to the scan.
    const trace = [...range(1, 9), ...range(1, 9), 10, ...range(100, 119), ...range(1, 9)];
    expect(lruHits(trace, 10)).toBe(9);
  });

  it('a ghost hit is a miss that inserts straight into main; main evicts the first block not hit since insertion', () => {
    const cache = new S3FifoCache(10, 'READ_ONLY');
    reads(cache, [...range(1, 9), ...range(1, 9), 10, ...range(100, 119), ...range(1, 9)]);
    expect(cache.locate(118)).toBe('GHOST');

    expect(cache.access(118, false)).toBe(false);
    expect(cache.locate(118)).toBe('MAIN');
    expect(cache.locate(119)).toBe('GHOST'); // the small FIFO's block made room
    expect(cache.size).toBe(10);

    // Main now holds 1..9 (hit once since promotion) then 118 (not hit): 1..9 are reinserted with their
    // counter decremented, 118 leaves the cache (not to the ghost: only the small FIFO feeds it).
    expect(cache.access(200, false)).toBe(false);
    expect(cache.locate(118)).toBeNull();
    expect(cache.locate(200)).toBe('SMALL');
    expect(range(1, 9).every((k) => cache.locate(k) === 'MAIN')).toBe(true);
    expect(reads(cache, range(1, 9))).toEqual(Array(9).fill(true));
  });

  it('caps the frequency counter at 3: more hits buy no more residency', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 30 }), { maxLength: 200 }), fc.integer({ min: 2, max: 12 }), (rest, capacity) => {
        const after = (repeats: number) => {
          const cache = new S3FifoCache(capacity, 'READ_ONLY');
          reads(cache, range(1, 5));
          expect(reads(cache, Array(repeats).fill(99))).toEqual([false, ...Array(repeats - 1).fill(true)]);
          return reads(cache, rest);
        };
        expect(after(20)).toEqual(after(4));
      }),
    );
  });
});

describe('S3FifoCache: modes, resize and stats', () => {
  it('READ_ONLY: a write is a miss that invalidates the block, so the next read misses', () => {
    const cache = new S3FifoCache(4, 'READ_ONLY');
    expect([cache.access(5, false), cache.access(5, false)]).toEqual([false, true]);
    expect(cache.access(5, true)).toBe(false);
    expect(cache.locate(5)).toBeNull();
    expect(cache.size).toBe(0);
    expect(cache.access(5, false)).toBe(false);
    expect(cache.access(6, true)).toBe(false); // not admitted
    expect(cache.locate(6)).toBeNull();
    expect(cache.stats).toEqual({ readHits: 1, readMisses: 2, writeHits: 0, writeMisses: 2 });
    expect(cache.hitRatio()).toEqual({ read: 1 / 3, write: 0, all: 1 / 5 });
  });

  it('READ_ONLY never reports a write hit', () => {
    fc.assert(
      fc.property(fc.array(fc.record({ key: fc.integer({ min: 0, max: 10 }), write: fc.boolean() }), { maxLength: 300 }), fc.integer({ min: 1, max: 8 }), (ops, capacity) => {
        const cache = new S3FifoCache(capacity, 'READ_ONLY');
        for (const { key, write } of ops) if (write) expect(cache.access(key, true)).toBe(false);
        else cache.access(key, false);
        expect(cache.stats.writeHits).toBe(0);
      }),
    );
  });

  it('READ_WRITE admits writes and reports write hits; switching to READ_ONLY invalidates on write', () => {
    const cache = new S3FifoCache(4, 'READ_WRITE');
    expect([cache.access(7, true), cache.access(7, true), cache.access(7, false)]).toEqual([false, true, true]);
    expect(cache.stats).toEqual({ readHits: 1, readMisses: 0, writeHits: 1, writeMisses: 1 });
    expect(cache.hitRatio()).toEqual({ read: 1, write: 0.5, all: 2 / 3 });
    cache.setMode('READ_ONLY');
    expect(cache.cacheMode).toBe('READ_ONLY');
    expect(cache.access(7, true)).toBe(false);
    expect(cache.access(7, false)).toBe(false);
    cache.resetStats();
    expect(cache.stats).toEqual({ readHits: 0, readMisses: 0, writeHits: 0, writeMisses: 0 });
    expect(cache.hitRatio()).toEqual({ read: 0, write: 0, all: 0 }); // no NaN without accesses
  });

  it('resize to 0 empties the cache and its ghost; shrinking evicts by the algorithm', () => {
    const cache = new S3FifoCache(10, 'READ_WRITE');
    reads(cache, [...range(1, 9), ...range(1, 9), 10, ...range(100, 119)]);
    cache.resize(5);
    expect(cache.size).toBe(5);
    expect(cache.ghostSize).toBeLessThanOrEqual(5);
    expect(range(1, 9).filter((k) => cachedIn(cache, k))).toHaveLength(5); // the promoted blocks stay, the scan goes
    expect(cachedIn(cache, 119)).toBe(false);

    cache.resize(0);
    expect([cache.size, cache.ghostSize, cache.capacityBlocks]).toEqual([0, 0, 0]);
    expect([cache.access(1, false), cache.access(1, false), cache.access(2, true), cache.access(2, true)]).toEqual([false, false, false, false]);
    expect(cache.size).toBe(0);
    cache.resize(3);
    expect([cache.access(1, false), cache.access(1, false)]).toEqual([false, true]);
    expect(() => cache.resize(-1)).toThrow(RangeError);
    expect(() => new S3FifoCache(1.5, 'READ_ONLY')).toThrow(RangeError);
  });

  it('never holds more than its capacity, and hits exactly the blocks it holds (random traces, resizes, mode changes)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 15 }), fc.constantFrom<CacheMode>('READ_ONLY', 'READ_WRITE'), fc.array(opArb, { maxLength: 400 }), (capacity, mode, ops) => {
        const cache = new S3FifoCache(capacity, mode);
        let accesses = 0;
        for (const op of ops) {
          if (op.kind === 'access') {
            const wasCached = cachedIn(cache, op.key);
            const invalidates = op.write && cache.cacheMode === 'READ_ONLY';
            expect(cache.access(op.key, op.write)).toBe(wasCached && !invalidates);
            expect(cachedIn(cache, op.key)).toBe(!invalidates && cache.capacityBlocks > 0);
            accesses++;
          } else if (op.kind === 'resize') cache.resize(op.capacity);
          else cache.setMode(op.mode);
          const where = range(0, KEYS).map((k) => cache.locate(k));
          expect(cache.size).toBeLessThanOrEqual(cache.capacityBlocks);
          expect(cache.size).toBe(where.filter((w) => w === 'SMALL' || w === 'MAIN').length);
          expect(cache.ghostSize).toBe(where.filter((w) => w === 'GHOST').length);
          expect(cache.ghostSize).toBeLessThanOrEqual(cache.capacityBlocks);
        }
        const { readHits, readMisses, writeHits, writeMisses } = cache.stats;
        expect(readHits + readMisses + writeHits + writeMisses).toBe(accesses);
      }),
    );
  });

  it('is deterministic: the same operations give the same hits', () => {
    const random = seededRandom('perforcache-determinism');
    const ops: Op[] = Array.from({ length: 20_000 }, () =>
      random() < 0.001
        ? { kind: 'resize', capacity: Math.floor(random() * 300) }
        : { kind: 'access', key: Math.floor(random() ** 3 * 2000), write: random() < 0.3 },
    );
    const a = new S3FifoCache(200, 'READ_WRITE');
    const b = new S3FifoCache(200, 'READ_WRITE');
    expect(run(a, ops)).toEqual(run(b, ops));
    expect(a.stats).toEqual(b.stats);
    expect(a.stats.readHits + a.stats.writeHits).toBeGreaterThan(0);
  });
});

describe('reference policies: LRU and Belady OPT with bypass', () => {
  it('LRU evicts the least recently used block', () => {
    expect(lruHits([1, 2, 1, 3, 1], 2)).toBe(2); // 3 evicts 2, not 1 (FIFO would evict 1)
    expect(lruHits([1, 2, 1, 3, 2, 1], 2)).toBe(1);
    expect(lruHits([1, 2, 3, 1, 2, 3], 2)).toBe(0); // the cyclic worst case
    expect(lruHits([1, 2, 3, 1, 2, 3], 3)).toBe(3);
    expect(lruHits([1, 1], 0)).toBe(0);
  });

  it('OPT keeps the blocks needed soonest and bypasses a block needed later than all cached ones', () => {
    const trace = [1, 2, 3, 1, 2, 4, 1, 2];
    expect(beladyOptHits(trace, 2)).toBe(4); // 3 and 4 are never reused: not admitted
    expect(lruHits(trace, 2)).toBe(0);
    expect(beladyOptHits([1, 2, 3, 1, 2, 3], 2)).toBe(2); // keeps 1 and 2, bypasses 3 twice
    expect(beladyOptHits([], 3)).toBe(0);
    expect(beladyOptHits([1, 1], 0)).toBe(0);
  });

  it('OPT with bypass equals the exhaustive optimum on tiny traces', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 14 }), fc.integer({ min: 1, max: 3 }), (trace, capacity) => {
        expect(beladyOptHits(trace, capacity)).toBe(bruteForceOptimum(trace, capacity));
      }),
    );
  });

  it('OPT is at least S3-FIFO and LRU on random traces', () => {
    fc.assert(
      fc.property(traceArb, fc.integer({ min: 1, max: 20 }), (trace, capacity) => {
        const cache = new S3FifoCache(capacity, 'READ_ONLY');
        reads(cache, trace);
        const opt = beladyOptHits(trace, capacity);
        expect(opt).toBeGreaterThanOrEqual(cache.stats.readHits);
        expect(opt).toBeGreaterThanOrEqual(lruHits(trace, capacity));
      }),
    );
  });
});
