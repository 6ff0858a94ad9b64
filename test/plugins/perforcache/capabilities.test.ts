import { describe, it, expect } from 'vitest';
import plugin from '../../../src/plugins/perforcache/index.ts';
import { capabilities } from '../../../src/plugins/perforcache/capabilities.ts';

const rule = (name: string, value: unknown) => ({ capabilityId: `nec.pc.${name}`, value });
const violation = (name: string, text: string) => ({ capabilityId: `nec.pc.${name}`, message: expect.stringContaining(text) });

describe('perforcache capabilities', () => {
  it('declares its items in nec.pc', () => {
    const ids = capabilities.items.map((i) => i.id);
    expect(ids).toEqual(['nec.pc.enabled', 'nec.pc.capacityGiB', 'nec.pc.mode']);
    expect(plugin).toMatchObject({ name: 'perforcache', version: '1.0.0', vendor: 'NEC', capabilities });
  });

  it('accepts no cache, a disabled cache, and an enabled cache with its capacity', () => {
    expect(capabilities.validate([])).toEqual([]);
    expect(capabilities.validate([rule('enabled', false)])).toEqual([]);
    expect(capabilities.validate([rule('enabled', true), rule('capacityGiB', 64)])).toEqual([]);
    expect(capabilities.validate([rule('enabled', true), rule('capacityGiB', 64), rule('mode', 'READ_WRITE')])).toEqual([]);
  });

  it('refuses capacity or mode while the cache is not enabled', () => {
    expect(capabilities.validate([rule('capacityGiB', 64), rule('mode', 'READ_WRITE')])).toEqual([
      violation('capacityGiB', 'nec.pc.capacityGiB (64) requires nec.pc.enabled to be true, but it is not set'),
      violation('mode', 'nec.pc.mode (READ_WRITE) requires nec.pc.enabled to be true, but it is not set'),
    ]);
    expect(capabilities.validate([rule('enabled', false), rule('mode', 'READ_ONLY')])).toEqual([
      violation('mode', 'nec.pc.mode (READ_ONLY) requires nec.pc.enabled to be true, but it is false'),
    ]);
  });

  it('refuses an enabled cache without a capacity', () => {
    expect(capabilities.validate([rule('enabled', true), rule('mode', 'READ_ONLY')])).toEqual([
      violation('enabled', 'nec.pc.enabled (true) requires nec.pc.capacityGiB'),
    ]);
  });
});
