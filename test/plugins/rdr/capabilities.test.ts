import { describe, it, expect } from 'vitest';
import plugin from '../../../src/plugins/rdr/index.ts';
import { capabilities } from '../../../src/plugins/rdr/capabilities.ts';

const rule = (name: string, value: unknown) => ({ capabilityId: `nec.rdr.${name}`, value });
const violation = (name: string, text: string) => ({ capabilityId: `nec.rdr.${name}`, message: expect.stringContaining(text) });

describe('rdr capabilities', () => {
  it('declares its items in nec.rdr', () => {
    const ids = capabilities.items.map((i) => i.id);
    expect(ids).toEqual(['nec.rdr.replica', 'nec.rdr.copyControl', 'nec.rdr.rpoSeconds', 'nec.rdr.targetSite']);
    expect(plugin).toMatchObject({ name: 'rdr', version: '1.0.0', vendor: 'NEC', capabilities });
  });

  it('accepts no replica, and replica settings with replica true', () => {
    expect(capabilities.validate([])).toEqual([]);
    expect(capabilities.validate([rule('replica', false)])).toEqual([]);
    expect(capabilities.validate([rule('replica', true), rule('copyControl', 'SEMI_SYNC'), rule('rpoSeconds', 60), rule('targetSite', 'osaka')])).toEqual([]);
    expect(capabilities.validate([rule('replica', true), rule('copyControl', 'SYNC'), rule('rpoSeconds', 300)])).toEqual([]);
    expect(capabilities.validate([rule('replica', true), rule('copyControl', 'SYNC'), rule('rpoSeconds', 0)])).toEqual([]);
  });

  it('refuses replica settings without replica true', () => {
    expect(capabilities.validate([rule('targetSite', 'osaka'), rule('rpoSeconds', 60)])).toEqual([
      violation('targetSite', 'nec.rdr.targetSite (osaka) requires nec.rdr.replica to be true, but it is not set'),
      violation('rpoSeconds', 'nec.rdr.rpoSeconds (60) requires nec.rdr.replica to be true, but it is not set'),
    ]);
    expect(capabilities.validate([rule('replica', false), rule('copyControl', 'SYNC')])).toEqual([
      violation('copyControl', 'nec.rdr.copyControl (SYNC) requires nec.rdr.replica to be true, but it is false'),
    ]);
  });

  it('refuses a zero RPO without synchronous copy', () => {
    expect(capabilities.validate([rule('replica', true), rule('rpoSeconds', 0), rule('copyControl', 'SEMI_SYNC')])).toEqual([
      violation('rpoSeconds', 'nec.rdr.rpoSeconds (0) requires nec.rdr.copyControl SYNC, but it is SEMI_SYNC'),
    ]);
    expect(capabilities.validate([rule('replica', true), rule('rpoSeconds', 0)])).toEqual([
      violation('rpoSeconds', 'nec.rdr.rpoSeconds (0) requires nec.rdr.copyControl SYNC, but it is BACKGROUND (the default)'),
    ]);
  });

  it('refuses a blank target site', () => {
    expect(capabilities.validate([rule('replica', true), rule('targetSite', '   ')])).toEqual([
      violation('targetSite', 'nec.rdr.targetSite must name a site, got "   "'),
    ]);
  });
});
