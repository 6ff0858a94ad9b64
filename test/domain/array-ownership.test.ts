import { createConnection } from 'node:net';
import postgres from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';
import { createThrowawayDatabase } from '../../src/core/db/client.ts';
import { ARRAY_LOCK_SPACE } from '../../src/core/engine/array-locks.ts';
import { GiB, seedBasics, startApp, wsClient, type TestApp } from '../helpers/app.ts';
import { createVm, ok } from '../api/support.ts';

/** Redis for the cross-instance bus: REDIS_URL, or the local default when it answers. */
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const redisAnswers = await new Promise<boolean>((resolve) => {
  const { hostname, port } = new URL(redisUrl);
  const socket = createConnection({ host: hostname, port: Number(port || 6379) }, () => (socket.end(), resolve(true)));
  socket.on('error', () => resolve(false));
});

const ARRAYS = ['osaka-hs', 'osaka-m310', 'tokyo-m510'];
const SIMULATION = `{ simulation { simulatedSeconds arraysTicked { name } } }`;

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
});

const advance = (app: TestApp) => ok(app, 'advanceSimulation', { seconds: 1 }, '... on AdvanceSimulationPayload { simulation { simulatedSeconds } }');
const ticked = async (app: TestApp): Promise<string[]> => (await app.query(SIMULATION)).simulation.arraysTicked.map((a: { name: string }) => a.name);
/** The VM's last tick as this instance simulated it (null: this instance never ran it). */
const lastIo = async (app: TestApp, vmId: string) => (await app.query(`query($id: ID!) { node(id: $id) { ... on VirtualMachine { io { time servedIops } } } }`, { id: vmId })).node.io;

describe('simulation.arraysTicked', () => {
  it('a lone instance ticks every array, taken at its first tick', async () => {
    const app = await startApp();
    cleanups.push(() => app.close());
    await seedBasics(app);
    await advance(app);
    expect((await ticked(app)).sort()).toEqual(ARRAYS);
  });
});

