import { randomUUID } from 'node:crypto';
import { eq, sql } from 'drizzle-orm';
import type { Core } from '../core.ts';
import { simulationState } from '../db/tables.ts';
import { ConflictError, ValidationError } from '../errors.ts';
import { tickPhases, type TickContext } from '../plugin.ts';
import { topic } from '../bus.ts';
import { demandVersion } from '../demand-changes.ts';
import { pgArray, resultRows, type Executor } from '../db/client.ts';
import { demandOf, loadDemandSet, plannedWrites, RingBuffers, rollUp, statistics, type DemandSet, type IoStats } from './io.ts';
import { IoHistoryRecorder, writeMinutes } from './history.ts';
import { ArrayLocks } from './array-locks.ts';
import { DramCaches } from './dram-cache.ts';
import type { UnitOfWork } from '../unit-of-work.ts';

/** Writes mirrored synchronously wait for the remote side: their share of the I/O pays the link latency. */
function waitForRemote(io: TickContext['io'], latencyByVvol: Map<string, number>): void {
  for (const volume of io) {
    const latencyMs = latencyByVvol.get(volume.vvolId);
    const total = volume.readIops + volume.writeIops;
    if (latencyMs && total > 0) volume.serviceTimeMs += (latencyMs * volume.writeIops) / total;
  }
}

/** Counts one more holder of `key` in `holders`; the returned function lets go of it (the key leaves with the last one). */
function hold(holders: Map<string, number>, key: string): () => void {
  holders.set(key, (holders.get(key) ?? 0) + 1);
  return () => {
    const left = (holders.get(key) ?? 1) - 1;
    if (left > 0) holders.set(key, left);
    else holders.delete(key);
  };
}

/** How often an instance tells the others which ids its ioStats subscribers follow, and how long such word lasts. */
export const WATCH_ANNOUNCE_MS = 5_000;
const WATCH_EXPIRES_MS = 3 * WATCH_ANNOUNCE_MS;

/** What an instance tells the others (topic `io-watching`): ids its ioStats subscribers follow, with their arrays. */
interface WatchAnnouncement {
  from: string;
  watched: [id: string, arrayId: string | null][];
}

/** The largest single advance: an hour of simulated time (one transaction, so a few seconds of work); loop for more. */
export const MAX_ADVANCE_SECONDS = 3600;
/**
 * Ticks between two sweeps of the rings of VVOLs and VMs that no longer exist. A stopped VM keeps its last
 * samples (`recentIo`), so rings are not dropped for age; a deleted one's can never be read again.
 */
export const RING_SWEEP_TICKS = 600;

export interface TickStatistics {
  ticks: number;
  lastMs: number;
  meanMs: number;
  maxMs: number;
}

/**
 * The simulation clock and tick pipeline. Each tick runs, in one transaction, every plugin's phases
 * in DESIGN §5's order (demand, schedule, serve, background, observe) and the core's own background
 * work (FULL clone copies), then lets the reconciler catch up.
 */
export class Engine {
  tick = 0;
  /** Simulated seconds since the simulation began. */
  now = 0;
  /**
   * The seed of the simulation's random draws: the one the database's simulation began with, so a restart
   * (or another instance) with another VVOLGRAPH_SEED goes on drawing as before.
   */
  seed: string;
  readonly statistics: TickStatistics = { ticks: 0, lastMs: 0, meanMs: 0, maxMs: 0 };
  /** The last samples of each VVOL and VM. */
  readonly io = new RingBuffers();
  /** The DRAM (L1) caches of the arrays this process ticks. */
  readonly dram = new DramCaches();
  /** Simulated time of the last tick whose samples were recorded. */
  private recordedAt = -1;
  /** The same samples summed per simulated minute, written to io_history as each minute ends: as of the last committed tick. */
  private history = new IoHistoryRecorder();
  /** The copy each transaction's ticks sum into (an advance's ticks share one); it replaces `history` on commit. */
  private readonly historyInWork = new WeakMap<UnitOfWork, IoHistoryRecorder>();
  /** The arrays this process ticks: their VMs' I/O is simulated here and nowhere else. */
  readonly arrayLocks: ArrayLocks;
  /** Ids (VVOL or VM) with a live ioStats subscription in this process, and how many. */
  private readonly watched = new Map<string, number>();
  /** The array of each watched id (null: none, e.g. deleted): only its holder says the id is idle. */
  private readonly watchedArrays = new Map<string, string | null>();
  /**
   * Ids other instances' subscribers follow, heard on the bus (`io-watching`, through Redis): the ticking
   * instance publishes their samples too, whatever instance the subscriber is connected to. Word expires
   * unless repeated, so an instance that died stops costing anything.
   */
  private readonly remoteWatched = new Map<string, { arrayId: string | null; until: number }>();
  private readonly instanceId = randomUUID();
  private announcements: { timer: NodeJS.Timeout; heard: AsyncIterator<unknown> } | null = null;
  private timer: NodeJS.Timeout | null = null;
  private queue: Promise<void> = Promise.resolve();

