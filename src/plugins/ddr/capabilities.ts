import type { CapabilityNamespace, PolicyRule, RuleViolation } from '../../core/plugin.ts';

export const capabilities: CapabilityNamespace & Required<Pick<CapabilityNamespace, 'validate'>> = {
  namespace: 'nec.ddr',
  items: [
    { id: 'nec.ddr.replica', name: 'Local replica', summary: 'Pair the volume (MV) with replica volumes (RV) in the same array', valueType: 'BOOLEAN', default: false, lineOfService: 'REPLICATION' },
    { id: 'nec.ddr.replicaCount', name: 'Replica count', summary: 'Replica volumes paired with the volume', valueType: 'INT', min: 1, max: 3, default: 1, lineOfService: 'REPLICATION' },
    { id: 'nec.ddr.copyControl', name: 'Copy control', summary: 'SYNC writes MV and RV together; BACKGROUND copies to the RV afterwards', valueType: 'ENUM', allowedValues: ['SYNC', 'BACKGROUND'], default: 'BACKGROUND', lineOfService: 'REPLICATION' },
  ],
  validate(rules: PolicyRule[]): RuleViolation[] {
    const replica = rules.find((r) => r.capabilityId === 'nec.ddr.replica')?.value;
    if (replica === true) return [];
    return rules
      .filter((r) => r.capabilityId !== 'nec.ddr.replica')
      .map((r) => ({
        capabilityId: r.capabilityId,
        message: `${r.capabilityId} (${String(r.value)}) requires nec.ddr.replica to be true, but it is ${replica === false ? 'false' : 'not set'}`,
      }));
  },
};
