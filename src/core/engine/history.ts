import { sql } from 'drizzle-orm';
import { pgArray, type Executor } from '../db/client.ts';
import { ioHistory } from '../db/tables.ts';
import type { IoSample } from '../plugin.ts';

export const MINUTE_SECONDS = 60;

export type IoMinuteRow = typeof ioHistory.$inferSelect;

/**
 * The simulated minute a tick ending at `time` belongs to: minute m holds the ticks that end in
 * (60·m, 60·(m+1)], so a tick ending on a boundary completes its minute. (The tolerance absorbs the
 * rounding of fractional tick lengths.)
 */
export function minuteOf(time: number): number {
  return Math.max(0, Math.ceil(time / MINUTE_SECONDS - 1e-9) - 1);
}

/** Running sums of one subject's ticks in the open minute; reset in place when the minute is written. */
class MinuteSums {
  samples = 0;
  seconds = 0;
  /** Integrals over the minute (rate × seconds): means are these over `seconds`. */
  readIos = 0;
  writeIos = 0;
  megabytes = 0;
  servedIos = 0;
  throttledIos = 0;
  /** Weighted by the I/Os served: means are these over `servedIos` (the cache hit ratios, of reads, over `readIos`). */
  latencyByIo = 0;
  cacheHitsByRead = 0;
  dramHitsByRead = 0;
  ssdByIo = 0;
  maxReadIops = 0;
  maxWriteIops = 0;
  maxMbps = 0;
  maxLatencyMs = 0;
  maxServedIops = 0;
  maxThrottledIops = 0;

  add(s: IoSample, seconds: number): void {
    const served = s.servedIops * seconds;
    this.samples += 1;
    this.seconds += seconds;
    this.readIos += s.readIops * seconds;
    this.writeIos += s.writeIops * seconds;
    this.megabytes += s.mbps * seconds;
    this.servedIos += served;
    this.throttledIos += s.throttledIops * seconds;
    this.latencyByIo += s.latencyMs * served;
    // The cache hit ratio is of reads: weighted by the reads served.
    this.cacheHitsByRead += s.cacheHitRatio * s.readIops * seconds;
    this.dramHitsByRead += s.dramHitRatio * s.readIops * seconds;
    this.ssdByIo += s.ssdServedRatio * served;
    if (s.readIops > this.maxReadIops) this.maxReadIops = s.readIops;
    if (s.writeIops > this.maxWriteIops) this.maxWriteIops = s.writeIops;
    if (s.mbps > this.maxMbps) this.maxMbps = s.mbps;
    if (s.latencyMs > this.maxLatencyMs) this.maxLatencyMs = s.latencyMs;
    if (s.servedIops > this.maxServedIops) this.maxServedIops = s.servedIops;
    if (s.throttledIops > this.maxThrottledIops) this.maxThrottledIops = s.throttledIops;
  }

  /** Takes another's sums, field by field (Object.assign took ~0.5 µs a copy, 15,000 copies a tick at the bench's scale). */
  assign(o: MinuteSums): this {
    const c = this;
    c.samples = o.samples;
    c.seconds = o.seconds;
    c.readIos = o.readIos;
    c.writeIos = o.writeIos;
    c.megabytes = o.megabytes;
    c.servedIos = o.servedIos;
    c.throttledIos = o.throttledIos;
    c.latencyByIo = o.latencyByIo;
    c.cacheHitsByRead = o.cacheHitsByRead;
    c.dramHitsByRead = o.dramHitsByRead;
    c.ssdByIo = o.ssdByIo;
    c.maxReadIops = o.maxReadIops;
    c.maxWriteIops = o.maxWriteIops;
    c.maxMbps = o.maxMbps;
    c.maxLatencyMs = o.maxLatencyMs;
    c.maxServedIops = o.maxServedIops;
    c.maxThrottledIops = o.maxThrottledIops;
    return c;
  }

  reset(): void {
    this.samples = this.seconds = this.readIos = this.writeIos = this.megabytes = this.servedIos = this.throttledIos = 0;
    this.latencyByIo = this.cacheHitsByRead = this.dramHitsByRead = this.ssdByIo = 0;
    this.maxReadIops = this.maxWriteIops = this.maxMbps = this.maxLatencyMs = this.maxServedIops = this.maxThrottledIops = 0;
  }
}

