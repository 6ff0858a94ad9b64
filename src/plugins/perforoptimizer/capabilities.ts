import type { CapabilityDefinition, CapabilityNamespace, PolicyRule, RuleViolation } from '../../core/plugin.ts';

const tiers = [
  { key: 'ssd', label: 'SSD' },
  { key: 'sas', label: 'SAS' },
  { key: 'nlsas', label: 'NL-SAS' },
] as const;

const ratio = (id: string, name: string, summary: string, fallback: number): CapabilityDefinition => ({
  id, name, summary, valueType: 'INT', unit: '%', min: 0, max: 100, default: fallback, lineOfService: 'PERSISTENCE',
});

const items: CapabilityDefinition[] = [
  ...tiers.flatMap(({ key, label }) => [
    ratio(`nec.po.${key}MinPercent`, `${label} minimum`, `Least share of the volume's capacity kept on ${label}`, 0),
    ratio(`nec.po.${key}MaxPercent`, `${label} maximum`, `Largest share of the volume's capacity allowed on ${label}`, 100),
  ]),
  { id: 'nec.po.analysisIntervalMinutes', name: 'Analysis interval', summary: 'How often extent access is analysed and a relocation planned', valueType: 'INT', unit: 'min', min: 1, max: 1440, default: 5, lineOfService: 'PERSISTENCE' },
  { id: 'nec.po.executionMode', name: 'Execution mode', summary: 'AUTO relocates after each analysis; MANUAL only when an operator starts it', valueType: 'ENUM', allowedValues: ['AUTO', 'MANUAL'], default: 'AUTO', lineOfService: 'PERSISTENCE' },
];

export const capabilities: CapabilityNamespace & Required<Pick<CapabilityNamespace, 'validate'>> = {
  namespace: 'nec.po',
  items,
  validate(rules: PolicyRule[]): RuleViolation[] {
    const given = (id: string) => rules.some((r) => r.capabilityId === id);
    const valueOf = (id: string) =>
      (rules.find((r) => r.capabilityId === id)?.value ?? items.find((i) => i.id === id)!.default) as number;
    const minIds = tiers.map(({ key }) => `nec.po.${key}MinPercent`);
    const maxIds = tiers.map(({ key }) => `nec.po.${key}MaxPercent`);
    const mins = minIds.map(valueOf);
    const maxes = maxIds.map(valueOf);
    const violations: RuleViolation[] = [];
    tiers.forEach((_, i) => {
      if (mins[i] > maxes[i]) {
        violations.push({ capabilityId: minIds[i], message: `${minIds[i]} (${mins[i]}) must not exceed ${maxIds[i]} (${maxes[i]})` });
      }
    });
    // The tier shares of a volume add up to 100 %: the minimums must leave room for it, the maximums must reach it.
    const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
    const terms = (ids: string[], values: number[]) => `${ids.join(' + ')} (${values.join(' + ')} = ${sum(values)} %)`;
    if (sum(mins) > 100) {
      violations.push({ capabilityId: minIds.find(given)!, message: `${terms(minIds, mins)} must not exceed 100 %` });
    }
    if (sum(maxes) < 100) {
      violations.push({ capabilityId: maxIds.find(given)!, message: `${terms(maxIds, maxes)} must be at least 100 %` });
    }
    return violations;
  },
};
