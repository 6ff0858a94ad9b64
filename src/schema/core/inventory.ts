import { and, eq } from 'drizzle-orm';
import { protocolEndpoints, storageArrays, storageContainers, storagePools } from '../../core/db/tables.ts';
import { loadAll } from '../loaders.ts';
import type { Builder } from '../builder.ts';
import { tablePage } from '../connections.ts';
import { decodeId, type SchemaRefs } from '../refs.ts';
import type { Enums } from './enums.ts';

/** The physical side: arrays, their pools and tiers, containers (VVOL datastores) and protocol endpoints. */
export function addInventory(builder: Builder, refs: SchemaRefs, enums: Enums): void {
  builder.node(refs.StorageArray, {
    id: { resolve: (a) => a.id },
    loadMany: (ids, ctx) => loadAll(ctx.loaders.arrays, ids),
    fields: (t) => ({
      name: t.exposeString('name'),
      model: t.exposeString('model', { description: 'M110 | M310 | M510 | M710 (PRIMARY) or an HS-series model (BACKUP).' }),
      serialNumber: t.exposeString('serialNumber'),
      site: t.exposeString('site'),
      role: t.expose('role', { type: enums.ArrayRole }),
      cacheBytes: t.expose('cacheBytes', { type: 'Bytes', description: "DRAM (L1) cache of the array's controllers, in front of every pool's tiers and L2 cache." }),
      cacheUsedBytes: t.field({
        type: 'Bytes',
        description: 'DRAM cache holding data after the last tick: the extents cached (in the process that ticks the array; 0 in the others and before any I/O).',
        resolve: (a, _args, ctx) => ctx.services.engine.dram.usedExtents(a.id) * ctx.services.core.extents.extentBytes,
      }),
      pools: t.field({ type: [refs.StoragePool], resolve: (a, _args, ctx) => ctx.loaders.poolsByArray.load(a.id) }),
      storageContainers: t.field({ type: [refs.StorageContainer], resolve: (a, _args, ctx) => ctx.loaders.containersByArray.load(a.id) }),
      protocolEndpoints: t.field({ type: [refs.ProtocolEndpoint], resolve: (a, _args, ctx) => ctx.loaders.protocolEndpointsByArray.load(a.id) }),
    }),
  });

  const PoolTier = builder.objectRef<{ tier: 'SSD' | 'SAS' | 'NL_SAS'; capacityBytes: number; usedBytes: number; maxIops: number }>('PoolTier').implement({
    fields: (t) => ({
      tier: t.expose('tier', { type: enums.TierKind }),
      capacityBytes: t.expose('capacityBytes', { type: 'Bytes' }),
      usedBytes: t.expose('usedBytes', { type: 'Bytes' }),
      maxIops: t.exposeInt('maxIops', { description: 'The IOPS this tier can serve: what I/O control divides.' }),
    }),
  });

  builder.node(refs.StoragePool, {
    id: { resolve: (p) => p.id },
    loadMany: (ids, ctx) => loadAll(ctx.loaders.pools, ids),
    fields: (t) => ({
      name: t.exposeString('name'),
      array: t.field({ type: refs.StorageArray, resolve: async (p, _args, ctx) => (await ctx.loaders.arrays.load(p.arrayId))! }),
      tiers: t.field({ type: [PoolTier], resolve: (p, _args, ctx) => ctx.loaders.tiersByPool.load(p.id) }),
      l2CacheBytes: t.expose('l2CacheBytes', { type: 'Bytes', description: 'SSD that PerforCache may use as L2 cache.' }),
      encrypted: t.exposeBoolean('encrypted'),
      capacityBytes: t.field({ type: 'Bytes', resolve: async (p, _args, ctx) => (await ctx.loaders.tiersByPool.load(p.id)).reduce((s, x) => s + x.capacityBytes, 0) }),
      maxIops: t.int({ resolve: async (p, _args, ctx) => (await ctx.loaders.tiersByPool.load(p.id)).reduce((s, x) => s + x.maxIops, 0) }),
    }),
  });

  builder.node(refs.StorageContainer, {
    id: { resolve: (c) => c.id },
    loadMany: (ids, ctx) => loadAll(ctx.loaders.containers, ids),
    fields: (t) => ({
      name: t.exposeString('name'),
      array: t.field({ type: refs.StorageArray, resolve: async (c, _args, ctx) => (await ctx.loaders.arrays.load(c.arrayId))! }),
      pool: t.field({ type: refs.StoragePool, resolve: async (c, _args, ctx) => (await ctx.loaders.pools.load(c.poolId))! }),
      capacityBytes: t.expose('capacityBytes', { type: 'Bytes' }),
      usedBytes: t.expose('usedBytes', { type: 'Bytes', description: 'Provisioned bytes reserved by the VVOLs in it.' }),
      freeBytes: t.field({ type: 'Bytes', resolve: (c) => c.capacityBytes - c.usedBytes }),
      utilization: t.float({ description: 'usedBytes / capacityBytes.', resolve: (c) => c.usedBytes / c.capacityBytes }),
      maxVvolSizeBytes: t.expose('maxVvolSizeBytes', { type: 'Bytes' }),
      capabilityNamespaces: t.exposeStringList('namespaces', { description: 'The capability namespaces whose rules this container can satisfy.' }),
      offers: t.field({ type: 'JSON', description: 'Per capability id, what the container can deliver: a list of values, a {min,max} range, or true/false.', resolve: (c) => c.offers }),
      defaultPolicy: t.field({ type: refs.StoragePolicy, nullable: true, resolve: (c, _args, ctx) => (c.defaultPolicyId ? ctx.loaders.policies.load(c.defaultPolicyId) : null) }),
    }),
  });

  builder.node(refs.ProtocolEndpoint, {
    id: { resolve: (p) => p.id },
    loadMany: (ids, ctx) => loadAll(ctx.loaders.protocolEndpoints, ids),
    fields: (t) => ({
      name: t.exposeString('name'),
      protocol: t.expose('protocol', { type: enums.Protocol }),
      identifier: t.exposeString('identifier', { description: 'WWN (FC) or IQN (iSCSI).' }),
      array: t.field({ type: refs.StorageArray, resolve: async (p, _args, ctx) => (await ctx.loaders.arrays.load(p.arrayId))! }),
    }),
  });

  const arrayFilter = (t: Parameters<Parameters<Builder['queryFields']>[0]>[0]) => t.arg.id({ description: 'Only those of this array.' });
  const arrayId = (id: string | null | undefined) => (id ? decodeId(id, ['StorageArray'], 'arrayId').id : undefined);

  builder.queryFields((t) => ({
    storageArrays: t.connection({
      type: refs.StorageArray,
      args: { role: t.arg({ type: enums.ArrayRole }) },
      resolve: (_root, args, ctx) =>
        tablePage(ctx.services.core.db, storageArrays, [storageArrays.name], args.role ? eq(storageArrays.role, args.role) : undefined, args),
    }),
    storagePools: t.connection({
      type: refs.StoragePool,
      args: { arrayId: arrayFilter(t) },
      resolve: (_root, args, ctx) => {
        const id = arrayId(args.arrayId);
        return tablePage(ctx.services.core.db, storagePools, [storagePools.name, storagePools.id], id ? eq(storagePools.arrayId, id) : undefined, args);
      },
    }),
    storageContainers: t.connection({
      type: refs.StorageContainer,
      args: { arrayId: arrayFilter(t) },
      resolve: (_root, args, ctx) => {
        const id = arrayId(args.arrayId);
        return tablePage(ctx.services.core.db, storageContainers, [storageContainers.name], id ? eq(storageContainers.arrayId, id) : undefined, args);
      },
    }),
    protocolEndpoints: t.connection({
      type: refs.ProtocolEndpoint,
      args: { arrayId: arrayFilter(t), protocol: t.arg({ type: enums.Protocol }) },
      resolve: (_root, args, ctx) => {
        const id = arrayId(args.arrayId);
        const where = and(id ? eq(protocolEndpoints.arrayId, id) : undefined, args.protocol ? eq(protocolEndpoints.protocol, args.protocol) : undefined);
        return tablePage(ctx.services.core.db, protocolEndpoints, [protocolEndpoints.name], where, args);
      },
    }),
  }));
}