/** Completed minutes, column by column (one array per column: what `unnest` takes). */
export interface MinuteBatch {
  /** The latest minute in the batch: retention counts back from it. */
  newestMinute: number;
  subjectIds: string[];
  minutes: number[];
  columns: Record<Exclude<keyof IoMinuteRow, 'subjectId' | 'minute'>, number[]>;
}

const emptyBatch = (): MinuteBatch => ({
  newestMinute: -1,
  subjectIds: [],
  minutes: [],
  columns: {
    samples: [], seconds: [], readIops: [], maxReadIops: [], writeIops: [], maxWriteIops: [], mbps: [], maxMbps: [],
    latencyMs: [], maxLatencyMs: [], servedIops: [], maxServedIops: [], throttledIops: [], maxThrottledIops: [],
    cacheHitRatio: [], ssdServedRatio: [], dramHitRatio: [],
  },
});

/**
 * Rolls the engine's per-tick samples up per simulated minute, in memory, and hands over each minute
 * once it is complete. Per tick it costs one map lookup and a few additions per sample; the sums are
 * reused from minute to minute, and a subject without samples in a minute is forgotten when it ends.
 */
export class IoHistoryRecorder {
  /** The minute being summed, or -1 when none is open (before the first tick, and once a minute is handed over). */
  private minute = -1;
  private sums = new Map<string, MinuteSums>();
  private pending: MinuteBatch | null = null;
  /** The state this copy was made from, until it replaces it. */
  private previous: IoHistoryRecorder | null = null;
  /** Objects of a state this one replaced, for the next copy to reuse (a copy a tick would otherwise allocate them all anew). */
  private freeSums: MinuteSums[] = [];
  private freeMap: Map<string, MinuteSums> | null = null;

  /** A copy to work on in a transaction, so that a tick that rolls back leaves this one as it was. */
  copy(): IoHistoryRecorder {
    const copy = new IoHistoryRecorder();
    copy.minute = this.minute;
    copy.pending = this.pending;
    copy.previous = this;
    const map = this.freeMap ?? new Map<string, MinuteSums>();
    this.freeMap = null;
    map.clear();
    for (const [id, sums] of this.sums) map.set(id, (this.freeSums.pop() ?? new MinuteSums()).assign(sums));
    copy.sums = map;
    return copy;
  }

  /** This copy's transaction committed and it replaces the state it was made from, whose objects it may reuse. */
  adopted(): void {
    const previous = this.previous;
    if (!previous) return;
    this.previous = null;
    this.freeSums = previous.freeSums;
    for (const sums of previous.sums.values()) this.freeSums.push(sums);
    this.freeMap = previous.sums;
  }

  /**
   * Starts a tick ending at `now`: a tick of a later minute than the open one closes the open one
   * (a tick that ended exactly on the boundary has closed it already).
   */
  beginTick(now: number): void {
    const minute = minuteOf(now);
    if (this.minute >= 0 && minute > this.minute) this.close();
    this.minute = minute;
  }

  /** One tick's sample of a VVOL or VM, covering `seconds` of simulated time. */
  add(id: string, sample: IoSample, seconds: number): void {
    let sums = this.sums.get(id);
    if (!sums) this.sums.set(id, (sums = new MinuteSums()));
    sums.add(sample, seconds);
  }

  /**
   * Ends the tick: if it ended on the minute's boundary the minute is complete. Returns the minutes
   * completed during this tick (to be written in the tick's transaction), or null.
   */
  endTick(now: number): MinuteBatch | null {
    if (this.minute >= 0 && now >= (this.minute + 1) * MINUTE_SECONDS - 1e-9) this.close();
    const batch = this.pending;
    this.pending = null;
    return batch;
  }

