import { sql } from 'drizzle-orm';
import { holdsPolicy, pgArray, resultRows, type ExtentStore, type LifecycleContext, type PolicyContext, type PolicyOutcome, type PolicyRule, type TickContext, type VirtualVolumeRow } from '../../core/plugin.ts';
import { S3FifoCache, type CacheMode } from './cache.ts';

const GiB = 1024 ** 3;
/** Service time of an I/O served from the SSD cache. */
export const HIT_SERVICE_TIME_MS = 0.2;

export interface CacheSettings {
  capacityGiB: number;
  mode: CacheMode;
}

/** Settings by rules array: a policy's rules are one array shared by its VVOLs from tick to tick, so each is read once. */
const settingsByRules = new WeakMap<readonly PolicyRule[], CacheSettings | null>();

/** The nec.pc rules of a policy: the settings when the cache is enabled, else null. */
export function settingsOf(rules: readonly PolicyRule[]): CacheSettings | null {
  let settings = settingsByRules.get(rules);
  if (settings === undefined) settingsByRules.set(rules, (settings = readSettings(rules)));
  return settings;
}

function readSettings(rules: readonly PolicyRule[]): CacheSettings | null {
  const value = (id: string) => rules.find((r) => r.capabilityId === `nec.pc.${id}`)?.value;
  if (value('enabled') !== true) return null;
  return { capacityGiB: (value('capacityGiB') as number | undefined) ?? 0, mode: (value('mode') as CacheMode | undefined) ?? 'READ_ONLY' };
}

export interface VolumeCache {
  cache: S3FifoCache;
  capacityGiB: number;
  /** The extent store's content epoch of the VVOL its blocks were cached from: a revert replaces them. */
  epoch: number;
}

/**
 * The caches of one simulated array, by VVOL id. Kept per ExtentStore (one per core), so two apps in
 * one process (tests, determinism runs) never share caches. In memory: a restart starts them cold.
 */
const byStore = new WeakMap<ExtentStore, Map<string, VolumeCache>>();

export function cachesOf(extents: ExtentStore): Map<string, VolumeCache> {
  let caches = byStore.get(extents);
  if (!caches) byStore.set(extents, (caches = new Map()));
  return caches;
}

/** Blocks of the cache: it works at extent granularity, since the sampled stream gives extent indexes. */
export function capacityBlocks(capacityGiB: number, extentBytes: number): number {
  return Math.floor((capacityGiB * GiB) / extentBytes);
}

/**
 * The serve phase, after perforoptimizer: each VVOL whose policy enables the cache (and was admitted)
 * runs its sampled accesses that the array's DRAM cache missed through its S3-FIFO cache; the tick's read
 * hit ratio is reported and hits lower the service time. Settings changed in the policy take effect live (resize, mode)
 * once admitted (while PENDING the cache stays as it was); a VVOL whose policy no longer enables it loses its cache at once.
 */
export async function serve(ctx: TickContext): Promise<void> {
  const caches = cachesOf(ctx.extents);
  const wanted = ctx.io.filter((io) => settingsOf(io.rules) !== null);
  for (const io of ctx.io) if (settingsOf(io.rules) === null) caches.delete(io.vvolId);
  if (wanted.length === 0) return;
  // One statement per tick: an INFEASIBLE VVOL (its pool's L2 cache could not hold it) has no cache, and a
  // PENDING one without a cache waits for admission.
  const states = new Map(
    resultRows<{ id: string; state: string }>(await ctx.db.execute(
      sql`select id::text as id, policy_state::text as state from virtual_volumes where id = any(${pgArray(wanted.map((io) => io.vvolId))}::uuid[])`,
    )).map((r) => [r.id, r.state]),
  );
  for (const io of wanted) {
    const state = states.get(io.vvolId);
    if (state === 'INFEASIBLE' || state === undefined) {
      caches.delete(io.vvolId);
      continue;
    }
    let entry = caches.get(io.vvolId);
    const epoch = ctx.extents.contentEpoch(io.vvolId);
    if (entry && entry.epoch !== epoch) {
      entry.cache.invalidate();
      entry.epoch = epoch;
    }
    // A PENDING VVOL waits for admission: without a cache it has none yet, with one it keeps that one as it is.
    if (state === 'PENDING') {
      if (entry) feed(entry.cache, io);
      continue;
    }
    const settings = settingsOf(io.rules)!;
    if (!entry) {
      entry = { cache: new S3FifoCache(capacityBlocks(settings.capacityGiB, ctx.extents.extentBytes), settings.mode), capacityGiB: settings.capacityGiB, epoch };
      caches.set(io.vvolId, entry);
    } else {
      adopt(entry, settings, ctx.extents.extentBytes);
    }
    feed(entry.cache, io);
  }
}

