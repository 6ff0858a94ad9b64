import { and, eq, gte, lte } from 'drizzle-orm';
import { z } from 'zod';
import { IO_SAMPLES_KEPT, type IoStats } from '../../core/engine/io.ts';
import { MINUTE_SECONDS, type IoMinuteRow } from '../../core/engine/history.ts';
import { topic } from '../../core/bus.ts';
import { ioHistory } from '../../core/db/tables.ts';
import { NotFoundError, ValidationError } from '../../core/errors.ts';
import type { Builder, Context } from '../builder.ts';
import { MAX_PAGE_SIZE, tablePage } from '../connections.ts';
import { decodeId, type SchemaRefs } from '../refs.ts';

/** Which VM or VVOL an ioStats / ioHistory call names: exactly one of the two ids, of the right type. */
function subjectOf(args: { vmId?: string | number | null; vvolId?: string | number | null }) {
  if ((args.vmId == null) === (args.vvolId == null)) throw new ValidationError('vmId', 'Give exactly one of vmId and vvolId');
  const [field, typename] = args.vmId != null ? (['vmId', 'VirtualMachine'] as const) : (['vvolId', 'VirtualVolume'] as const);
  const sent = String(args[field]);
  return { field, typename, sent, id: decodeId(sent, [typename], field).id };
}

const notNegative = (name: string) => z.number().min(0, `${name} must not be negative`);
/** `minute` is an integer column: a bound past its range (a far `to`, meaning no end) is its largest value. */
const minuteColumn = (minute: number) => Math.min(minute, 2 ** 31 - 1);

