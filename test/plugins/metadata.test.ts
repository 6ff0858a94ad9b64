import { describe, expect, it } from 'vitest';
import { CapabilityRegistry } from '../../src/core/capabilities.ts';
import type { CapabilityNamespace } from '../../src/core/plugin.ts';
import { vasaPlugin } from '../../src/core/vasa.ts';
import { builtInPlugins } from '../../src/plugins/index.ts';

describe.each([vasaPlugin, ...builtInPlugins].map((p) => [p.name, p] as const))('%s capability metadata', (_name, plugin) => {
  const namespace: CapabilityNamespace = plugin.capabilities!;

  it('registers alongside every other built-in: ids in its namespace, each once', () => {
    const registry = new CapabilityRegistry();
    for (const other of [vasaPlugin, ...builtInPlugins]) registry.register(other.name, other.capabilities!);
    expect(namespace.items.length).toBeGreaterThan(0);
    expect(namespace.items.every((item) => registry.namespaceOf(item.id) === namespace.namespace)).toBe(true);
  });

  it('has a name, a summary and a default the registry accepts for every item, and sane bounds', () => {
    const registry = new CapabilityRegistry();
    for (const item of namespace.items) {
      expect(item.name.length * item.summary.length, item.id).toBeGreaterThan(0);
      if (item.min !== undefined && item.max !== undefined) expect(item.min, item.id).toBeLessThanOrEqual(item.max);
      if (item.valueType === 'ENUM') expect(item.allowedValues?.length, item.id).toBeGreaterThan(1);
      if (item.default !== undefined) expect(registry.checkValue({ ...item, namespace: namespace.namespace }, item.default), item.id).toBeNull();
    }
  });
});
