import { sql } from 'drizzle-orm';
import { holdsPolicy, pgArray, resultRows, type ExtentStore, type LifecycleContext, type PolicyContext, type PolicyOutcome, type PolicyRule, type TickContext, type VirtualVolumeRow, type VolumeIo } from '../../core/plugin.ts';
import { boundsFromRules, HeatMap, ioWeight, moveCostHeat, plan, RelocationCycle, ruleKeys, tiers, type ExecutionMode, type Tier } from './tiering.ts';

/** Milliseconds per I/O before queueing, by the tier that serves it (SAS is the core's base service time). */
export const SERVICE_TIME_MS: Record<Tier, number> = { SSD: 0.2, SAS: 5, NL_SAS: 10 };
/** Extents that may move per analysis interval and pool: this share of the pool's capacity in extents (at least 1). */
export const BUDGET_SHARE = 0.01;
/** Tier of an extent that is not written yet (the extents table's default). */
export const DEFAULT_TIER: Tier = 'SAS';

const rule = (rules: readonly PolicyRule[], id: string) => rules.find((r) => r.capabilityId === `nec.po.${id}`)?.value;

/** Whether a policy has any nec.po rule: only such VVOLs are tiered (others stay on SAS, untouched). */
export function isTiered(rules: readonly PolicyRule[]): boolean {
  return rules.some((r) => r.capabilityId.startsWith('nec.po.'));
}

export function settingsOf(rules: readonly PolicyRule[]): { intervalSeconds: number; mode: ExecutionMode } {
  const minutes = rule(rules, 'analysisIntervalMinutes');
  const mode = rule(rules, 'executionMode');
  return { intervalSeconds: (typeof minutes === 'number' ? minutes : 5) * 60, mode: mode === 'MANUAL' ? 'MANUAL' : 'AUTO' };
}

export interface VolumeTiering {
  heat: HeatMap;
  cycle: RelocationCycle;
  /** Tiers of the VVOL's extents that are not on DEFAULT_TIER (loaded once, then kept in step with the moves). */
  tierOf: Map<number, Tier> | null;
  /** The extent store's content epoch of the VVOL when tierOf was loaded: a replaced map (a revert) brings its own tiers. */
  epoch: number;
  relocatedBytes: number;
}

interface ArrayState {
  volumes: Map<string, VolumeTiering>;
  /** relocateNow() asked for VVOLs that have no state yet (not running): honoured when they start. */
  requested: Set<string>;
  /** Per pool, the moves of its recent plans (simulated time, extents moved): its budget is per interval, not per plan. */
  spent: Map<string, { at: number; moves: number }[]>;
}

/** Per simulated array (per ExtentStore, one per core): two apps in one process never share state. In memory. */
const byStore = new WeakMap<ExtentStore, ArrayState>();

export function stateOf(extents: ExtentStore): ArrayState {
  let state = byStore.get(extents);
  if (!state) byStore.set(extents, (state = { volumes: new Map(), requested: new Set(), spent: new Map() }));
  return state;
}

function volumeOf(state: ArrayState, io: VolumeIo): VolumeTiering {
  const { intervalSeconds, mode } = settingsOf(io.rules);
  let vol = state.volumes.get(io.vvolId);
  if (!vol) {
    // Heat halves every analysis interval: an interval's plan sees mostly that interval's accesses.
    vol = { heat: new HeatMap(intervalSeconds, io.workingSetExtents), cycle: new RelocationCycle(intervalSeconds, mode), tierOf: null, epoch: 0, relocatedBytes: 0 };
    state.volumes.set(io.vvolId, vol);
  } else if (vol.cycle.analysisIntervalSeconds !== intervalSeconds) {
    vol.cycle = vol.cycle.withInterval(intervalSeconds);
    vol.cycle.setMode(mode);
    vol.heat.halfLifeSeconds = intervalSeconds;
  } else if (vol.cycle.executionMode !== mode) {
    vol.cycle.setMode(mode);
  }
  if (state.requested.delete(io.vvolId)) vol.cycle.relocateNow();
  return vol;
}