/** Live I/O: the latest tick's statistics on VMs and VVOLs, the ioStats subscription, and the per-minute ioHistory. */
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
      cacheHitRatio: t.exposeFloat('cacheHitRatio', { description: 'Share of the reads served from the perforcache L2 cache (SSD), behind the DRAM cache.' }),
      ssdServedRatio: t.exposeFloat('ssdServedRatio', { description: 'Share of the I/Os that reached the tiers (DRAM cache hits left out) that were on SSD extents.' }),
      dramHitRatio: t.exposeFloat('dramHitRatio', { description: "Share of the reads served from the array's DRAM (L1) cache." }),
    }),
  });
  const latest = (id: string, ctx: Context) => ctx.services.engine.lastTickIo(id) ?? null;
  builder.objectField(refs.VirtualMachine, 'io', (t) => t.field({ type: Stats, nullable: true, description: 'The last tick\'s I/O of the VM (all its DATA VVOLs); null when it had none (powered off, or its array is ticked by another instance).', resolve: (vm, _args, ctx) => latest(vm.id, ctx) }));
  builder.objectField(refs.VirtualVolume, 'io', (t) => t.field({ type: Stats, nullable: true, description: 'The last tick\'s I/O of this VVOL; null when it had none (its VM powered off, or its array ticked by another instance).', resolve: (vvol, _args, ctx) => latest(vvol.id, ctx) }));

  const recent = (id: string, last: number, ctx: Context) => ctx.services.engine.io.recent(id, last);
  const lastError = { error: (issue: { input?: unknown }) => `last must be between 1 and ${IO_SAMPLES_KEPT}, got ${String(issue.input)}` };
  const lastArg = { defaultValue: IO_SAMPLES_KEPT, required: true, validate: z.number().int(lastError).min(1, lastError).max(IO_SAMPLES_KEPT, lastError) } as const;
  const recentDescription = (of: string) =>
    `The last ticks' I/O of ${of}, oldest first: at most \`last\` (1..${IO_SAMPLES_KEPT}), fewer when it ran for fewer ticks. ` +
    'Kept in memory by the process that ticks its array (empty in other instances); older ticks are in ioHistory, per minute.';
  builder.objectField(refs.VirtualMachine, 'recentIo', (t) =>
    t.field({ type: [Stats], args: { last: t.arg.int(lastArg) }, description: recentDescription('the VM (all its DATA VVOLs)'), resolve: (vm, args, ctx) => recent(vm.id, args.last, ctx) }));
  builder.objectField(refs.VirtualVolume, 'recentIo', (t) =>
    t.field({ type: [Stats], args: { last: t.arg.int(lastArg) }, description: recentDescription('this VVOL'), resolve: (vvol, args, ctx) => recent(vvol.id, args.last, ctx) }));

  builder.subscriptionField('ioStats', (t) =>
    t.field({
      type: Stats,
      description: 'Every tick\'s I/O of one VM or one VVOL (give exactly one of vmId, vvolId).',
      args: { vmId: t.arg.id(), vvolId: t.arg.id() },
      subscribe: async (_root, args, ctx) => {
        const subject = subjectOf(args);
        // Checked before the stream opens: a subscription to an id that is not there would wait for ticks that never come.
        return follow(ctx, subject, await arrayOf(ctx, subject));
      },
      resolve: (sample) => sample,
    }),
  );

  const Minute = builder.objectRef<IoMinuteRow>('IoMinute').implement({
    description:
      'One simulated minute of a VM\'s or VVOL\'s I/O, rolled up from its ticks. The plain fields are means over the ' +
      'minute (rates weighted by the seconds each tick covered; latency and the SSD share by the I/Os served, the cache hit ratios by the reads served); the max* ' +
      'fields are the largest tick of the minute.',
    fields: (t) => ({
      start: t.float({ description: 'Simulated seconds at which the minute starts (60 × its number).', resolve: (m) => m.minute * MINUTE_SECONDS }),
      end: t.float({ description: 'Simulated seconds at which it ends; it holds the ticks that end in (start, end].', resolve: (m) => (m.minute + 1) * MINUTE_SECONDS }),
      samples: t.exposeInt('samples', { description: 'Ticks in which the VM or VVOL had I/O demand (running); 60 for a whole minute of one-second ticks.' }),
      seconds: t.exposeFloat('seconds', { description: 'Simulated seconds those ticks covered.' }),
      readIops: t.exposeFloat('readIops'),
      maxReadIops: t.exposeFloat('maxReadIops'),
      writeIops: t.exposeFloat('writeIops'),
      maxWriteIops: t.exposeFloat('maxWriteIops'),
      mbps: t.exposeFloat('mbps', { description: 'Megabytes (10^6) per second served.' }),
      maxMbps: t.exposeFloat('maxMbps'),
      latencyMs: t.exposeFloat('latencyMs', { description: 'Mean response time of the I/Os served in the minute.' }),
      maxLatencyMs: t.exposeFloat('maxLatencyMs'),
      servedIops: t.exposeFloat('servedIops'),
      maxServedIops: t.exposeFloat('maxServedIops'),
      throttledIops: t.exposeFloat('throttledIops', { description: 'Demand that I/O control held back.' }),
      maxThrottledIops: t.exposeFloat('maxThrottledIops'),
      cacheHitRatio: t.exposeFloat('cacheHitRatio'),
      ssdServedRatio: t.exposeFloat('ssdServedRatio'),
      dramHitRatio: t.exposeFloat('dramHitRatio'),
    }),
  });

  builder.queryField('ioHistory', (t) =>
    t.connection({
      type: Minute,
      description:
        'The per-minute I/O of one VM or one VVOL (give exactly one of vmId, vvolId), oldest first: the minutes ' +
        'that end after `from` and start before `to` (simulated seconds). A minute appears once it has ended, and only if the VM or ' +
        'VVOL ran in it; minutes older than the retention (VVOLGRAPH_IO_HISTORY_MINUTES) are gone.',
      errors: { types: [ValidationError, NotFoundError], directResult: true, union: { name: 'IoHistoryResult' } },
      args: {
        vmId: t.arg.id(),
        vvolId: t.arg.id(),
        from: t.arg.float({ description: 'Simulated seconds (default 0).', validate: notNegative('from') }),
        to: t.arg.float({ description: 'Simulated seconds (default: no end).', validate: notNegative('to') }),
      },
      resolve: async (_root, args, ctx) => {
        const subject = subjectOf(args);
        const from = args.from ?? 0;
        const to = args.to ?? Number.POSITIVE_INFINITY;
        if (from > to) throw new ValidationError('to', `to (${to}) must not be before from (${from})`);
        for (const key of ['first', 'last'] as const) {
          const value = args[key];
          if (value != null && (value < 0 || value > MAX_PAGE_SIZE)) throw new ValidationError(key, `${key} must be between 0 and ${MAX_PAGE_SIZE}, got ${value}`);
        }
        const loader = subject.typename === 'VirtualMachine' ? ctx.loaders.vms : ctx.loaders.vvols;
        if (!(await loader.load(subject.id))) throw new NotFoundError(subject.field, subject.sent, `No ${subject.typename} with id "${subject.sent}"`);
        // Minute m spans (60m, 60m + 60]: it is listed when it ends after `from` (60m + 60 > from) and starts before `to` (60m < to).
        const where = and(
          eq(ioHistory.subjectId, subject.id),
          gte(ioHistory.minute, minuteColumn(Math.floor(from / MINUTE_SECONDS))),
          Number.isFinite(to) ? lte(ioHistory.minute, minuteColumn(Math.ceil(to / MINUTE_SECONDS) - 1)) : undefined,
        );
        const db = ctx.services.core.db;
        return tablePage(db, ioHistory, [ioHistory.minute], where, args);
      },
    }, { name: 'IoHistoryConnection' }, { name: 'IoHistoryEdge' }),
  );
}

/** The storage array a VM or VVOL sits on (its container's); a NotFoundError naming the argument when there is no such VM or VVOL. */
async function arrayOf(ctx: Context, subject: ReturnType<typeof subjectOf>): Promise<string | null> {
  const row = subject.typename === 'VirtualMachine' ? await ctx.loaders.vms.load(subject.id) : await ctx.loaders.vvols.load(subject.id);
  if (!row) throw new NotFoundError(subject.field, subject.sent, `No ${subject.typename} with id "${subject.sent}"`);
  return (await ctx.loaders.containers.load(row.containerId))?.arrayId ?? null;
}

async function* follow(ctx: Context, subject: ReturnType<typeof subjectOf>, arrayId: string | null): AsyncGenerator<IoStats> {
  const { id } = subject;
  const stop = ctx.services.engine.watch(id, arrayId);
  const samples = ctx.services.core.bus.subscribe(topic('io', id))[Symbol.asyncIterator]() as AsyncIterator<IoStats>;
  try {
    for (let next = await samples.next(); !next.done; next = await samples.next()) yield next.value;
  } finally {
    stop();
    await samples.return?.();
  }
}
