import { sql } from 'drizzle-orm';
import { resultRows, type CopyControl, type PolicyContext, type PolicyOutcome, type PolicyRule, type VirtualVolumeRow } from '../../core/plugin.ts';
import { DDR_COPY_BYTES_PER_SECOND, internalLink } from './schema.ts';

/** A policy with `nec.ddr.replica` gives each CONFIG and DATA volume `replicaCount` local replicas in its own container. */
export async function policyApplied(ctx: PolicyContext, vvol: VirtualVolumeRow, rules: PolicyRule[]): Promise<PolicyOutcome> {
  const valueOf = (id: string) => rules.find((r) => r.capabilityId === `nec.ddr.${id}`)?.value;
  const wanted = valueOf('replica') === true ? Number(valueOf('replicaCount') ?? 1) : 0;
  return ctx.pairs.reconcile(ctx.work, vvol, {
    owner: 'ddr',
    count: wanted,
    copyControl: (valueOf('copyControl') as CopyControl | undefined) ?? 'BACKGROUND',
    place: async (mv) => {
      const [container] = resultRows<{ array_id: string }>(await ctx.tx.execute(sql`select array_id::text as array_id from storage_containers where id = ${mv.containerId}::uuid`));
      return { containerId: mv.containerId, link: internalLink(container.array_id), bytesPerSecond: DDR_COPY_BYTES_PER_SECOND };
    },
  });
}
