import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import plugin from '../../../src/plugins/perforoptimizer/index.ts';
import { capabilities } from '../../../src/plugins/perforoptimizer/capabilities.ts';

const rule = (name: string, value: unknown) => ({ capabilityId: `nec.po.${name}`, value });
const violation = (name: string, text: string) => ({ capabilityId: `nec.po.${name}`, message: expect.stringContaining(text) });
const tiers = ['ssd', 'sas', 'nlsas'] as const;

describe('perforoptimizer capabilities', () => {
  it('declares its items in nec.po', () => {
    const ids = capabilities.items.map((i) => i.id);
    expect(ids).toEqual([
      'nec.po.ssdMinPercent', 'nec.po.ssdMaxPercent', 'nec.po.sasMinPercent', 'nec.po.sasMaxPercent',
      'nec.po.nlsasMinPercent', 'nec.po.nlsasMaxPercent', 'nec.po.analysisIntervalMinutes', 'nec.po.executionMode',
    ]);
    expect(plugin).toMatchObject({ name: 'perforoptimizer', version: '1.0.0', vendor: 'NEC', capabilities });
  });

  it('accepts tier ratios that can add up to 100 %, missing ones taking their defaults', () => {
    expect(capabilities.validate([])).toEqual([]);
    expect(capabilities.validate([rule('ssdMinPercent', 20), rule('analysisIntervalMinutes', 60), rule('executionMode', 'MANUAL')])).toEqual([]);
    expect(capabilities.validate([rule('ssdMinPercent', 100), rule('ssdMaxPercent', 100)])).toEqual([]);
    expect(capabilities.validate([rule('ssdMaxPercent', 0), rule('sasMaxPercent', 0)])).toEqual([]);
  });

  it('refuses a tier minimum above its maximum', () => {
    expect(capabilities.validate([rule('sasMinPercent', 60), rule('sasMaxPercent', 40)])).toEqual([
      violation('sasMinPercent', 'nec.po.sasMinPercent (60) must not exceed nec.po.sasMaxPercent (40)'),
    ]);
  });

  it('refuses minimums above 100 % and maximums below 100 % in total', () => {
    expect(capabilities.validate([rule('ssdMinPercent', 60), rule('nlsasMinPercent', 50)])).toEqual([
      violation('ssdMinPercent', 'nec.po.ssdMinPercent + nec.po.sasMinPercent + nec.po.nlsasMinPercent (60 + 0 + 50 = 110 %) must not exceed 100 %'),
    ]);
    expect(capabilities.validate([rule('sasMaxPercent', 30), rule('ssdMaxPercent', 30), rule('nlsasMaxPercent', 30)])).toEqual([
      violation('ssdMaxPercent', 'nec.po.ssdMaxPercent + nec.po.sasMaxPercent + nec.po.nlsasMaxPercent (30 + 30 + 30 = 90 %) must be at least 100 %'),
    ]);
  });

  it('finds no violation exactly when every min <= max and sum(min) <= 100 <= sum(max)', () => {
    const percent = fc.option(fc.integer({ min: 0, max: 100 }), { nil: undefined });
    const tier = fc.record({ min: percent, max: percent });
    fc.assert(
      fc.property(fc.tuple(tier, tier, tier), (given) => {
        const rules = tiers.flatMap((name, i) => [
          ...(given[i].min === undefined ? [] : [rule(`${name}MinPercent`, given[i].min)]),
          ...(given[i].max === undefined ? [] : [rule(`${name}MaxPercent`, given[i].max)]),
        ]);
        const mins = given.map((t) => t.min ?? 0);
        const maxes = given.map((t) => t.max ?? 100);
        const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
        const feasible = mins.every((min, i) => min <= maxes[i]) && sum(mins) <= 100 && sum(maxes) >= 100;
        const violations = capabilities.validate(rules);
        expect(violations.length === 0).toBe(feasible);
        // every violation names a rule that was given, so the registry can point at it
        for (const v of violations) expect(rules.map((r) => r.capabilityId)).toContain(v.capabilityId);
      }),
      { numRuns: 2000 },
    );
  });
});
