import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RingBuffers } from '../../src/core/engine/io.ts';
import type { IoSample } from '../../src/core/plugin.ts';

const sample = (time: number): IoSample => ({
  time, readIops: time * 2, writeIops: time * 3, mbps: time / 7, latencyMs: 0.5 + time, servedIops: time * 5, throttledIops: time % 3, cacheHitRatio: 0.25, ssdServedRatio: 1 / (time + 1), dramHitRatio: 1 / (time + 2),
});

describe('RingBuffers', () => {
  it('keeps the last `size` samples of each id, oldest first, field for field', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.array(fc.constantFrom('a', 'b'), { maxLength: 40 }), fc.integer({ min: 1, max: 12 }), (size, pushes, asked) => {
        const rings = new RingBuffers(size);
        const pushed = new Map<string, IoSample[]>();
        pushes.forEach((id, time) => {
          rings.push(id, sample(time));
          pushed.set(id, [...(pushed.get(id) ?? []), sample(time)]);
        });
        for (const id of ['a', 'b', 'c']) {
          const all = pushed.get(id) ?? [];
          expect(rings.recent(id, asked)).toEqual(all.slice(-Math.min(asked, size)));
          expect(rings.last(id)).toEqual(all.at(-1));
        }
      }),
    );
  });
});
