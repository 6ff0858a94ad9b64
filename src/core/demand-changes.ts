import { sql } from 'drizzle-orm';
import type { Executor } from './db/client.ts';
import { demandChanges } from './db/tables.ts';

/**
 * Beginnings of the core's event kinds that ticks raise all the time and that never change the workload's
 * demand; plugins add their own (`demandNeutralEvents`). Any other event may change it.
 */
export const coreDemandNeutralEvents = ['task.', 'pair.', 'alarm.'];

export const changesDemand = (event: { kind: string }, demandNeutral: readonly string[]): boolean => !demandNeutral.some((prefix) => event.kind.startsWith(prefix));

/**
 * Moves the demand version in the caller's transaction. Called last before commit (the row stays
 * locked until then), so two transactions never wait on each other for it while holding other locks.
 */
export async function markDemandChanged(db: Executor): Promise<void> {
  await db
    .insert(demandChanges)
    .values({ id: 1, version: 1 })
    .onConflictDoUpdate({ target: demandChanges.id, set: { version: sql`${demandChanges.version} + 1` } });
}

/** The demand version as a SQL expression, for a tick to read alongside its first statement (null until anything moved it). */
export const demandVersion = sql<string | null>`(select version::text from ${demandChanges} where id = 1)`;
