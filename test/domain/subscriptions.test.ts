import type { Client } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { deletedVmId } from '../api/support.ts';
import { GiB, globalId, seedBasics, startApp, testTokens, wsClient, type TestApp } from '../helpers/app.ts';

let app: TestApp;
let ids: Awaited<ReturnType<typeof seedBasics>>;
let client: Client;

/** Collects a subscription's messages until `done(messages)` says stop; `messages` fills as they come. */
function collect<T>(query: string, variables: Record<string, unknown>, done: (messages: T[]) => boolean, messages: T[] = []): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const dispose = client.subscribe<T>({ query, variables }, {
      next: (message) => {
        if (message.errors) return reject(new Error(JSON.stringify(message.errors)));
        messages.push(message.data as T);
        if (done(messages)) {
          dispose();
          resolve(messages);
        }
      },
      error: reject,
      complete: () => resolve(messages),
    });
  });
}

beforeAll(async () => {
  app = await startApp();
  ids = await seedBasics(app);
  client = wsClient(app);
});
/** graphql-ws has no subscribe acknowledgement: send warm-up events until the subscription has seen one. */
async function primed(messages: unknown[]): Promise<void> {
  for (let i = 0; messages.length === 0; i++) {
    if (i === 100) throw new Error('the subscription never received the warm-up events');
    await app.query(`mutation($n: String!) { createStoragePolicy(input: { name: $n, rules: [] }) { __typename } }`, { n: `warm-up-${Math.random()}` });
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

afterAll(async () => {
  await client?.dispose();
  await app?.close();
});

describe('subscriptions over graphql-ws', () => {
  it('taskUpdated streams a FULL clone\'s task from QUEUED through RUNNING to SUCCEEDED as the manual clock advances, bytes rising', async () => {
    const vm = (await app.query(
      `mutation($p: ID!) { createVirtualMachine(input: { name: "src", policyId: $p, disks: [{ sizeBytes: ${4 * GiB} }] }) { ... on CreateVirtualMachinePayload { virtualMachine { id virtualVolumes { type vasaId } } } } }`,
      { p: ids.policies.BRONZE },
    )).createVirtualMachine.virtualMachine;
    const disk = vm.virtualVolumes.find((v: any) => v.type === 'DATA').vasaId;
    await app.core.transact((work) => app.core.extents.write(work.tx, [{ vvolId: disk, indexes: Array.from({ length: 96 }, (_, i) => i) }])); // 3 GiB
    const { task } = (await app.query(
      `mutation($id: ID!) { cloneVirtualMachine(input: { vmId: $id, name: "dst", mode: FULL }) { ... on CloneVirtualMachinePayload { task { id bytesTotal } } } }`,
      { id: vm.id },
    )).cloneVirtualMachine;

    const seen: { taskUpdated: { state: string; bytesDone: number; progress: number } }[] = [];
    const updates = collect(`subscription($id: ID!) { taskUpdated(taskId: $id) { state bytesDone progress } }`, { id: task.id }, (m) => m.at(-1)!.taskUpdated.state === 'SUCCEEDED', seen);
    // The first message is the task as it is, sent once the server listens for changes.
    while (seen.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    for (let i = 0; i < 4; i++) await app.query(`mutation { advanceSimulation(input: { seconds: 1 }) { __typename } }`);
    const states = (await updates).map((m) => m.taskUpdated);
    expect(states[0]).toEqual({ state: 'QUEUED', bytesDone: 0, progress: 0 });
    expect(states.slice(1).map((s) => s.state)).toEqual(['RUNNING', 'RUNNING', 'RUNNING', 'SUCCEEDED']);
    expect(states.slice(1).map((s) => s.bytesDone)).toEqual([GiB, 2 * GiB, 3 * GiB, task.bytesTotal]);
    expect(states.at(-1)!.progress).toBe(1);
  });

  it('events(kinds) delivers only matching kinds, in id order, after the change commits', async () => {
    const seen: { events: { id: number; kind: string; message: string } }[] = [];
    const received = collect(`subscription { events(kinds: ["policy.*"]) { id kind message } }`, {}, (m) => m.filter((e) => e.events.kind === 'policy.deleted').length === 1, seen);
    await primed(seen);
    await app.query(`mutation($p: ID!) { createVirtualMachine(input: { name: "noise", policyId: $p, disks: [{ sizeBytes: ${GiB} }] }) { __typename } }`, { p: ids.policies.BRONZE });
    const created = await app.query(`mutation { createStoragePolicy(input: { name: "sub-1", rules: [] }) { ... on CreateStoragePolicyPayload { storagePolicy { id } } } }`);
    await app.query(`mutation($id: ID!) { deleteStoragePolicy(input: { id: $id }) { __typename } }`, { id: created.createStoragePolicy.storagePolicy.id });
    // Only policy events arrive (not the VM's); warm-ups aside, exactly sub-1's two.
    const events = (await received).map((m) => m.events);
    expect(events.every((e) => e.kind.startsWith('policy.'))).toBe(true);
    const mine = events.filter((e) => e.message.includes('sub-1'));
    expect(mine.map((e) => e.kind)).toEqual(['policy.created', 'policy.deleted']);
    expect(mine[1].id).toBeGreaterThan(mine[0].id);
  });

  it('a failed mutation publishes nothing', async () => {
    const received: unknown[] = [];
    const dispose = client.subscribe({ query: `subscription { events(kinds: ["policy.*"]) { kind } }` }, { next: (m) => received.push(m), error: () => {}, complete: () => {} });
    await primed(received);
    received.length = 0;
    const refused = await app.query(`mutation { createStoragePolicy(input: { name: "bad", rules: [{ capabilityId: "vasa.nope", value: 1 }] }) { __typename } }`);
    expect(refused.createStoragePolicy.__typename).toBe('ValidationError');
    await app.query(`mutation { createStoragePolicy(input: { name: "good", rules: [] }) { __typename } }`);
    // Events are published in commit order, so once "good" arrives anything from the refused one would have too.
    while (received.length === 0) await new Promise((resolve) => setTimeout(resolve, 10));
    dispose();
    expect(received).toEqual([{ data: { events: { kind: 'policy.created' } } }]);
  });
});

describe('subscriptions over SSE', () => {
  it('the same fields stream over HTTP with text/event-stream, with the bearer token', async () => {
    const controller = new AbortController();
    const response = await fetch(`${app.url}/graphql`, {
      method: 'POST',
      signal: controller.signal,
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${testTokens.viewer}` },
      body: JSON.stringify({ query: 'subscription { alarms { kind status } }' }),
    });
    expect(response.status).toBe(200);
    const reader = response.body!.getReader();
    // Fill osaka-gold past 80 % to raise an alarm.
    const container = (await app.query(`query($id: ID!) { node(id: $id) { ... on StorageContainer { capacityBytes usedBytes maxVvolSizeBytes } } }`, { id: ids.containers['osaka-gold'] })).node;
    const needed = Math.ceil(container.capacityBytes * 0.85) - container.usedBytes - 4 * GiB;
    const disks = [];
    for (let left = needed; left > 0; left -= container.maxVvolSizeBytes) disks.push({ sizeBytes: Math.min(left, container.maxVvolSizeBytes) });
    const fill = await app.query(`mutation($p: ID!, $c: ID!, $d: [VirtualDiskInput!]!) { createVirtualMachine(input: { name: "big", policyId: $p, containerId: $c, disks: $d }) { __typename } }`, { p: ids.policies.BRONZE, c: ids.containers['osaka-gold'], d: disks });
    expect(fill.createVirtualMachine.__typename).toBe('CreateVirtualMachinePayload');
    let text = '';
    while (!text.includes('"alarms"')) text += new TextDecoder().decode((await reader.read()).value);
    controller.abort();
    expect(text).toContain('{"data":{"alarms":{"kind":"SPACE_CAPACITY","status":"YELLOW"}}}');
  });

  it('refuses an SSE subscription without a token', async () => {
    const response = await fetch(`${app.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'text/event-stream' }, body: JSON.stringify({ query: 'subscription { alarms { kind } }' }) });
    expect(response.status).toBe(401);
  });

  it('a subscription refusing its arguments answers 200 with the typed error, as a query would, not 500', async () => {
    const response = await fetch(`${app.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${testTokens.viewer}` },
      body: JSON.stringify({ query: 'subscription { replicationProgress(pairId: "xx") { bytesRemaining } }' }),
    });
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(text).toContain('"path":["replicationProgress"]');
    expect(text).toContain('"extensions":{"code":"NotFoundError"');
  });

  it('ioStats of a VM or VVOL that does not exist (or no longer does) is a NotFoundError at once, as ioHistory and taskUpdated are', async () => {
    const gone = await deletedVmId(app, ids.policies.BRONZE);
    for (const [args, typename] of [[`vmId: "${gone}"`, 'VirtualMachine'], [`vvolId: "${globalId('VirtualVolume', randomUUID())}"`, 'VirtualVolume']]) {
      const controller = new AbortController();
      const response = await fetch(`${app.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${testTokens.viewer}` },
        body: JSON.stringify({ query: `subscription { ioStats(${args}) { time } }` }),
        signal: controller.signal,
      });
      expect(response.status).toBe(200);
      // A subscription that took the id would wait for ticks that never come: stop reading after a while.
      const stop = setTimeout(() => controller.abort(), 3000);
      let text = '';
      try {
        const reader = response.body!.getReader();
        while (!text.includes('"errors"')) {
          const { value, done } = await reader.read();
          if (done) break;
          text += new TextDecoder().decode(value);
        }
      } catch {
        // aborted: the stream stayed open without an error
      } finally {
        clearTimeout(stop);
        controller.abort();
      }
      expect(text, args).toContain('"path":["ioStats"]');
      expect(text, args).toContain(`"message":"No ${typename} with id`);
      expect(text, args).toContain('"extensions":{"code":"NotFoundError"}');
    }
  });
});