/**
 * The serve phase, for running DATA VVOLs whose policy has a nec.po rule: the tick's sampled accesses
 * heat their extents (weights from the read/write split, random ratio and block size; each access stands
 * for servedIops·seconds / n I/Os), heat decays by the tick's seconds, and the share of accesses on SSD
 * extents and the tier-weighted service time are set. One statement, and only for VVOLs seen first or
 * whose map was replaced since (a revert brings the snapshot's tiers).
 */
export async function serve(ctx: TickContext): Promise<void> {
  const state = stateOf(ctx.extents);
  const tiered = ctx.io.filter((io) => isTiered(io.rules));
  if (tiered.length === 0) return;
  const volumes = tiered.map((io) => volumeOf(state, io));
  const fresh = tiered.filter((io, i) => volumes[i].tierOf === null || volumes[i].epoch !== ctx.extents.contentEpoch(io.vvolId)).map((io) => io.vvolId);
  if (fresh.length > 0) {
    const rows = resultRows<{ vvol_id: string; idx: number; tier: Tier }>(await ctx.db.execute(
      sql`select vvol_id::text as vvol_id, idx, tier::text as tier from extents where vvol_id = any(${pgArray(fresh)}::uuid[]) and tier <> ${DEFAULT_TIER}`,
    ));
    for (const id of fresh) {
      const vol = state.volumes.get(id)!;
      vol.tierOf = new Map();
      vol.epoch = ctx.extents.contentEpoch(id);
    }
    for (const r of rows) state.volumes.get(r.vvol_id)!.tierOf!.set(Number(r.idx), r.tier);
  }
  tiered.forEach((io, i) => record(volumes[i], io, ctx.seconds));
}

function record(vol: VolumeTiering, io: VolumeIo, seconds: number): void {
  vol.heat.decay(seconds);
  const { extents, iosPerAccess: ios, dramHits, serviceTimesMs } = io.sampled;
  if (extents.length === 0) return;
  const demand = io.readIops + io.writeIops;
  const writeShare = demand > 0 ? io.writeIops / demand : 0;
  // Every sampled access of a VVOL in one tick stands for the same I/O, so it adds the same heat.
  const heat = ioWeight({ reads: ios * (1 - writeShare), writes: ios * writeShare, randomRatio: io.randomRatio, bytes: ios * io.blockSizeBytes });
  let ssd = 0;
  let fromTiers = 0;
  for (let i = 0; i < extents.length; i++) {
    const tier = vol.tierOf!.get(extents[i]) ?? DEFAULT_TIER;
    vol.heat.add(extents[i], heat);
    if (dramHits[i] === 1) continue;
    fromTiers++;
    if (tier === 'SSD') ssd++;
    serviceTimesMs[i] = SERVICE_TIME_MS[tier];
  }
  io.ssdServedRatio = fromTiers > 0 ? ssd / fromTiers : 0;
}

/**
 * The background phase: each tiered VVOL's relocation cycle advances; VVOLs whose analysis interval
 * ended (AUTO) or that relocateNow() asked for (MANUAL) are planned together per pool, the other
 * extents of the pool counting as used capacity. The moves are applied at once, in one statement for
 * every pool, so the cycle goes CALCULATING → RELOCATING → MONITORING (IDLE in MANUAL) within the tick.
 * Three statements in a tick with a plan, none otherwise.
 */
