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
});
