import { and, asc, eq, isNull, sql } from 'drizzle-orm';
import { anyOf, pgArray, resultRows, type Executor } from '../db/client.ts';
import { poolTiers, storageArrays, storageContainers, storagePools, virtualDisks, virtualMachines, virtualVolumes, workloads } from '../db/tables.ts';
import type { ExtentStore, ExtentWrite } from '../extents.ts';
import type { IoSample, PolicyRule, VolumeIo } from '../plugin.ts';
import { seededRandom, spreadRank, Zipf } from '../random.ts';
import { rulesByPolicy } from '../services/policies.ts';
import { presets, type WorkloadProfile } from '../services/workloads.ts';
import { BASE_SERVICE_TIME_MS, NO_SAMPLE, type Sample } from './dram-cache.ts';

/** Distinct extents one VVOL's writes may touch per tick: the rest of its writes land in those. */
const MAX_EXTENTS_WRITTEN_PER_TICK = 8;

export type IoStats = IoSample;

/**
 * The workload's multiplier over the tick (now − seconds, now]: a burst is on for the first dutyCycle of
 * every period, so the factor weighs the multiplier by the share of the tick spent in bursts.
 */
export function burstFactor(profile: WorkloadProfile, now: number, seconds: number): number {
  const burst = profile.burst;
  if (!burst) return 1;
  const on = burst.dutyCycle * burst.periodSeconds;
  const burstingUntil = (t: number) => Math.floor(t / burst.periodSeconds) * on + Math.min(t % burst.periodSeconds, on);
  if (!(seconds > 0)) return 1;
  return 1 + (burst.multiplier - 1) * ((burstingUntil(now) - burstingUntil(now - seconds)) / seconds);
}

/** One running VM's DATA VVOL as the workload sees it, whatever the tick. */
interface DemandVolume {
  vvolId: string;
  vmId: string;
  /** Names the VM's random streams: its name, with `#n` for the n-th later VM of the same name. */
  streamName: string;
  unit: number;
  containerId: string;
  poolId: string;
  arrayId: string;
  rules: PolicyRule[];
  profile: WorkloadProfile;
  /** The VVOL's share of its VM's provisioned bytes: its part of the VM's I/O. */
  sizeShare: number;
  readOnly: boolean;
  extentCount: number;
  /** Bytes per extent: how far a sequential stream moves in extents. */
  extentBytes: number;
  workingSetExtents: number;
  zipf: Zipf;
  /** A FAST clone's bases, nearest first (its parent, and on while the parent is a FAST clone too): the volumes whose extents it may share. */
  lineage: string[];
}

/**
 * What the workload needs that changes only when VMs, disks, workloads, policies or pools do (the
 * engine keeps it between ticks and reads it again after such a change, or when the arrays it holds
 * change): every running VM's DATA VVOLs on `arrays` (those this process ticks) with their VM's
 * profile, and the IOPS of those arrays' pools.
 */
export interface DemandSet {
  volumes: DemandVolume[];
  poolIops: Map<string, number>;
  /** The DRAM cache bytes of the arrays the volumes are on. */
  cacheBytes: Map<string, number>;
}

