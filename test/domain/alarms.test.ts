import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AlarmChange } from '../../src/core/unit-of-work.ts';
import { startApp, type TestApp } from '../helpers/app.ts';

let app: TestApp;

beforeAll(async () => {
  app = await startApp();
});
afterAll(() => app?.close());

const change = (entityId: string, status: AlarmChange['status'], message = `${entityId} is ${status}`): AlarmChange => ({ kind: 'CAPABILITY', entityType: 'StoragePool', entityId, status, message });

describe('alarms set in a batch', () => {
  it('raise, change and clear many alarms in a fixed number of statements; only what changed is an event, in the order given', async () => {
    // Statements counted in this call's own async context: not those of work in the background (pg-boss, the reconciler).
    const set = async (changes: AlarmChange[]) => {
      const { result, counter } = app.core.database.statements.run(() =>
        app.core.transact(async (work) => {
          await work.setAlarms(changes);
          return work.emitted.map((e) => `${e.entityId}:${(e.data as { status: string }).status}`);
        }),
      );
      return { emitted: await result, statements: counter.count };
    };
    const alarms = async () =>
      Object.fromEntries((await app.query(`{ alarms(kind: CAPABILITY, first: 1000) { edges { node { entityId status message } } } }`)).alarms.edges.map((e: any) => e.node)
        .filter((a: any) => a.entityId.startsWith('batch-'))
        .map((a: any) => [a.entityId, [a.status, a.message]]));

    const first = await set([change('batch-b', 'RED'), change('batch-a', 'YELLOW'), change('batch-c', 'GREEN')]);
    expect(first.emitted, 'batch-c had no alarm to clear').toEqual(['batch-b:RED', 'batch-a:YELLOW']);
    expect(await alarms()).toEqual({ 'batch-a': ['YELLOW', 'batch-a is YELLOW'], 'batch-b': ['RED', 'batch-b is RED'] });

    // Thirteen changes cost what three did: no statement per alarm.
    const many = Array.from({ length: 10 }, (_, i) => change(`batch-m${i}`, 'RED'));
    const second = await set([change('batch-a', 'YELLOW', 'still yellow'), change('batch-b', 'GREEN'), ...many, change('batch-m0', 'YELLOW')]);
    expect(second.emitted).toEqual(['batch-b:GREEN', ...many.map((c, i) => (i === 0 ? 'batch-m0:YELLOW' : `${c.entityId}:RED`))]);
    expect(second.statements).toBe(first.statements);
    const now = await alarms();
    expect(now['batch-a'], 'unchanged status: no event, but the message is the latest').toEqual(['YELLOW', 'still yellow']);
    expect(now['batch-m0'], 'the last change of an alarm in a batch wins').toEqual(['YELLOW', 'batch-m0 is YELLOW']);
    expect(now['batch-b']).toBeUndefined();
  });
});
