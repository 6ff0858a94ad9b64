import { eq } from 'drizzle-orm';
import type { Executor } from './db/client.ts';
import { simulationState } from './db/tables.ts';

/** The simulated clock as the database holds it (seconds); inside a tick, the tick's end. */
export async function simulatedNow(db: Executor): Promise<number> {
  const [clock] = await db.select({ now: simulationState.simulatedSeconds }).from(simulationState).where(eq(simulationState.id, 1));
  return clock?.now ?? 0;
}
