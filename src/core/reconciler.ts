import { and, eq, sql } from 'drizzle-orm';
import { anyOf } from './db/client.ts';
import type { Core } from './core.ts';
import { storageContainers, storagePolicies, virtualDisks, virtualVolumes } from './db/tables.ts';
import { isCopyOf, type PolicyOutcome, type VirtualVolumeRow } from './plugin.ts';
import type { PolicyVerdictState } from './policy-verdicts.ts';
import { rulesByPolicy } from './services/policies.ts';
import type { UnitOfWork } from './unit-of-work.ts';

const BATCH = 500;
/** The unit number of the disk a VVOL backs (null for the others). */
const diskUnit = sql`(select d.unit_number from ${virtualDisks} d where d.vm_id = ${virtualVolumes.vmId} and d.vvol_id = ${virtualVolumes.id})`;
/** VVOLs not yet at their policy's generation. */
const waiting = anyOf(virtualVolumes.policyState, ['PENDING', 'IN_PROGRESS']);

type Verdict = { state: PolicyVerdictState; generation: number; reason: string | null };

/**
 * Brings every VVOL to its policy's current generation, as Kubernetes does for VolumeAttributesClass:
 * PENDING -> (IN_PROGRESS ->) APPLIED, or INFEASIBLE with the reason. Runs after each change commits,
 * at start-up and on every tick; one pass at a time per process, rows locked with SKIP LOCKED.
 */
export class Reconciler {
  private running: Promise<void> | null = null;
  private again = false;

  constructor(private readonly core: Core) {}

  kick(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    // Nobody awaits a kick: a failed pass is logged (and tried again at the next kick), not left to crash the process.
    this.running = this.drain()
      .catch((error) => console.error('policy reconciliation failed', error))
      .finally(() => {
        this.running = null;
      });
  }

  /** Resolves once no pass is running or asked for (tests and shutdown wait on it). */
  async settled(): Promise<void> {
    while (this.running) await this.running;
  }

  private async drain(): Promise<void> {
    do {
      this.again = false;
      while ((await this.pass()) === BATCH);
    } while (this.again);
  }

  /** One batch; returns how many VVOLs it looked at. */
  async pass(): Promise<number> {
    try {
      return await this.core.transact((work) => this.reconcile(work), { retries: 3 });
    } catch (error) {
      // A plugin that throws for one VVOL would fail every batch holding it: take that batch one VVOL at a time.
      return this.oneByOne(error);
    }
  }

  /**
   * The batch a failed pass held, each VVOL in a transaction of its own; one that still fails is INFEASIBLE
   * with the error, so that it is not tried again until its policy changes, and the others go on.
   */
  private async oneByOne(batchError: unknown): Promise<number> {
    const { core } = this;
    console.error('policy reconciliation failed; reconciling that batch one VVOL at a time', batchError);
    const ids = (await core.db.select({ id: virtualVolumes.id }).from(virtualVolumes).where(waiting).orderBy(virtualVolumes.createdAt, virtualVolumes.type, diskUnit, virtualVolumes.id).limit(BATCH)).map((v) => v.id);
    for (const id of ids) {
      try {
        await core.transact((work) => this.reconcile(work, id), { retries: 3 });
      } catch (error) {
        const reason = `reconciliation failed: ${error instanceof Error ? error.message : String(error)}`;
        await core.transact(async (work) => {
          const [vvol] = await work.tx.select().from(virtualVolumes).where(and(eq(virtualVolumes.id, id), waiting)).for('update');
          if (!vvol) return;
          await work.tx.update(virtualVolumes).set({ policyState: 'INFEASIBLE', policyReason: reason }).where(eq(virtualVolumes.id, id));
          emitVerdict(work, vvol, { state: 'INFEASIBLE', generation: vvol.policyGeneration, reason });
        });
      }
    }
    return ids.length;
  }

