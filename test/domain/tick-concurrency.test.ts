import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { definePlugin } from '../../src/core/plugin.ts';
import { builtInPlugins } from '../../src/plugins/index.ts';
import { GiB, seedBasics, startApp, type TestApp } from '../helpers/app.ts';
import { createVm, ok, type CreatedVm } from '../api/support.ts';

/** A point in the server's work (a hook) where the test can make the next caller stop until it lets it go on. */
class Gate {
  private held: { reached: (release: () => void) => void; released: Promise<void> } | null = null;

  /** The next caller of `pass` stops there; resolves once one has, with the function that lets it go on. */
  hold(): Promise<() => void> {
    return new Promise((reached) => {
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      this.held = { reached: () => reached(release), released };
    });
  }

  async pass(): Promise<void> {
    const held = this.held;
    if (!held) return;
    this.held = null;
    held.reached(() => {});
    await held.released;
  }
}

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
});

/** An app whose ticks can be held at their schedule phase (before any write), and power-offs before they commit. */
async function gatedApp(): Promise<{ app: TestApp; vm: CreatedVm; gates: { schedule: Gate; poweredOff: Gate }; admin: postgres.Sql; waitingOnLocks: () => Promise<void> }> {
  const gates = { schedule: new Gate(), poweredOff: new Gate() };
  const plugin = definePlugin({
    name: 'test-gates',
    version: '1.0.0',
    hooks: { schedule: () => gates.schedule.pass(), vmPoweredOff: () => gates.poweredOff.pass() },
  });
  const app = await startApp({ builtIns: [...builtInPlugins, plugin] });
  cleanups.push(() => app.close());
  const { policies } = await seedBasics(app);
  const vm = await createVm(app, policies.BRONZE, { disks: [GiB], powerOn: true });
  await ok(app, 'setWorkload', { vmId: vm.id, preset: 'OLTP' }, '... on SetWorkloadPayload { __typename }', 'vmAdmin');
  await app.settle();
  await advance(app);
  const admin = postgres(app.core.database.url!, { max: 1, onnotice: () => {} });
  cleanups.push(() => admin.end());
  const waitingOnLocks = async () => {
    for (;;) {
      const [{ waiting }] = await admin`select count(*)::int as waiting from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`;
      if (waiting > 0) return;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };
  return { app, vm, gates, admin, waitingOnLocks };
}

const advance = async (app: TestApp): Promise<number> =>
  (await ok(app, 'advanceSimulation', { seconds: 1 }, '... on AdvanceSimulationPayload { simulation { tick } }')).simulation.tick;
/** The time of the VM's newest I/O sample (recentIo keeps it after the VM stops; io is the last tick's only). */
const lastIoTime = async (app: TestApp, vmId: string): Promise<number | undefined> =>
  (await app.query(`query($id: ID!) { node(id: $id) { ... on VirtualMachine { recentIo(last: 1) { time } } } }`, { id: vmId })).node.recentIo[0]?.time;
const rowId = (globalId: string) => Buffer.from(globalId, 'base64').toString().split(':')[1];

// On PGlite there is one session: a transaction runs alone, and nothing can happen within a tick.
describe.skipIf(!process.env.DATABASE_URL)('ticks and other transactions take turns (PostgreSQL; skipped on PGlite, whose one session runs one transaction at a time)', () => {
  it('a VM powered off and deleted while a tick runs: both wait for the tick, which writes to its disks as they were; then the VM is gone with its extents', async () => {
    const { app, vm, gates, admin, waitingOnLocks } = await gatedApp();
    const reached = gates.schedule.hold();
    const tick = advance(app);
    const release = await reached;
    let removed = false;
    const removal = (async () => {
      await ok(app, 'powerOffVirtualMachine', { id: vm.id }, '... on PowerOffVirtualMachinePayload { __typename }', 'vmAdmin');
      await ok(app, 'deleteVirtualMachine', { id: vm.id }, '... on DeleteVirtualMachinePayload { deletedId }', 'vmAdmin');
      removed = true;
    })();
    // Until the power-off waits on a lock (its turn comes after the tick) or, had it not waited, the VM is gone.
    await Promise.race([waitingOnLocks(), removal]);
    const removedWithinTheTick = removed;
    release();

    expect(await tick).toBe(2);
    await removal;
    expect(removedWithinTheTick, 'the power-off waited for the tick').toBe(false);
    const [{ extents }] = await admin`select count(*)::int as extents from extents where vvol_id = any(${vm.disks.map(rowId)}::uuid[])`;
    expect(extents).toBe(0);
    expect(await advance(app)).toBe(3);
  });

  it('reads are answered while a held tick makes more write transactions wait than the pool has connections', async () => {
    const { app, vm, gates, admin } = await gatedApp();
    const reached = gates.schedule.hold();
    const tick = advance(app);
    const release = await reached;
    // Twice the pool's connections: every write transaction waits for the tick, inside a transaction or for one.
    const writes = Array.from({ length: 20 }, (_, i) =>
      ok(app, 'setWorkload', { vmId: vm.id, preset: i % 2 ? 'OLTP' : 'IDLE' }, '... on SetWorkloadPayload { __typename }', 'vmAdmin'));
    // Until as many as can have begun wait on the tick's lock (the count stops growing).
    let waiting = 0;
    for (let stable = 0; stable < 20; ) {
      const [{ count }] = await admin`select count(*)::int as count from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'`;
      stable = count > 0 && count === waiting ? stable + 1 : 0;
      waiting = count;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }

    // Answered while the tick is still held: a read does not queue behind the waiting writes for a connection.
    const read = await app.query(`query($id: ID!) { node(id: $id) { ... on VirtualMachine { name powerState } } }`, { id: vm.id });
    expect(read.node.powerState).toBe('POWERED_ON');
    release();
    expect(await tick).toBe(2);
    await Promise.all(writes);
  });

  it('a tick that waited for a power-off to commit runs without the VM', async () => {
    const { app, vm, gates, waitingOnLocks } = await gatedApp();
    expect(await lastIoTime(app, vm.id)).toBe(1);
    const reached = gates.poweredOff.hold();
    const powerOff = ok(app, 'powerOffVirtualMachine', { id: vm.id }, '... on PowerOffVirtualMachinePayload { __typename }', 'vmAdmin');
    const release = await reached;
    const tick = advance(app);
    await waitingOnLocks();
    release();
    await powerOff;

    expect(await tick).toBe(2);
    // Its demand was read after the power-off committed: the VM did no I/O in it.
    expect(await lastIoTime(app, vm.id)).toBe(1);
  });
});
