import { sql } from 'drizzle-orm';
import { pgArray, resultRows, type ComplianceContext, type ComplianceViolation, type PolicyRule, type VirtualVolumeRow } from '../../core/plugin.ts';
import { isTiered } from './engine.ts';
import { boundsFromRules, extentLimits, ruleKeys, tiers, type Tier } from './tiering.ts';

/**
 * NON_COMPLIANT where a DATA VVOL's extents break its policy as the planner judges a placement (and
 * repairs it first, within the budget): more extents on a tier than its maximum, or tier minimums short
 * by more than the VVOL's unwritten capacity could still fill (unwritten extents can be placed anywhere,
 * so a sparse VVOL is not behind on a minimum it has not written enough to fill). Admission keeps the
 * minimums the pool cannot hold out (INFEASIBLE); what this reports is a placement relocation has not
 * reached yet: after a policy change, in MANUAL mode until relocateNow, or while the budget runs out.
 * One statement.
 */
export async function compliance(ctx: ComplianceContext, items: { vvol: VirtualVolumeRow; rules: PolicyRule[] }[]): Promise<Map<string, ComplianceViolation[]>> {
  const judged = items.filter(({ vvol, rules }) => vvol.type === 'DATA' && vvol.snapshotId === null && isTiered(rules));
  const result = new Map<string, ComplianceViolation[]>();
  if (judged.length === 0) return result;
  const rows = resultRows<{ vvol_id: string; tier: Tier; extents: number }>(await ctx.db.execute(sql`
    select vvol_id::text as vvol_id, tier::text as tier, count(*)::int as extents from extents
    where vvol_id = any(${pgArray(judged.map(({ vvol }) => vvol.id))}::uuid[]) group by vvol_id, tier`));
  const placed = new Map<string, number[]>();
  for (const r of rows) {
    const counts = placed.get(r.vvol_id) ?? [0, 0, 0];
    counts[tiers.indexOf(r.tier)] += Number(r.extents);
    placed.set(r.vvol_id, counts);
  }
  for (const { vvol, rules } of judged) {
    const counts = placed.get(vvol.id) ?? [0, 0, 0];
    const written = counts[0] + counts[1] + counts[2];
    const capacity = ctx.extents.extentCount(vvol.provisionedBytes);
    const bounds = boundsFromRules(rules);
    const limits = extentLimits(Math.max(capacity, written), bounds);
    const violations: ComplianceViolation[] = [];
    tiers.forEach((t, l) => {
      if (counts[l] <= limits.max[l]) return;
      violations.push({
        capabilityId: `nec.po.${ruleKeys[t]}MaxPercent`,
        expected: `at most ${limits.max[l]} extents on ${t} (${bounds[t].max} % of ${capacity})`,
        current: `${counts[l]} extents on ${t}`,
        message: `${counts[l] - limits.max[l]} extent(s) over the ${t} maximum, until relocation moves them`,
      });
    });
    const short = tiers.map((_, l) => Math.max(0, Math.min(limits.min[l], limits.max[l]) - counts[l]));
    const unwritten = Math.max(0, capacity - written);
    if (short.reduce((sum, s) => sum + s, 0) > unwritten) {
      tiers.forEach((t, l) => {
        if (short[l] === 0) return;
        violations.push({
          capabilityId: `nec.po.${ruleKeys[t]}MinPercent`,
          expected: `at least ${limits.min[l]} extents on ${t} (${bounds[t].min} % of ${capacity})`,
          current: `${counts[l]} extents on ${t}`,
          message: `${short[l]} extent(s) short of the ${t} minimum, more than the ${unwritten} unwritten extent(s) can still fill, until relocation moves them`,
        });
      });
    }
    if (violations.length > 0) result.set(vvol.id, violations);
  }
  return result;
}