/** Reads the demand set of `arrays`: three statements, whatever the number of VMs; none without arrays. */
export async function loadDemandSet(db: Executor, extents: ExtentStore, arrays: readonly string[]): Promise<DemandSet> {
  if (arrays.length === 0) return { volumes: [], poolIops: new Map(), cacheBytes: new Map() };
  const rows = await db
    .select({
      vvolId: virtualVolumes.id,
      vmId: virtualVolumes.vmId,
      vmName: virtualMachines.name,
      policyId: virtualVolumes.policyId,
      provisionedBytes: virtualVolumes.provisionedBytes,
      containerId: virtualVolumes.containerId,
      poolId: storageContainers.poolId,
      arrayId: storageContainers.arrayId,
      cacheBytes: storageArrays.cacheBytes,
      workload: workloads,
      readOnly: virtualDisks.readOnly,
      origin: virtualVolumes.origin,
    })
    .from(virtualVolumes)
    .innerJoin(virtualMachines, eq(virtualMachines.id, virtualVolumes.vmId))
    .leftJoin(virtualDisks, eq(virtualDisks.vvolId, virtualVolumes.id))
    .innerJoin(storageContainers, eq(storageContainers.id, virtualVolumes.containerId))
    .innerJoin(storageArrays, eq(storageArrays.id, storageContainers.arrayId))
    .leftJoin(workloads, eq(workloads.vmId, virtualMachines.id))
    .where(and(eq(virtualMachines.powerState, 'POWERED_ON'), eq(virtualVolumes.type, 'DATA'), isNull(virtualVolumes.snapshotId), anyOf(storageContainers.arrayId, [...arrays])))
    // Disks made in one transaction share createdAt: the unit number, not the (random) uuid, decides their order.
    // VM names need not be unique: VMs of one name go in the order they were made, not by their (random) uuids.
    .orderBy(asc(virtualMachines.name), asc(virtualMachines.createdAt), asc(virtualMachines.id), asc(virtualDisks.unitNumber), asc(virtualVolumes.createdAt), asc(virtualVolumes.id));
  const rules = await rulesByPolicy(db, [...new Set(rows.map((r) => r.policyId))]);
  const lineages = await lineagesOf(db, rows.filter((r) => r.origin === 'FAST_CLONE').map((r) => r.vvolId));
  const pools = await db
    .select({ poolId: poolTiers.poolId, iops: sql<number>`sum(${poolTiers.maxIops})::int` })
    .from(poolTiers)
    .innerJoin(storagePools, eq(storagePools.id, poolTiers.poolId))
    .where(anyOf(storagePools.arrayId, [...arrays]))
    .groupBy(poolTiers.poolId);

  const vmBytes = new Map<string, number>();
  for (const r of rows) vmBytes.set(r.vmId!, (vmBytes.get(r.vmId!) ?? 0) + r.provisionedBytes);
  const units = new Map<string, number>();
  // The random streams are named by VM: a second VM of a name gets a name of its own, or both would draw alike.
  const streamNames = new Map<string, string>();
  const namesSeen = new Map<string, number>();
  const volumes = rows.map((r): DemandVolume => {
    const profile = r.workload ?? presets.IDLE;
    const unit = units.get(r.vmId!) ?? 0;
    units.set(r.vmId!, unit + 1);
    let streamName = streamNames.get(r.vmId!);
    if (streamName === undefined) {
      const seen = namesSeen.get(r.vmName) ?? 0;
      namesSeen.set(r.vmName, seen + 1);
      streamNames.set(r.vmId!, (streamName = seen === 0 ? r.vmName : `${r.vmName}#${seen}`));
    }
    const extentCount = extents.extentCount(r.provisionedBytes);
    const workingSetExtents = Math.max(1, Math.ceil(extentCount * profile.workingSetRatio));
    return {
      vvolId: r.vvolId, vmId: r.vmId!, streamName, unit, containerId: r.containerId, poolId: r.poolId, arrayId: r.arrayId, rules: rules.get(r.policyId) ?? [],
      profile, sizeShare: r.provisionedBytes / vmBytes.get(r.vmId!)!, readOnly: r.readOnly ?? false,
      extentCount, extentBytes: extents.extentBytes, workingSetExtents, zipf: zipfOf(workingSetExtents, profile.zipfAlpha),
      lineage: lineages.get(r.vvolId) ?? [],
    };
  });
  return { volumes, poolIops: new Map(pools.map((p) => [p.poolId, p.iops])), cacheBytes: new Map(rows.map((r) => [r.arrayId, r.cacheBytes])) };
}

/** Each FAST clone's bases, nearest first: one recursive statement, none without clones. */
async function lineagesOf(db: Executor, cloneIds: string[]): Promise<Map<string, string[]>> {
  const lineages = new Map<string, string[]>();
  if (cloneIds.length === 0) return lineages;
  const rows = resultRows<{ vvol_id: string; base_id: string }>(await db.execute(sql`
    with recursive chain(vvol_id, base_id, depth) as (
      select v.id, v.parent_id, 1 from ${virtualVolumes} v where v.id = any(${pgArray(cloneIds)}::uuid[]) and v.parent_id is not null
      union all
      select c.vvol_id, p.parent_id, c.depth + 1 from chain c join ${virtualVolumes} p on p.id = c.base_id
      where p.origin = 'FAST_CLONE' and p.parent_id is not null
    )
    select vvol_id::text as vvol_id, base_id::text as base_id from chain order by vvol_id, depth`));
  for (const r of rows) lineages.set(r.vvol_id, [...(lineages.get(r.vvol_id) ?? []), r.base_id]);
  return lineages;
}

