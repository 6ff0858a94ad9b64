import { and, eq } from 'drizzle-orm';
import { anyOf } from '../../core/db/client.ts';
import { pairActivity, pairSyncState, replicaPairs, tasks } from '../../core/db/tables.ts';
import { ValidationError } from '../../core/errors.ts';
import type { PairRow } from '../../core/pairs.ts';
import type { VirtualMachineRow } from '../../core/plugin.ts';
import { attachVolume, detachVolume } from '../../core/services/vms.ts';
import type { TaskRow } from '../../core/tasks.ts';
import type { Builder, Context } from '../builder.ts';
import { tablePage } from '../connections.ts';
import { loadAll } from '../loaders.ts';
import { decodeId, type SchemaRefs } from '../refs.ts';

/** Dirty bytes of many pairs with one statement per request. */
function dirtyBytes(ctx: Context, pair: PairRow): Promise<number> {
  return ctx.loaders
    .loader<string, number>('pairDirtyBytes', async (keys) => {
      const pairs = keys.map((k) => k.split('/') as [string, string]);
      const dirty = await ctx.services.core.copier.dirty(ctx.services.core.db, pairs);
      return keys.map((k) => dirty.get(k)?.bytes ?? 0);
    })
    .load(`${pair.mvId}/${pair.rvId}`);
}

function pairTask(ctx: Context, pair: PairRow): Promise<TaskRow | null> {
  if (!pair.taskId) return Promise.resolve(null);
  return ctx.loaders
    .loader<string, TaskRow | null>('pairTasks', async (ids) => {
      const rows = await ctx.services.core.db.select().from(tasks).where(anyOf(tasks.id, [...ids]));
      return ids.map((id) => rows.find((r) => r.id === id) ?? null);
    })
    .load(pair.taskId);
}

const separating = (pair: PairRow) => pair.activity === 'SEPARATE';

/**
 * An immediate restore gives the MV the RV's data at once, so no extent differs, but its copy still has
 * bytes to move behind that view: those count as the difference until it ends.
 */
async function restoreBytesLeft(ctx: Context, pair: PairRow): Promise<number> {
  if (pair.syncState !== 'RST_EXEC') return 0;
  const task = await pairTask(ctx, pair);
  return task ? task.bytesTotal - task.bytesDone : 0;
}

