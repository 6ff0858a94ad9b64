import type { CapabilityNamespace, PolicyRule, RuleViolation } from '../../core/plugin.ts';

export const capabilities: CapabilityNamespace & Required<Pick<CapabilityNamespace, 'validate'>> = {
  namespace: 'nec.rdr',
  items: [
    { id: 'nec.rdr.replica', name: 'Remote replica', summary: 'Pair the volume (MV) with a replica volume (RV) on an array at another site', valueType: 'BOOLEAN', default: false, lineOfService: 'REPLICATION' },
    { id: 'nec.rdr.copyControl', name: 'Copy control', summary: 'SYNC acknowledges writes once on the RV; SEMI_SYNC and BACKGROUND copy after the write', valueType: 'ENUM', allowedValues: ['SYNC', 'SEMI_SYNC', 'BACKGROUND'], default: 'BACKGROUND', lineOfService: 'REPLICATION' },
    { id: 'nec.rdr.rpoSeconds', name: 'Recovery point objective', summary: 'Most data, in seconds of writes, the remote replica may lag behind', valueType: 'INT', unit: 's', min: 0, max: 86_400, default: 300, lineOfService: 'REPLICATION' },
    { id: 'nec.rdr.targetSite', name: 'Target site', summary: 'Site of the array that holds the replica', valueType: 'STRING', lineOfService: 'REPLICATION' },
  ],
  validate(rules: PolicyRule[]): RuleViolation[] {
    const valueOf = (id: string) => rules.find((r) => r.capabilityId === id)?.value;
    const violations: RuleViolation[] = [];
    const replica = valueOf('nec.rdr.replica');
    if (replica !== true) {
      for (const r of rules) {
        if (r.capabilityId === 'nec.rdr.replica') continue;
        violations.push({
          capabilityId: r.capabilityId,
          message: `${r.capabilityId} (${String(r.value)}) requires nec.rdr.replica to be true, but it is ${replica === false ? 'false' : 'not set'}`,
        });
      }
    }
    const copyControl = valueOf('nec.rdr.copyControl');
    if (valueOf('nec.rdr.rpoSeconds') === 0 && copyControl !== 'SYNC') {
      violations.push({
        capabilityId: 'nec.rdr.rpoSeconds',
        message: `nec.rdr.rpoSeconds (0) requires nec.rdr.copyControl SYNC, but it is ${copyControl ?? 'BACKGROUND (the default)'}: only synchronous copy has a zero RPO`,
      });
    }
    const targetSite = valueOf('nec.rdr.targetSite');
    if (typeof targetSite === 'string' && targetSite.trim() === '') {
      violations.push({ capabilityId: 'nec.rdr.targetSite', message: `nec.rdr.targetSite must name a site, got ${JSON.stringify(targetSite)}` });
    }
    return violations;
  },
};
