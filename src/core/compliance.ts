import type { Core } from './core.ts';
import type { Executor } from './db/client.ts';
import type { ComplianceViolation, IoSample, PolicyRule, StorageContainerRow, VirtualVolumeRow } from './plugin.ts';

export type ComplianceStatus = 'COMPLIANT' | 'NON_COMPLIANT' | 'UNKNOWN' | 'NOT_APPLICABLE' | 'OUT_OF_DATE';

export interface Compliance {
  status: ComplianceStatus;
  violations: ComplianceViolation[];
}

/** Worst first: a VM is as compliant as its least compliant VVOL. */
const severity: ComplianceStatus[] = ['NON_COMPLIANT', 'OUT_OF_DATE', 'UNKNOWN', 'COMPLIANT', 'NOT_APPLICABLE'];

export function worstOf(results: Compliance[]): Compliance {
  if (results.length === 0) return { status: 'NOT_APPLICABLE', violations: [] };
  const status = severity.find((s) => results.some((r) => r.status === s))!;
  return { status, violations: results.flatMap((r) => r.violations) };
}

/** Where compliance gets what it judges from: the caller's batched lookups (a request's loaders). */
export interface ComplianceSources {
  db: Executor;
  rules(policyIds: string[]): Promise<PolicyRule[][]>;
  containers(containerIds: string[]): Promise<StorageContainerRow[]>;
  lastIo(vvolId: string): IoSample | undefined;
}

/**
 * SPBM compliance of many VVOLs with a fixed number of statements: the core checks each rule against
 * the VVOL's container; each plugin judges its own capabilities through its `compliance` hook.
 */
export async function judgeCompliance(core: Core, sources: ComplianceSources, vvols: readonly VirtualVolumeRow[]): Promise<Map<string, Compliance>> {
  const { db, lastIo } = sources;
  const policyIds = [...new Set(vvols.map((v) => v.policyId))];
  const rules = new Map((await sources.rules(policyIds)).map((r, i) => [policyIds[i], r]));
  const containers = new Map((await sources.containers([...new Set(vvols.map((v) => v.containerId))])).map((c) => [c.id, c]));
  const result = new Map<string, Compliance>();
  const judged: { vvol: VirtualVolumeRow; rules: PolicyRule[] }[] = [];
  for (const vvol of vvols) {
    const policyRules = rules.get(vvol.policyId) ?? [];
    if (policyRules.length === 0) {
      result.set(vvol.id, { status: 'NOT_APPLICABLE', violations: [] });
    } else if (vvol.policyState === 'PENDING' || vvol.policyState === 'IN_PROGRESS') {
      result.set(vvol.id, { status: 'OUT_OF_DATE', violations: [] });
    } else if (vvol.policyState === 'INFEASIBLE') {
      result.set(vvol.id, { status: 'NON_COMPLIANT', violations: [{ capabilityId: 'policy', expected: `generation ${vvol.policyGeneration} applied`, current: 'INFEASIBLE', message: vvol.policyReason ?? 'The policy cannot be applied' }] });
    } else {
      const container = containers.get(vvol.containerId)!;
      const violations = policyRules
        .map((rule) => ({ rule, check: core.registry.checkRuleOnContainer(rule, container) }))
        .filter(({ check }) => !check.pass)
        .map(({ rule, check }) => ({ capabilityId: rule.capabilityId, expected: JSON.stringify(rule.value), current: JSON.stringify(container.offers[rule.capabilityId] ?? null), message: check.reason }));
      result.set(vvol.id, { status: violations.length > 0 ? 'NON_COMPLIANT' : 'COMPLIANT', violations });
      judged.push({ vvol, rules: policyRules });
    }
  }
  for (const plugin of core.plugins) {
    if (!plugin.hooks?.compliance || judged.length === 0) continue;
    const items = judged.map((j) => ({ vvol: j.vvol, rules: core.rulesOf(plugin, j.rules) })).filter((i) => i.rules.length > 0);
    if (items.length === 0) continue;
    let verdicts: Map<string, ComplianceViolation[]>;
    try {
      // A plain-JavaScript judge that returns nothing found nothing wrong.
      verdicts = (await plugin.hooks.compliance({ db, lastIo, extents: core.extents, pairs: core.pairs }, items)) ?? new Map();
      if (!(verdicts instanceof Map)) throw new Error('compliance must return a Map of violations by VVOL id');
    } catch (error) {
      // One judge failing must not take the core's and the other plugins' verdicts down with it (they are
      // judged in one batch for the whole request): its own capabilities become UNKNOWN, saying why.
      console.error(`compliance hook of ${plugin.name} failed`, error);
      for (const { vvol, rules } of items) unknown(result, vvol.id, rules, `${plugin.name} could not judge it: ${error instanceof Error ? error.message : String(error)}`);
      continue;
    }
    for (const { vvol } of items) {
      const violations = verdicts.get(vvol.id) ?? [];
      if (violations.length === 0) continue;
      const current = result.get(vvol.id)!;
      result.set(vvol.id, { status: 'NON_COMPLIANT', violations: [...current.violations, ...violations] });
    }
  }
  return result;
}

/** Marks rules no judge could tell about: the VVOL is UNKNOWN unless it is already known to be NON_COMPLIANT. */
function unknown(result: Map<string, Compliance>, vvolId: string, rules: PolicyRule[], message: string): void {
  const current = result.get(vvolId)!;
  const violations = rules.map((rule) => ({ capabilityId: rule.capabilityId, expected: JSON.stringify(rule.value), current: 'unknown', message }));
  result.set(vvolId, { status: current.status === 'NON_COMPLIANT' ? 'NON_COMPLIANT' : 'UNKNOWN', violations: [...current.violations, ...violations] });
}