/** Replication pairs (ddr and rdr own them; the core keeps their states) and their operations. */
export function addReplication(builder: Builder, refs: SchemaRefs): void {
  const Activity = builder.enumType('PairActivity', { values: pairActivity.enumValues });
  const SyncState = builder.enumType('PairSyncState', { values: pairSyncState.enumValues, description: "NEC's sync states: *_EXEC while a copy runs, *_SYNC once in step, SEPARATED, CANCEL, FAULT." });
  const { CopyControl } = refs.enums;
  const RvAccess = builder.enumType('ReplicaAccess', { values: ['NR', 'RO', 'RW'] as const, description: 'What hosts may do with the RV: no access while replicating or restoring, RO or RW once separated.' });
  const RvUse = builder.enumType('ReplicaUse', { values: ['COMPLETE', 'IMMEDIATE'] as const });
  const ReplicateRange = builder.enumType('ReplicateRange', { values: ['FULL', 'DIFF'] as const, description: 'FULL copies every extent; DIFF only those that differ (written on either side since they were last in step).' });
  const RestoreMode = builder.enumType('RestoreMode', { values: ['UPDATE', 'PROTECT'] as const, description: 'UPDATE: MV writes keep reaching the RV afterwards; PROTECT: the RV keeps the restored data.' });

  const StateTime = builder.objectRef<{ state: string; at: number }>('PairStateTime').implement({
    fields: (t) => ({ state: t.field({ type: SyncState, resolve: (s) => s.state as never }), at: t.exposeFloat('at', { description: 'Simulated seconds.' }) }),
  });

  builder.node(refs.ReplicaPair, {
    id: { resolve: (p) => p.id },
    loadMany: (ids, ctx) => loadAll(ctx.loaders.replicaPairs, ids),
    fields: (t) => ({
      owner: t.exposeString('owner', { description: 'The plugin that made the pair: ddr (same array) or rdr (another site).' }),
      masterVolume: t.field({ type: refs.VirtualVolume, resolve: async (p, _args, ctx) => (await ctx.loaders.vvols.load(p.mvId))! }),
      replicaVolume: t.field({ type: refs.VirtualVolume, resolve: async (p, _args, ctx) => (await ctx.loaders.vvols.load(p.rvId))! }),
      activity: t.field({ type: Activity, resolve: (p) => p.activity }),
      syncState: t.field({ type: SyncState, resolve: (p) => p.syncState }),
      copyControl: t.field({ type: CopyControl, resolve: (p) => p.copyControl }),
      rvAccess: t.field({ type: RvAccess, resolve: (p) => p.rvAccess }),
      rvUse: t.field({ type: RvUse, resolve: (p) => p.rvUse }),
      link: t.exposeString('link'),
      linkBytesPerSecond: t.exposeFloat('bytesPerSecond'),
      linkLatencyMs: t.exposeFloat('latencyMs'),
      separateDiffBytes: t.float({
        description: 'While separated: bytes written to MV or RV since the separation (what a DIFF replicate will copy).',
        resolve: async (p, _args, ctx) => (separating(p) ? dirtyBytes(ctx, p) : 0),
      }),
      copyDiffBytes: t.float({
        description: 'While replicating or restoring: bytes the RV (restore: the MV, behind the data it already shows) still lacks.',
        resolve: async (p, _args, ctx) => (separating(p) ? 0 : (await dirtyBytes(ctx, p)) + (await restoreBytesLeft(ctx, p))),
      }),
      bytesPerSecond: t.float({ description: 'The running copy\'s rate (0 when none).', resolve: async (p, _args, ctx) => (await pairTask(ctx, p))?.bytesPerSecond ?? 0 }),
      secondsUntilSynced: t.float({
        nullable: true,
        description: 'Simulated seconds until the running copy ends at its rate; 0 when in step, null when it cannot tell.',
        resolve: async (p, _args, ctx) => {
          const task = await pairTask(ctx, p);
          if (!task) return ['RPL_SYNC', 'RST_SYNC', 'SEPARATED'].includes(p.syncState) ? 0 : null;
          return task.bytesPerSecond > 0 ? (task.bytesTotal - task.bytesDone) / task.bytesPerSecond : null;
        },
      }),
      syncedAt: t.float({ nullable: true, description: 'Simulated seconds of the last point in time the RV held the MV exactly.', resolve: (p) => p.syncedAt }),
      stateTimes: t.field({ type: [StateTime], description: 'When each state was last entered (simulated seconds).', resolve: (p) => Object.entries(p.stateTimes).map(([state, at]) => ({ state, at })) }),
      task: t.field({ type: refs.Task, nullable: true, resolve: (p, _args, ctx) => pairTask(ctx, p) }),
    }),
  });

  builder.queryField('replicaPairs', (t) =>
    t.connection({
      type: refs.ReplicaPair,
      description: 'Replica pairs, oldest first.',
      args: { owner: t.arg.string({ description: 'ddr or rdr.' }), syncState: t.arg({ type: SyncState }) },
      resolve: (_root, args, ctx) => {
        const filters = and(args.owner ? eq(replicaPairs.owner, args.owner) : undefined, args.syncState ? eq(replicaPairs.syncState, args.syncState) : undefined);
        return tablePage(ctx.services.core.db, replicaPairs, [replicaPairs.createdAt, replicaPairs.id], filters, args);
      },
    }),
  );

  const pairId = (input: { pairId: unknown }) => decodeId(String(input.pairId), ['ReplicaPair'], 'input.pairId').id;
  const pairPayload = (t: any) => ({
    pair: t.field({ type: refs.ReplicaPair, resolve: (p: { pair: PairRow }) => p.pair }),
    task: t.field({ type: refs.Task, nullable: true, resolve: (p: { task?: TaskRow | null }) => p.task ?? null }),
  });

  refs.mutation<{ pair: PairRow; task: TaskRow | null }>({
    name: 'replicatePair',
    description: 'Copies the MV onto the RV (FULL or DIFF) as a task; the pair is RPL_EXEC, then RPL_SYNC.',
    scope: 'vmAdmin',
    input: (t) => ({ pairId: t.id({ required: true }), range: t.field({ type: ReplicateRange, defaultValue: 'DIFF' }) }),
    payload: pairPayload,
    resolve: (input, work, ctx) => ctx.services.core.pairs.replicate(work, pairId(input), input.range ?? 'DIFF'),
  });
  refs.mutation<{ pair: PairRow; task: TaskRow | null }>({
    name: 'separatePair',
    description: 'Freezes the RV at the MV\'s data as of now (SEP_EXEC while the rest is copied, then SEPARATED). rvUse IMMEDIATE: the RV shows that data at once and may be attached during SEP_EXEC; COMPLETE: only once SEPARATED.',
    scope: 'vmAdmin',
    input: (t) => ({ pairId: t.id({ required: true }), rvAccess: t.field({ type: RvAccess, defaultValue: 'RW' }), rvUse: t.field({ type: RvUse, defaultValue: 'COMPLETE' }) }),
    payload: pairPayload,
    resolve: (input, work, ctx) => {
      if (input.rvAccess === 'NR') throw new ValidationError('input.rvAccess', 'A separated RV is RO or RW');
      return ctx.services.core.pairs.separate(work, pairId(input), input.rvAccess ?? 'RW', input.rvUse ?? 'COMPLETE');
    },
  });
  refs.mutation<{ pair: PairRow; task: TaskRow | null }>({
    name: 'restorePair',
    description: 'Restores the MV from the RV, immediately: the MV shows the RV\'s data at once while the copy runs behind.',
    scope: 'vmAdmin',
    input: (t) => ({ pairId: t.id({ required: true }), mode: t.field({ type: RestoreMode, defaultValue: 'UPDATE' }) }),
    payload: pairPayload,
    resolve: (input, work, ctx) => ctx.services.core.pairs.restore(work, pairId(input), input.mode ?? 'UPDATE'),
  });
  refs.mutation<{ pair: PairRow; task: TaskRow | null }>({
    name: 'changePairCopyControl',
    description: 'SYNC mirrors each write to the RV before it completes; BACKGROUND copies afterwards; SEMI_SYNC (rdr) is BACKGROUND until the backlog passes a threshold.',
    scope: 'vmAdmin',
    input: (t) => ({ pairId: t.id({ required: true }), copyControl: t.field({ type: CopyControl, required: true }) }),
    payload: pairPayload,
    resolve: async (input, work, ctx) => ({ pair: await ctx.services.core.pairs.changeCopyControl(work, pairId(input), input.copyControl), task: null }),
  });
  refs.mutation<{ pair: PairRow; virtualMachine: VirtualMachineRow }>({
    name: 'attachReplicaVolume',
    description: 'Attaches the RV of a SEPARATED pair (or of one still separating with rvUse IMMEDIATE) to a VM on the RV\'s array as its next disk (read-only if separated RO), e.g. for backup or reporting. replicatePair and restorePair wait until it is detached.',
    scope: 'vmAdmin',
    input: (t) => ({ pairId: t.id({ required: true }), vmId: t.id({ required: true }) }),
    payload: (t) => ({
      pair: t.field({ type: refs.ReplicaPair, resolve: (p) => p.pair }),
      virtualMachine: t.field({ type: refs.VirtualMachine, resolve: (p) => p.virtualMachine }),
    }),
    resolve: async (input, work, ctx) => {
      const { pair, rv, readOnly } = await ctx.services.core.pairs.attachable(work, pairId(input));
      const vmId = decodeId(String(input.vmId), ['VirtualMachine'], 'input.vmId').id;
      return { pair, virtualMachine: await attachVolume(work, vmId, rv, readOnly) };
    },
  });
  refs.mutation<{ pair: PairRow }>({
    name: 'detachReplicaVolume',
    description: 'Detaches an attached RV from its VM; the pair can be replicated or restored again.',
    scope: 'vmAdmin',
    input: (t) => ({ pairId: t.id({ required: true }) }),
    payload: (t) => ({ pair: t.field({ type: refs.ReplicaPair, resolve: (p) => p.pair }) }),
    resolve: async (input, work, ctx) => {
      const { pairs } = ctx.services.core;
      await detachVolume(work, await pairs.attachedRv(work, pairId(input)));
      return { pair: await pairs.find(work.tx, pairId(input)) };
    },
  });
  refs.mutation<{ unpairedId: string }>({
    name: 'unpair',
    description: 'Removes the pair (from SEPARATED, CANCEL or FAULT; `force` from any state, stopping its copy). Both volumes stay.',
    scope: 'vmAdmin',
    input: (t) => ({ pairId: t.id({ required: true }), force: t.boolean({ defaultValue: false }) }),
    payload: (t) => ({ unpairedId: t.id({ resolve: (p) => p.unpairedId }) }),
    resolve: async (input, work, ctx) => {
      await ctx.services.core.pairs.unpair(work, pairId(input), input.force ?? false);
      return { unpairedId: String(input.pairId) };
    },
  });
}
