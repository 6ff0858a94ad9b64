import { and, asc, eq, gt, like, ne, or } from 'drizzle-orm';
import { anyOf } from '../../core/db/client.ts';
import { filter, pipe } from 'graphql-yoga';
import { brandWithType } from '@pothos/core';
import { resolveNodes } from '@pothos/plugin-relay';
import { isObjectType, type GraphQLResolveInfo } from 'graphql';
import { z } from 'zod';
import { topic } from '../../core/bus.ts';
import { alarms, events, tasks } from '../../core/db/tables.ts';
import { MAX_ADVANCE_SECONDS } from '../../core/engine/engine.ts';
import { NotFoundError } from '../../core/errors.ts';
import type { TaskRow } from '../../core/tasks.ts';
import type { AlarmRow, EventRow } from '../../core/unit-of-work.ts';
import { loadAll } from '../loaders.ts';
import type { Builder, Context } from '../builder.ts';
import { MAX_PAGE_SIZE, tablePage } from '../connections.ts';
import { decodeId, isUuid, type SchemaRefs } from '../refs.ts';
import type { Enums } from './enums.ts';

const finished = (task: TaskRow) => ['SUCCEEDED', 'FAILED', 'CANCELLED'].includes(task.state);

/** `vm.poweredOn` matches itself; `vm.*` matches every `vm.` kind. */
const kindMatcher = (kinds: readonly string[] | null | undefined) => (kind: string) =>
  !kinds || kinds.length === 0 || kinds.some((k) => (k.endsWith('.*') ? kind.startsWith(k.slice(0, -1)) : k === kind));

const dates = <T extends object>(row: T, keys: (keyof T)[]): T => {
  // Rows that crossed Redis arrive with their dates as strings.
  for (const key of keys) if (typeof row[key] === 'string') (row as Record<keyof T, unknown>)[key] = new Date(row[key] as string);
  return row;
};