// Two processes on one database need PostgreSQL: the embedded PGlite is one process with one session.
describe.skipIf(!process.env.DATABASE_URL)('one ticking process per array (two instances on one PostgreSQL database; skipped on PGlite, which is single-process)', () => {
  it('only the lock holder simulates an array; when its lock session dies, or it shuts down, the other instance takes the arrays over', async () => {
    const database = await createThrowawayDatabase(process.env.DATABASE_URL!, 'vvolgraph_scale');
    cleanups.push(() => database.drop());
    const first = await startApp({ sharedDatabaseUrl: database.url });
    cleanups.push(() => first.close());
    const { policies } = await seedBasics(first);
    const vm = await createVm(first, policies.BRONZE, { disks: [GiB], powerOn: true });
    await ok(first, 'setWorkload', { vmId: vm.id, preset: 'OLTP' }, '... on SetWorkloadPayload { __typename }', 'vmAdmin');
    await first.settle();
    await advance(first);
    expect((await ticked(first)).sort()).toEqual(ARRAYS);

    const second = await startApp({ sharedDatabaseUrl: database.url });
    cleanups.push(() => second.close());
    // The second instance ticks (the clock, tasks) but holds no array: the VM does not run there.
    expect((await advance(second)).simulation.simulatedSeconds).toBe(2);
    expect(await ticked(second)).toEqual([]);
    expect(await lastIo(second, vm.id)).toBeNull();
    // Manual clock: one shared clock, moved by whichever instance advances it.
    expect((await advance(first)).simulation.simulatedSeconds).toBe(3);
    expect(await lastIo(first, vm.id)).toMatchObject({ time: 3 });

    // The holder's lock session dies (as when its process is killed): PostgreSQL releases its locks.
    const admin = postgres(database.url, { max: 1, onnotice: () => {} });
    cleanups.push(() => admin.end());
    // pg_locks shows the whole server: keep this database's array locks.
    const mine = admin`locktype = 'advisory' and classid = ${ARRAY_LOCK_SPACE} and granted and database = (select oid from pg_database where datname = current_database())`;
    const killed = await admin`select pg_terminate_backend(pid) from pg_locks where ${mine} group by pid`;
    expect(killed.length).toBe(1);
    await advance(second);
    expect((await ticked(second)).sort()).toEqual(ARRAYS);
    expect(await lastIo(second, vm.id)).toMatchObject({ time: 4 });
    expect((await lastIo(second, vm.id)).servedIops).toBeGreaterThan(0);
    // The old holder finds its session gone, gives its arrays up and cannot take them back.
    await advance(first);
    await advance(first);
    expect(await ticked(first)).toEqual([]);
    expect(await lastIo(first, vm.id)).toBeNull();
    const holders = await admin`select count(distinct pid)::int as n from pg_locks where ${mine}`;
    expect(holders[0].n).toBe(1);

    // A clean shutdown gives the arrays up at once.
    await second.close();
    const now = (await advance(first)).simulation.simulatedSeconds;
    expect((await ticked(first)).sort()).toEqual(ARRAYS);
    expect(await lastIo(first, vm.id)).toMatchObject({ time: now });
  });

  it('simulation { tick simulatedSeconds } is the shared clock: an instance shows what another one\'s advance moved it to', async () => {
    const database = await createThrowawayDatabase(process.env.DATABASE_URL!, 'vvolgraph_scale');
    cleanups.push(() => database.drop());
    const first = await startApp({ sharedDatabaseUrl: database.url });
    cleanups.push(() => first.close());
    await seedBasics(first);
    await advance(first);
    const second = await startApp({ sharedDatabaseUrl: database.url });
    cleanups.push(() => second.close());
    await advance(first);
    await advance(first);
    const clock = `{ simulation { tick simulatedSeconds } }`;
    expect((await second.query(clock)).simulation).toEqual({ tick: 3, simulatedSeconds: 3 });
    await advance(second);
    expect((await first.query(clock)).simulation).toEqual({ tick: 4, simulatedSeconds: 4 });
  });

  it.skipIf(!redisAnswers)('with Redis, ioStats on an instance that does not tick the VM\'s array streams the holder\'s samples, and no idle ones of its own', async () => {
    const database = await createThrowawayDatabase(process.env.DATABASE_URL!, 'vvolgraph_scale');
    cleanups.push(() => database.drop());
    const env = { REDIS_URL: redisUrl };
    const holder = await startApp({ sharedDatabaseUrl: database.url, env });
    cleanups.push(() => holder.close());
    const { policies } = await seedBasics(holder);
    const vm = await createVm(holder, policies.BRONZE, { disks: [GiB], powerOn: true });
    await ok(holder, 'setWorkload', { vmId: vm.id, preset: 'OLTP' }, '... on SetWorkloadPayload { __typename }', 'vmAdmin');
    await holder.settle();
    await advance(holder);
    const other = await startApp({ sharedDatabaseUrl: database.url, env });
    cleanups.push(() => other.close());

    const samples: { time: number; servedIops: number }[] = [];
    const client = wsClient(other);
    cleanups.push(async () => client.dispose());
    client.subscribe<{ ioStats: { time: number; servedIops: number } }>(
      { query: 'subscription($id: ID!) { ioStats(vmId: $id) { time servedIops } }', variables: { id: vm.id } },
      { next: (message) => samples.push(message.data!.ioStats), error: (error) => samples.push({ time: -1, servedIops: Number.NaN, error } as never), complete: () => {} },
    );
    // The subscription reaches the holder through Redis asynchronously (and is repeated every few seconds): tick until it has.
    for (let attempt = 0; attempt < 60 && samples.length === 0; attempt++) {
      await advance(holder);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    expect(samples.length).toBeGreaterThan(0);
    expect(samples[0].servedIops).toBeGreaterThan(0);
    // A tick of the instance without the array simulates nothing of the VM: it says nothing of it either.
    const seen = samples.length;
    await advance(other);
    const last = (await advance(holder)).simulation.simulatedSeconds;
    for (let attempt = 0; attempt < 40 && samples.at(-1)!.time !== last; attempt++) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(samples.slice(seen).map((sample) => sample.time)).toEqual([last]);
    expect(samples.at(-1)!.servedIops).toBeGreaterThan(0);
  });
});
