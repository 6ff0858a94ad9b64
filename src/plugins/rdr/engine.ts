import { and, eq, sql } from 'drizzle-orm';
import { ConflictError, isCopyOf, NotFoundError, resultRows, simulatedNow, topic, type AlarmChange, type ComplianceContext, type ComplianceViolation, type CopyControl, type LifecycleContext, type PairRow, type PolicyContext, type PolicyOutcome, type PolicyRule, type TaskRow, type TickContext, type VirtualMachineRow, type VirtualVolumeRow } from '../../core/plugin.ts';
import { createGroup, dropGroups, groupOfVm, groupPairs, groupsTargeting, groupsProgress, pairLag, pairProgress, pointCopyFinished, replicated, rpoOf } from './groups.ts';
import { pairRemote } from './pairing.ts';
import { rdrGroups } from './tables.ts';

export const progressTopic = (groupId: string) => topic('replicationProgress', groupId);
export const pairProgressTopic = (pairId: string) => topic('replicationProgress', `pair:${pairId}`);

/**
 * observe: each group's RPO against its policy (a REPLICATION alarm raised past it, cleared back
 * within it), and its progress published to those who follow it.
 */
export async function observe(ctx: TickContext): Promise<void> {
  await publishPairProgress(ctx);
  const raised = await raisedReplicationAlarms(ctx);
  const groups = await ctx.db.select().from(rdrGroups).where(eq(rdrGroups.sourceState, 'SOURCE'));
  if (groups.length === 0 && raised.length === 0) return;
  const rpos = await rpoOf(ctx.db, groups.map((g) => g.sourceVmId));
  // Only groups with an RPO to check or someone following their progress: all of them at once.
  const watched = groups.filter((g) => rpos.has(g.sourceVmId) || ctx.followed(progressTopic(g.id)));
  const progresses = await groupsProgress(ctx, ctx.db, watched, ctx.now, rpos);
  const alarms: AlarmChange[] = [];
  for (const group of watched) {
    const rpo = rpos.get(group.sourceVmId) ?? null;
    const state = progresses.get(group.id)!;
    if (ctx.followed(progressTopic(group.id))) ctx.work.publishAfterCommit(progressTopic(group.id), { ...state, groupId: group.id, time: ctx.now });
    if (rpo !== null && group.targetState !== 'FAILEDOVER') {
      const over = state.rpoLagSeconds > rpo;
      alarms.push({
        kind: 'REPLICATION',
        entityType: 'ReplicationGroup',
        entityId: group.id,
        status: over ? 'RED' : 'GREEN',
        message: over
          ? `RDR: VM ${group.sourceVmId}'s replica lags ${state.rpoLagSeconds.toFixed(0)} s behind, past its RPO of ${rpo} s`
          : `RDR: VM ${group.sourceVmId}'s replica is within its RPO of ${rpo} s again (${state.rpoLagSeconds.toFixed(0)} s)`,
      });
    }
  }
  // A raised alarm of a group not judged this tick would stay RED for ever: its group failed over (no
  // replica left to lag), was deleted with its VM, or its policy no longer asks for an RPO.
  const judged = new Set(alarms.map((a) => a.entityId));
  for (const groupId of raised.filter((id) => !judged.has(id))) {
    alarms.push({ kind: 'REPLICATION', entityType: 'ReplicationGroup', entityId: groupId, status: 'GREEN', message: `RDR: replication group ${groupId} has no RPO to keep any more (failed over, deleted, or its policy asks for none)` });
  }
  await ctx.work.setAlarms(alarms);
}

/** The groups whose REPLICATION alarm is raised (one statement). */
async function raisedReplicationAlarms(ctx: TickContext): Promise<string[]> {
  const rows = resultRows<{ entity_id: string }>(await ctx.db.execute(sql`select entity_id from alarms where kind = 'REPLICATION' and status <> 'GREEN'`));
  return rows.map((r) => r.entity_id);
}

