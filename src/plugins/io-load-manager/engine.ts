import type { ComplianceContext, ComplianceViolation, ExtentStore, PolicyRule, TickContext, UnitOfWork, VirtualVolumeRow } from '../../core/plugin.ts';
import { allocate, type Claim, type Priority } from './allocate.ts';

export interface Limits {
  lowerLimit: number;
  upperLimit: number;
  priority: Priority;
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
  };
}

/** What the schedule phase remembers between ticks, so that it writes an alarm only when it changes. */
interface ScheduleMemory {
  /** Pools whose lower limits exceeded their capacity at the last tick. */
  overcommitted: Map<string, boolean>;
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
    const copy: ScheduleMemory = { overcommitted: new Map(committed?.overcommitted) };
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
  const { overcommitted } = memoryOf(ctx);
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

    const reserved = claims.reduce((sum, c) => sum + Math.min(c.lower, c.demand), 0);
    const over = reserved > capacity;
    if (overcommitted.get(poolId) !== over) {
      overcommitted.set(poolId, over);
      await ctx.work.setAlarm({
        kind: 'CAPABILITY',
        entityType: 'StoragePool',
        entityId: poolId,
        status: over ? 'RED' : 'GREEN',
        message: over
          ? `IO Load Manager: lower limits in demand (${Math.round(reserved)} IOPS) exceed the pool's ${capacity} IOPS; they are cut in proportion`
          : `IO Load Manager: the pool's ${capacity} IOPS cover its lower limits again`,
      });
    }
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
