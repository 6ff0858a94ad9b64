import { describe, it, expect } from 'vitest';
import plugin from '../../../src/plugins/ddr/index.ts';
import { capabilities } from '../../../src/plugins/ddr/capabilities.ts';

const rule = (name: string, value: unknown) => ({ capabilityId: `nec.ddr.${name}`, value });
const violation = (name: string, text: string) => ({ capabilityId: `nec.ddr.${name}`, message: expect.stringContaining(text) });

describe('ddr capabilities', () => {
  it('declares its items in nec.ddr', () => {
    const ids = capabilities.items.map((i) => i.id);
    expect(ids).toEqual(['nec.ddr.replica', 'nec.ddr.replicaCount', 'nec.ddr.copyControl']);
    expect(plugin).toMatchObject({ name: 'ddr', version: '1.0.0', vendor: 'NEC', capabilities });
  });

  it('accepts no replica, and replica settings with replica true', () => {
    expect(capabilities.validate([])).toEqual([]);
    expect(capabilities.validate([rule('replica', false)])).toEqual([]);
    expect(capabilities.validate([rule('replica', true), rule('replicaCount', 3), rule('copyControl', 'SYNC')])).toEqual([]);
  });

  it('refuses replica settings without replica true', () => {
    expect(capabilities.validate([rule('replicaCount', 2), rule('copyControl', 'SYNC')])).toEqual([
      violation('replicaCount', 'nec.ddr.replicaCount (2) requires nec.ddr.replica to be true, but it is not set'),
      violation('copyControl', 'nec.ddr.copyControl (SYNC) requires nec.ddr.replica to be true, but it is not set'),
    ]);
    expect(capabilities.validate([rule('replica', false), rule('copyControl', 'BACKGROUND')])).toEqual([
      violation('copyControl', 'nec.ddr.copyControl (BACKGROUND) requires nec.ddr.replica to be true, but it is false'),
    ]);
  });
});