  /**
   * The demand set (running VMs' DATA VVOLs, workloads, policy rules, pool IOPS) of the arrays this
   * process holds, kept between ticks and read again when the demand version has moved (every
   * transaction whose events may change it, in any instance, moves it as it commits: Core.transact)
   * or when the arrays held have changed.
   */
  private demandSet: { set: DemandSet; version: string | null; arrays: string } | null = null;

  constructor(private readonly core: Core) {
    this.seed = core.config.seed;
    this.arrayLocks = new ArrayLocks(core.database);
  }

  /**
   * A VVOL's or VM's I/O in the last tick; undefined when it had none (powered off, stopped, or on an
   * array another instance ticks). The ring's newest sample alone would keep showing a stopped VM's old I/O.
   */
  lastTickIo(id: string): IoStats | undefined {
    const sample = this.io.last(id);
    return sample?.time === this.recordedAt ? sample : undefined;
  }

  private async demand(db: Executor, version: string | null, held: ReadonlySet<string>): Promise<DemandSet> {
    const arrays = [...held].sort();
    const key = arrays.join(',');
    if (this.demandSet?.version !== version || this.demandSet.arrays !== key) {
      this.demandSet = { set: await loadDemandSet(db, this.core.extents, arrays), version, arrays: key };
    }
    return this.demandSet.set;
  }

  /** Topics a plugin publishes per tick, with live subscriptions in this process, and how many. */
  private readonly followedTopics = new Map<string, number>();

  /** Marks a per-tick topic (e.g. rdr's replication progress) as followed; the returned function stops it. */
  follow(topicName: string): () => void {
    return hold(this.followedTopics, topicName);
  }

  /**
   * Starts publishing an id's ioStats each tick, in whichever instance ticks `arrayId` (the VM's or VVOL's
   * array); the returned function stops it.
   */
  watch(id: string, arrayId: string | null): () => void {
    this.watchedArrays.set(id, arrayId);
    const release = hold(this.watched, id);
    this.announce([id]);
    return () => {
      release();
      if (!this.watched.has(id)) this.watchedArrays.delete(id);
    };
  }

  /** Tells the other instances that these ids are followed here (all of them when none are named). */
  private announce(ids: Iterable<string> = this.watched.keys()): void {
    const watched = [...ids].map((id): [string, string | null] => [id, this.watchedArrays.get(id) ?? null]);
    if (watched.length > 0) this.core.bus.publish(topic('io-watching'), { from: this.instanceId, watched } satisfies WatchAnnouncement);
  }

  /** Hears the other instances' announcements until stopped. */
  private async hear(heard: AsyncIterator<unknown>): Promise<void> {
    for (let next = await heard.next(); !next.done; next = await heard.next()) {
      const announcement = next.value as WatchAnnouncement;
      if (announcement.from === this.instanceId) continue;
      const until = Date.now() + WATCH_EXPIRES_MS;
      for (const [id, arrayId] of announcement.watched) this.remoteWatched.set(id, { arrayId, until });
    }
  }

  /** Every id followed here or, as last heard, in another instance, with its array. */
  private followedIds(): Map<string, string | null> {
    const ids = new Map(this.watchedArrays);
    const now = Date.now();
    for (const [id, { arrayId, until }] of this.remoteWatched) {
      if (until < now) this.remoteWatched.delete(id);
      else if (!ids.has(id)) ids.set(id, arrayId);
    }
    return ids;
  }

  get clock(): 'realtime' | 'manual' {
    return this.core.config.clock;
  }

  get tickSeconds(): number {
    return this.core.config.tickMs / 1000;
  }

