import { sql, type SQL } from 'drizzle-orm';
import { pgArray } from './db/client.ts';

export type PolicyVerdictState = 'APPLIED' | 'IN_PROGRESS' | 'INFEASIBLE';

/**
 * SQL: the VVOL under the table alias `alias` holds what its policy reserves (a share of the L2 cache,
 * tier minimums): APPLIED or IN_PROGRESS as the reconciling pass has decided (`reconciled`, not yet
 * written), or else as its row says.
 */
export function holdsPolicy(alias: string, reconciled: ReadonlyMap<string, PolicyVerdictState>): SQL {
  if (!/^[a-z_][a-z0-9_]*$/.test(alias)) throw new RangeError(`holdsPolicy: ${alias} is not a table alias`);
  const decided = [...reconciled.keys()];
  const holding = decided.filter((id) => reconciled.get(id) !== 'INFEASIBLE');
  const id = sql.raw(`${alias}.id`);
  return sql`(${id} = any(${pgArray(holding)}::uuid[])
    or (${sql.raw(`${alias}.policy_state`)} in ('APPLIED', 'IN_PROGRESS') and ${id} <> all(${pgArray(decided)}::uuid[])))`;
}
