import type { AlarmChange, ComplianceContext, ComplianceViolation, ExtentStore, PolicyRule, TickContext, UnitOfWork, VirtualVolumeRow } from '../../core/plugin.ts';
import { allocate, type Claim, type Priority } from './allocate.ts';

export interface Limits {
  lowerLimit: number;
  upperLimit: number;
  priority: Priority;
  /** Report (an event) when the volume starts and stops being held at its upper limit. */
  upperReport: boolean;
}

/** Limits by rules array: a policy's rules are one array shared by its VVOLs from tick to tick, so each is read once. */
const limitsByRules = new WeakMap<readonly PolicyRule[], Limits>();

/** The nec.iolm rules of a policy, with NEC's defaults (0 = no limit, MEDIUM). */
export function limitsOf(rules: readonly PolicyRule[]): Limits {
  let limits = limitsByRules.get(rules);
  if (!limits) limitsByRules.set(rules, (limits = readLimits(rules)));
  return limits;
}

function readLimits(rules: readonly PolicyRule[]): Limits {
  const value = (id: string) => rules.find((r) => r.capabilityId === `nec.iolm.${id}`)?.value;
  return {
    lowerLimit: (value('lowerLimit') as number | undefined) ?? 0,
    upperLimit: (value('upperLimit') as number | undefined) ?? 0,
    priority: (value('priority') as Priority | undefined) ?? 'MEDIUM',
    upperReport: value('upperReport') === true,
  };
}

/** What the schedule phase remembers between ticks, so that it writes an alarm or a report only when it changes. */
interface ScheduleMemory {
  /** Per pool, the message of its alarm while its lower limits exceed its capacity, null once they do not. */
  overcommitted: Map<string, string | null>;
  /** VVOLs with upperReport that the last tick held at their upper limit. */
  heldAtUpper: Set<string>;
}

/**
 * The memory as of the last committed tick, per core (one ExtentStore each: two apps in one process never
 * share it). A tick that rolls back must leave it as it was, or it would claim an alarm written that the
 * rollback took away, and the alarm would not be written again until the pool changed back and forth.
 */
const committedMemory = new WeakMap<ExtentStore, ScheduleMemory>();
/** The copy a transaction works on (an advance's ticks share one); it replaces the committed one on commit. */
const memoryInTransaction = new WeakMap<UnitOfWork, ScheduleMemory>();

function memoryOf(ctx: TickContext): ScheduleMemory {
  let memory = memoryInTransaction.get(ctx.work);
  if (!memory) {
    const committed = committedMemory.get(ctx.extents);
    const copy: ScheduleMemory = { overcommitted: new Map(committed?.overcommitted), heldAtUpper: new Set(committed?.heldAtUpper) };
    memoryInTransaction.set(ctx.work, (memory = copy));
    ctx.work.afterCommit(() => committedMemory.set(ctx.extents, copy));
  }
  return memory;
}

/**
 * The schedule phase: per pool, the exact allocation of its IOPS between its VVOLs (lower limits,
 * then priority shares, capped by upper limits and demand); what is not allocated is throttled.
 */
