import { describe, expect, it } from 'vitest';
import { createBus } from '../../src/core/bus.ts';

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
});
