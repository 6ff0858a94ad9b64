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
    subscribe: (topicName) => {
      let stopListening = () => {};
      const messages = new Backlog<unknown>(backlog, () => stopListening());
      stopListening = listen(topicName, (payload) => messages.push(payload));
      return messages;
    },
  };
}

/**
 * One subscription's messages not read yet, as an async iterator: at most `limit` of them, past which
 * the oldest are lost. (Repeater, which this replaces, cost 5–7 µs per message pushed and read, against
 * well under one here: at a thousand live I/O subscribers, 5–7 ms of every tick's delivery.)
 */
export class Backlog<T> implements AsyncIterableIterator<T> {
  private queued: T[] = [];
  /** The oldest unread message's place in `queued`: reading does not shift the array. */
  private head = 0;
  /** Reads waiting for a message, oldest first. */
  private readonly readers: ((result: IteratorResult<T>) => void)[] = [];
  private ended = false;

  constructor(private readonly limit: number, private readonly onEnd: () => void) {}

  push(value: T): void {
    if (this.ended) return;
    const reader = this.readers.shift();
    if (reader) return reader({ value, done: false });
    this.queued.push(value);
    if (this.queued.length - this.head > this.limit) this.head += 1;
    if (this.head >= this.limit) this.compact();
  }

  next(): Promise<IteratorResult<T>> {
    if (this.head < this.queued.length) {
      const value = this.queued[this.head];
      this.head += 1;
      if (this.head === this.queued.length) this.compact();
      return Promise.resolve({ value, done: false });
    }
    if (this.ended) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => this.readers.push(resolve));
  }

  /** Ends the subscription: unread messages are dropped, waiting reads end, and the bus stops delivering. */
  return(): Promise<IteratorResult<T>> {
    if (!this.ended) {
      this.ended = true;
      this.queued = [];
      this.head = 0;
      this.onEnd();
      for (const reader of this.readers.splice(0)) reader({ value: undefined, done: true });
    }
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private compact(): void {
    this.queued = this.queued.slice(this.head);
    this.head = 0;
  }
}

export const topic = (name: string, id?: string): string => (id ? `${name}:${id}` : name);
