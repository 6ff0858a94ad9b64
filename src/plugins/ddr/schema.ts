import { sql } from 'drizzle-orm';
import { NotFoundError, ValidationError, resultRows, type PairRow, type SchemaBuilder, type SchemaRefs } from '../../core/plugin.ts';

/** DDR copies inside one array, over its internal bus. */
export const DDR_COPY_BYTES_PER_SECOND = 1024 ** 3;

/** Copies inside one array share its internal bus. */
export const internalLink = (arrayId: string) => `internal:${arrayId}`;

interface VolumePlacement {
  id: string;
  array_id: string;
  container_id: string;
}

/** `VirtualVolume.localReplicas` and `pairLocalReplica`: DDR pairs stay in one array. */
export function schema(builder: SchemaBuilder, refs: SchemaRefs): void {
  builder.objectField(refs.VirtualVolume, 'localReplicas', (t) =>
    t.field({
      type: [refs.ReplicaPair],
      description: 'DynamicDataReplication pairs in which this volume is the MV.',
      resolve: (vvol, _args, ctx) =>
        ctx.loaders
          .loader<string, PairRow[]>('ddrPairsByMv', async (ids) => {
            const pairs = await ctx.services.core.pairs.ofVolumes(ctx.services.core.db, ids, 'mv', 'ddr');
            return ids.map((id) => pairs.filter((p) => p.mvId === id));
          })
          .load(vvol.id),
    }),
  );

  refs.mutation<{ pair: PairRow }>({
    name: 'pairLocalReplica',
    description: 'DDR: pairs a volume (MV) with a replica volume (RV) in the same array, SEPARATED; replicatePair then copies. Without rvId, a new RV of the MV\'s size is made in the MV\'s container (or containerId).',
    scope: 'vmAdmin',
    input: (t) => ({
      mvId: t.id({ required: true }),
      rvId: t.id(),
      containerId: t.id({ description: 'Where a new RV goes (default: the MV\'s container); must be on the MV\'s array.' }),
      copyControl: t.field({ type: refs.enums.CopyControl, defaultValue: 'BACKGROUND', description: 'SYNC or BACKGROUND (SEMI_SYNC is rdr\'s: a ValidationError here).' }),
    }),
    payload: (t) => ({ pair: t.field({ type: refs.ReplicaPair, resolve: (p) => p.pair }) }),
    resolve: async (input, work, ctx) => {
      const { pairs } = ctx.services.core;
      const mvId = refs.decodeId(String(input.mvId), ['VirtualVolume'], 'input.mvId').id;
      const rvId = input.rvId ? refs.decodeId(String(input.rvId), ['VirtualVolume'], 'input.rvId').id : null;
      const containerId = input.containerId ? refs.decodeId(String(input.containerId), ['StorageContainer'], 'input.containerId').id : null;
      if (rvId && containerId) throw new ValidationError('input.containerId', 'containerId places a new RV; it cannot be given with rvId');
      const placed = resultRows<VolumePlacement>(await work.tx.execute(sql`
        select v.id::text as id, c.array_id::text as array_id, c.id::text as container_id from virtual_volumes v join storage_containers c on c.id = v.container_id
        where v.id in (${mvId}::uuid, ${rvId ?? mvId}::uuid)`));
      const mvPlace = placed.find((p) => p.id === mvId);
      if (!mvPlace) throw new NotFoundError('input.mvId', mvId);
      let rv: string;
      if (rvId) {
        const rvPlace = placed.find((p) => p.id === rvId);
        if (!rvPlace) throw new NotFoundError('input.rvId', rvId);
        if (rvPlace.array_id !== mvPlace.array_id) throw new ValidationError('input.rvId', 'DDR pairs volumes of one array; this RV is on another array (use rdr for a remote replica)');
        rv = rvId;
      } else {
        const target = containerId ?? mvPlace.container_id;
        const [container] = resultRows<{ array_id: string }>(await work.tx.execute(sql`select array_id::text as array_id from storage_containers where id = ${target}::uuid`));
        if (!container) throw new NotFoundError('input.containerId', target);
        if (container.array_id !== mvPlace.array_id) throw new ValidationError('input.containerId', 'DDR keeps the RV in the MV\'s array; this container is on another array');
        rv = (await pairs.createReplicaVolume(work, mvId, target, 'input.containerId')).id;
      }
      const pair = await pairs.create(work, { owner: 'ddr', mvId, rvId: rv, copyControl: input.copyControl ?? 'BACKGROUND', link: internalLink(mvPlace.array_id), bytesPerSecond: DDR_COPY_BYTES_PER_SECOND });
      return { pair };
    },
  });
}