/** Each followed pair's progress, for `replicationProgress(pairId)`: nothing to read when nobody follows a pair. */
async function publishPairProgress(ctx: TickContext): Promise<void> {
  const prefix = pairProgressTopic('');
  for (const id of ctx.followedWith(prefix).map((name) => name.slice(prefix.length)).sort()) {
    const pair = await ctx.pairs.find(ctx.db, id).catch((error) => (error instanceof NotFoundError ? null : Promise.reject(error)));
    if (pair) ctx.work.publishAfterCommit(pairProgressTopic(id), { ...(await pairProgress(ctx, ctx.db, pair, ctx.now)), pairId: id, time: ctx.now });
  }
}

/** NON_COMPLIANT when a volume's remote replica lags past the policy's RPO, or it has none. */
export async function compliance(ctx: ComplianceContext, items: { vvol: VirtualVolumeRow; rules: PolicyRule[] }[]): Promise<Map<string, ComplianceViolation[]>> {
  const result = new Map<string, ComplianceViolation[]>();
  const judged = items.filter(({ vvol, rules }) => rules.some((r) => r.capabilityId === 'nec.rdr.replica' && r.value === true) && replicated(vvol) && !vvol.snapshotId && !isCopyOf(vvol));
  if (judged.length === 0) return result;
  // Each MV's first rdr pair (an MV may have more than one), found once rather than searched for per volume.
  const pairOf = new Map<string, PairRow>();
  for (const p of await ctx.pairs.ofVolumes(ctx.db, judged.map((j) => j.vvol.id), 'mv', 'rdr')) if (!pairOf.has(p.mvId)) pairOf.set(p.mvId, p);
  const targetOf = await groupsTargeting(ctx.db, judged.filter(({ vvol }) => vvol.vmId && !pairOf.has(vvol.id)).map(({ vvol }) => vvol.vmId!));
  const now = await simulatedNow(ctx.db);
  for (const { vvol, rules } of judged) {
    const rpo = (rules.find((r) => r.capabilityId === 'nec.rdr.rpoSeconds')?.value as number | undefined) ?? 300;
    const pair = pairOf.get(vvol.id);
    if (!pair) {
      // A test failover's VM is a test: it goes when the test stops, and is not judged on replication.
      const target = vvol.vmId ? targetOf.get(vvol.vmId) : undefined;
      if (target?.targetState === 'INTEST') continue;
      const message = target ? 'The volume\'s VM was failed over: it has no remote replica until its replication group is reversed' : 'The volume has no remote replica';
      result.set(vvol.id, [{ capabilityId: 'nec.rdr.replica', expected: 'true', current: 'false', message }]);
      continue;
    }
    const lag = pairLag(pair, now);
    if (lag > rpo) {
      result.set(vvol.id, [{ capabilityId: 'nec.rdr.rpoSeconds', expected: `${rpo} s`, current: `${Math.round(lag)} s`, message: `The remote replica lags ${Math.round(lag)} s behind, past the RPO of ${rpo} s` }]);
    }
  }
  return result;
}

export function taskFinished(ctx: LifecycleContext, task: TaskRow): Promise<void> {
  return pointCopyFinished(ctx, ctx.work, task);
}

/**
 * Policy-driven pairing: a VVOL under a policy with nec.rdr.replica gets an RV at the target site (the
 * VM's group, made on its first volume), copied FULL; IN_PROGRESS until in step. Without the rule any
 * more, its pair goes (forced) with the RV.
 */