  async start(): Promise<void> {
    const { db, config } = this.core;
    // The first start on a database fixes the simulation's seed (another instance may be starting beside this one).
    await db.insert(simulationState).values({ id: 1, seed: config.seed }).onConflictDoNothing();
    const [state] = await db.select().from(simulationState).where(eq(simulationState.id, 1));
    this.tick = state.tick;
    this.now = state.simulatedSeconds;
    this.seed = state.seed;
    if (state.seed !== config.seed) {
      console.warn(`simulation: this database's simulation runs with seed "${state.seed}"; VVOLGRAPH_SEED "${config.seed}" applies to a new database only`);
    }
    await this.arrayLocks.acquire(db);
    const heard = this.core.bus.subscribe(topic('io-watching'))[Symbol.asyncIterator]();
    void this.hear(heard);
    const timer = setInterval(() => this.announce(), WATCH_ANNOUNCE_MS);
    timer.unref();
    this.announcements = { timer, heard };
    if (this.clock === 'realtime') {
      let busy = false;
      // A tick slower than the interval makes the next one wait its turn rather than pile up behind it.
      this.timer = setInterval(() => {
        if (busy) return;
        busy = true;
        this.enqueue(this.tickSeconds)
          .catch((error) => console.error('tick failed', error))
          .finally(() => (busy = false));
      }, config.tickMs);
      this.timer.unref();
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.announcements) {
      clearInterval(this.announcements.timer);
      await this.announcements.heard.return?.();
      this.announcements = null;
    }
    await this.queue.catch(() => {});
    await this.arrayLocks.release(this.core.db);
  }

  /**
   * advanceSimulation: only on the manual clock; runs whole ticks (the last one shortened to fit), all
   * inside the caller's transaction, so an advance commits whole or not at all.
   */
  async advance(seconds: number, work: UnitOfWork): Promise<void> {
    if (this.clock !== 'manual') throw new ConflictError('advanceSimulation needs the manual clock (VVOLGRAPH_CLOCK=manual)', 'REALTIME');
    if (!Number.isFinite(seconds) || seconds <= 0) throw new ValidationError('input.seconds', `seconds must be positive, got ${seconds}`);
    if (seconds > MAX_ADVANCE_SECONDS) throw new ValidationError('input.seconds', `seconds must be at most ${MAX_ADVANCE_SECONDS} (an hour) per call, got ${seconds}`);
    for (let left = seconds; left > 1e-9; left -= this.tickSeconds) {
      await this.enqueue(Math.min(this.tickSeconds, left), work);
    }
  }

  private enqueue(seconds: number, work?: UnitOfWork): Promise<void> {
    const run = this.queue.then(() => this.runTick(seconds, work));
    this.queue = run.catch(() => {});
    return run;
  }

  private async runTick(seconds: number, outer?: UnitOfWork): Promise<void> {
    const started = performance.now();
    const { core } = this;
    let tick = this.tick + 1;
    let now = this.now + seconds;
    const inTransaction = (fn: (work: UnitOfWork) => Promise<void>) => (outer ? fn(outer) : core.transact(fn, { advancesClock: true }));
    await inTransaction(async (work) => {
      // The tick's work happens as of its end: whatever reads the clock in it (state times, copies' points in time) sees `now`.
      // The clock row is shared by every instance on the database (see sharedClock), and this update also
      // makes their ticks, and every other transaction, take turns with this one (Core.transact).
      const [clock] = await work.tx.update(simulationState).set(this.sharedClock(tick, now, seconds)).where(eq(simulationState.id, 1))
        .returning({ tick: simulationState.tick, now: simulationState.simulatedSeconds });
      ({ tick, now } = clock);
      // A statement of its own: the update may have waited for transactions to commit, which its snapshot predates.
      const [{ version }] = resultRows<{ version: string | null }>(await work.tx.execute(sql`select ${demandVersion} as version`));
      const arrays = await this.arrayLocks.acquire(work.tx);
      const demand = await this.demand(work.tx, version, arrays);
      const io = demandOf(demand, this.seed, tick, now, seconds);
      const poolIops = new Map(demand.poolIops);
      const ctx: TickContext = { tick, now, seconds, arrays, db: work.tx, extents: core.extents, tasks: core.tasks, copier: core.copier, pairs: core.pairs, volumes: core.volumes, followed: (name) => this.followedTopics.has(name), followedWith: (prefix) => [...this.followedTopics.keys()].filter((name) => name.startsWith(prefix)), work, io, poolIops, written: [] };
      for (const phase of tickPhases) {
        // What I/O control let through is written, and sampled through the DRAM cache, before the caches and tiers behind it see it.
        if (phase === 'serve') {
          ctx.written = await core.extents.write(work.tx, plannedWrites(io, seconds));
          // FAST clones' blocks shared with their bases are the bases' in the cache: both sides' maps, from memory.
          const shared = new Set<string>();
          for (const v of io) if (v.lineage.length > 0) for (const id of [v.vvolId, ...v.lineage]) shared.add(id);
          await core.extents.remember(work.tx, [...shared]);
          this.dram.serve(io, demand.cacheBytes, core.extents.extentBytes, seconds, (id) => core.extents.contentEpoch(id), (id) => core.extents.contentTerms(id));
        }
        if (phase === 'background') {
          for (const volume of io) volume.settleSample();
          waitForRemote(ctx.io, await core.pairs.tick(work, ctx.written));
          await core.tasks.run(work, seconds);
        }
        for (const plugin of core.plugins) await plugin.hooks?.[phase]?.(ctx);
      }
      const history = this.historyOf(work);
      this.record(work, ctx, now, history);
      const minutes = history.endTick(now);
      if (minutes) await writeMinutes(work.tx, minutes, core.config.ioHistoryMinutes);
      if (tick % RING_SWEEP_TICKS === 0) {
        const gone = await deletedSubjects(work.tx, this.io.ids());
        work.afterCommit(() => this.io.drop(gone));
      }
    });
    this.tick = tick;
    this.now = now;
    core.extents.tickEnded();
    const ms = performance.now() - started;
    const s = this.statistics;
    s.ticks += 1;
    s.lastMs = ms;
    s.meanMs += (ms - s.meanMs) / s.ticks;
    s.maxMs = Math.max(s.maxMs, ms);
    // Inside an advance the ticks have not committed yet: its mutation kicks the reconciler once they
    // have, rather than letting a pass run beside the open transaction and deadlock with it.
    if (!outer) core.reconciler.kick();
  }