  /** Hands the open minute over; none is open until the next tick begins one. */
  private close(): void {
    const batch = (this.pending ??= emptyBatch());
    batch.newestMinute = this.minute;
    const c = batch.columns;
    for (const [id, s] of this.sums) {
      if (s.samples === 0) {
        // Idle for a whole minute (powered off, deleted, or ticked elsewhere now): stop carrying it.
        this.sums.delete(id);
        continue;
      }
      batch.subjectIds.push(id);
      batch.minutes.push(this.minute);
      c.samples.push(s.samples);
      c.seconds.push(s.seconds);
      c.readIops.push(s.readIos / s.seconds);
      c.maxReadIops.push(s.maxReadIops);
      c.writeIops.push(s.writeIos / s.seconds);
      c.maxWriteIops.push(s.maxWriteIops);
      c.mbps.push(s.megabytes / s.seconds);
      c.maxMbps.push(s.maxMbps);
      c.latencyMs.push(s.servedIos > 0 ? s.latencyByIo / s.servedIos : 0);
      c.maxLatencyMs.push(s.maxLatencyMs);
      c.servedIops.push(s.servedIos / s.seconds);
      c.maxServedIops.push(s.maxServedIops);
      c.throttledIops.push(s.throttledIos / s.seconds);
      c.maxThrottledIops.push(s.maxThrottledIops);
      c.cacheHitRatio.push(s.readIos > 0 ? s.cacheHitsByRead / s.readIos : 0);
      c.ssdServedRatio.push(s.servedIos > 0 ? s.ssdByIo / s.servedIos : 0);
      c.dramHitRatio.push(s.readIos > 0 ? s.dramHitsByRead / s.readIos : 0);
      s.reset();
    }
    this.minute = -1;
  }
}

/**
 * Writes completed minutes and prunes what fell out of the retention window, in ONE statement: a
 * multi-row insert from `unnest` (one parameter per column, whatever the number of subjects) with the
 * delete as a data-modifying CTE (so a minute in which nothing ran still prunes). A minute written again (a rolled-back advance replayed) replaces its row.
 */
export async function writeMinutes(db: Executor, batch: MinuteBatch, retentionMinutes: number): Promise<void> {
  const c = batch.columns;
  const floats = (values: number[]) => sql`${pgArray(values)}::float8[]`;
  await db.execute(sql`
    with pruned as (delete from ${ioHistory} where ${ioHistory.minute} <= ${batch.newestMinute - retentionMinutes})
    insert into ${ioHistory} (subject_id, minute, samples, seconds, read_iops, max_read_iops, write_iops, max_write_iops, mbps, max_mbps,
      latency_ms, max_latency_ms, served_iops, max_served_iops, throttled_iops, max_throttled_iops, cache_hit_ratio, ssd_served_ratio, dram_hit_ratio)
    select * from unnest(${pgArray(batch.subjectIds)}::uuid[], ${pgArray(batch.minutes)}::int[], ${pgArray(c.samples)}::int[], ${floats(c.seconds)},
      ${floats(c.readIops)}, ${floats(c.maxReadIops)}, ${floats(c.writeIops)}, ${floats(c.maxWriteIops)}, ${floats(c.mbps)}, ${floats(c.maxMbps)},
      ${floats(c.latencyMs)}, ${floats(c.maxLatencyMs)}, ${floats(c.servedIops)}, ${floats(c.maxServedIops)}, ${floats(c.throttledIops)},
      ${floats(c.maxThrottledIops)}, ${floats(c.cacheHitRatio)}, ${floats(c.ssdServedRatio)}, ${floats(c.dramHitRatio)})
    on conflict (subject_id, minute) do update set samples = excluded.samples, seconds = excluded.seconds,
      read_iops = excluded.read_iops, max_read_iops = excluded.max_read_iops, write_iops = excluded.write_iops, max_write_iops = excluded.max_write_iops,
      mbps = excluded.mbps, max_mbps = excluded.max_mbps, latency_ms = excluded.latency_ms, max_latency_ms = excluded.max_latency_ms,
      served_iops = excluded.served_iops, max_served_iops = excluded.max_served_iops, throttled_iops = excluded.throttled_iops,
      max_throttled_iops = excluded.max_throttled_iops, cache_hit_ratio = excluded.cache_hit_ratio, ssd_served_ratio = excluded.ssd_served_ratio,
      dram_hit_ratio = excluded.dram_hit_ratio`);
}
