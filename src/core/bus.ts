import { createPubSub, type PubSub } from 'graphql-yoga';

/**
 * The in-process (or, with REDIS_URL, cross-instance) event bus behind subscriptions.
 * Topics are strings; `topic(name, id)` scopes one to an entity, e.g. `task:<uuid>`.
 */
export type Bus = PubSub<Record<string, [unknown]>>;

export async function createBus(redisUrl?: string): Promise<{ bus: Bus; close(): Promise<void> }> {
  if (!redisUrl) return { bus: createPubSub() as Bus, close: async () => {} };
  const [{ createRedisEventTarget }, { Redis }] = await Promise.all([
    import('@graphql-yoga/redis-event-target'),
    import('ioredis'),
  ]);
  const publishClient = new Redis(redisUrl);
  const subscribeClient = new Redis(redisUrl);
  const eventTarget = createRedisEventTarget({ publishClient, subscribeClient });
  return {
    bus: createPubSub({ eventTarget }) as Bus,
    close: async () => {
      publishClient.disconnect();
      subscribeClient.disconnect();
    },
  };
}

export const topic = (name: string, id?: string): string => (id ? `${name}:${id}` : name);
