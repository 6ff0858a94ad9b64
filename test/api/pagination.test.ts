import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedBasics, startApp, type TestApp } from '../helpers/app.ts';
import { clone, createVm, localPair, ok } from './support.ts';

let app: TestApp;
let ids: Awaited<ReturnType<typeof seedBasics>>;
const names = ['page-a', 'page-b', 'page-c', 'page-d', 'page-e', 'page-f'];
const vmIds = new Map<string, string>();

beforeAll(async () => {
  app = await startApp();
  ids = await seedBasics(app);
  for (const name of names) vmIds.set(name, (await createVm(app, ids.policies.BRONZE, { name })).id);
});
afterAll(() => app?.close());

const PAGE = `query($first: Int, $after: String, $last: Int, $before: String) {
  virtualMachines(first: $first, after: $after, last: $last, before: $before, filter: { nameContains: "page-" }) {
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { name } } } }`;
const list = async (args: Record<string, unknown>) => {
  const { virtualMachines } = await app.query(PAGE, args);
  return { ...virtualMachines, names: virtualMachines.edges.map((e: any) => e.node.name) };
};

describe('cursor pagination', () => {
  it('pages forward and back in name order, each cursor naming its row', async () => {
    const first = await list({ first: 2 });
    expect(first.names).toEqual(['page-a', 'page-b']);
    expect(first.pageInfo).toMatchObject({ hasNextPage: true, hasPreviousPage: false });
    const second = await list({ first: 2, after: first.pageInfo.endCursor });
    expect(second.names).toEqual(['page-c', 'page-d']);
    expect(second.pageInfo.hasPreviousPage).toBe(true);
    const back = await list({ last: 2, before: second.pageInfo.startCursor });
    expect(back.names).toEqual(['page-a', 'page-b']);
    const tail = await list({ last: 3 });
    expect(tail.names).toEqual(['page-d', 'page-e', 'page-f']);
    expect(tail.pageInfo).toMatchObject({ hasNextPage: false, hasPreviousPage: true });
    expect((await list({ first: 2, after: second.edges[0].cursor })).names).toEqual(['page-d', 'page-e']);
  });

  it('the next page starts after the cursor\'s row even when rows before it were deleted or added meanwhile', async () => {
    const first = await list({ first: 3 });
    expect(first.names).toEqual(['page-a', 'page-b', 'page-c']);
    await ok(app, 'deleteVirtualMachine', { id: vmIds.get('page-a') }, '__typename', 'vmAdmin');
    await createVm(app, ids.policies.BRONZE, { name: 'page-0' });
    // An offset cursor would now skip page-d (deleted a) or repeat page-c (added 0).
    expect((await list({ first: 3, after: first.pageInfo.endCursor })).names).toEqual(['page-d', 'page-e', 'page-f']);
    // The cursor's own row may go too: the page still starts after where it was.
    await ok(app, 'deleteVirtualMachine', { id: vmIds.get('page-c') }, '__typename', 'vmAdmin');
    expect((await list({ first: 3, after: first.pageInfo.endCursor })).names).toEqual(['page-d', 'page-e', 'page-f']);
  });

  it('orders by creation time to the microsecond: paging tasks returns each exactly once', async () => {
    for (let i = 0; i < 3; i++) await clone(app, vmIds.get('page-f')!, 'FULL');
    const query = `query($after: String) { tasks(first: 1, after: $after) { pageInfo { hasNextPage endCursor } edges { node { id } } } }`;
    const all = (await app.query(`{ tasks(first: 1000) { edges { node { id } } } }`)).tasks.edges.map((e: any) => e.node.id);
    expect(all.length).toBeGreaterThan(1);
    const paged: string[] = [];
    let after: string | null = null;
    do {
      const { tasks }: any = await app.query(query, { after });
      paged.push(...tasks.edges.map((e: any) => e.node.id));
      after = tasks.pageInfo.hasNextPage ? tasks.pageInfo.endCursor : null;
    } while (after);
    expect(paged).toEqual(all);
  });

  it('alarms and replica pairs are connections too: paged one at a time, each comes exactly once, in the order first raised or made', async () => {
    // Alarms on entities of their own (their kind's other alarms may come and go with the ticks): raised in this order.
    for (const name of ['alarm-1', 'alarm-2', 'alarm-3']) {
      await app.core.transact((work) => work.setAlarm({ kind: 'SPACE_CAPACITY', entityType: 'StorageContainer', entityId: name, status: 'YELLOW', message: name }));
    }
    const vm = await createVm(app, ids.policies.BRONZE, { name: 'page-pairs', disks: [1024 ** 3, 1024 ** 3, 1024 ** 3] });
    const pairIds: string[] = [];
    for (const disk of vm.disks) pairIds.push(await localPair(app, disk));
    const pageThrough = async (field: string, args: string, pick: (node: any) => string) => {
      const paged: string[] = [];
      let after: string | null = null;
      do {
        const result: any = (await app.query(`query($after: String) { ${field}(first: 1, after: $after${args}) { totalCount pageInfo { hasNextPage endCursor } edges { node { id ${field === 'alarms' ? 'entityId' : ''} } } } }`, { after }))[field];
        paged.push(...result.edges.map((e: any) => pick(e.node)));
        after = result.pageInfo.hasNextPage ? result.pageInfo.endCursor : null;
        expect(result.totalCount).toBeGreaterThanOrEqual(paged.length);
      } while (after);
      return paged;
    };
    expect((await pageThrough('alarms', ', kind: SPACE_CAPACITY', (a) => a.entityId)).filter((id) => id.startsWith('alarm-'))).toEqual(['alarm-1', 'alarm-2', 'alarm-3']);
    expect((await pageThrough('replicaPairs', ', owner: "ddr"', (p) => p.id)).filter((id) => pairIds.includes(id))).toEqual(pairIds);
    const newest = (await app.query(`{ alarms(last: 1, kind: SPACE_CAPACITY) { edges { node { entityId } } } }`)).alarms.edges;
    expect(newest.map((e: any) => e.node.entityId)).toEqual(['alarm-3']);
  });

  it('refuses a cursor that is not one of the list\'s, naming the argument', async () => {
    const tasksCursor = (await app.query(`{ tasks(first: 1) { pageInfo { endCursor } } }`)).tasks.pageInfo.endCursor;
    const forged = (key: unknown[]) => Buffer.from(`virtual_machines:${JSON.stringify(key)}`).toString('base64url');
    for (const cursor of ['nonsense', tasksCursor, forged(['x']), forged(['zz', 'not-a-uuid']), forged(['z\u0000', '00000000-0000-4000-8000-000000000000'])]) {
      const response = await app.gql(PAGE, { first: 1, after: cursor });
      expect(response.errors?.[0]).toMatchObject({ message: expect.stringContaining('after is not a cursor of this list'), extensions: { code: 'CURSOR' } });
    }
  });
});