export async function schedule(ctx: TickContext): Promise<void> {
  const { overcommitted, heldAtUpper } = memoryOf(ctx);
  const alarms: AlarmChange[] = [];
  // Every pool, busy or not, so that an alarm clears once its VVOLs stop asking.
  const byPool = new Map<string, TickContext['io']>([...ctx.poolIops.keys()].map((id) => [id, []]));
  for (const io of ctx.io) byPool.get(io.poolId)?.push(io);
  for (const [poolId, volumes] of byPool) {
    const capacity = ctx.poolIops.get(poolId) ?? 0;
    const claims: Claim[] = volumes.map((io) => {
      const { lowerLimit, upperLimit, priority } = limitsOf(io.rules);
      return { demand: io.readIops + io.writeIops, lower: lowerLimit, upper: upperLimit, priority };
    });
    const served = allocate(capacity, claims);
    volumes.forEach((io, i) => (io.servedIops = Math.min(io.servedIops, served[i])));
    reportUpperLimits(ctx, volumes, heldAtUpper);

    const reserved = claims.reduce((sum, c) => sum + Math.min(c.lower, c.demand), 0);
    const over = reserved > capacity;
    // Set again whenever its figures change while over, so they are the tick's; cleared once when it stops (and
    // once after a start, for an alarm raised before it).
    const message = over ? `IO Load Manager: lower limits in demand (${Math.round(reserved)} IOPS) exceed the pool's ${capacity} IOPS; they are cut in proportion` : null;
    if (message !== overcommitted.get(poolId)) {
      overcommitted.set(poolId, message);
      alarms.push({
        kind: 'CAPABILITY',
        entityType: 'StoragePool',
        entityId: poolId,
        status: over ? 'RED' : 'GREEN',
        message: message ?? `IO Load Manager: the pool's ${capacity} IOPS cover its lower limits again`,
      });
    }
  }
  await ctx.work.setAlarms(alarms);
  if (heldAtUpper.size > 0) {
    const running = new Set(ctx.io.map((io) => io.vvolId));
    for (const id of heldAtUpper) if (!running.has(id)) heldAtUpper.delete(id);
  }
}

/**
 * upperReport: an event when a VVOL starts being held at its upper limit (asking more and served exactly
 * that, not less because the pool is contended) and one when it stops. Edges only, not every tick. A VVOL
 * that leaves the tick's I/O (its VM stopped) is forgotten without a report: it asks for nothing.
 */
function reportUpperLimits(ctx: TickContext, volumes: TickContext['io'], heldAtUpper: Set<string>): void {
  for (const io of volumes) {
    const { upperLimit, upperReport } = limitsOf(io.rules);
    const demand = io.readIops + io.writeIops;
    const held = upperReport && upperLimit > 0 && demand > upperLimit && io.servedIops >= upperLimit - 1e-6;
    if (held === heldAtUpper.has(io.vvolId)) continue;
    if (held) heldAtUpper.add(io.vvolId);
    else heldAtUpper.delete(io.vvolId);
    ctx.work.emit(held
      ? { kind: 'iolm.upperLimitReached', entityType: 'VirtualVolume', entityId: io.vvolId, message: `VVOL ${io.vvolId} is held at its upper limit of ${upperLimit} IOPS (asking ${Math.round(demand)})`, data: { upperLimit, demandIops: demand } }
      : { kind: 'iolm.upperLimitReleased', entityType: 'VirtualVolume', entityId: io.vvolId, message: `VVOL ${io.vvolId} is no longer held at its upper limit`, data: { upperLimit, demandIops: demand } });
  }
}

/** NON_COMPLIANT when, at the last tick, a VVOL asked for at least its lower limit and was served less. */
export function compliance(ctx: ComplianceContext, items: { vvol: VirtualVolumeRow; rules: PolicyRule[] }[]): Map<string, ComplianceViolation[]> {
  const result = new Map<string, ComplianceViolation[]>();
  for (const { vvol, rules } of items) {
    const { lowerLimit } = limitsOf(rules);
    const sample = ctx.lastIo(vvol.id);
    if (lowerLimit === 0 || !sample) continue;
    const demand = sample.servedIops + sample.throttledIops;
    if (demand >= lowerLimit && sample.servedIops < lowerLimit - 1e-6) {
      result.set(vvol.id, [{
        capabilityId: 'nec.iolm.lowerLimit',
        expected: `${lowerLimit} IOPS`,
        current: `${Math.floor(sample.servedIops)} IOPS`,
        message: `Served ${Math.floor(sample.servedIops)} of a guaranteed ${lowerLimit} IOPS while asking for ${Math.round(demand)}`,
      }]);
    }
  }
  return result;
}