export async function background(ctx: TickContext): Promise<void> {
  const state = stateOf(ctx.extents);
  const due = ctx.io.filter((io) => {
    const vol = isTiered(io.rules) ? state.volumes.get(io.vvolId) : undefined;
    return vol !== undefined && vol.cycle.tick(ctx.seconds) === 'CALCULATING';
  });
  if (due.length === 0) return;
  const poolIds = [...new Set(due.map((io) => io.poolId))].sort();
  const extentBytes = ctx.extents.extentBytes;
  const poolRows = resultRows<{ pool_id: string; tier: Tier; capacity: string; used: string }>(await ctx.db.execute(sql`
    select t.pool_id::text as pool_id, t.tier::text as tier, t.capacity_bytes::text as capacity,
      (select count(*) from extents e join virtual_volumes v on v.id = e.vvol_id join storage_containers c on c.id = v.container_id
        where c.pool_id = t.pool_id and e.tier = t.tier)::text as used
    from pool_tiers t where t.pool_id = any(${pgArray(poolIds)}::uuid[])`));
  const extentRows = resultRows<{ vvol_id: string; idx: number; tier: Tier }>(await ctx.db.execute(
    sql`select vvol_id::text as vvol_id, idx, tier::text as tier from extents where vvol_id = any(${pgArray(due.map((io) => io.vvolId))}::uuid[]) order by vvol_id, idx`,
  ));
  const written = new Map<string, { idx: number; tier: Tier }[]>();
  for (const r of extentRows) {
    const list = written.get(r.vvol_id) ?? [];
    list.push({ idx: Number(r.idx), tier: r.tier });
    written.set(r.vvol_id, list);
  }
  const finalTier = new Map<string, { vvolId: string; idx: number; tier: Tier }>();
  const movedBy = new Map<string, number>();
  for (const poolId of poolIds) {
    const rows = poolRows.filter((r) => r.pool_id === poolId);
    const poolFree: Partial<Record<Tier, number>> = {};
    let poolExtents = 0;
    for (const r of rows) {
      const capacity = Math.floor(Number(r.capacity) / extentBytes);
      poolExtents += capacity;
      poolFree[r.tier] = Math.max(0, capacity - Number(r.used));
    }
    const members = due.filter((io) => io.poolId === poolId);
    // What plans of the last interval (the shortest of the members') moved in this pool counts against this one.
    const window = Math.min(...members.map((io) => settingsOf(io.rules).intervalSeconds));
    const recent = (state.spent.get(poolId) ?? []).filter((s) => s.at > ctx.now - window);
    const budget = Math.max(0, Math.max(1, Math.floor(poolExtents * BUDGET_SHARE)) - recent.reduce((sum, s) => sum + s.moves, 0));
    const result = plan({
      vvols: members.map((io) => {
        const vol = state.volumes.get(io.vvolId)!;
        return {
          id: io.vvolId,
          capacityExtents: io.extentCount,
          extents: (written.get(io.vvolId) ?? []).map((e) => ({ extent: e.idx, tier: e.tier, heat: vol.heat.heat(e.idx) })),
          bounds: boundsFromRules(io.rules),
        };
      }),
      poolFree,
      budget,
      minGain: moveCostHeat(extentBytes),
    });
    if (result.moves.length > 0) recent.push({ at: ctx.now, moves: result.moves.length });
    state.spent.set(poolId, recent);
    for (const m of result.moves) {
      // In order: an extent moved twice ends where its last move takes it.
      finalTier.set(`${m.vvolId}/${m.extent}`, { vvolId: m.vvolId, idx: m.extent, tier: m.to });
      movedBy.set(m.vvolId, (movedBy.get(m.vvolId) ?? 0) + 1);
    }
  }
  const updates = [...finalTier.values()];
  if (updates.length > 0) {
    await ctx.db.execute(sql`
      update extents e set tier = m.tier::tier_kind
      from jsonb_to_recordset(${JSON.stringify(updates.map((u) => ({ vvol_id: u.vvolId, idx: u.idx, tier: u.tier })))}::jsonb) as m(vvol_id uuid, idx int, tier text)
      where e.vvol_id = m.vvol_id and e.idx = m.idx`);
  }
  for (const io of due) {
    const vol = state.volumes.get(io.vvolId)!;
    // The written extents' tiers as the database has them, with the moves: the in-memory map is exact again.
    const tierOf = new Map<number, Tier>();
    for (const e of written.get(io.vvolId) ?? []) if (e.tier !== DEFAULT_TIER) tierOf.set(e.idx, e.tier);
    for (const u of updates) {
      if (u.vvolId !== io.vvolId) continue;
      if (u.tier === DEFAULT_TIER) tierOf.delete(u.idx);
      else tierOf.set(u.idx, u.tier);
    }
    vol.tierOf = tierOf;
    const moves = movedBy.get(io.vvolId) ?? 0;
    vol.relocatedBytes += moves * extentBytes;
    vol.cycle.planned(moves);
    vol.cycle.relocated(moves);
  }
  // The moves roll back with the tick: the tiers are read again, the budget is not spent, and the run is asked for again,
  // so the tick's next run plans it anew.
  ctx.work.afterRollback(() => {
    for (const poolId of poolIds) state.spent.set(poolId, (state.spent.get(poolId) ?? []).filter((s) => s.at !== ctx.now));
    for (const io of due) {
      const vol = state.volumes.get(io.vvolId);
      if (!vol) continue;
      vol.tierOf = null;
      vol.relocatedBytes -= (movedBy.get(io.vvolId) ?? 0) * extentBytes;
      vol.cycle.relocateNow();
    }
  });
}