  /** Reconciles a batch of the VVOLs waiting (or just `onlyId`), under locks no other pass holds. */
  private async reconcile(work: UnitOfWork, onlyId?: string): Promise<number> {
    const { core } = this;
    const vvols = await work.tx
      .select()
      .from(virtualVolumes)
      .where(and(waiting, onlyId ? eq(virtualVolumes.id, onlyId) : undefined))
      // Admission takes them in this order (of one VM's disks, the first that fits gets the room), so it is
      // the same every run: a VM's volumes share their creation time.
      .orderBy(virtualVolumes.createdAt, virtualVolumes.type, diskUnit, virtualVolumes.id)
      .limit(BATCH)
      .for('update', { skipLocked: true });
    if (vvols.length === 0) return 0;
    const policyIds = [...new Set(vvols.map((v) => v.policyId))];
    const rules = await rulesByPolicy(work.tx, policyIds);
    const generations = new Map(
      (await work.tx.select({ id: storagePolicies.id, generation: storagePolicies.generation }).from(storagePolicies).where(anyOf(storagePolicies.id, policyIds))).map((p) => [p.id, p.generation]),
    );
    const containers = new Map(
      (await work.tx.select().from(storageContainers).where(anyOf(storageContainers.id, [...new Set(vvols.map((v) => v.containerId))]))).map((c) => [c.id, c]),
    );
    const verdicts = new Map<string, Verdict>();
    const reconciled = new Map<string, PolicyVerdictState>();
    const ctx = { ...core.context(work), reconciled };
    for (const vvol of vvols) {
      const policyRules = rules.get(vvol.policyId) ?? [];
      const generation = generations.get(vvol.policyId)!;
      const failed = policyRules.map((r) => core.registry.checkRuleOnContainer(r, containers.get(vvol.containerId)!)).filter((c) => !c.pass);
      let verdict: Verdict = failed.length > 0
        ? { state: 'INFEASIBLE', generation, reason: failed.map((c) => `${c.capabilityId}: ${c.reason}`).join('; ') }
        : { state: 'APPLIED', generation, reason: null };
      for (const plugin of core.plugins) {
        // A replica or backup volume follows its source: the policy's replication rules are its source's, not its own.
        if (verdict.state === 'INFEASIBLE' || !plugin.hooks?.policyApplied || isCopyOf(vvol)) continue;
        const outcome: PolicyOutcome = await plugin.hooks.policyApplied(ctx, vvol, core.rulesOf(plugin, policyRules));
        if (outcome && 'infeasible' in outcome) verdict = { state: 'INFEASIBLE', generation, reason: `${plugin.name}: ${outcome.infeasible}` };
        else if (outcome && 'inProgress' in outcome) verdict = { state: 'IN_PROGRESS', generation, reason: `${plugin.name}: ${outcome.inProgress}` };
      }
      verdicts.set(vvol.id, verdict);
      reconciled.set(vvol.id, verdict.state);
      emitVerdict(work, vvol, verdict);
    }
    const rows = [...verdicts].map(([id, v]) => ({ id, state: v.state, generation: v.generation, reason: v.reason }));
    await work.tx.execute(sql`
      update ${virtualVolumes} v set policy_state = u.state::policy_state, policy_generation = u.generation, policy_reason = u.reason
      from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as u(id uuid, state text, generation int, reason text)
      where v.id = u.id`);
    return vvols.length;
  }
}

function emitVerdict(work: UnitOfWork, vvol: VirtualVolumeRow, verdict: Verdict): void {
  if (vvol.policyState === verdict.state && vvol.policyGeneration === verdict.generation) return;
  work.emit({
    kind: `vvol.policy${verdict.state === 'APPLIED' ? 'Applied' : verdict.state === 'INFEASIBLE' ? 'Infeasible' : 'InProgress'}`,
    entityType: 'VirtualVolume',
    entityId: vvol.id,
    message: verdict.reason ?? `Policy generation ${verdict.generation} applied`,
    data: { policyId: vvol.policyId, generation: verdict.generation },
  });
}