/** Live change of an existing cache to the policy's settings: a resize (shrinking evicts) and the mode. */
function adopt(entry: VolumeCache, settings: CacheSettings, extentBytes: number): void {
  const blocks = capacityBlocks(settings.capacityGiB, extentBytes);
  if (entry.cache.capacityBlocks !== blocks) entry.cache.resize(blocks);
  if (entry.cache.cacheMode !== settings.mode) entry.cache.setMode(settings.mode);
  entry.capacityGiB = settings.capacityGiB;
}

/**
 * Runs the tick's sampled accesses the DRAM cache did not serve through the L2 cache: a hit takes the
 * SSD's time in place of what the tiers would have taken for that very access. The hit ratio is of all
 * the reads, so the DRAM's and the L2's add up to the share of reads a cache served.
 */
function feed(cache: S3FifoCache, io: TickContext['io'][number]): void {
  const { extents, writes, dramHits, serviceTimesMs } = io.sampled;
  let reads = 0;
  let readHits = 0;
  for (let i = 0; i < extents.length; i++) {
    const write = writes[i] === 1;
    if (!write) reads++;
    if (dramHits[i] === 1) continue;
    if (cache.access(extents[i], write)) {
      serviceTimesMs[i] = HIT_SERVICE_TIME_MS;
      if (!write) readHits++;
    }
  }
  io.cacheHitRatio = reads > 0 ? readHits / reads : 0;
}

/**
 * Admission: the cache capacities of the pool's VVOLs holding a cache (DATA VVOLs, not snapshots, whose
 * policy enables it and is APPLIED or IN_PROGRESS, as this pass has decided or else as their rows say; not copies such as
 * replicas, which take their source's policy but are never admitted) plus this one's must
 * fit the pool's L2 cache; else INFEASIBLE with what is left. PENDING VVOLs not yet reached are checked
 * when they are, against this one. Only DATA VVOLs carry I/O, so only they reserve cache. One statement.
 */
export async function policyApplied(ctx: PolicyContext, vvol: VirtualVolumeRow, rules: PolicyRule[]): Promise<PolicyOutcome> {
  const settings = settingsOf(rules);
  if (!settings) {
    cachesOf(ctx.extents).delete(vvol.id);
    return;
  }
  if (vvol.type !== 'DATA' || vvol.snapshotId !== null) return;
  const [pool] = resultRows<{ name: string; l2: string; used: string }>(await ctx.tx.execute(sql`
    select p.name, p.l2_cache_bytes::text as l2,
      (select coalesce(sum((cap.value #>> '{}')::bigint), 0)::text
         from virtual_volumes v
         join storage_containers vc on vc.id = v.container_id
         join policy_rules en on en.policy_id = v.policy_id and en.capability_id = 'nec.pc.enabled' and en.value = 'true'::jsonb
         join policy_rules cap on cap.policy_id = v.policy_id and cap.capability_id = 'nec.pc.capacityGiB'
        where vc.pool_id = p.id and v.id <> ${vvol.id}::uuid and v.type = 'DATA' and v.snapshot_id is null
          and not v.metadata ? 'vvolgraph.replicaOf'
          and ${holdsPolicy('v', ctx.reconciled)}) as used
    from storage_containers c join storage_pools p on p.id = c.pool_id
    where c.id = ${vvol.containerId}::uuid`));
  if (!pool) return;
  const freeBytes = Number(pool.l2) - Number(pool.used) * GiB;
  if (settings.capacityGiB * GiB > freeBytes) {
    const free = Math.max(0, Math.floor(freeBytes / GiB));
    return { infeasible: `nec.pc.capacityGiB: pool ${pool.name} has ${free} GiB of L2 cache left, the policy asks ${settings.capacityGiB} GiB` };
  }
  // Admitted: the cache it has takes the new settings as the verdict is committed, not at the next tick, so
  // l2Cache never shows the new capacity with the old cache's blocks.
  ctx.work.afterCommit(() => {
    const entry = cachesOf(ctx.extents).get(vvol.id);
    if (entry) adopt(entry, settings, ctx.extents.extentBytes);
  });
}

/** A deleted VVOL's cache goes with it. */
export function vvolDeleted(ctx: LifecycleContext, vvol: VirtualVolumeRow): void {
  cachesOf(ctx.extents).delete(vvol.id);
}
