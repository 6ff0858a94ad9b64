import { resolveOffsetConnection } from '@pothos/plugin-relay';
import { asc, count, type SQL } from 'drizzle-orm';
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core';
import { GraphQLError } from 'graphql';
import type { Executor } from '../core/db/client.ts';
import type { Builder } from './builder.ts';

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 1000;

export interface PageArgs {
  first?: number | null;
  after?: string | null;
  last?: number | null;
  before?: string | null;
}

/**
 * A page of rows plus a lazily counted `totalCount` (counted only when asked for). `first` above
 * MAX_PAGE_SIZE is refused with a clear error rather than silently cut.
 */
export async function page<T>(args: PageArgs, fetch: (limit: number, offset: number) => Promise<T[]>, count: () => Promise<number>) {
  for (const key of ['first', 'last'] as const) {
    const value = args[key];
    if (value != null && (value < 0 || value > MAX_PAGE_SIZE)) {
      throw new GraphQLError(`${key} must be between 0 and ${MAX_PAGE_SIZE}, got ${value}`, { extensions: { code: 'PAGE_SIZE' } });
    }
  }
  const connection = await resolveOffsetConnection({ args, defaultSize: DEFAULT_PAGE_SIZE, maxSize: MAX_PAGE_SIZE }, ({ limit, offset }) => fetch(limit, offset));
  return Object.assign(connection, { totalCount: count });
}

export function addConnectionFields(builder: Builder): void {
  builder.globalConnectionField('totalCount', (t) =>
    t.int({
      description: 'How many items match, across all pages.',
      resolve: (parent) => (parent as unknown as { totalCount: () => Promise<number> }).totalCount(),
    }),
  );
}

/** A page of a whole table (filtered by `where`), in a stable order: `orderBy` then the primary key. */
export function tablePage<T extends PgTable>(db: Executor, table: T, orderBy: PgColumn[], where: SQL | undefined, args: PageArgs) {
  return page(
    args,
    (limit, offset) => db.select().from(table as PgTable).where(where).orderBy(...orderBy.map((c) => asc(c))).limit(limit).offset(offset) as Promise<T['$inferSelect'][]>,
    async () => (await db.select({ n: count() }).from(table as PgTable).where(where))[0].n,
  );
}
