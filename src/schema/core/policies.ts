import { z } from 'zod';
import { storagePolicies } from '../../core/db/tables.ts';
import type { Capability } from '../../core/capabilities.ts';
import type { Plugin, PolicyRule } from '../../core/plugin.ts';
import { placeAll, type Placement } from '../../core/services/placement.ts';
import { createPolicy, deletePolicy, findPolicy, rulesByPolicy, updatePolicy } from '../../core/services/policies.ts';
import { loadAll } from '../loaders.ts';
import type { Builder } from '../builder.ts';
import { tablePage } from '../connections.ts';
import { decodeId, type SchemaRefs } from '../refs.ts';
import type { Enums } from './enums.ts';
import type { addErrorTypes } from './errors.ts';

const policyName = z.string().trim().min(1, 'name must not be empty').max(80, 'name must be at most 80 characters');

/** Storage policies (SPBM profiles), the capability registry they are checked against, plugins, placement. */
export function addPolicies(builder: Builder, refs: SchemaRefs, enums: Enums, RuleCheck: ReturnType<typeof addErrorTypes>['RuleCheck']): void {
  const CapabilityRef = builder.objectRef<Capability>('Capability').implement({
    description: 'SPBM capability metadata: what a policy rule may ask for.',
    fields: (t) => ({
      id: t.exposeString('id'),
      namespace: t.exposeString('namespace'),
      name: t.exposeString('name'),
      summary: t.exposeString('summary'),
      valueType: t.expose('valueType', { type: enums.ValueType }),
      unit: t.exposeString('unit', { nullable: true }),
      min: t.exposeFloat('min', { nullable: true }),
      max: t.exposeFloat('max', { nullable: true }),
      allowedValues: t.exposeStringList('allowedValues', { nullable: true }),
      default: t.field({ type: 'JSON', nullable: true, resolve: (c) => c.default ?? null }),
      lineOfService: t.expose('lineOfService', { type: enums.LineOfService }),
    }),
  });

  const Namespace = builder.objectRef<{ namespace: string; plugin: string }>('CapabilityNamespace').implement({
    fields: (t) => ({
      namespace: t.exposeString('namespace'),
      plugin: t.exposeString('plugin', { description: 'The plugin that registered it (`vasa` is the core).' }),
      capabilities: t.field({
        type: [CapabilityRef],
        resolve: (ns, _args, ctx) => [...ctx.services.core.registry.capabilities.values()].filter((c) => c.namespace === ns.namespace),
      }),
    }),
  });

  const PluginRef = builder.objectRef<Plugin>('Plugin').implement({
    fields: (t) => ({
      name: t.exposeString('name'),
      version: t.exposeString('version'),
      vendor: t.exposeString('vendor', { nullable: true }),
      description: t.exposeString('description', { nullable: true }),
      after: t.stringList({ resolve: (p) => p.after ?? [] }),
      capabilityNamespace: t.field({ type: Namespace, nullable: true, resolve: (p) => (p.capabilities ? { namespace: p.capabilities.namespace, plugin: p.name } : null) }),
    }),
  });

  const Rule = builder.objectRef<PolicyRule>('PolicyRule').implement({
    fields: (t) => ({
      capabilityId: t.exposeString('capabilityId'),
      value: t.field({ type: 'JSON', resolve: (r) => r.value }),
      capability: t.field({ type: CapabilityRef, nullable: true, resolve: (r, _args, ctx) => ctx.services.core.registry.capabilities.get(r.capabilityId) ?? null }),
    }),
  });

  builder.node(refs.StoragePolicy, {
    id: { resolve: (p) => p.id },
    loadMany: (ids, ctx) => loadAll(ctx.loaders.policies, ids),
    fields: (t) => ({
      name: t.exposeString('name'),
      description: t.exposeString('description'),
      generation: t.exposeInt('generation', { description: 'Goes up by one each time the rules change.' }),
      rules: t.field({ type: [Rule], resolve: (p, _args, ctx) => ctx.loaders.rulesByPolicy.load(p.id) }),
      createdAt: t.expose('createdAt', { type: 'DateTime' }),
      updatedAt: t.expose('updatedAt', { type: 'DateTime' }),
    }),
  });

  const PlacementRef = builder.objectRef<Placement>('ContainerPlacement').implement({
    description: 'PBM\'s placement result for one container: every check, passed or failed, and why.',
    fields: (t) => ({
      container: t.field({ type: refs.StorageContainer, resolve: (p) => p.container }),
      compatible: t.exposeBoolean('compatible'),
      checks: t.field({ type: [RuleCheck], resolve: (p) => p.checks }),
      freeBytes: t.expose('freeBytes', { type: 'Bytes' }),
      utilizationBefore: t.exposeFloat('utilizationBefore'),
      utilizationAfter: t.exposeFloat('utilizationAfter'),
    }),
  });

  builder.queryFields((t) => ({
    storagePolicies: t.connection({
      type: refs.StoragePolicy,
      resolve: (_root, args, ctx) => tablePage(ctx.services.core.db, storagePolicies, [storagePolicies.name], undefined, args),
    }),
    capabilityNamespaces: t.field({
      type: [Namespace],
      resolve: (_root, _args, ctx) => [...ctx.services.core.registry.namespaces.values()].map((n) => ({ namespace: n.namespace, plugin: n.plugin })),
    }),
    plugins: t.field({ type: [PluginRef], description: 'Loaded plugins, in hook order (the core\'s `vasa` first).', resolve: (_root, _args, ctx) => ctx.services.core.plugins }),
    matchingContainers: t.field({
      type: [PlacementRef],
      description: 'Every container checked against a policy for a VVOL (or VM) of sizeBytes: compatible ones first, best first.',
      args: {
        policyId: t.arg.id({ required: true }),
        sizeBytes: t.arg({ type: 'Bytes', required: true, validate: z.number().int('sizeBytes must be an integer').positive('sizeBytes must be positive') }),
      },
      resolve: async (_root, args, ctx) => {
        const { core } = ctx.services;
        const policy = await findPolicy(core.db, decodeId(String(args.policyId), ['StoragePolicy'], 'policyId').id, 'policyId');
        const rules = (await rulesByPolicy(core.db, [policy.id])).get(policy.id)!;
        return placeAll(core, core.db, { rules, totalBytes: args.sizeBytes, largestVvolBytes: args.sizeBytes });
      },
    }),
  }));

  const RuleInput = builder.inputType('CapabilityRuleInput', {
    fields: (t) => ({
      capabilityId: t.string({ required: true }),
      value: t.field({ type: 'JSON', required: true }),
    }),
  });
  const policyPayload = (t: any) => ({ storagePolicy: t.field({ type: refs.StoragePolicy, resolve: (p: any) => p.storagePolicy }) });

  refs.mutation({
    name: 'createStoragePolicy',
    description: 'Creates a storage policy; every rule is checked against the capability registry.',
    scope: 'storageAdmin',
    input: (t) => ({
      name: t.string({ required: true, validate: policyName }),
      description: t.string({ validate: z.string().max(1000) }),
      rules: t.field({ type: [RuleInput], required: true, validate: z.array(z.any()).max(64, 'at most 64 rules') }),
    }),
    payload: policyPayload,
    resolve: async (input, work, ctx) => ({ storagePolicy: await createPolicy(ctx.services.core, work, input) }),
  });

  refs.mutation({
    name: 'updateStoragePolicy',
    description: 'Changes a policy. New rules make a new generation, which every VVOL under the policy is reconciled to, live.',
    scope: 'storageAdmin',
    input: (t) => ({
      id: t.id({ required: true }),
      name: t.string({ validate: policyName }),
      description: t.string({ validate: z.string().max(1000) }),
      rules: t.field({ type: [RuleInput], validate: z.array(z.any()).max(64, 'at most 64 rules') }),
    }),
    payload: policyPayload,
    resolve: async (input, work, ctx) => {
      const id = decodeId(String(input.id), ['StoragePolicy'], 'input.id').id;
      return { storagePolicy: await updatePolicy(ctx.services.core, work, id, { name: input.name ?? undefined, description: input.description, rules: input.rules ?? undefined }) };
    },
  });

  refs.mutation<{ deletedId: string }>({
    name: 'deleteStoragePolicy',
    description: 'Deletes a policy no VM, VVOL or container uses (else ConflictError).',
    scope: 'storageAdmin',
    input: (t) => ({ id: t.id({ required: true }) }),
    payload: (t) => ({ deletedId: t.id({ resolve: (p) => p.deletedId }) }),
    resolve: async (input, work) => {
      await deletePolicy(work, decodeId(String(input.id), ['StoragePolicy'], 'input.id').id);
      return { deletedId: String(input.id) };
    },
  });
}
