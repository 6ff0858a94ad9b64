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
  if (!redisUrl) return { bus: localBus(backlog), close: async () => {} };
  const [{ createRedisEventTarget }, { Redis }] = await Promise.all([
    import('@graphql-yoga/redis-event-target'),
    import('ioredis'),
  ]);
  const publishClient = new Redis(redisUrl);
  const subscribeClient = new Redis(redisUrl);
  const target = createRedisEventTarget({ publishClient, subscribeClient }) as EventTarget;
  const listen = (topicName: string, listener: (payload: unknown) => void) => {
    const onEvent = (event: Event) => listener((event as CustomEvent).detail);
    target.addEventListener(topicName, onEvent);
    return () => target.removeEventListener(topicName, onEvent);
  };
  return {
    bus: busOver(listen, (topicName, payload) => void target.dispatchEvent(new CustomEvent(topicName, { detail: payload })), backlog),
    close: async () => {
      publishClient.disconnect();
      subscribeClient.disconnect();
    },
  };
}

/**
 * The bus of one process: listeners by topic, called in place. (An EventTarget and a CustomEvent per
 * message cost more than the rest of a live I/O sample's way to its WebSocket, at a thousand per tick.)
 */
function localBus(backlog: number): Bus {
  const listeners = new Map<string, Set<(payload: unknown) => void>>();
  const listen = (topicName: string, listener: (payload: unknown) => void) => {
    let topicListeners = listeners.get(topicName);
    if (!topicListeners) listeners.set(topicName, (topicListeners = new Set()));
    topicListeners.add(listener);
    return () => {
      topicListeners.delete(listener);
      // Only this topic's current set: a later listener may have started a new one.
      if (topicListeners.size === 0 && listeners.get(topicName) === topicListeners) listeners.delete(topicName);
    };
  };
  const publish = (topicName: string, payload: unknown) => {
    for (const listener of listeners.get(topicName) ?? []) listener(payload);
  };
  return busOver(listen, publish, backlog);
}

/** A bus over a way to listen to a topic (returning how to stop) and a way to publish: each subscription buffers up to `backlog`. */
function busOver(listen: (topicName: string, listener: (payload: unknown) => void) => () => void, publish: Bus['publish'], backlog: number): Bus {
  return {
    publish,
    subscribe: (topicName) =>
      new Repeater<unknown>((push, stop) => {
        const stopListening = listen(topicName, (payload) => void push(payload));
        void stop.then(stopListening);
      }, new SlidingBuffer(backlog)),
  };
}

export const topic = (name: string, id?: string): string => (id ? `${name}:${id}` : name);
