import { resolveCursorConnection } from '@pothos/plugin-relay';
import { and, asc, count, desc, getTableName, sql, type SQL } from 'drizzle-orm';
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core';
import { GraphQLError } from 'graphql';
import type { Executor } from '../core/db/client.ts';
import type { Builder } from './builder.ts';
import { isUuid } from './refs.ts';

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 1000;

export interface PageArgs {
  first?: number | null;
  after?: string | null;
  last?: number | null;
  before?: string | null;
}

/**
 * A page of a table's rows (filtered by `where`) in the order of the `key` columns, the last of which
 * is unique, plus a lazily counted `totalCount` (counted only when asked for). Keyset pagination: a
 * cursor is the key of its row, as PostgreSQL prints it (timestamps keep their microseconds), so the
 * next page starts after that row even when rows before it were added or removed meanwhile, and
 * costs the same on the last page as on the first. `first` above MAX_PAGE_SIZE is refused with a clear
 * error rather than silently cut.
 */
export async function tablePage<T extends PgTable>(db: Executor, table: T, key: PgColumn[], where: SQL | undefined, args: PageArgs) {
  for (const name of ['first', 'last'] as const) {
    const value = args[name];
    if (value != null && (value < 0 || value > MAX_PAGE_SIZE)) {
      throw new GraphQLError(`${name} must be between 0 and ${MAX_PAGE_SIZE}, got ${value}`, { extensions: { code: 'PAGE_SIZE' } });
    }
  }
  const tableName = getTableName(table);
  const cursors = new WeakMap<object, string>();
  const connection = await resolveCursorConnection<Promise<T['$inferSelect'][]>>(
    { args, defaultSize: DEFAULT_PAGE_SIZE, maxSize: MAX_PAGE_SIZE, toCursor: (row) => cursors.get(row as object)! },
    async ({ before, after, limit, inverted }): Promise<T['$inferSelect'][]> => {
      const rows = await db
        .select({ row: table as PgTable, key: sql<string>`json_build_array(${sql.join(key, sql`, `)})::text` })
        .from(table as PgTable)
        .where(and(where, after ? beyond(key, '>', decode(after, tableName, key, 'after')) : undefined, before ? beyond(key, '<', decode(before, tableName, key, 'before')) : undefined))
        .orderBy(...key.map((column) => (inverted ? desc(column) : asc(column))))
        .limit(limit);
      return rows.map(({ row, key: printed }) => {
        cursors.set(row, Buffer.from(`${tableName}:${printed}`).toString('base64url'));
        return row as T['$inferSelect'];
      });
    },
  );
  return Object.assign(connection!, { totalCount: async () => (await db.select({ n: count() }).from(table as PgTable).where(where))[0].n });
}

/** Rows whose key comes after (`>`) or before (`<`) the given one: a row comparison, each value cast to its column's type. */
function beyond(key: PgColumn[], operator: '>' | '<', values: (string | number)[]): SQL {
  const cast = values.map((value, i) => sql`${value}::${sql.raw(key[i].getSQLType())}`);
  return sql`(${sql.join(key, sql`, `)}) ${sql.raw(operator)} (${sql.join(cast, sql`, `)})`;
}

function decode(cursor: string, tableName: string, key: PgColumn[], arg: string): (string | number)[] {
  const text = Buffer.from(cursor, 'base64url').toString();
  const separator = text.indexOf(':');
  let values: unknown;
  try {
    values = separator > 0 && text.slice(0, separator) === tableName ? JSON.parse(text.slice(separator + 1)) : undefined;
  } catch {
    values = undefined;
  }
  if (!Array.isArray(values) || values.length !== key.length || !values.every((v, i) => fitsColumn(v, key[i]))) {
    throw new GraphQLError(`${arg} is not a cursor of this list: "${cursor}"`, { extensions: { code: 'CURSOR' } });
  }
  return values;
}

/** Whether a cursor's value casts to its column's type: a forged cursor must be a CURSOR error, not a failed statement. */
function fitsColumn(value: unknown, column: PgColumn): boolean {
  const type = column.getSQLType();
  if (type === 'uuid') return typeof value === 'string' && isUuid(value);
  if (type.startsWith('timestamp')) return typeof value === 'string' && Number.isFinite(Date.parse(value));
  if (type === 'integer') return Number.isInteger(value) && Math.abs(value as number) <= 2 ** 31 - 1;
  return typeof value === 'string' && !value.includes('\0');
}

export function addConnectionFields(builder: Builder): void {
  builder.globalConnectionField('totalCount', (t) =>
    t.int({
      description: 'How many items match, across all pages.',
      resolve: (parent) => (parent as unknown as { totalCount: () => Promise<number> }).totalCount(),
    }),
  );
}
