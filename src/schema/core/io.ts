import type { IoStats } from '../../core/engine/io.ts';
import { topic } from '../../core/bus.ts';
import { ValidationError } from '../../core/errors.ts';
import type { Builder, Context } from '../builder.ts';
import { decodeId, type SchemaRefs } from '../refs.ts';

/** Live I/O: the latest tick's statistics on VMs and VVOLs, and the ioStats subscription. */
export function addIo(builder: Builder, refs: SchemaRefs): void {
  const Stats = builder.objectRef<IoStats>('IoStats').implement({
    description: 'One tick of I/O, as the simulated array served it.',
    fields: (t) => ({
      time: t.exposeFloat('time', { description: 'Simulated seconds at the end of the tick.' }),
      readIops: t.exposeFloat('readIops', { description: 'Reads served per second.' }),
      writeIops: t.exposeFloat('writeIops', { description: 'Writes served per second.' }),
      mbps: t.exposeFloat('mbps', { description: 'Megabytes (10^6) per second served.' }),
      latencyMs: t.exposeFloat('latencyMs', { description: 'Mean response time; grows with the pool\'s utilization.' }),
      servedIops: t.exposeFloat('servedIops'),
      throttledIops: t.exposeFloat('throttledIops', { description: 'Demand that I/O control held back.' }),
      cacheHitRatio: t.exposeFloat('cacheHitRatio'),
      ssdServedRatio: t.exposeFloat('ssdServedRatio'),
    }),
  });
  const latest = (id: string, ctx: Context) => ctx.services.engine.io.last(id) ?? null;
  builder.objectField(refs.VirtualMachine, 'io', (t) => t.field({ type: Stats, nullable: true, description: 'The last tick\'s I/O of the VM (all its DATA VVOLs).', resolve: (vm, _args, ctx) => latest(vm.id, ctx) }));
  builder.objectField(refs.VirtualVolume, 'io', (t) => t.field({ type: Stats, nullable: true, description: 'The last tick\'s I/O of this VVOL.', resolve: (vvol, _args, ctx) => latest(vvol.id, ctx) }));

  builder.subscriptionField('ioStats', (t) =>
    t.field({
      type: Stats,
      description: 'Every tick\'s I/O of one VM or one VVOL (give exactly one of vmId, vvolId).',
      args: { vmId: t.arg.id(), vvolId: t.arg.id() },
      subscribe: (_root, args, ctx) => {
        if ((args.vmId == null) === (args.vvolId == null)) throw new ValidationError('vmId', 'Give exactly one of vmId and vvolId');
        const id = args.vmId ? decodeId(String(args.vmId), ['VirtualMachine'], 'vmId').id : decodeId(String(args.vvolId), ['VirtualVolume'], 'vvolId').id;
        return follow(ctx, id);
      },
      resolve: (sample) => sample,
    }),
  );
}

async function* follow(ctx: Context, id: string): AsyncGenerator<IoStats> {
  const stop = ctx.services.engine.watch(id);
  const samples = ctx.services.core.bus.subscribe(topic('io', id))[Symbol.asyncIterator]() as AsyncIterator<IoStats>;
  try {
    for (let next = await samples.next(); !next.done; next = await samples.next()) yield next.value;
  } finally {
    stop();
    await samples.return?.();
  }
}
