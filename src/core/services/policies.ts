import { and, asc, eq, ne, or } from 'drizzle-orm';
import type { Core } from '../core.ts';
import { anyOf, type Executor } from '../db/client.ts';
import { policyRules, storageContainers, storagePolicies, virtualMachines, virtualVolumes } from '../db/tables.ts';
import { ConflictError, NotFoundError, ValidationError } from '../errors.ts';
import type { PolicyRule } from '../plugin.ts';
import type { UnitOfWork } from '../unit-of-work.ts';

export type PolicyRow = typeof storagePolicies.$inferSelect;

export interface PolicyInput {
  name: string;
  description?: string | null;
  rules: PolicyRule[];
}

/** Rules of many policies in one statement, in their stored order. */
export async function rulesByPolicy(db: Executor, policyIds: readonly string[]): Promise<Map<string, PolicyRule[]>> {
  const result = new Map<string, PolicyRule[]>(policyIds.map((id) => [id, []]));
  if (policyIds.length === 0) return result;
  const rows = await db.select().from(policyRules).where(anyOf(policyRules.policyId, policyIds)).orderBy(asc(policyRules.policyId), asc(policyRules.position));
  for (const row of rows) result.get(row.policyId)?.push({ capabilityId: row.capabilityId, value: row.value });
  return result;
}

export async function findPolicy(db: Executor, id: string, field: string): Promise<PolicyRow> {
  const [policy] = await db.select().from(storagePolicies).where(eq(storagePolicies.id, id));
  if (!policy) throw new NotFoundError(field, id, `No storage policy with id "${id}"`);
  return policy;
}

function checkRules(core: Core, rules: PolicyRule[]): void {
  const issues = core.registry.validateRules(rules);
  if (issues.length > 0) throw ValidationError.of(issues);
}

async function checkNameFree(db: Executor, name: string, exceptId?: string): Promise<void> {
  const [clash] = await db
    .select({ id: storagePolicies.id })
    .from(storagePolicies)
    .where(exceptId ? and(eq(storagePolicies.name, name), ne(storagePolicies.id, exceptId)) : eq(storagePolicies.name, name));
  if (clash) throw new ValidationError('input.name', `A storage policy named "${name}" already exists`);
}

async function writeRules(db: Executor, policyId: string, rules: PolicyRule[]): Promise<void> {
  await db.delete(policyRules).where(eq(policyRules.policyId, policyId));
  if (rules.length > 0) {
    await db.insert(policyRules).values(rules.map((rule, position) => ({ policyId, position, capabilityId: rule.capabilityId, value: rule.value })));
  }
}

export async function createPolicy(core: Core, work: UnitOfWork, input: PolicyInput): Promise<PolicyRow> {
  checkRules(core, input.rules);
  await checkNameFree(work.tx, input.name);
  const [policy] = await work.tx.insert(storagePolicies).values({ name: input.name, description: input.description ?? '' }).returning();
  await writeRules(work.tx, policy.id, input.rules);
  work.emit({ kind: 'policy.created', entityType: 'StoragePolicy', entityId: policy.id, message: `Storage policy ${policy.name} created` });
  return policy;
}

/**
 * A change of rules is a new generation: every VVOL under the policy goes back to PENDING and the
 * reconciler applies the new generation to it, live.
 */
export async function updatePolicy(core: Core, work: UnitOfWork, id: string, input: Partial<PolicyInput>): Promise<PolicyRow> {
  const [current] = await work.tx.select().from(storagePolicies).where(eq(storagePolicies.id, id)).for('update');
  if (!current) throw new NotFoundError('input.id', id, `No storage policy with id "${id}"`);
  if (input.rules) checkRules(core, input.rules);
  if (input.name !== undefined && input.name !== current.name) await checkNameFree(work.tx, input.name, id);
  const [policy] = await work.tx
    .update(storagePolicies)
    .set({
      name: input.name ?? current.name,
      description: input.description ?? current.description,
      generation: input.rules ? current.generation + 1 : current.generation,
      updatedAt: new Date(),
    })
    .where(eq(storagePolicies.id, id))
    .returning();
  if (input.rules) {
    await writeRules(work.tx, id, input.rules);
    await work.tx
      .update(virtualVolumes)
      .set({ policyState: 'PENDING', policyReason: null })
      .where(eq(virtualVolumes.policyId, id));
  }
  work.emit({ kind: 'policy.updated', entityType: 'StoragePolicy', entityId: id, message: `Storage policy ${policy.name} updated to generation ${policy.generation}`, data: { generation: policy.generation } });
  return policy;
}

export async function deletePolicy(work: UnitOfWork, id: string): Promise<PolicyRow> {
  const [policy] = await work.tx.select().from(storagePolicies).where(eq(storagePolicies.id, id)).for('update');
  if (!policy) throw new NotFoundError('input.id', id, `No storage policy with id "${id}"`);
  const [vm] = await work.tx.select({ id: virtualMachines.id }).from(virtualMachines).where(eq(virtualMachines.policyId, id)).limit(1);
  const [vvol] = await work.tx.select({ id: virtualVolumes.id }).from(virtualVolumes).where(eq(virtualVolumes.policyId, id)).limit(1);
  const [container] = await work.tx.select({ name: storageContainers.name }).from(storageContainers).where(or(eq(storageContainers.defaultPolicyId, id))).limit(1);
  if (vm || vvol || container) {
    const user = container ? `it is the default policy of container ${container.name}` : 'virtual machines or volumes use it';
    throw new ConflictError(`Storage policy ${policy.name} is in use: ${user}`, 'IN_USE');
  }
  await work.tx.delete(storagePolicies).where(eq(storagePolicies.id, id));
  work.emit({ kind: 'policy.deleted', entityType: 'StoragePolicy', entityId: id, message: `Storage policy ${policy.name} deleted` });
  return policy;
}
