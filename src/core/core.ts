import { eq } from 'drizzle-orm';
import pLimit from 'p-limit';
import type { AppConfig } from './config.ts';
import type { Bus } from './bus.ts';
import { CapabilityRegistry } from './capabilities.ts';
import type { Database, DatabaseHandle } from './db/client.ts';
import { ExtentCopier } from './copier.ts';
import { simulationState } from './db/tables.ts';
import { ExtentStore } from './extents.ts';
import { Reconciler } from './reconciler.ts';
import { coreTaskFinished } from './services/clones.ts';
import { PairService, pairTaskKinds, type CopyControl } from './pairs.ts';
import { TaskQueue } from './task-queue.ts';
import { TaskService, type TaskFinished } from './tasks.ts';
import type { LifecycleContext, Plugin, PluginHooks, PolicyRule } from './plugin.ts';
import { transact, type UnitOfWork } from './unit-of-work.ts';
import { changesDemand, coreDemandNeutralEvents, markDemandChanged } from './demand-changes.ts';
import { VolumeService } from './volumes.ts';

type LifecycleHook = 'vvolCreated' | 'vvolDeleted' | 'vmPoweredOn' | 'vmPoweredOff' | 'vmReverted' | 'snapshotTaken' | 'cloned';
type HookArgs<K extends LifecycleHook> = NonNullable<PluginHooks[K]> extends (ctx: LifecycleContext, ...args: infer A) => unknown ? A : never;

/** What every service needs: the database, the bus, the loaded plugins and their capabilities. */
export class Core {
  readonly registry = new CapabilityRegistry();
  readonly extents = new ExtentStore();
  readonly reconciler: Reconciler = new Reconciler(this);
  readonly copier = new ExtentCopier(this.extents);
  readonly taskQueue: TaskQueue;
  readonly tasks: TaskService;
  readonly pairs: PairService;
  readonly volumes: VolumeService = new VolumeService(this);
  /** Beginnings of event kinds that never change the workload's demand: the core's and the plugins'. */
  private readonly demandNeutralEvents: string[];
  /** Open transactions, limited to the database's slots; the rest wait here, holding no connection. */
  private readonly transactionSlot: ReturnType<typeof pLimit>;

  constructor(
    readonly config: AppConfig,
    readonly database: DatabaseHandle,
    readonly bus: Bus,
    /** In hook order; the core's own `vasa` plugin first. */
    readonly plugins: Plugin[],
  ) {
    const owners = new Map<string, TaskFinished>([
      ['core', (work, task) => ((pairTaskKinds as readonly string[]).includes(task.kind) ? this.pairs.copyFinished(work, task) : coreTaskFinished(this, work, task))],
    ]);
    const copyControls = new Map<string, readonly CopyControl[]>();
    for (const plugin of plugins) {
      if (plugin.replicaPairs) copyControls.set(plugin.name, plugin.replicaPairs.copyControls);
      if (plugin.capabilities) this.registry.register(plugin.name, plugin.capabilities);
      const finished = plugin.hooks?.taskFinished;
      if (finished) owners.set(plugin.name, (work, task) => finished.call(plugin.hooks, this.context(work), task));
    }
    this.demandNeutralEvents = [...coreDemandNeutralEvents, ...plugins.flatMap((p) => p.demandNeutralEvents ?? [])];
    this.transactionSlot = pLimit(database.transactionSlots);
    this.taskQueue = new TaskQueue(database);
    this.tasks = new TaskService(this.taskQueue, this.copier, owners);
    this.pairs = new PairService(this.tasks, this.copier, this.extents, this.volumes, copyControls);
  }

  get db(): Database {
    return this.database.db;
  }

  /**
   * Runs `fn` in one transaction with a unit of work. With `retries`, a transaction PostgreSQL aborted as
   * a deadlock victim (a policy reconciliation and a mutation reserving capacity in two containers in
   * opposite orders) runs again: only for work whose every effect is in the database and the unit of work.
   *
   * Ticks and other transactions take turns, in every instance on the database: a tick holds the clock
   * row (simulation_state) for its whole transaction, and every other transaction first takes a share
   * lock on it. So a VM cannot be powered off or deleted between a tick's reading of its demand and its
   * writes to the VM's disks, and a tick never waits for rows a mutation holds while that mutation waits
   * for rows the tick holds. `advancesClock`: the work runs ticks itself (advanceSimulation, the realtime
   * clock), and takes the clock row by updating it.
   *
   * A transaction begins once one of the database's transaction slots is free, so the transactions that
   * wait for a tick never hold every connection of the pool: reads go on meanwhile. `fn` must not open
   * another transaction (it would wait for a slot its own transaction may be keeping from it).
   */
  transact<T>(fn: (work: UnitOfWork) => Promise<T>, options: { retries?: number; advancesClock?: boolean } = {}): Promise<T> {
    return this.transactionSlot(() => transact(this.db, this.bus, async (work) => {
      if (!options.advancesClock) await work.tx.select({ id: simulationState.id }).from(simulationState).where(eq(simulationState.id, 1)).for('share');
      const value = await fn(work);
      // The ticking process (this one or another instance) reads its demand set again once this commits.
      if (work.emitted.some((event) => changesDemand(event, this.demandNeutralEvents))) await markDemandChanged(work.tx);
      return value;
    }, options.retries));
  }

  context(work: UnitOfWork): LifecycleContext {
    return { work, tx: work.tx, extents: this.extents, tasks: this.tasks, copier: this.copier, pairs: this.pairs, volumes: this.volumes };
  }

  /** Runs one lifecycle hook of every plugin, in order, inside the caller's transaction. */
  async lifecycle<K extends LifecycleHook>(work: UnitOfWork, hook: K, ...args: HookArgs<K>): Promise<void> {
    const ctx = this.context(work);
    for (const plugin of this.plugins) {
      const fn = plugin.hooks?.[hook] as ((ctx: LifecycleContext, ...a: HookArgs<K>) => unknown) | undefined;
      if (fn) await fn.call(plugin.hooks, ctx, ...args);
    }
  }

  /** The rules of `rules` that belong to `plugin`'s namespace. */
  rulesOf(plugin: Plugin, rules: PolicyRule[]): PolicyRule[] {
    const namespace = plugin.capabilities?.namespace;
    return namespace ? rules.filter((r) => this.registry.namespaceOf(r.capabilityId) === namespace) : [];
  }
}