/**
 * One running DATA VVOL's I/O in a tick. A class, so that its methods are on the prototype rather than
 * closures made for every VVOL in every tick.
 */
export class TickIo implements VolumeIo {
  vvolId: string;
  vmId: string;
  containerId: string;
  poolId: string;
  arrayId: string;
  rules: PolicyRule[];
  blockSizeBytes: number;
  randomRatio: number;
  extentCount: number;
  workingSetExtents: number;
  zipfAlpha: number;
  servedIops: number;
  cacheHitRatio = 0;
  dramHitRatio = 0;
  ssdServedRatio = 0;
  serviceTimeMs = BASE_SERVICE_TIME_MS;
  sampled: Sample = NO_SAMPLE;
  lineage: readonly string[];

  constructor(private readonly volume: DemandVolume, public readIops: number, public writeIops: number, private readonly seed: string, private readonly tick: number, private readonly tickStart: number) {
    this.vvolId = volume.vvolId;
    this.vmId = volume.vmId;
    this.containerId = volume.containerId;
    this.poolId = volume.poolId;
    this.arrayId = volume.arrayId;
    this.rules = volume.rules;
    this.blockSizeBytes = volume.profile.blockSizeBytes;
    this.randomRatio = volume.profile.randomRatio;
    this.extentCount = volume.extentCount;
    this.workingSetExtents = volume.workingSetExtents;
    this.zipfAlpha = volume.profile.zipfAlpha;
    this.servedIops = readIops + writeIops;
    this.lineage = volume.lineage;
  }

  drawAccesses(count: number, iosPerAccess: number): number[] {
    return this.draw(this.stream(':reads'), count, iosPerAccess);
  }

  /** After the serve hooks: the service time is the sampled accesses' mean, and the DRAM hit ratio that of their reads. */
  settleSample(): void {
    const { extents, writes, dramHits, serviceTimesMs } = this.sampled;
    if (extents.length === 0) return;
    let totalMs = 0;
    let reads = 0;
    let hits = 0;
    for (let i = 0; i < extents.length; i++) {
      totalMs += serviceTimesMs[i];
      reads += 1 - writes[i];
      hits += dramHits[i];
    }
    this.serviceTimeMs = totalMs / extents.length;
    this.dramHitRatio = reads > 0 ? hits / reads : 0;
  }

  /**
   * A random stream fixed by the seed, the tick, the VM's stream name (its name, made unique) and the disk's place among its VM's disks
   * (not by uuids): same seed and operations, same draws.
   */
  stream(suffix = ''): () => number {
    return seededRandom(`${this.seed}:${this.tick}:${this.volume.streamName}:${this.volume.unit}${suffix}`);
  }

  /**
   * `count` extent indexes, each access standing for `stride` I/Os. The random share (randomRatio) is
   * Zipf draws from `random`; the rest, spread evenly among them (access i is sequential when
   * floor((i + 1)·s) passes an integer), walk the working set in order from where a stream moving at
   * their byte rate since the simulation began would be (from the time, not from state: a restart or
   * another instance walks on from the same place). Access i is the same extent whatever the count.
   */
  draw(random: () => number, count: number, stride: number): number[] {
    const { zipf, extentBytes } = this.volume;
    const workingSet = this.workingSetExtents;
    const sequential = 1 - Math.min(1, Math.max(0, this.randomRatio));
    if (sequential === 0) return drawExtents(zipf, workingSet, random, count);
    const start = Math.floor((this.tickStart * this.servedIops * sequential * this.blockSizeBytes) / extentBytes);
    const bytesPerAccess = stride * this.blockSizeBytes;
    const drawn = new Array<number>(count);
    for (let i = 0, j = 0; i < count; i++) {
      if (Math.floor((i + 1) * sequential) > Math.floor(i * sequential)) drawn[i] = (start + Math.floor((j++ * bytesPerAccess) / extentBytes)) % workingSet;
      else drawn[i] = spreadRank(zipf.sample(random), workingSet);
    }
    return drawn;
  }
}

