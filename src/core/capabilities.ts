import type { ValidationIssue, RuleCheck } from './errors.ts';
import { linesOfService, valueTypes, type CapabilityDefinition, type CapabilityNamespace, type PolicyRule, type RuleViolation, type StorageContainerRow } from './plugin.ts';

export interface RegisteredNamespace extends CapabilityNamespace {
  plugin: string;
}

export type Capability = CapabilityDefinition & { namespace: string };

const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

function describe(value: unknown): string {
  return JSON.stringify(value);
}

/** Every capability namespace (the core's `vasa` and each plugin's), and the rules' checks against them. */
export class CapabilityRegistry {
  readonly namespaces = new Map<string, RegisteredNamespace>();
  readonly capabilities = new Map<string, Capability>();

  register(plugin: string, namespace: CapabilityNamespace): void {
    if (typeof namespace.namespace !== 'string' || namespace.namespace === '' || !Array.isArray(namespace.items)) {
      throw new Error(`Plugin ${plugin}: capabilities must have a namespace and a list of items`);
    }
    if (namespace.validate !== undefined && typeof namespace.validate !== 'function') throw new Error(`Plugin ${plugin}: capabilities.validate must be a function`);
    if (this.namespaces.has(namespace.namespace)) {
      throw new Error(`Capability namespace ${namespace.namespace} of ${plugin} is already registered by ${this.namespaces.get(namespace.namespace)!.plugin}`);
    }
    for (const item of namespace.items) {
      if (typeof item.id !== 'string' || !item.id.startsWith(`${namespace.namespace}.`)) throw new Error(`Capability ${item.id} is not in namespace ${namespace.namespace}`);
      if (this.capabilities.has(item.id)) throw new Error(`Capability ${item.id} is registered twice`);
      const capability = { ...item, namespace: namespace.namespace };
      const problem = this.metadataProblem(capability);
      if (problem) throw new Error(`Capability ${item.id} of ${plugin}: ${problem}`);
      this.capabilities.set(item.id, capability);
    }
    this.namespaces.set(namespace.namespace, { ...namespace, plugin });
  }

  /**
   * What is wrong with a capability's metadata, or null. A plain-JavaScript plugin has no type check: an
   * unknown value type would accept any value and, like an unknown line of service, fail every
   * capabilityNamespaces query; a default outside the capability's own range would be offered to clients.
   */
  private metadataProblem(capability: Capability): string | null {
    const { name, summary, valueType, lineOfService, unit, min, max, allowedValues } = capability;
    if (typeof name !== 'string' || name === '' || typeof summary !== 'string') return 'name and summary must be strings, name not empty';
    if (!valueTypes.includes(valueType)) return `valueType must be one of ${valueTypes.join(', ')}, got ${describe(valueType)}`;
    if (!linesOfService.includes(lineOfService)) return `lineOfService must be one of ${linesOfService.join(', ')}, got ${describe(lineOfService)}`;
    if (unit !== undefined && typeof unit !== 'string') return `unit must be a string, got ${describe(unit)}`;
    for (const [key, bound] of [['min', min], ['max', max]] as const) {
      if (bound !== undefined && !isNumber(bound)) return `${key} must be a number, got ${describe(bound)}`;
    }
    if (min !== undefined && max !== undefined && min > max) return `min (${min}) exceeds max (${max})`;
    if (allowedValues !== undefined && !(Array.isArray(allowedValues) && allowedValues.every((v) => typeof v === 'string'))) return 'allowedValues must be a list of strings';
    if (valueType === 'ENUM' && !allowedValues?.length) return 'an ENUM needs allowedValues';
    const badDefault = capability.default === undefined ? null : this.checkValue(capability, capability.default);
    return badDefault && `its default does not fit: ${badDefault}`;
  }

  namespaceOf(capabilityId: string): string | undefined {
    return this.capabilities.get(capabilityId)?.namespace;
  }