export function addOperations(builder: Builder, refs: SchemaRefs, enums: Enums): void {
  // Any node type, the core's or a plugin's (a dds backup's target is its BackupGeneration), loads the way
  // `node(id)` loads it, batched by type; a type no longer in the schema (its plugin disabled), a type that is
  // not a Node, or a row since deleted is none.
  const loadNode = async (typename: string, id: string, ctx: Context, info: GraphQLResolveInfo): Promise<unknown> => {
    const type = info.schema.getType(typename);
    if (!isObjectType(type) || !type.getInterfaces().some((i) => i.name === 'Node') || !isUuid(id)) return null;
    const [loading] = await resolveNodes(builder, ctx, info, [{ typename, id }]);
    // Two fields naming one node share its load; the second can get the row before the first brands it with its
    // type, so it is branded here too. A row not found is undefined, which graphql-jit would try to type.
    const node = await loading;
    if (node) brandWithType(node, typename as never);
    return node ?? null;
  };
  const entityDescription = 'The entity itself, as node(id) gives it; null once it is deleted.';

  builder.node(refs.Task, {
    id: { resolve: (t) => t.id },
    loadMany: (ids, ctx) => loadAll(ctx.loaders.tasks, ids),
    fields: (t) => ({
      kind: t.exposeString('kind', { description: 'CLONE, REVERT, and the plugins\' kinds (REPLICATE, RESTORE, BACKUP, ...).' }),
      state: t.expose('state', { type: enums.TaskState }),
      progress: t.float({ description: 'bytesDone / bytesTotal (1 when done, whatever the bytes).', resolve: (task) => (task.state === 'SUCCEEDED' ? 1 : task.bytesTotal > 0 ? task.bytesDone / task.bytesTotal : 0) }),
      bytesDone: t.expose('bytesDone', { type: 'Bytes' }),
      bytesTotal: t.expose('bytesTotal', { type: 'Bytes' }),
      bytesPerSecond: t.expose('bytesPerSecond', { type: 'Bytes', description: 'Copy rate over the last simulation tick.' }),
      etaSeconds: t.float({ nullable: true, description: 'Simulated seconds left at the current rate.', resolve: (task) => (finished(task) ? 0 : task.bytesPerSecond > 0 ? (task.bytesTotal - task.bytesDone) / task.bytesPerSecond : null) }),
      cancelable: t.exposeBoolean('cancelable'),
      cancelRequested: t.exposeBoolean('cancelRequested'),
      error: t.exposeString('error', { nullable: true }),
      target: t.field({ type: builder.nodeInterfaceRef(), nullable: true, resolve: (task, _args, ctx, info) => loadNode(task.targetType, task.targetId, ctx, info) as never }),
      createdAt: t.expose('createdAt', { type: 'DateTime' }),
      startedAt: t.expose('startedAt', { type: 'DateTime', nullable: true }),
      finishedAt: t.expose('finishedAt', { type: 'DateTime', nullable: true }),
    }),
  });

  const Event = builder.objectRef<EventRow>('Event').implement({
    description: 'A change or state transition (VASA getEvents). Ids only ever increase.',
    fields: (t) => ({
      id: t.exposeInt('id'),
      kind: t.exposeString('kind'),
      entityType: t.exposeString('entityType'),
      entityId: t.exposeString('entityId', { description: 'The entity\'s row id (uuid).' }),
      entity: t.field({ type: builder.nodeInterfaceRef(), nullable: true, description: entityDescription, resolve: (e, _args, ctx, info) => loadNode(e.entityType, e.entityId, ctx, info) as never }),
      message: t.exposeString('message'),
      data: t.field({ type: 'JSON', resolve: (e) => e.data }),
      createdAt: t.field({ type: 'DateTime', resolve: (e) => dates(e, ['createdAt']).createdAt }),
    }),
  });

  const Alarm = builder.objectRef<AlarmRow>('Alarm').implement({
    description: 'Raised and cleared (GREEN) by the core and plugins.',
    fields: (t) => ({
      id: t.exposeString('id'),
      kind: t.expose('kind', { type: enums.AlarmKind }),
      status: t.expose('status', { type: enums.AlarmStatus }),
      entityType: t.exposeString('entityType'),
      entityId: t.exposeString('entityId', { description: 'The entity\'s row id (uuid).' }),
      entity: t.field({ type: builder.nodeInterfaceRef(), nullable: true, description: entityDescription, resolve: (e, _args, ctx, info) => loadNode(e.entityType, e.entityId, ctx, info) as never }),
      message: t.exposeString('message', { description: 'The condition now: while the status holds, the message follows the latest figures (events and the alarms subscription report changes of status only).' }),
      raisedAt: t.field({ type: 'DateTime', resolve: (a) => dates(a, ['raisedAt']).raisedAt }),
      updatedAt: t.field({ type: 'DateTime', description: 'When the status or the message last changed.', resolve: (a) => dates(a, ['updatedAt']).updatedAt }),
    }),
  });

  const TickStats = builder.objectRef<{ ticks: number; lastMs: number; meanMs: number; maxMs: number }>('TickStatistics').implement({
    description: 'Wall-clock time this process spent per tick.',
    fields: (t) => ({ ticks: t.exposeInt('ticks'), lastMs: t.exposeFloat('lastMs'), meanMs: t.exposeFloat('meanMs'), maxMs: t.exposeFloat('maxMs') }),
  });
  const Clock = builder.enumType('SimulationClock', {
    description: 'VVOLGRAPH_CLOCK: REALTIME ticks on its own every VVOLGRAPH_TICK_MS; MANUAL moves only by advanceSimulation.',
    values: { REALTIME: { value: 'realtime' }, MANUAL: { value: 'manual' } } as const,
  });
  const Simulation = builder.objectRef<Context['services']>('Simulation').implement({
    fields: (t) => ({
      clock: t.field({ type: Clock, resolve: (s) => s.engine.clock }),
      // The shared clock row, not this process's last tick: another instance on the database may have moved it since.
      tick: t.int({ description: 'Ticks run so far, by any instance on this database.', resolve: async (s, _args, ctx) => (await ctx.loaders.simulationClock.load(1))?.tick ?? s.engine.tick }),
      simulatedSeconds: t.float({ description: 'Simulated seconds since the simulation began, as every instance on this database sees them.', resolve: async (s, _args, ctx) => (await ctx.loaders.simulationClock.load(1))?.simulatedSeconds ?? s.engine.now }),
      tickSeconds: t.float({ resolve: (s) => s.engine.tickSeconds }),
      seed: t.string({ description: 'The seed of the simulation\'s random draws, fixed when it began on this database (VVOLGRAPH_SEED of the first start).', resolve: (s) => s.engine.seed }),
      tickDuration: t.field({ type: TickStats, resolve: (s) => s.engine.statistics }),
      arraysTicked: t.field({
        type: [refs.StorageArray],
        description:
          'The storage arrays this server process ticks, by name: it holds their PostgreSQL advisory locks, so their ' +
          'VMs\' I/O is simulated here and nowhere else. Another instance takes an array over when its holder stops; ' +
          'arrays not held are tried again at every tick. On the embedded database (one process) it is every array.',
        resolve: async (s, _args, ctx) => {
          const rows = await loadAll(ctx.loaders.arrays, [...s.engine.arrayLocks.arrays]);
          return rows.filter((r) => r !== null).sort((a, b) => a.name.localeCompare(b.name));
        },
      }),
    }),
  });

  const Viewer = builder.objectRef<{ role: string }>('Viewer').implement({
    fields: (t) => ({ role: t.exposeString('role', { description: 'storageAdmin, vmAdmin or viewer.' }) }),
  });

  builder.queryFields((t) => ({
    tasks: t.connection({
      type: refs.Task,
      args: { state: t.arg({ type: enums.TaskState }), kind: t.arg.string() },
      resolve: (_root, args, ctx) =>
        tablePage(ctx.services.core.db, tasks, [tasks.createdAt, tasks.id], and(args.state ? eq(tasks.state, args.state) : undefined, args.kind ? eq(tasks.kind, args.kind) : undefined), args),
    }),
    events: t.field({
      type: [Event],
      description: 'Events after an id, oldest first (VASA getEvents): poll with the last id you saw.',
      args: {
        after: t.arg.int({ description: 'Only events with a larger id (default: from the start).' }),
        kinds: t.arg.stringList({ description: 'Kinds to keep; `vm.*` keeps every vm. kind.' }),
        first: t.arg.int({ defaultValue: 100, validate: z.number().int().min(1).max(MAX_PAGE_SIZE) }),
      },
      resolve: (_root, args, ctx) => {
        const kinds = args.kinds?.length
          ? or(...args.kinds.map((k) => (k.endsWith('.*') ? like(events.kind, `${k.slice(0, -1).replace(/[\\%_]/g, (c) => `\\${c}`)}%`) : eq(events.kind, k))))
          : undefined;
        return ctx.services.core.db.select().from(events).where(and(args.after != null ? gt(events.id, args.after) : undefined, kinds)).orderBy(asc(events.id)).limit(args.first!);
      },
    }),
    alarms: t.connection({
      type: Alarm,
      description: 'Alarms in the order they were first raised (`last` for the newest); cleared ones only with includeCleared.',
      args: { includeCleared: t.arg.boolean({ defaultValue: false }), kind: t.arg({ type: enums.AlarmKind }) },
      resolve: (_root, args, ctx) =>
        tablePage(ctx.services.core.db, alarms, [alarms.raisedAt, alarms.id], and(args.includeCleared ? undefined : ne(alarms.status, 'GREEN'), args.kind ? eq(alarms.kind, args.kind) : undefined), args),
    }),
    simulation: t.field({ type: Simulation, resolve: (_root, _args, ctx) => ctx.services }),
    viewer: t.field({ type: Viewer, resolve: (_root, _args, ctx) => ({ role: ctx.role! }) }),
  }));

  builder.subscriptionFields((t) => ({
    taskUpdated: t.field({
      type: refs.Task,
      description: 'The task now, then every change until it finishes.',
      args: { taskId: t.arg.id({ required: true }) },
      subscribe: (_root, args, ctx) => followTask(ctx, decodeId(String(args.taskId), ['Task'], 'taskId').id),
      resolve: (task) => dates(task, ['createdAt', 'startedAt', 'finishedAt']),
    }),
    events: t.field({
      type: Event,
      args: { kinds: t.arg.stringList({ description: 'Kinds to receive; `vm.*` for every vm. kind; all if omitted.' }) },
      subscribe: (_root, args, ctx) => pipe(ctx.services.core.bus.subscribe(topic('events')) as AsyncIterable<EventRow>, filter((e: EventRow) => kindMatcher(args.kinds)(e.kind))),
      resolve: (event) => event,
    }),
    alarms: t.field({
      type: Alarm,
      description: 'Every alarm raised, changed or cleared.',
      subscribe: (_root, _args, ctx) => ctx.services.core.bus.subscribe(topic('alarms')) as AsyncIterable<AlarmRow>,
      resolve: (alarm) => alarm,
    }),
  }));

  refs.mutation<{ task: TaskRow }>({
    name: 'cancelTask',
    description: 'Asks a cancelable task to stop; it stops cleanly at its next step (watch taskUpdated).',
    scope: 'vmAdmin',
    input: (t) => ({ taskId: t.id({ required: true }) }),
    payload: (t) => ({ task: t.field({ type: refs.Task, resolve: (p) => p.task }) }),
    resolve: async (input, work, ctx) => ({ task: await ctx.services.core.tasks.cancel(work, decodeId(String(input.taskId), ['Task'], 'input.taskId').id) }),
  });

  refs.mutation<{ simulation: Context['services'] }>({
    name: 'advanceSimulation',
    description: 'Moves the manual clock forward, tick by tick (VVOLGRAPH_CLOCK=manual only).',
    scope: 'storageAdmin',
    // The ticks move the plugins' in-memory state (heat, caches) too: never run twice.
    retryable: false,
    advancesClock: true,
    // The range is checked here, before the role (as every static check is), and again by the engine for its other callers.
    input: (t) => ({ seconds: t.float({ required: true, validate: z.number().positive('seconds must be positive').max(MAX_ADVANCE_SECONDS, `seconds must be at most ${MAX_ADVANCE_SECONDS} (an hour) per call`) }) }),
    payload: (t) => ({ simulation: t.field({ type: Simulation, resolve: (p) => p.simulation }) }),
    resolve: async (input, work, ctx) => {
      await ctx.services.engine.advance(input.seconds, work);
      return { simulation: ctx.services };
    },
  });
}

async function* followTask(ctx: Context, id: string): AsyncGenerator<TaskRow> {
  // Subscribe before reading, so no change falls between the read and the first message.
  const updates = ctx.services.core.bus.subscribe(topic('task', id))[Symbol.asyncIterator]() as AsyncIterator<TaskRow>;
  try {
    const [current] = await ctx.services.core.db.select().from(tasks).where(anyOf(tasks.id, [id]));
    if (!current) throw new NotFoundError('taskId', id, `No task with id "${id}"`);
    yield current;
    if (finished(current)) return;
    for (let next = await updates.next(); !next.done; next = await updates.next()) {
      yield next.value;
      if (finished(next.value)) return;
    }
  } finally {
    await updates.return?.();
  }
}