  /**
   * The clock as this tick leaves it. Manual: an advance moves the shared clock by its seconds, whichever
   * instance runs it. Realtime: every instance ticks its own arrays each interval and the clock is the
   * furthest any of them got, so two instances ticking side by side do not run it twice as fast, and one
   * that fell behind catches up to the others' time.
   */
  private sharedClock(tick: number, now: number, seconds: number) {
    const { tick: storedTick, simulatedSeconds } = simulationState;
    return this.clock === 'manual'
      ? { tick: sql`${storedTick} + 1`, simulatedSeconds: sql`${simulatedSeconds} + ${seconds}::float8` }
      : { tick: sql`greatest(${storedTick}, ${tick}::bigint)`, simulatedSeconds: sql`greatest(${simulatedSeconds}, ${now}::float8)` };
  }

  /** The minute sums a transaction's ticks add to: a copy of the committed ones, which it replaces on commit. */
  private historyOf(work: UnitOfWork): IoHistoryRecorder {
    let history = this.historyInWork.get(work);
    if (!history) {
      const copy = (history = this.history.copy());
      this.historyInWork.set(work, copy);
      work.afterCommit(() => {
        this.history = copy;
        copy.adopted();
      });
    }
    return history;
  }

  /**
   * Keeps the tick's statistics per VVOL and per VM, and publishes those someone watches once the tick commits:
   * summed into the transaction's history, and into the ring buffers once it commits (a tick that rolls back,
   * and runs again, leaves no sample of its failed run).
   */
  private record(work: UnitOfWork, ctx: TickContext, now: number, history: IoHistoryRecorder): void {
    const stats = statistics(ctx.io, ctx.poolIops, now);
    const byVm = new Map<string, IoStats[]>();
    const samples = new Map<string, IoStats>();
    history.beginTick(now);
    for (const io of ctx.io) {
      const sample = stats.get(io.vvolId)!;
      samples.set(io.vvolId, sample);
      history.add(io.vvolId, sample, ctx.seconds);
      const parts = byVm.get(io.vmId);
      if (parts) parts.push(sample);
      else byVm.set(io.vmId, [sample]);
    }
    for (const [vmId, parts] of byVm) {
      const sample = rollUp(parts, now);
      samples.set(vmId, sample);
      history.add(vmId, sample, ctx.seconds);
    }
    work.afterCommit(() => {
      for (const [id, sample] of samples) this.io.push(id, sample);
      this.recordedAt = now;
    });
    // A sample of this tick for what this instance simulated; an idle one only for what sits on an array it
    // ticks (a powered-off VM): an instance that does not tick the array has nothing to say of it, and an
    // idle sample from it would reach, through Redis, the subscribers of the holder's real ones.
    for (const [id, arrayId] of this.followedIds()) {
      const sample = samples.get(id);
      if (sample) work.publishAfterCommit(topic('io', id), sample);
      else if (arrayId !== null && ctx.arrays.has(arrayId)) work.publishAfterCommit(topic('io', id), rollUp([], now));
    }
  }
}

/** Of these VVOL and VM ids, those whose row is gone (ids are never reused). One statement. */
async function deletedSubjects(tx: Executor, ids: string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const present = new Set(resultRows<{ id: string }>(await tx.execute(sql`
    select id::text as id from virtual_volumes where id = any(${pgArray(ids)}::uuid[])
    union all select id::text from virtual_machines where id = any(${pgArray(ids)}::uuid[])`)).map((r) => r.id));
  return ids.filter((id) => !present.has(id));
}
