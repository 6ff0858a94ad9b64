import type { CapabilityNamespace, PolicyRule, RuleViolation } from '../../core/plugin.ts';
import { priorities } from './allocate.ts';

/** NEC's limits are 0 (none) or 10..1,000,000 IOPS; the generic range check admits 1..9, so they are refused here. */
const SMALLEST_LIMIT = 10;

export const capabilities: CapabilityNamespace & Required<Pick<CapabilityNamespace, 'validate'>> = {
  namespace: 'nec.iolm',
  items: [
    { id: 'nec.iolm.upperLimit', name: 'Upper IOPS limit', summary: 'Most IOPS the volume may use; 0 = no limit', valueType: 'INT', unit: 'IOPS', min: 0, max: 1_000_000, default: 0, lineOfService: 'DATASTORE_IO_CONTROL' },
    { id: 'nec.iolm.lowerLimit', name: 'Lower IOPS limit', summary: 'IOPS guaranteed to the volume while the pool is contended; 0 = no limit', valueType: 'INT', unit: 'IOPS', min: 0, max: 1_000_000, default: 0, lineOfService: 'DATASTORE_IO_CONTROL' },
    { id: 'nec.iolm.priority', name: 'Priority', summary: 'Weight of the volume when pool IOPS left after lower limits are shared', valueType: 'ENUM', allowedValues: [...priorities], default: 'MEDIUM', lineOfService: 'DATASTORE_IO_CONTROL' },
    { id: 'nec.iolm.upperReport', name: 'Upper limit report', summary: 'Report when the volume is throttled at its upper limit', valueType: 'BOOLEAN', default: false, lineOfService: 'DATASTORE_IO_CONTROL' },
  ],
  validate(rules: PolicyRule[]): RuleViolation[] {
    const violations: RuleViolation[] = [];
    const limits = new Map<string, number>();
    for (const id of ['nec.iolm.upperLimit', 'nec.iolm.lowerLimit']) {
      const value = rules.find((r) => r.capabilityId === id)?.value as number | undefined;
      if (value === undefined) continue;
      limits.set(id, value);
      if (value > 0 && value < SMALLEST_LIMIT) {
        violations.push({ capabilityId: id, message: `${id} (${value}) must be 0 (no limit) or between ${SMALLEST_LIMIT} and 1000000 IOPS` });
      }
    }
    const upper = limits.get('nec.iolm.upperLimit') ?? 0;
    const lower = limits.get('nec.iolm.lowerLimit') ?? 0;
    if (upper > 0 && lower > upper) {
      violations.push({ capabilityId: 'nec.iolm.lowerLimit', message: `nec.iolm.lowerLimit (${lower}) must not exceed nec.iolm.upperLimit (${upper})` });
    }
    return violations;
  },
};
