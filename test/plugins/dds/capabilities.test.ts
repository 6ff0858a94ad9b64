import { describe, it, expect } from 'vitest';
import plugin from '../../../src/plugins/dds/index.ts';
import { capabilities } from '../../../src/plugins/dds/capabilities.ts';

const rule = (name: string, value: unknown) => ({ capabilityId: `nec.dds.${name}`, value });
const violation = (name: string, text: string) => ({ capabilityId: `nec.dds.${name}`, message: expect.stringContaining(text) });

describe('dds capabilities', () => {
  it('declares its items in nec.dds', () => {
    const ids = capabilities.items.map((i) => i.id);
    expect(ids).toEqual(['nec.dds.backup', 'nec.dds.generations', 'nec.dds.mode', 'nec.dds.dedup', 'nec.dds.intervalMinutes']);
    expect(plugin).toMatchObject({ name: 'dds', version: '1.0.0', vendor: 'NEC', capabilities });
  });

  it('accepts no backup, and backup settings with backup true', () => {
    expect(capabilities.validate([])).toEqual([]);
    expect(capabilities.validate([rule('backup', false)])).toEqual([]);
    expect(capabilities.validate([
      rule('backup', true), rule('generations', 14), rule('mode', 'FULL'), rule('dedup', false), rule('intervalMinutes', 60),
    ])).toEqual([]);
  });

  it('refuses backup settings without backup true', () => {
    expect(capabilities.validate([rule('generations', 14), rule('dedup', false)])).toEqual([
      violation('generations', 'nec.dds.generations (14) requires nec.dds.backup to be true, but it is not set'),
      violation('dedup', 'nec.dds.dedup (false) requires nec.dds.backup to be true, but it is not set'),
    ]);
    expect(capabilities.validate([rule('backup', false), rule('mode', 'FULL'), rule('intervalMinutes', 15)])).toEqual([
      violation('mode', 'nec.dds.mode (FULL) requires nec.dds.backup to be true, but it is false'),
      violation('intervalMinutes', 'nec.dds.intervalMinutes (15) requires nec.dds.backup to be true, but it is false'),
    ]);
  });
});