/**
 * The demand of every running VM's DATA VVOLs this tick: the VM's profile (and its burst, if one is
 * on) split over its disks by size. No SQL: the demand set holds what it needs.
 */
export function demandOf(set: DemandSet, seed: string, tick: number, now: number, seconds: number): TickIo[] {
  return set.volumes.map((v) => {
    const share = v.sizeShare * burstFactor(v.profile, now, seconds);
    const readIops = v.profile.readIops * share;
    const writeIops = v.readOnly ? 0 : v.profile.writeIops * share;
    return new TickIo(v, readIops, writeIops, seed, tick, now - seconds);
  });
}

/** Zipf CDFs by working-set size and alpha: built once, sampled by every VVOL of that shape. */
const distributions = new Map<string, Zipf>();

function zipfOf(workingSet: number, alpha: number): Zipf {
  const key = `${workingSet}:${alpha}`;
  const zipf = distributions.get(key) ?? new Zipf(workingSet, alpha);
  distributions.set(key, zipf);
  return zipf;
}

/**
 * `count` extent indexes over a working set: Zipf ranks spread over the disk by a fixed stride. A plain
 * loop: the serve hooks draw hundreds of thousands a tick, and Array.from with a mapping function took twice as long.
 */
function drawExtents(zipf: Zipf, workingSet: number, random: () => number, count: number): number[] {
  const drawn = new Array<number>(count);
  for (let i = 0; i < count; i++) drawn[i] = spreadRank(zipf.sample(random), workingSet);
  return drawn;
}

/** The extents each VVOL's served writes touch this tick, drawn over its working set from its stream. */
export function plannedWrites(active: readonly TickIo[], seconds: number): ExtentWrite[] {
  const writes: ExtentWrite[] = [];
  for (const io of active) {
    const demand = io.readIops + io.writeIops;
    const served = demand > 0 ? io.writeIops * (io.servedIops / demand) * seconds : 0;
    if (served <= 0) continue;
    const random = io.stream();
    const count = served >= 1 ? Math.min(MAX_EXTENTS_WRITTEN_PER_TICK, Math.ceil(served)) : random() < served ? 1 : 0;
    if (count > 0) writes.push({ vvolId: io.vvolId, indexes: [...new Set(io.draw(random, count, Math.max(1, served / count)))] });
  }
  return writes;
}

/** Statistics per VVOL from the finished tick: latency rises as the pool fills (an M/M/1-like queue). */
export function statistics(io: VolumeIo[], poolIops: Map<string, number>, time: number): Map<string, IoStats> {
  const poolServed = new Map<string, number>();
  for (const v of io) poolServed.set(v.poolId, (poolServed.get(v.poolId) ?? 0) + v.servedIops);
  const stats = new Map<string, IoStats>();
  for (const v of io) {
    const demand = v.readIops + v.writeIops;
    const servedShare = demand > 0 ? v.servedIops / demand : 0;
    const capacity = poolIops.get(v.poolId) ?? 0;
    const utilization = capacity > 0 ? Math.min(0.95, poolServed.get(v.poolId)! / capacity) : 0.95;
    stats.set(v.vvolId, {
      time,
      readIops: v.readIops * servedShare,
      writeIops: v.writeIops * servedShare,
      mbps: (v.servedIops * v.blockSizeBytes) / 1e6,
      latencyMs: v.servedIops > 0 ? v.serviceTimeMs / (1 - utilization) : 0,
      servedIops: v.servedIops,
      throttledIops: Math.max(0, demand - v.servedIops),
      cacheHitRatio: v.cacheHitRatio,
      ssdServedRatio: v.ssdServedRatio,
      dramHitRatio: v.dramHitRatio,
    });
  }
  return stats;
}

/**
 * A VM's statistics: sums of its VVOLs', latency and the SSD share weighted by served IOPS, the cache hit
 * ratios (of reads) by served read IOPS: a write-only disk has no say in how often reads hit.
 */