export async function policyApplied(ctx: PolicyContext, vvol: VirtualVolumeRow, rules: PolicyRule[]): Promise<PolicyOutcome> {
  if (!replicated(vvol) || vvol.snapshotId) return;
  const value = (id: string) => rules.find((r) => r.capabilityId === id)?.value;
  let [pair] = await ctx.pairs.ofVolumes(ctx.tx, [vvol.id], 'mv', 'rdr');
  if (value('nec.rdr.replica') !== true) {
    // Only what the policy made goes with its rules: pairs and groups made by hand stay.
    if (pair?.policyManaged) await ctx.pairs.dropReplica(ctx.work, pair);
    return;
  }
  const copyControl = (value('nec.rdr.copyControl') as CopyControl | undefined) ?? 'BACKGROUND';
  const targetSite = (value('nec.rdr.targetSite') as string | undefined) ?? null;
  if (!pair) {
    const group = vvol.vmId ? await groupOfVm(ctx.tx, vvol.vmId) : null;
    // The VM a failover or a test failover registered at the target: reversing its group replicates it back.
    if (group && group.targetVmId === vvol.vmId) return;
    if (vvol.vmId && !group) {
      // Policy-made (policyManaged): the core deletes these replicas with their MVs.
      await createGroup(ctx, ctx.work, { vmId: vvol.vmId, targetSite, copyControl, policyManaged: true });
    } else {
      const created = await pairRemote(ctx, ctx.work, { mvId: vvol.id, targetSite, copyControl, policyManaged: true });
      await ctx.pairs.replicate(ctx.work, created.id, 'FULL');
    }
    // An empty volume's replica is complete at once: in progress only while there is something to copy.
    [pair] = await ctx.pairs.ofVolumes(ctx.tx, [vvol.id], 'mv', 'rdr');
    return pair?.syncedAt === null ? { inProgress: 'copying the remote replica (FULL)' } : undefined;
  }
  if (pair.copyControl !== copyControl) await ctx.pairs.changeCopyControl(ctx.work, pair.id, copyControl);
  if (pair.syncState === 'SEPARATED' || pair.syncState === 'CANCEL' || pair.syncState === 'FAULT') {
    await ctx.pairs.replicate(ctx.work, pair.id, 'DIFF');
    return { inProgress: `replicating again from ${pair.syncState}` };
  }
  return pair.syncedAt === null ? { inProgress: 'copying the remote replica' } : undefined;
}

/**
 * A disk added to a group's source VM joins the group (VASA's group is the VM's volumes): paired like the
 * others, at the group's target container, and copied FULL. Left out, it would be missing from every
 * point in time, and a failover would give a VM without it.
 */
export async function vvolCreated(ctx: LifecycleContext, vvol: VirtualVolumeRow): Promise<void> {
  if (vvol.type !== 'DATA' || !vvol.vmId || vvol.snapshotId || isCopyOf(vvol)) return;
  const [group] = await ctx.tx.select().from(rdrGroups).where(and(eq(rdrGroups.sourceVmId, vvol.vmId), eq(rdrGroups.sourceState, 'SOURCE')));
  if (!group) return;
  const [model] = await groupPairs(ctx, ctx.tx, group.sourceVmId);
  if (!model) return;
  const pair = await pairRemote(ctx, ctx.work, { mvId: vvol.id, containerId: group.targetContainerId, copyControl: model.copyControl, policyManaged: model.policyManaged });
  await ctx.pairs.replicate(ctx.work, pair.id, 'FULL');
}

/**
 * A planned failover's final sync is its source VM's last data: powered on, or reverted, before the failover
 * ends, the VM would change what the failed-over VM never gets (and then be fenced). It stays as it is until then.
 */
async function refuseDuringFinalSync(ctx: LifecycleContext, vm: VirtualMachineRow, change: string): Promise<void> {
  const group = await groupOfVm(ctx.tx, vm.id);
  if (group?.sourceVmId !== vm.id || group.pending?.transition !== 'FAILOVER') return;
  throw new ConflictError(`VM ${vm.name} is being failed over (planned): it cannot be ${change} until the final sync (task ${group.pending.taskId}) ends and the failover completes`, 'FAILOVER_PENDING');
}

export const vmPoweredOn = (ctx: LifecycleContext, vm: VirtualMachineRow) => refuseDuringFinalSync(ctx, vm, 'powered on');
export const vmReverted = (ctx: LifecycleContext, vm: VirtualMachineRow) => refuseDuringFinalSync(ctx, vm, 'reverted');

/** A source VM deleted: its group goes with it, and so do its points in time's copies. */
export async function vvolDeleted(ctx: LifecycleContext, vvol: VirtualVolumeRow): Promise<void> {
  if (vvol.type !== 'CONFIG' || !vvol.vmId) return;
  const gone = await ctx.tx.select({ id: rdrGroups.id }).from(rdrGroups).where(eq(rdrGroups.sourceVmId, vvol.vmId));
  await dropGroups(ctx, ctx.work, gone.map((g) => g.id));
}
