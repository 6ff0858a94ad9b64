import { describe, expect, it } from 'vitest';
import { IoHistoryRecorder, minuteOf, type MinuteBatch } from '../../src/core/engine/history.ts';
import { rollUp } from '../../src/core/engine/io.ts';
import type { IoSample } from '../../src/core/plugin.ts';

const sample = (time: number, servedIops: number, latencyMs = 1): IoSample => ({
  time, readIops: servedIops, writeIops: 0, mbps: servedIops / 100, latencyMs, servedIops, throttledIops: 0, cacheHitRatio: 0, ssdServedRatio: 0, dramHitRatio: 0,
});

/**
 * Runs ticks of `seconds` from `start` up to `end`; `subjects(now)` says who had I/O in the tick (as the
 * engine adds only running VVOLs and VMs). Returns each tick's batch by the tick's end time.
 */
function run(recorder: IoHistoryRecorder, seconds: number, end: number, subjects: (now: number) => [string, IoSample][], start = 0): Map<number, MinuteBatch> {
  const batches = new Map<number, MinuteBatch>();
  for (let k = 1, now = start + seconds; now <= end + 1e-9; k++, now = start + k * seconds) {
    recorder.beginTick(now);
    for (const [id, s] of subjects(now)) recorder.add(id, s, seconds);
    const batch = recorder.endTick(now);
    if (batch) batches.set(now, batch);
  }
  return batches;
}

describe('IoHistoryRecorder', () => {
  it('minute m holds the ticks that end in (60m, 60m + 60]', () => {
    expect([0.5, 1, 59.9, 60, 60.5, 120, 120.0000001].map(minuteOf)).toEqual([0, 0, 0, 0, 1, 1, 2]);
  });

  it('hands a minute over once, in the tick that ends on its boundary, and nothing in between', () => {
    const batches = run(new IoHistoryRecorder(), 1, 150, (now) => [['a', sample(now, now)]]);
    expect([...batches.keys()]).toEqual([60, 120]);
    const first = batches.get(60)!;
    expect(first.subjectIds).toEqual(['a']);
    expect(first.minutes).toEqual([0]);
    expect(first.columns.samples).toEqual([60]);
    // IOPS 1..60, one second each: mean 30.5, max 60; latency weighted by I/Os served.
    expect(first.columns.servedIops).toEqual([30.5]);
    expect(first.columns.maxServedIops).toEqual([60]);
    expect(batches.get(120)!.columns.servedIops).toEqual([90.5]);
  });

  it('a tick that straddles a boundary belongs to the minute it ends in, and closes the one before', () => {
    // Ticks of 0.7 s: the last one of minute 0 ends at 59.5 (85 × 0.7); the next, ending at 60.2, closes it.
    const batches = run(new IoHistoryRecorder(), 0.7, 84, (now) => [['a', sample(now, 10)]]);
    const [end] = [...batches.keys()];
    expect(end).toBeCloseTo(60.2, 6);
    expect(batches.get(end)!.minutes).toEqual([0]);
    expect(batches.get(end)!.columns.samples).toEqual([85]);
    expect(batches.get(end)!.columns.seconds[0]).toBeCloseTo(59.5, 6);
  });

  it('weights latency by the I/Os served, and leaves out a subject that did not run in the minute', () => {
    const recorder = new IoHistoryRecorder();
    const minute0 = run(recorder, 1, 60, (now) => [['busy', sample(now, now <= 30 ? 100 : 300, now <= 30 ? 1 : 5)], ['stopped', sample(now, 0, 0)]]).get(60)!;
    expect(minute0.subjectIds).toEqual(['busy', 'stopped']);
    expect(minute0.columns.latencyMs[0]).toBeCloseTo((30 * 100 * 1 + 30 * 300 * 5) / (30 * 100 + 30 * 300), 12);
    // Running but serving nothing: a row with latency 0, not a division by zero.
    expect(minute0.columns.latencyMs[1]).toBe(0);
    const minute1 = run(recorder, 1, 120, (now) => [['busy', sample(now, 1)]], 60).get(120)!;
    expect(minute1.subjectIds).toEqual(['busy']);
    expect(minute1.minutes).toEqual([1]);
  });
});

describe('the cache hit ratio, a ratio of reads', () => {
  // A disk that only reads and always hits, beside one that only writes (a hit ratio of reads: 0, none read).
  const reader = (time: number): IoSample => ({ ...sample(time, 100), cacheHitRatio: 1 });
  const writer = (time: number): IoSample => ({ ...sample(time, 900), readIops: 0, writeIops: 900 });

  it("is weighted by the reads served in a VM's roll-up: the writes of another disk do not dilute it", () => {
    expect(rollUp([reader(1), writer(1)], 1).cacheHitRatio).toBe(1);
    expect(rollUp([writer(1)], 1).cacheHitRatio).toBe(0);
  });

  it('is weighted by the reads served over a minute: a tick of writes only does not dilute it', () => {
    const batches = run(new IoHistoryRecorder(), 1, 60, (now) => [['a', now <= 30 ? reader(now) : writer(now)]]);
    expect(batches.get(60)!.columns.cacheHitRatio).toEqual([1]);
  });
});

