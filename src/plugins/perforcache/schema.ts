import type { SchemaBuilder, SchemaRefs } from '../../core/plugin.ts';
import { cacheModes, type CacheMode } from './cache.ts';
import { cachesOf, settingsOf } from './engine.ts';

interface HitRatio {
  read: number;
  write: number;
  all: number;
}

interface L2Cache {
  enabled: boolean;
  mode: CacheMode | null;
  capacityBytes: number;
  usedBytes: number;
  hitRatio: HitRatio;
}

const GiB = 1024 ** 3;

/** VirtualVolume.l2Cache: the settings from the policy, the cache's occupancy and its hit ratios since it was created. */
export function schema(builder: SchemaBuilder, refs: SchemaRefs): void {
  const HitRatioRef = builder.objectRef<HitRatio>('L2CacheHitRatio').implement({
    description: 'Hits over accesses (0 when there were none), cumulative since the cache was created.',
    fields: (t) => ({
      read: t.exposeFloat('read'),
      write: t.exposeFloat('write', { description: 'Always 0 in READ_ONLY: writes go around the cache.' }),
      all: t.exposeFloat('all'),
    }),
  });
  const Mode = builder.enumType('L2CacheMode', { values: cacheModes, description: 'nec.pc.mode: READ_ONLY caches reads (writes go around the cache); READ_WRITE also absorbs writes.' });
  const L2CacheRef = builder.objectRef<L2Cache>('L2Cache').implement({
    description: "PerforCache: the pool's SSD as a second-level cache for this VVOL.",
    fields: (t) => ({
      enabled: t.exposeBoolean('enabled', { description: 'The policy enables the cache and the pool could admit it (not INFEASIBLE).' }),
      mode: t.expose('mode', { type: Mode, nullable: true, description: 'Null when disabled.' }),
      capacityBytes: t.expose('capacityBytes', { type: 'Bytes' }),
      usedBytes: t.expose('usedBytes', { type: 'Bytes', description: 'Blocks held times the block (extent) size.' }),
      hitRatio: t.field({ type: HitRatioRef, resolve: (c) => c.hitRatio }),
    }),
  });
  builder.objectField(refs.VirtualVolume, 'l2Cache', (t) =>
    t.field({
      type: L2CacheRef,
      resolve: async (vvol, _args, ctx) => {
        const settings = settingsOf(await ctx.loaders.rulesByPolicy.load(vvol.policyId));
        if (!settings || vvol.policyState === 'INFEASIBLE') {
          return { enabled: false, mode: null, capacityBytes: 0, usedBytes: 0, hitRatio: { read: 0, write: 0, all: 0 } };
        }
        const { extents } = ctx.services.core;
        const entry = cachesOf(extents).get(vvol.id);
        // While a new policy waits for admission (PENDING), the cache the VVOL has is the one it had.
        const current = vvol.policyState === 'PENDING' && entry ? { mode: entry.cache.cacheMode, capacityGiB: entry.capacityGiB } : settings;
        return {
          enabled: true,
          mode: current.mode,
          capacityBytes: current.capacityGiB * GiB,
          usedBytes: entry ? entry.cache.size * extents.extentBytes : 0,
          hitRatio: entry ? entry.cache.hitRatio() : { read: 0, write: 0, all: 0 },
        };
      },
    }),
  );
}