  /** Why `value` is not a valid value of `capability`, or null when it is. */
  checkValue(capability: Capability, value: unknown): string | null {
    const { id, min, max } = capability;
    const bounds = (n: number) =>
      (min !== undefined && n < min) || (max !== undefined && n > max)
        ? `${id} must be between ${min ?? '-inf'} and ${max ?? 'inf'}${capability.unit ? ` ${capability.unit}` : ''}, got ${n}`
        : null;
    switch (capability.valueType) {
      case 'BOOLEAN':
        return typeof value === 'boolean' ? null : `${id} takes true or false, got ${describe(value)}`;
      case 'INT':
        return Number.isSafeInteger(value) ? bounds(value as number) : `${id} takes an integer, got ${describe(value)}`;
      case 'FLOAT':
        return isNumber(value) ? bounds(value) : `${id} takes a number, got ${describe(value)}`;
      case 'STRING':
        return typeof value === 'string' && value.length > 0 ? null : `${id} takes a non-empty string, got ${describe(value)}`;
      case 'ENUM':
        return typeof value === 'string' && capability.allowedValues?.includes(value)
          ? null
          : `${id} takes one of ${capability.allowedValues?.join(', ')}, got ${describe(value)}`;
      case 'RANGE': {
        const range = value as { min?: unknown; max?: unknown } | null;
        if (typeof range !== 'object' || range === null || !isNumber(range.min) || !isNumber(range.max)) {
          return `${id} takes a range {"min": number, "max": number}, got ${describe(value)}`;
        }
        if (range.min > range.max) return `${id}: min (${range.min}) must not exceed max (${range.max})`;
        return bounds(range.min) ?? bounds(range.max);
      }
    }
  }

  /** Every problem of a rule set, each naming its input field (`<prefix>.<i>.capabilityId|value`). */
  validateRules(rules: PolicyRule[], prefix = 'input.rules'): ValidationIssue[] {
    const issues: ValidationIssue[] = [];
    const seen = new Map<string, number>();
    const byNamespace = new Map<string, { rule: PolicyRule; position: number }[]>();
    rules.forEach((rule, position) => {
      const capability = this.capabilities.get(rule.capabilityId);
      if (!capability) {
        issues.push({ field: `${prefix}.${position}.capabilityId`, message: `Unknown capability "${rule.capabilityId}"` });
        return;
      }
      if (seen.has(rule.capabilityId)) {
        issues.push({ field: `${prefix}.${position}.capabilityId`, message: `${rule.capabilityId} appears twice (rules ${seen.get(rule.capabilityId)} and ${position})` });
        return;
      }
      seen.set(rule.capabilityId, position);
      const problem = this.checkValue(capability, rule.value);
      if (problem) {
        issues.push({ field: `${prefix}.${position}.value`, message: problem });
        return;
      }
      const list = byNamespace.get(capability.namespace) ?? [];
      list.push({ rule, position });
      byNamespace.set(capability.namespace, list);
    });
    for (const [name, entries] of byNamespace) {
      const validate = this.namespaces.get(name)!.validate;
      if (!validate) continue;
      // A plain-JavaScript validate that returns nothing found nothing wrong (DESIGN §5 writes `validate(rules) {}`).
      for (const violation of (validate(entries.map((e) => e.rule)) as RuleViolation[] | undefined) ?? []) {
        const position = entries.find((e) => e.rule.capabilityId === violation.capabilityId)?.position ?? entries[0].position;
        issues.push({ field: `${prefix}.${position}.value`, message: violation.message });
      }
    }
    return issues;
  }

  /**
   * Can `container` deliver `rule`? It must support the rule's namespace; where it declares an offer for
   * the capability (a list of values, a {min,max} range, or a boolean), the rule's value must be in it.
   */
  checkRuleOnContainer(rule: PolicyRule, container: Pick<StorageContainerRow, 'name' | 'namespaces' | 'offers'>): RuleCheck {
    const namespace = this.namespaceOf(rule.capabilityId);
    const fail = (reason: string): RuleCheck => ({ capabilityId: rule.capabilityId, pass: false, reason });
    if (!namespace) return fail(`unknown capability ${rule.capabilityId}`);
    if (!container.namespaces.includes(namespace) && !this.namespaces.get(namespace)!.everyContainer) {
      return fail(`${container.name} does not support ${namespace}`);
    }
    const offer = container.offers[rule.capabilityId];
    const pass = (reason: string): RuleCheck => ({ capabilityId: rule.capabilityId, pass: true, reason });
    if (offer === undefined) return pass(`${container.name} supports ${namespace}`);
    if (Array.isArray(offer)) {
      return offer.includes(rule.value)
        ? pass(`${container.name} offers ${describe(rule.value)}`)
        : fail(`${container.name} offers ${offer.map(describe).join(', ')}, not ${describe(rule.value)}`);
    }
    if (typeof offer === 'boolean') {
      return rule.value === true && !offer
        ? fail(`${container.name} does not offer ${rule.capabilityId}`)
        : pass(`${container.name} offers ${rule.capabilityId}: ${offer}`);
    }
    const range = offer as { min: number; max: number };
    const values = typeof rule.value === 'object' && rule.value !== null
      ? [(rule.value as { min: number }).min, (rule.value as { max: number }).max]
      : [rule.value as number];
    return values.every((v) => v >= range.min && v <= range.max)
      ? pass(`${container.name} offers ${range.min}..${range.max}`)
      : fail(`${container.name} offers ${range.min}..${range.max}, not ${describe(rule.value)}`);
  }
}