/** relocateNow: one relocation run for the VVOL at the next tick (MANUAL mode's only trigger; in AUTO an extra run). */
export function requestRelocation(extents: ExtentStore, vvolId: string): void {
  const state = stateOf(extents);
  const vol = state.volumes.get(vvolId);
  if (vol) vol.cycle.relocateNow();
  else state.requested.add(vvolId);
}

/**
 * Admission: each tier minimum of a DATA VVOL, ⌊min%·its capacity in extents⌋, must fit the pool tier's
 * capacity less the extents other VVOLs hold on it (its own extents there are room it keeps); else
 * INFEASIBLE with the numbers. One statement.
 */
export async function policyApplied(ctx: PolicyContext, vvol: VirtualVolumeRow, rules: PolicyRule[]): Promise<PolicyOutcome> {
  if (!isTiered(rules)) {
    stateOf(ctx.extents).volumes.delete(vvol.id);
    return;
  }
  if (vvol.type !== 'DATA' || vvol.snapshotId !== null) return;
  const bounds = boundsFromRules(rules);
  if (tiers.every((t) => bounds[t].min <= 0)) return;
  const extentBytes = ctx.extents.extentBytes;
  // What the pool's other VVOLs take of each tier: the extents they hold there, or their own policy's
  // minimum there if that is more (an admitted minimum, earlier in this reconciling pass too, is a reservation even before it is filled).
  const rows = resultRows<{ name: string; tier: Tier; capacity: string; others: string }>(await ctx.tx.execute(sql`
    select p.name, t.tier::text as tier, t.capacity_bytes::text as capacity,
      (select coalesce(sum(greatest(
          (select count(*) from extents e where e.vvol_id = v.id and e.tier = t.tier),
          case when v.type = 'DATA' and v.snapshot_id is null and ${holdsPolicy('v', ctx.reconciled)} then coalesce(floor((min.value #>> '{}')::numeric * ceil(v.provisioned_bytes::numeric / ${extentBytes}) / 100), 0) else 0 end
        )), 0)
        from virtual_volumes v join storage_containers vc on vc.id = v.container_id
        left join policy_rules min on min.policy_id = v.policy_id
          and min.capability_id = 'nec.po.' || lower(replace(t.tier::text, '_', '')) || 'MinPercent'
        where vc.pool_id = p.id and v.id <> ${vvol.id}::uuid)::text as others
    from storage_containers c join storage_pools p on p.id = c.pool_id join pool_tiers t on t.pool_id = p.id
    where c.id = ${vvol.containerId}::uuid`));
  const capacityExtents = ctx.extents.extentCount(vvol.provisionedBytes);
  const poolName = rows[0]?.name ?? 'of the container';
  for (const t of tiers) {
    const min = bounds[t].min;
    if (min <= 0) continue;
    const need = Math.floor((min * capacityExtents) / 100);
    const row = rows.find((r) => r.tier === t);
    const free = row ? Math.max(0, Math.floor(Number(row.capacity) / extentBytes) - Number(row.others)) : 0;
    if (need > free) {
      return { infeasible: `nec.po.${ruleKeys[t]}MinPercent: ${min} % of ${capacityExtents} extents needs ${need} extents on ${t}, but pool ${poolName} has ${free} ${t} extents free` };
    }
  }
}

/** A deleted VVOL's heat and cycle go with it. */
export function vvolDeleted(ctx: LifecycleContext, vvol: VirtualVolumeRow): void {
  const state = stateOf(ctx.extents);
  state.volumes.delete(vvol.id);
  state.requested.delete(vvol.id);
}
