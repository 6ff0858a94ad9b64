import type { CapabilityNamespace, PolicyRule, RuleViolation } from '../../core/plugin.ts';
import { cacheModes } from './cache.ts';

export const capabilities: CapabilityNamespace & Required<Pick<CapabilityNamespace, 'validate'>> = {
  namespace: 'nec.pc',
  items: [
    { id: 'nec.pc.enabled', name: 'L2 cache', summary: "Use the pool's SSD as a second-level cache for the volume", valueType: 'BOOLEAN', default: false, lineOfService: 'CACHING' },
    { id: 'nec.pc.capacityGiB', name: 'Cache capacity', summary: 'SSD cache space reserved for the volume', valueType: 'INT', unit: 'GiB', min: 1, max: 4096, lineOfService: 'CACHING' },
    { id: 'nec.pc.mode', name: 'Cache mode', summary: 'READ_ONLY caches reads; READ_WRITE also absorbs writes', valueType: 'ENUM', allowedValues: [...cacheModes], default: 'READ_ONLY', lineOfService: 'CACHING' },
  ],
  validate(rules: PolicyRule[]): RuleViolation[] {
    const enabled = rules.find((r) => r.capabilityId === 'nec.pc.enabled')?.value;
    if (enabled !== true) {
      return rules
        .filter((r) => r.capabilityId !== 'nec.pc.enabled')
        .map((r) => ({
          capabilityId: r.capabilityId,
          message: `${r.capabilityId} (${String(r.value)}) requires nec.pc.enabled to be true, but it is ${enabled === false ? 'false' : 'not set'}`,
        }));
    }
    return rules.some((r) => r.capabilityId === 'nec.pc.capacityGiB')
      ? []
      : [{ capabilityId: 'nec.pc.enabled', message: 'nec.pc.enabled (true) requires nec.pc.capacityGiB' }];
  },
};
