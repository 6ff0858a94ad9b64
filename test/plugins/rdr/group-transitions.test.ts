import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedBasics, startApp, type TestApp } from '../../helpers/app.ts';
import { fingerprint, mutate, replicationGroup } from '../../api/support.ts';

let app: TestApp;
let ids: Awaited<ReturnType<typeof seedBasics>>;

beforeAll(async () => {
  app = await startApp();
  ids = await seedBasics(app);
});
afterAll(() => app?.close());

describe('replication group transitions: bad input', () => {
  it('a malformed pointInTimeId is a NotFoundError naming the field, in the dry run and the real one, changing nothing', async () => {
    const { groupId } = await replicationGroup(app, ids.policies.BRONZE, ids.containers['tokyo-gold'], 'SYNCED');
    const before = await fingerprint(app);
    for (const plan of [true, false]) {
      const result = await mutate(app, 'testFailoverStart', { groupId, pointInTimeId: 'garbage', plan }, 'vmAdmin');
      expect(result, `plan: ${plan}`).toMatchObject({ __typename: 'NotFoundError', field: 'input.pointInTimeId', id: 'garbage' });
    }
    expect(await fingerprint(app)).toEqual(before);
  });
});
