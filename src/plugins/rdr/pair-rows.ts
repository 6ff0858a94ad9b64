import { sql } from 'drizzle-orm';
import { resultRows, type Executor } from '../../core/plugin.ts';

export interface PairLagRow {
  mvId: string;
  syncedAt: number | null;
  stateTimes: Record<string, number>;
}

/** The rdr pairs of these MVs, for compliance (which has the database but not the pair service). */
export async function replicaPairs(db: Executor, mvIds: string[]): Promise<(PairLagRow & { id: string })[]> {
  return resultRows(await db.execute(sql`
    select id::text as id, mv_id::text as "mvId", synced_at as "syncedAt", state_times as "stateTimes"
    from replica_pairs where owner = 'rdr' and mv_id = any(${`{${mvIds.join(',')}}`}::uuid[])`));
}
