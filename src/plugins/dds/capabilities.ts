import type { CapabilityNamespace, PolicyRule, RuleViolation } from '../../core/plugin.ts';

export const capabilities: CapabilityNamespace & Required<Pick<CapabilityNamespace, 'validate'>> = {
  namespace: 'nec.dds',
  items: [
    { id: 'nec.dds.backup', name: 'Direct backup', summary: 'Back the volume up to the HS-series backup array without a backup server', valueType: 'BOOLEAN', default: false, lineOfService: 'DATA_PROTECTION' },
    { id: 'nec.dds.generations', name: 'Generations', summary: 'Backup generations kept on the backup array', valueType: 'INT', min: 1, max: 64, default: 7, lineOfService: 'DATA_PROTECTION' },
    { id: 'nec.dds.mode', name: 'Backup mode', summary: 'FULL copies every extent; DIFFERENTIAL only extents changed since the last backup', valueType: 'ENUM', allowedValues: ['FULL', 'DIFFERENTIAL'], default: 'DIFFERENTIAL', lineOfService: 'DATA_PROTECTION' },
    { id: 'nec.dds.dedup', name: 'Deduplication', summary: 'Store extents already on the backup array only once', valueType: 'BOOLEAN', default: true, lineOfService: 'DATA_PROTECTION' },
    { id: 'nec.dds.intervalMinutes', name: 'Backup interval', summary: 'Time between two backups', valueType: 'INT', unit: 'min', min: 15, max: 10_080, default: 1440, lineOfService: 'DATA_PROTECTION' },
  ],
  validate(rules: PolicyRule[]): RuleViolation[] {
    const backup = rules.find((r) => r.capabilityId === 'nec.dds.backup')?.value;
    if (backup === true) return [];
    return rules
      .filter((r) => r.capabilityId !== 'nec.dds.backup')
      .map((r) => ({
        capabilityId: r.capabilityId,
        message: `${r.capabilityId} (${String(r.value)}) requires nec.dds.backup to be true, but it is ${backup === false ? 'false' : 'not set'}`,
      }));
  },
};
