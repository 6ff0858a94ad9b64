import { sql } from 'drizzle-orm';
import { PgBoss, fromDrizzle, fromPglite, type Job } from 'pg-boss';
import type { DatabaseHandle, Executor } from './db/client.ts';
import type { UnitOfWork } from './unit-of-work.ts';

const QUEUE = 'vvolgraph-tasks';
/** pg-boss's smallest heartbeat: a job whose holder stops touching it for this long is handed to another instance. */
const HEARTBEAT_SECONDS = 10;

interface TaskJob {
  taskId: string;
}

/**
 * Durable task dispatch on pg-boss (DESIGN §3): every long task is a pg-boss job, sent in the
 * transaction that creates the task. The ticking engine takes ("claims") waiting jobs at the start of
 * each tick, in the tick's transaction, and only the tasks this process holds make progress. A held
 * job is touched every few seconds; when its holder dies (SIGKILL, crash), pg-boss's monitor sees the
 * missing heartbeat and puts the job back, the next tick of a live instance claims it and the task
 * resumes from the progress its rows keep.
 */
export class TaskQueue {
  private boss: PgBoss | null = null;
  private readonly held = new Map<string, Job<TaskJob>>();
  /** Jobs claimed in a transaction that has not committed yet (an advance runs many ticks in one). */
  private readonly claimedIn = new WeakMap<UnitOfWork, Map<string, Job<TaskJob>>>();
  private heartbeat: NodeJS.Timeout | null = null;
  /** Tick transactions open in this process (they hold locks on job rows). */
  private openTicks = 0;
  private touchedAt = 0;

  constructor(private readonly database: DatabaseHandle) {}

  async start(): Promise<void> {
    const supervision = { schedule: false, superviseIntervalSeconds: 2, monitorIntervalSeconds: 2 };
    const boss = this.database.kind === 'pglite'
      ? new PgBoss({ db: fromPglite(this.database.pglite!), backend: 'pglite', ...supervision } as never)
      : new PgBoss({ connectionString: this.database.url!, max: 2, ...supervision } as never);
    boss.on('error', (error: unknown) => console.error('task queue:', error));
    await boss.start();
    // Recovery retries are not failures of the work: a task is retried for as long as instances die under it.
    // A job active for a day (the most pg-boss allows) goes back to the queue and the next tick takes it again.
    await boss.createQueue(QUEUE, { heartbeatSeconds: HEARTBEAT_SECONDS, retryLimit: 1_000_000, retryDelay: 0, expireInSeconds: 86_400 } as never);
    this.boss = boss;
    // Between ticks the timer touches the held jobs on pg-boss's own connection; never while a tick's
    // transaction is open (it locks job rows as it claims and completes them: the two would deadlock).
    // A tick touches them itself, in its transaction, when they are due (a long advanceSimulation).
    this.heartbeat = setInterval(() => {
      if (this.openTicks > 0 || !this.touchDue()) return;
      const jobs = [...this.held.values()];
      this.touchedAt = Date.now();
      if (jobs.length > 0) boss.touch(QUEUE, jobs.map((j) => j.id)).catch((error) => console.error('task heartbeat:', error));
    }, 1000);
    this.heartbeat.unref();
  }

  /**
   * Gives the held jobs back before stopping (the engine has stopped, so no tick holds them): a job left
   * active would wait for its missed heartbeat (10 s of wall time) before any instance, or this one
   * restarted, took it again, so the first ticks after a clean restart or hand-over would leave the task
   * where it was. Failed with retries left, a job is waiting again at once; its rows keep the progress.
   */
  async stop(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
    const held = [...this.held.values()].map((job) => job.id);
    this.held.clear();
    if (this.boss && held.length > 0) {
      await this.boss.fail(QUEUE, held, { message: 'handed back at shutdown' }).catch((error: unknown) => console.error('task queue: could not hand jobs back:', error));
    }
    await this.boss?.stop({ graceful: false, close: true } as never);
    this.boss = null;
  }

  private connection(tx: Executor) {
    return { db: fromDrizzle(tx as never, sql as never) };
  }

  /** Sends the task's job in the caller's transaction: the task and its job exist together or not at all. */
  async enqueue(tx: Executor, taskId: string): Promise<void> {
    await this.ready().send(QUEUE, { taskId } satisfies TaskJob, this.connection(tx));
  }

  /**
   * Takes every waiting job, in the tick's transaction. Returns every task this process holds for the
   * tick (held before, or claimed now) with its job.
   */
  async claim(work: UnitOfWork): Promise<Map<string, Job<TaskJob>>> {
    const boss = this.ready();
    if (!this.claimedIn.has(work)) {
      this.openTicks++;
      work.afterEnd(() => this.openTicks--);
    }
    if (this.touchDue() && this.held.size > 0) {
      this.touchedAt = Date.now();
      await boss.touch(QUEUE, [...this.held.values()].map((j) => j.id), this.connection(work.tx));
    }
    const claimed: Job<TaskJob>[] = [];
    for (;;) {
      const jobs = await boss.fetch<TaskJob>(QUEUE, { batchSize: 100, ...this.connection(work.tx) });
      claimed.push(...jobs);
      if (jobs.length < 100) break;
    }
    // Held only once the tick commits: a tick that rolls back gave its jobs back too.
    let pending = this.claimedIn.get(work);
    if (!pending) {
      const jobs = (pending = new Map());
      this.claimedIn.set(work, jobs);
      work.afterCommit(() => {
        for (const [taskId, job] of jobs) this.held.set(taskId, job);
      });
    }
    for (const job of claimed) pending.set(job.data.taskId, job);
    return new Map([...this.held, ...pending]);
  }

  /** Completes the jobs of finished tasks in the caller's transaction. */
  async release(work: UnitOfWork, jobs: readonly Job<TaskJob>[]): Promise<void> {
    if (jobs.length === 0) return;
    await this.ready().complete(QUEUE, jobs.map((j) => j.id), null, this.connection(work.tx));
    for (const job of jobs) this.claimedIn.get(work)?.delete(job.data.taskId);
    work.afterCommit(() => {
      for (const job of jobs) this.held.delete(job.data.taskId);
    });
  }

  private touchDue(): boolean {
    return Date.now() - this.touchedAt >= (HEARTBEAT_SECONDS / 3) * 1000;
  }

  private ready(): PgBoss {
    if (!this.boss) throw new Error('The task queue has not been started');
    return this.boss;
  }
}
