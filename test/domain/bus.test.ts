import { createConnection } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createBus } from '../../src/core/bus.ts';

/** Redis for the cross-instance bus: REDIS_URL, or the local default when it answers. */
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const redisAnswers = await new Promise<boolean>((resolve) => {
  const { hostname, port } = new URL(redisUrl);
  const socket = createConnection({ host: hostname, port: Number(port || 6379) }, () => (socket.end(), resolve(true)));
  socket.on('error', () => resolve(false));
});

describe('event bus', () => {
  it('keeps a subscriber that reads nothing from breaking publish: past its backlog it loses the oldest messages', async () => {
    const { bus } = await createBus(undefined, 2_000);
    const messages = bus.subscribe('events')[Symbol.asyncIterator]();
    const first = messages.next();
    bus.publish('events', 0);
    expect(await first).toEqual({ value: 0, done: false });
    // More than graphql-yoga's pub/sub would queue (1,024) before it threw inside publish.
    for (let i = 1; i <= 5_000; i++) bus.publish('events', i);
    const received: unknown[] = [];
    for (let i = 0; i < 2_000; i++) received.push((await messages.next()).value);
    expect(received[0]).toBe(3_001);
    expect(received.at(-1)).toBe(5_000);
    await messages.return?.();
  });

  it('delivers each topic only to its own subscribers, in order', async () => {
    const { bus } = await createBus();
    const a = bus.subscribe('io:a')[Symbol.asyncIterator]();
    const b = bus.subscribe('io:b')[Symbol.asyncIterator]();
    const nextA = [a.next(), a.next()];
    const nextB = b.next();
    bus.publish('io:a', 1);
    bus.publish('io:b', 'x');
    bus.publish('io:a', 2);
    expect((await Promise.all(nextA)).map((r) => r.value)).toEqual([1, 2]);
    expect((await nextB).value).toBe('x');
    await a.return?.();
    await b.return?.();
  });

  it('ends a subscription on return: its waiting reads finish, it gets nothing more, and the topic\'s other subscribers still do', async () => {
    const { bus } = await createBus();
    const leaving = bus.subscribe('io:a')[Symbol.asyncIterator]();
    const staying = bus.subscribe('io:a')[Symbol.asyncIterator]();
    const waiting = leaving.next();
    await leaving.return?.();
    expect(await waiting).toEqual({ value: undefined, done: true });
    bus.publish('io:a', 1);
    expect(await leaving.next()).toEqual({ value: undefined, done: true });
    expect(await staying.next()).toEqual({ value: 1, done: false });
    // A subscription made after the last one left gets the topic afresh.
    await staying.return?.();
    const later = bus.subscribe('io:a')[Symbol.asyncIterator]();
    bus.publish('io:a', 2);
    expect(await later.next()).toEqual({ value: 2, done: false });
    await later.return?.();
  });

  it('hands out messages published before they are read, oldest first, and keeps on after catching up', async () => {
    const { bus } = await createBus(undefined, 3);
    const messages = bus.subscribe('events')[Symbol.asyncIterator]();
    for (let i = 1; i <= 5; i++) bus.publish('events', i);
    expect([(await messages.next()).value, (await messages.next()).value]).toEqual([3, 4]);
    bus.publish('events', 6);
    expect([(await messages.next()).value, (await messages.next()).value]).toEqual([5, 6]);
    const waiting = messages.next();
    bus.publish('events', 7);
    expect(await waiting).toEqual({ value: 7, done: false });
    await messages.return?.();
  });

  it.skipIf(!redisAnswers)('over Redis, delivers what one instance publishes to another instance\'s subscribers, in order', async () => {
    const [one, two] = await Promise.all([createBus(redisUrl), createBus(redisUrl)]);
    const topicName = `io:bus-test-${process.pid}-${Date.now()}`;
    const messages = two.bus.subscribe(topicName)[Symbol.asyncIterator]();
    const next = [messages.next(), messages.next()];
    // A Redis subscription starts asynchronously: publish until the first message is seen.
    let firstSeen = false;
    void next[0].then(() => (firstSeen = true));
    for (let i = 0; !firstSeen; i++) {
      if (i === 100) throw new Error('no message came through Redis');
      one.bus.publish(topicName, { n: 0 });
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    one.bus.publish(topicName, { n: 1 });
    expect((await next[0]).value).toEqual({ n: 0 });
    let second = (await next[1]).value as { n: number };
    while (second.n === 0) second = (await messages.next()).value as { n: number };
    expect(second).toEqual({ n: 1 });
    await messages.return?.();
    await Promise.all([one.close(), two.close()]);
  });
});

