import { afterAll, describe, expect, it } from 'vitest';
import { GiB, lastingDatabase, seedBasics, startApp, type TestApp } from '../helpers/app.ts';
import { clone, createVm, ok, writeExtents } from '../api/support.ts';

const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
});

const advance = (app: TestApp, seconds: number) => ok(app, 'advanceSimulation', { seconds }, '... on AdvanceSimulationPayload { __typename }');
const TASK = `query($id: ID!) { node(id: $id) { ... on Task { state bytesDone bytesTotal } } }`;

describe('a clean restart on the same database', () => {
  it('a running FULL clone goes on at the first tick after the restart (its job is handed back at shutdown, not left to a missed heartbeat)', async () => {
    const database = await lastingDatabase();
    cleanups.push(database.drop);
    const first = await startApp(database.options);
    cleanups.push(() => first.close());
    const { policies } = await seedBasics(first);
    const source = await createVm(first, policies.BRONZE, { disks: [64 * GiB] });
    await writeExtents(first, source.disks[0], Array.from({ length: 256 }, (_, i) => i));
    const { taskId } = await clone(first, source.id, 'FULL');
    await advance(first, 1);
    const before = (await first.query(TASK, { id: taskId })).node;
    expect(before).toMatchObject({ state: 'RUNNING', bytesDone: GiB });
    // 8 GiB of data and the CONFIG volume's extent: nine ticks of the 1 GiB/s internal copy.
    expect(before.bytesTotal).toBe(8 * GiB + 32 * 1024 ** 2);
    await first.close();

    const second = await startApp(database.options);
    cleanups.push(() => second.close());
    await advance(second, 1);
    expect((await second.query(TASK, { id: taskId })).node).toMatchObject({ state: 'RUNNING', bytesDone: 2 * GiB });
    await advance(second, 7);
    expect((await second.query(TASK, { id: taskId })).node).toMatchObject({ state: 'SUCCEEDED', bytesDone: before.bytesTotal });
  });

  it('keeps the seed the simulation began with: restarted with another VVOLGRAPH_SEED, it draws the same I/O and data as without the restart', async () => {
    const run = async (restartWithSeed: string | null) => {
      const database = await lastingDatabase();
      cleanups.push(database.drop);
      let app = await startApp({ ...database.options, env: { VVOLGRAPH_SEED: 'first' } });
      const { policies } = await seedBasics(app);
      const vm = await createVm(app, policies.BRONZE, { name: 'db', disks: [8 * GiB], powerOn: true });
      await ok(app, 'setWorkload', { vmId: vm.id, preset: 'VDI_BOOT_STORM' }, '... on SetWorkloadPayload { __typename }', 'vmAdmin');
      await app.settle();
      await advance(app, 2);
      if (restartWithSeed) {
        await app.close();
        app = await startApp({ ...database.options, env: { VVOLGRAPH_SEED: restartWithSeed } });
      }
      await advance(app, 2);
      const { simulation, node } = await app.query(`query($id: ID!) { simulation { seed } node(id: $id) { ... on VirtualMachine { io { readIops writeIops } virtualVolumes { type contentDigest } } } }`, { id: vm.id });
      await app.close();
      return { seed: simulation.seed, io: node.io, digests: node.virtualVolumes.map((v: { type: string; contentDigest: string }) => `${v.type}:${v.contentDigest}`).sort() };
    };
    const straight = await run(null);
    expect(straight.seed).toBe('first');
    expect(await run('second')).toEqual(straight);
  });
});