export function rollUp(parts: IoStats[], time: number): IoStats {
  const sum: IoStats = { time, readIops: 0, writeIops: 0, mbps: 0, latencyMs: 0, servedIops: 0, throttledIops: 0, cacheHitRatio: 0, ssdServedRatio: 0, dramHitRatio: 0 };
  for (const p of parts) {
    sum.readIops += p.readIops;
    sum.writeIops += p.writeIops;
    sum.mbps += p.mbps;
    sum.servedIops += p.servedIops;
    sum.throttledIops += p.throttledIops;
    sum.latencyMs += p.latencyMs * p.servedIops;
    sum.cacheHitRatio += p.cacheHitRatio * p.readIops;
    sum.dramHitRatio += p.dramHitRatio * p.readIops;
    sum.ssdServedRatio += p.ssdServedRatio * p.servedIops;
  }
  const served = sum.servedIops;
  sum.latencyMs = served > 0 ? sum.latencyMs / served : 0;
  sum.cacheHitRatio = sum.readIops > 0 ? sum.cacheHitRatio / sum.readIops : 0;
  sum.dramHitRatio = sum.readIops > 0 ? sum.dramHitRatio / sum.readIops : 0;
  sum.ssdServedRatio = served > 0 ? sum.ssdServedRatio / served : 0;
  return sum;
}

/** Ticks of samples kept in memory per VVOL and VM (`recentIo`); older ones are in the per-minute history. */
export const IO_SAMPLES_KEPT = 60;

/** The fields of a sample, in the order a ring stores them. */
const SAMPLE_FIELDS = ['time', 'readIops', 'writeIops', 'mbps', 'latencyMs', 'servedIops', 'throttledIops', 'cacheHitRatio', 'ssdServedRatio', 'dramHitRatio'] as const satisfies readonly (keyof IoStats)[];
const WIDTH = SAMPLE_FIELDS.length;

/**
 * The last `size` samples of each VVOL and VM, in memory (per-tick statistics are not kept in the
 * database), as numbers in one typed array per id: tens of thousands of ids times 60 samples as
 * objects would be millions of old-generation objects for the collector to trace.
 */
export class RingBuffers {
  private readonly rings = new Map<string, { values: Float64Array; next: number; count: number }>();
  constructor(private readonly size = IO_SAMPLES_KEPT) {}

  push(id: string, sample: IoStats): void {
    let ring = this.rings.get(id);
    if (!ring) this.rings.set(id, (ring = { values: new Float64Array(this.size * WIDTH), next: 0, count: 0 }));
    // Field by field in SAMPLE_FIELDS order: a loop over the names costs a keyed lookup per field, 4× the time.
    const v = ring.values;
    const base = ring.next * WIDTH;
    v[base] = sample.time;
    v[base + 1] = sample.readIops;
    v[base + 2] = sample.writeIops;
    v[base + 3] = sample.mbps;
    v[base + 4] = sample.latencyMs;
    v[base + 5] = sample.servedIops;
    v[base + 6] = sample.throttledIops;
    v[base + 7] = sample.cacheHitRatio;
    v[base + 8] = sample.ssdServedRatio;
    v[base + 9] = sample.dramHitRatio;
    ring.next = (ring.next + 1) % this.size;
    ring.count = Math.min(ring.count + 1, this.size);
  }

  last(id: string): IoStats | undefined {
    return this.recent(id, 1)[0];
  }

  ids(): string[] {
    return [...this.rings.keys()];
  }

  drop(ids: Iterable<string>): void {
    for (const id of ids) this.rings.delete(id);
  }

  /** The last `count` samples of an id, oldest first. */
  recent(id: string, count: number): IoStats[] {
    const ring = this.rings.get(id);
    if (!ring) return [];
    const n = Math.min(count, ring.count);
    return Array.from({ length: n }, (_, i) => {
      const base = ((ring.next - n + i + this.size) % this.size) * WIDTH;
      const sample = {} as IoStats;
      for (let f = 0; f < WIDTH; f++) sample[SAMPLE_FIELDS[f]] = ring.values[base + f];
      return sample;
    });
  }
}
