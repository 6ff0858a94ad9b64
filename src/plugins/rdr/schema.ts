import { asc, desc, eq } from 'drizzle-orm';
import { anyOf, ConflictError, isUuid, NotFoundError, ValidationError, tablePage, type CopyControl, type PairRow, type SchemaBuilder, type SchemaRefs, type UnitOfWork } from '../../core/plugin.ts';
import { pairProgressTopic, progressTopic } from './engine.ts';
import { apply, createGroup, eachPairProgress, findGroup, groupOfVm, groupsPairs, groupsProgress, plan, rpoOf, type GroupRow, type HistoryRow, type Plan, type PointRow, type Progress, type Transition } from './groups.ts';
import { configureLink, DEFAULT_LINK } from './links.ts';
import { pairRemote } from './pairing.ts';
import { rdrGroupHistory, rdrGroups, rdrLinks, rdrPointsInTime } from './tables.ts';

type GroupView = GroupRow & { side: 'SOURCE' | 'TARGET' };

/** rdr's GraphQL: links, remote pairs, replication groups with their DR transitions (each with a dry run), progress and history. */
export function schema(builder: SchemaBuilder, refs: SchemaRefs): void {
  const State = builder.enumType('ReplicationGroupState', { values: ['SOURCE', 'TARGET', 'INTEST', 'FAILEDOVER', 'REMOTE_FAILEDOVER'] as const });
  const Health = builder.enumType('ReplicationHealth', {
    values: ['OK', 'INITIAL_COPY', 'RPO_EXCEEDED', 'FAULT', 'FAILED_OVER', 'NOT_REPLICATING'] as const,
    description: 'OK: within RPO; INITIAL_COPY: a replica not yet complete; RPO_EXCEEDED: lag past the policy\'s RPO; FAULT: a pair cancelled or faulted.',
  });
  const TransitionEnum = builder.enumType('ReplicationTransition', { values: ['SYNC', 'TEST_FAILOVER_START', 'TEST_FAILOVER_STOP', 'FAILOVER', 'REVERSE', 'PROMOTE'] as const });

  const Link = builder.objectRef<{ sourceArrayId: string; targetArrayId: string; bytesPerSecond: number; latencyMs: number; semiSyncThresholdBytes: number }>('ReplicationLink').implement({
    description: 'One direction between two arrays at different sites: every rdr pair on it gets these figures.',
    fields: (t) => ({
      sourceArray: t.field({ type: refs.StorageArray, resolve: async (l, _a, ctx) => (await ctx.loaders.arrays.load(l.sourceArrayId))! }),
      targetArray: t.field({ type: refs.StorageArray, resolve: async (l, _a, ctx) => (await ctx.loaders.arrays.load(l.targetArrayId))! }),
      bytesPerSecond: t.exposeFloat('bytesPerSecond'),
      latencyMs: t.exposeFloat('latencyMs', { description: 'Added to the write service time of SYNC (and SEMI_SYNC above its threshold) writes.' }),
      semiSyncThresholdBytes: t.exposeFloat('semiSyncThresholdBytes', { description: 'SEMI_SYNC: writes wait for the remote side while more than this is unsent.' }),
    }),
  });

  const ProgressRef = builder.objectRef<Progress & { time: number }>('ReplicationProgress').implement({
    fields: (t) => ({
      time: t.exposeFloat('time', { description: 'Simulated seconds when measured.' }),
      rpoLagSeconds: t.exposeFloat('rpoLagSeconds', { description: 'How far (simulated seconds) the least recent replica is behind its MV.' }),
      rpoSeconds: t.float({ nullable: true, description: 'The policy\'s RPO (null: none asked for).', resolve: (p) => p.rpoSeconds }),
      bytesRemaining: t.exposeFloat('bytesRemaining', { description: 'Bytes the RVs still lack (the dirty extents).' }),
      bytesPerSecond: t.exposeFloat('bytesPerSecond', { description: 'The rate the running copies had in the last tick (0 when none runs).' }),
      etaSeconds: t.exposeFloat('etaSeconds', { description: 'bytesRemaining at the current rate (the link\'s bandwidth when no copy runs yet).' }),
      lastPointInTime: t.float({ nullable: true, description: 'Simulated seconds of the last complete point-in-time replica.', resolve: (p) => p.lastPointInTime }),
      health: t.field({ type: Health, resolve: (p) => p.health }),
    }),
  });

  const PointInTime = builder.objectRef<PointRow>('PointInTimeReplica').implement({
    description: 'At the target, a copy of each volume of the group as of one instant (consistent across them).',
    fields: (t) => ({
      id: t.exposeID('id'),
      takenAt: t.exposeFloat('takenAt', { description: 'Simulated seconds: the instant it holds.' }),
      complete: t.boolean({ resolve: (p) => p.state === 'COMPLETE' }),
      volumes: t.field({
        type: [refs.VirtualVolume],
        description: 'The copies at the target (their contentDigest is the source volumes\' as of takenAt once complete).',
        resolve: async (p, _a, ctx) => (await ctx.loaders.vvols.loadMany(p.volumes.map((v) => v.copyId))).filter((v): v is NonNullable<typeof v> & { id: string } => !!v && !(v instanceof Error)) as never,
      }),
      masterVolumes: t.field({
        type: [refs.VirtualVolume],
        description: 'The source volume of each copy, in the same order.',
        resolve: async (p, _a, ctx) => (await ctx.loaders.vvols.loadMany(p.volumes.map((v) => v.mvId))).filter((v) => !!v && !(v instanceof Error)) as never,
      }),
    }),
  });

  const History = builder.objectRef<HistoryRow>('ReplicationGroupHistoryEntry').implement({
    fields: (t) => ({
      at: t.exposeFloat('at', { description: 'Simulated seconds.' }),
      transition: t.exposeString('transition'),
      from: t.exposeString('fromState', { description: 'source/target states before.' }),
      to: t.exposeString('toState', { description: 'source/target states after.' }),
      detail: t.exposeString('detail'),
    }),
  });

  const Group = builder.objectRef<GroupView>('ReplicationGroup');
  builder.node(Group, {
    id: { resolve: (g) => g.id },
    loadMany: async (ids, ctx) => {
      const rows = await ctx.loaders.loaderById('rdrGroupsById', rdrGroups, rdrGroups.id).loadMany(ids);
      return rows.map((row) => (row && !(row instanceof Error) ? { ...row, side: 'SOURCE' as const } : null));
    },
    description: 'A VASA 3.0 replication group: one VM\'s replicated volumes, consistent together, with both sides\' states.',
    fields: (t) => ({
      state: t.field({ type: State, description: 'The state of the side it was reached from (a VM\'s group: that VM\'s side; otherwise the source side).', resolve: (g) => (g.side === 'TARGET' ? g.targetState : g.sourceState) }),
      sourceState: t.field({ type: State, resolve: (g) => g.sourceState }),
      targetState: t.field({ type: State, resolve: (g) => g.targetState }),
      sourceVirtualMachine: t.field({ type: refs.VirtualMachine, nullable: true, resolve: (g, _a, ctx) => ctx.loaders.vms.load(g.sourceVmId) }),
      targetVirtualMachine: t.field({ type: refs.VirtualMachine, nullable: true, description: 'The test VM (INTEST) or the failed-over VM (FAILEDOVER).', resolve: (g, _a, ctx) => (g.targetVmId ? ctx.loaders.vms.load(g.targetVmId) : null) }),
      sourceArray: t.field({ type: refs.StorageArray, resolve: async (g, _a, ctx) => (await ctx.loaders.arrays.load(g.sourceArrayId))! }),
      targetArray: t.field({ type: refs.StorageArray, resolve: async (g, _a, ctx) => (await ctx.loaders.arrays.load(g.targetArrayId))! }),
      targetContainer: t.field({ type: refs.StorageContainer, resolve: async (g, _a, ctx) => (await ctx.loaders.containers.load(g.targetContainerId))! }),
      pending: t.field({ type: TransitionEnum, nullable: true, description: 'A transition waiting for its copy (a sync\'s point in time, a planned failover\'s final sync).', resolve: (g) => g.pending?.transition ?? null }),
      // Each list below is one statement per request (a few for progress), however many groups are listed.
      pairs: t.field({
        type: [refs.ReplicaPair],
        resolve: (g, _a, ctx) =>
          ctx.loaders.loader<string, PairRow[]>('rdrGroupPairs', async (vmIds) => {
            const pairs = await groupsPairs(ctx.services.core, ctx.services.core.db, vmIds);
            return vmIds.map((id) => pairs.get(id)!);
          }).load(g.sourceVmId),
      }),
      pointsInTime: t.field({
        type: [PointInTime],
        description: 'Newest first.',
        resolve: (g, _a, ctx) =>
          ctx.loaders.loader<string, PointRow[]>('rdrPointsInTime', async (groupIds) => {
            const rows = await ctx.services.core.db.select().from(rdrPointsInTime).where(anyOf(rdrPointsInTime.groupId, [...groupIds])).orderBy(desc(rdrPointsInTime.takenAt), desc(rdrPointsInTime.createdAt));
            return groupIds.map((id) => rows.filter((r) => r.groupId === id));
          }).load(g.id),
      }),
      progress: t.field({
        type: ProgressRef,
        resolve: (g, _a, ctx) =>
          ctx.loaders.loader<GroupRow, Progress & { time: number }>('rdrGroupProgress', async (groups) => {
            const { core } = ctx.services;
            const now = (await ctx.loaders.simulationClock.load(1))?.simulatedSeconds ?? 0;
            const progresses = await groupsProgress(core, core.db, [...groups], now, await rpoOf(core.db, groups.map((group) => group.sourceVmId)));
            return groups.map((group) => ({ ...progresses.get(group.id)!, time: now }));
          }, { cacheKeyFn: (group) => group.id }).load(g),
      }),
      history: t.field({
        type: [History],
        resolve: (g, _a, ctx) =>
          ctx.loaders.loader<string, HistoryRow[]>('rdrGroupHistory', async (groupIds) => {
            const rows = await ctx.services.core.db.select().from(rdrGroupHistory).where(anyOf(rdrGroupHistory.groupId, [...groupIds])).orderBy(asc(rdrGroupHistory.id));
            return groupIds.map((id) => rows.filter((r) => r.groupId === id));
          }).load(g.id),
      }),
    }),
  });

  builder.objectField(refs.ReplicaPair, 'progress', (t) =>
    t.field({
      type: ProgressRef,
      description: 'This pair\'s replication progress (lastPointInTime: its last exact sync).',
      resolve: (pair, _a, ctx) =>
        ctx.loaders.loader<PairRow, Progress & { time: number }>('rdrPairProgress', async (pairs) => {
          const { core } = ctx.services;
          const now = (await ctx.loaders.simulationClock.load(1))?.simulatedSeconds ?? 0;
          return (await eachPairProgress(core, core.db, pairs, now)).map((progress) => ({ ...progress, time: now }));
        }, { cacheKeyFn: (p) => p.id }).load(pair),
    }),
  );

  builder.objectField(refs.VirtualMachine, 'replicationGroup', (t) =>
    t.field({
      type: Group,
      nullable: true,
      description: 'The RDR replication group this VM is the source of, or the test / failed-over VM of.',
      resolve: async (vm, _a, ctx) => {
        const group = await groupOfVm(ctx.services.core.db, vm.id);
        return group ? { ...group, side: group.sourceVmId === vm.id ? ('SOURCE' as const) : ('TARGET' as const) } : null;
      },
    }),
  );
  builder.objectField(refs.VirtualVolume, 'remoteReplicas', (t) =>
    t.field({
      type: [refs.ReplicaPair],
      description: 'RemoteDataReplication pairs in which this volume is the MV.',
      resolve: (vvol, _a, ctx) =>
        ctx.loaders.loader<string, PairRow[]>('rdrPairsByMv', async (ids) => {
          const pairs = await ctx.services.core.pairs.ofVolumes(ctx.services.core.db, ids, 'mv', 'rdr');
          return ids.map((id) => pairs.filter((p) => p.mvId === id));
        }).load(vvol.id),
    }),
  );

  builder.queryField('replicationLinks', (t) =>
    t.field({
      type: [Link],
      description: 'Configured links (a pair of arrays without one uses 125,000,000 B/s, 5 ms, a 256 MiB SEMI_SYNC threshold).',
      resolve: (_r, _a, ctx) => ctx.services.core.db.select().from(rdrLinks),
    }),
  );
  builder.queryField('replicationGroups', (t) =>
    t.connection({
      type: Group,
      description: 'Replication groups, oldest first, each as its source side sees it.',
      resolve: async (_r, args, ctx) => {
        const page = await tablePage(ctx.services.core.db, rdrGroups, [rdrGroups.createdAt, rdrGroups.id], undefined, args);
        return { ...page, edges: page.edges.map((edge) => edge && { ...edge, node: { ...edge.node, side: 'SOURCE' as const } }) };
      },
    }),
  );

  builder.subscriptionField('replicationProgress', (t) =>
    t.field({
      type: ProgressRef,
      description: 'Every tick\'s progress of one replication group (give groupId, or vmId of a VM in a group) or of one pair (pairId, ddr\'s or rdr\'s).',
      args: { groupId: t.arg.id(), vmId: t.arg.id(), pairId: t.arg.id() },
      subscribe: async (_root, args, ctx) => {
        if ([args.groupId, args.vmId, args.pairId].filter((a) => a != null).length !== 1) throw new ValidationError('groupId', 'Give exactly one of groupId, vmId and pairId');
        if (args.pairId != null) {
          const pairId = refs.decodeId(String(args.pairId), ['ReplicaPair'], 'pairId').id;
          await ctx.services.core.pairs.find(ctx.services.core.db, pairId, 'pairId');
          return follow(ctx, pairProgressTopic(pairId));
        }
        let groupId: string;
        if (args.groupId) groupId = refs.decodeId(String(args.groupId), ['ReplicationGroup'], 'groupId').id;
        else {
          const group = await groupOfVm(ctx.services.core.db, refs.decodeId(String(args.vmId), ['VirtualMachine'], 'vmId').id);
          if (!group) throw new ValidationError('vmId', 'The VM is in no replication group');
          groupId = group.id;
        }
        return follow(ctx, progressTopic(groupId));
      },
      resolve: (sample: any) => sample,
    }),
  );

  refs.mutation<{ link: any; pairs: PairRow[] }>({
    name: 'configureReplicationLink',
    description: 'RDR: the bandwidth, latency and SEMI_SYNC threshold from one array to an array at another site; the pairs on it and their running copies take them at once.',
    scope: 'storageAdmin',
    input: (t) => ({
      sourceArrayId: t.id({ required: true }),
      targetArrayId: t.id({ required: true }),
      bytesPerSecond: t.field({ type: 'Bytes', required: true }),
      latencyMs: t.float({ required: true }),
      semiSyncThresholdBytes: t.field({ type: 'Bytes', description: `Default ${DEFAULT_LINK.semiSyncThresholdBytes}.` }),
    }),
    payload: (t) => ({ link: t.field({ type: Link, resolve: (p) => p.link }), pairs: t.field({ type: [refs.ReplicaPair], resolve: (p) => p.pairs }) }),
    resolve: (input, work, ctx) => {
      if (!(input.bytesPerSecond > 0)) throw new ValidationError('input.bytesPerSecond', `The link bandwidth must be positive, got ${input.bytesPerSecond}`);
      if (!(input.latencyMs >= 0) || !Number.isFinite(input.latencyMs)) throw new ValidationError('input.latencyMs', `The link latency cannot be negative, got ${input.latencyMs}`);
      if (input.semiSyncThresholdBytes != null && !(input.semiSyncThresholdBytes >= 0)) throw new ValidationError('input.semiSyncThresholdBytes', `The threshold cannot be negative, got ${input.semiSyncThresholdBytes}`);
      const source = refs.decodeId(String(input.sourceArrayId), ['StorageArray'], 'input.sourceArrayId').id;
      const target = refs.decodeId(String(input.targetArrayId), ['StorageArray'], 'input.targetArrayId').id;
      return configureLink(work, ctx.services.core.pairs, source, target, { bytesPerSecond: input.bytesPerSecond, latencyMs: input.latencyMs, semiSyncThresholdBytes: input.semiSyncThresholdBytes ?? DEFAULT_LINK.semiSyncThresholdBytes });
    },
  });

  refs.mutation<{ pair: PairRow }>({
    name: 'pairRemoteReplica',
    description: 'RDR: pairs a volume (MV) with a replica volume (RV) on a PRIMARY array at another site, SEPARATED; replicatePair then copies over the link. Without rvId, a new RV of the MV\'s size goes to targetContainerId (default: the roomiest container at another site).',
    scope: 'vmAdmin',
    input: (t) => ({
      mvId: t.id({ required: true }),
      rvId: t.id(),
      targetContainerId: t.id(),
      copyControl: t.field({ type: refs.enums.CopyControl, defaultValue: 'BACKGROUND' }),
    }),
    payload: (t) => ({ pair: t.field({ type: refs.ReplicaPair, resolve: (p) => p.pair }) }),
    resolve: async (input, work, ctx) => {
      const copyControl: CopyControl = input.copyControl ?? 'BACKGROUND';
      const mvId = refs.decodeId(String(input.mvId), ['VirtualVolume'], 'input.mvId').id;
      const rvId = input.rvId ? refs.decodeId(String(input.rvId), ['VirtualVolume'], 'input.rvId').id : null;
      const containerId = input.targetContainerId ? refs.decodeId(String(input.targetContainerId), ['StorageContainer'], 'input.targetContainerId').id : null;
      return { pair: await pairRemote(ctx.services.core, work, { mvId, rvId, containerId, copyControl }) };
    },
  });

  refs.mutation<{ group: GroupView }>({
    name: 'createReplicationGroup',
    description: 'RDR: pairs every CONFIG and DATA volume of a VM with an RV at another site (FULL copies start) and makes them one replication group, SOURCE here and TARGET there.',
    scope: 'vmAdmin',
    input: (t) => ({ vmId: t.id({ required: true }), targetContainerId: t.id(), copyControl: t.field({ type: refs.enums.CopyControl, defaultValue: 'BACKGROUND' }) }),
    payload: (t) => ({ group: t.field({ type: Group, resolve: (p) => p.group }) }),
    resolve: async (input, work, ctx) => {
      const copyControl: CopyControl = input.copyControl ?? 'BACKGROUND';
      const vmId = refs.decodeId(String(input.vmId), ['VirtualMachine'], 'input.vmId').id;
      const targetContainerId = input.targetContainerId ? refs.decodeId(String(input.targetContainerId), ['StorageContainer'], 'input.targetContainerId').id : null;
      return { group: { ...(await createGroup(ctx.services.core, work, { vmId, targetContainerId, copyControl })), side: 'SOURCE' } };
    },
  });

  const PlanRef = builder.objectRef<Plan & { applied: boolean }>('ReplicationPlan').implement({
    description: 'What a DR transition does (plan: true) or did: the states, the volumes and bindings it touches, the point in time it uses, what blocks it.',
    fields: (t) => ({
      transition: t.field({ type: TransitionEnum, resolve: (p) => p.transition }),
      applied: t.exposeBoolean('applied', { description: 'False for a dry run.' }),
      fromSourceState: t.field({ type: State, resolve: (p) => p.from.source }),
      fromTargetState: t.field({ type: State, resolve: (p) => p.from.target }),
      toSourceState: t.field({ type: State, resolve: (p) => p.to.source }),
      toTargetState: t.field({ type: State, resolve: (p) => p.to.target }),
      volumes: t.field({ type: [refs.VirtualVolume], resolve: async (p, _a, ctx) => (await ctx.loaders.vvols.loadMany(p.volumes)).filter((v) => !!v && !(v instanceof Error)) as never }),
      volumeIds: t.idList({ description: 'The volumes touched, as VASA ids (some may be gone after the transition).', resolve: (p) => p.volumes }),
      bindings: t.field({ type: [refs.VirtualVolume], description: 'Volumes whose binding the transition changes.', resolve: async (p, _a, ctx) => (await ctx.loaders.vvols.loadMany(p.bindings)).filter((v) => !!v && !(v instanceof Error)) as never }),
      bindingIds: t.idList({ resolve: (p) => p.bindings }),
      pointInTime: t.field({ type: PointInTime, nullable: true, resolve: (p) => p.pointInTime }),
      blockers: t.stringList({ resolve: (p) => p.blockers }),
    }),
  });

  const transition = (name: string, kind: Transition, description: string, extra: (t: any) => Record<string, unknown> = () => ({}), options: (input: any) => { planned?: boolean; pointInTimeId?: string | null; copyControl?: CopyControl | null } = () => ({})) =>
    refs.mutation<{ plan: Plan & { applied: boolean }; groupId: string }>({
      name,
      description: `${description} With plan: true, only returns what it would do and what blocks it, changing nothing.`,
      scope: 'vmAdmin',
      input: (t) => ({ groupId: t.id({ required: true }), plan: t.boolean({ defaultValue: false }), ...extra(t) }) as never,
      payload: (t) => ({
        plan: t.field({ type: PlanRef, resolve: (p) => p.plan }),
        group: t.field({
          type: Group,
          nullable: true,
          resolve: async (p, _a, ctx) => {
            const [row] = await ctx.services.core.db.select().from(rdrGroups).where(eq(rdrGroups.id, p.groupId));
            return row ? { ...row, side: 'SOURCE' as const } : null;
          },
        }),
      }),
      resolve: async (input, work: UnitOfWork, ctx) => {
        const opts = options(input);
        const groupId = refs.decodeId(String(input.groupId), ['ReplicationGroup'], 'input.groupId').id;
        const group = await findGroup(work.tx, groupId);
        const p = await plan(ctx.services.core, work.tx, group, kind, opts);
        if (input.plan) return { plan: { ...p, applied: false }, groupId };
        if (p.blockers.length > 0) throw new ConflictError(`${kind} is not possible: ${p.blockers.join('; ')}`, p.currentState);
        await apply(ctx.services.core, work, p, opts);
        return { plan: { ...p, applied: true }, groupId };
      },
    });

  transition('syncReplicationGroup', 'SYNC', 'VASA syncReplicationGroup: a new point-in-time replica at the target of the source\'s data as of now (only the differences cross the link).');
  transition('testFailoverStart', 'TEST_FAILOVER_START', 'VASA testFailoverStart: a test VM at the target from a point-in-time replica (the last, or pointInTimeId); the source keeps running and replicating.',
    (t) => ({ pointInTimeId: t.id() }), (input) => ({ pointInTimeId: pointInTimeIdOf(input.pointInTimeId) }));
  transition('testFailoverStop', 'TEST_FAILOVER_STOP', 'VASA testFailoverStop: removes the test VM; the target is TARGET again.');
  transition('failoverReplicationGroup', 'FAILOVER', 'VASA failoverReplicationGroup: the target becomes the live VM. planned: a final sync first (the source VM must be off), done when its copy ends; unplanned: at once, from the last point-in-time replica (the source VM is fenced: powered off).',
    (t) => ({ planned: t.boolean({ required: true }) }), (input) => ({ planned: Boolean(input.planned) }));
  transition('reverseReplicationGroup', 'REVERSE', 'VASA reverseReplicationGroup: after a failover, the failed-over VM becomes the source, replicating (DIFF) back onto the old source\'s volumes.',
    (t) => ({ copyControl: t.field({ type: refs.enums.CopyControl, defaultValue: 'BACKGROUND' }) }), (input) => ({ copyControl: input.copyControl ?? 'BACKGROUND' }));
  transition('promoteReplicationGroup', 'PROMOTE', 'VASA promoteReplicationGroup: the test VM of a test failover becomes the live VM (FAILEDOVER); the source is fenced.');
}

/** A point in time's id as sent: a malformed one names no point (it must not reach the uuid column). */
function pointInTimeIdOf(value: unknown): string | null {
  if (value == null) return null;
  if (!isUuid(String(value))) throw new NotFoundError('input.pointInTimeId', String(value), `"${String(value)}" names no point-in-time replica`);
  return String(value);
}

async function* follow(ctx: any, topicName: string): AsyncGenerator<unknown> {
  const stop = ctx.services.engine.follow(topicName);
  const samples = ctx.services.core.bus.subscribe(topicName)[Symbol.asyncIterator]() as AsyncIterator<unknown>;
  try {
    for (let next = await samples.next(); !next.done; next = await samples.next()) yield next.value;
  } finally {
    stop();
    await samples.return?.();
  }
}
