import { Repeater, SlidingBuffer } from '@repeaterjs/repeater';

/**
 * The in-process (or, with REDIS_URL, cross-instance) event bus behind subscriptions.
 * Topics are strings; `topic(name, id)` scopes one to an entity, e.g. `task:<uuid>`.
 */
export interface Bus {
  publish(topicName: string, payload: unknown): void;
  subscribe(topicName: string): AsyncIterable<unknown>;
}

/**
 * Messages a subscriber may fall behind by before it loses the oldest. graphql-yoga's pub/sub queues at
 * most 1,024 unread messages per subscriber and then throws inside `publish`, which takes the process
 * down: one slow `events` subscriber and one busy transaction were enough. Events carry increasing ids,
 * so a client that lost some can tell, and read them again with the `events` query.
 */
export const SUBSCRIBER_BACKLOG = 10_000;

export async function createBus(redisUrl?: string, backlog = SUBSCRIBER_BACKLOG): Promise<{ bus: Bus; close(): Promise<void> }> {
  if (!redisUrl) return { bus: busOn(new EventTarget(), backlog), close: async () => {} };
  const [{ createRedisEventTarget }, { Redis }] = await Promise.all([
    import('@graphql-yoga/redis-event-target'),
    import('ioredis'),
  ]);
  const publishClient = new Redis(redisUrl);
  const subscribeClient = new Redis(redisUrl);
  return {
    bus: busOn(createRedisEventTarget({ publishClient, subscribeClient }) as EventTarget, backlog),
    close: async () => {
      publishClient.disconnect();
      subscribeClient.disconnect();
    },
  };
}

function busOn(target: EventTarget, backlog: number): Bus {
  return {
    publish: (topicName, payload) => void target.dispatchEvent(new CustomEvent(topicName, { detail: payload })),
    subscribe: (topicName) =>
      new Repeater<unknown>((push, stop) => {
        const listener = (event: Event) => void push((event as CustomEvent).detail);
        target.addEventListener(topicName, listener);
        void stop.then(() => target.removeEventListener(topicName, listener));
      }, new SlidingBuffer(backlog)),
  };
}

export const topic = (name: string, id?: string): string => (id ? `${name}:${id}` : name);
