import { describe, it, expect } from 'vitest';
import { CapabilityRegistry } from '../../../src/core/capabilities.ts';
import plugin from '../../../src/plugins/io-load-manager/index.ts';
import { capabilities } from '../../../src/plugins/io-load-manager/capabilities.ts';

const rule = (name: string, value: unknown) => ({ capabilityId: `nec.iolm.${name}`, value });
const violation = (name: string, text: string) => ({ capabilityId: `nec.iolm.${name}`, message: expect.stringContaining(text) });

describe('io-load-manager capabilities', () => {
  it('declares its items in nec.iolm', () => {
    const ids = capabilities.items.map((i) => i.id);
    expect(ids).toEqual(['nec.iolm.upperLimit', 'nec.iolm.lowerLimit', 'nec.iolm.priority', 'nec.iolm.upperReport']);
    expect(plugin).toMatchObject({ name: 'io-load-manager', version: '1.0.0', vendor: 'NEC', capabilities });
  });

  it('accepts no limits, one limit, 0 as "no limit" and lower <= upper', () => {
    expect(capabilities.validate([])).toEqual([]);
    expect(capabilities.validate([rule('priority', 'HIGH'), rule('upperReport', true)])).toEqual([]);
    expect(capabilities.validate([rule('lowerLimit', 2000)])).toEqual([]);
    expect(capabilities.validate([rule('lowerLimit', 5000), rule('upperLimit', 0)])).toEqual([]);
    expect(capabilities.validate([rule('lowerLimit', 10), rule('upperLimit', 10)])).toEqual([]);
    expect(capabilities.validate([rule('upperLimit', 1_000_000), rule('lowerLimit', 0)])).toEqual([]);
  });

  it('refuses limits of 1..9 IOPS', () => {
    expect(capabilities.validate([rule('upperLimit', 5)])).toEqual([violation('upperLimit', 'nec.iolm.upperLimit (5) must be 0 (no limit) or between 10 and 1000000 IOPS')]);
    expect(capabilities.validate([rule('lowerLimit', 1), rule('upperLimit', 9)])).toEqual([
      violation('upperLimit', 'nec.iolm.upperLimit (9) must be 0'),
      violation('lowerLimit', 'nec.iolm.lowerLimit (1) must be 0'),
    ]);
  });

  it('refuses a lower limit above the upper limit', () => {
    expect(capabilities.validate([rule('upperLimit', 1000), rule('lowerLimit', 5000)])).toEqual([
      violation('lowerLimit', 'nec.iolm.lowerLimit (5000) must not exceed nec.iolm.upperLimit (1000)'),
    ]);
  });

  it('is reported by the registry at the offending rule', () => {
    const registry = new CapabilityRegistry();
    registry.register('io-load-manager', capabilities);
    expect(registry.validateRules([rule('upperLimit', 1000), rule('priority', 'LOW'), rule('lowerLimit', 5000)])).toEqual([
      { field: 'input.rules.2.value', message: 'nec.iolm.lowerLimit (5000) must not exceed nec.iolm.upperLimit (1000)' },
    ]);
  });
});
