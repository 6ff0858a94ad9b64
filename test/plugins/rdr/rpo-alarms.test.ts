import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GiB, seedBasics, startApp, type TestApp } from '../../helpers/app.ts';
import { arrayId, createPolicy, createVm, mutate, ok, writeExtents } from '../../api/support.ts';

let app: TestApp;
let ids: Awaited<ReturnType<typeof seedBasics>>;
let policy: string;

beforeAll(async () => {
  app = await startApp();
  ids = await seedBasics(app);
  // One 32 MiB extent a second: 2 GiB written puts a replica a minute behind.
  await mutate(app, 'configureReplicationLink', { sourceArrayId: await arrayId(app, 'tokyo-m510'), targetArrayId: await arrayId(app, 'osaka-m310'), bytesPerSecond: 32 * 1024 ** 2, latencyMs: 5 }, 'storageAdmin');
  policy = await createPolicy(app, [{ capabilityId: 'nec.rdr.replica', value: true }, { capabilityId: 'nec.rdr.rpoSeconds', value: 5 }, { capabilityId: 'nec.rdr.copyControl', value: 'BACKGROUND' }]);
});
afterAll(() => app?.close());

const advance = (seconds: number) => app.query(`mutation { advanceSimulation(input: { seconds: ${seconds} }) { __typename } }`);
const node = async (id: string, selection: string) => (await app.query(`query($id: ID!) { node(id: $id) { ${selection} } }`, { id })).node;
const rowId = (globalId: string) => Buffer.from(globalId, 'base64').toString().split(':')[1];
const alarmOf = async (groupId: string) => (await app.query('{ alarms(includeCleared: true, first: 1000) { edges { node { kind entityId status } } } }')).alarms.edges.map((e: any) => e.node).find((a: any) => a.kind === 'REPLICATION' && a.entityId === rowId(groupId));

/** A VM under the RPO policy whose group has a complete point in time, then falls behind past its RPO (RED alarm). */
async function groupPastItsRpo(): Promise<{ vmId: string; groupId: string }> {
  const vm = await createVm(app, policy, { containerId: ids.containers['tokyo-gold'], disks: [4 * GiB] });
  await app.settle();
  await advance(1);
  const groupId = (await node(vm.id, '... on VirtualMachine { replicationGroup { id } }')).replicationGroup.id;
  await ok(app, 'syncReplicationGroup', { groupId }, '__typename', 'vmAdmin'); // in step: complete at once
  await writeExtents(app, vm.disks[0], Array.from({ length: 64 }, (_, i) => i));
  await advance(10);
  expect((await alarmOf(groupId))?.status).toBe('RED');
  return { vmId: vm.id, groupId };
}

describe('REPLICATION alarms of groups no longer checked', () => {
  it('an unplanned failover clears the group\'s RPO alarm: there is no replica left to lag', async () => {
    const { groupId } = await groupPastItsRpo();
    await ok(app, 'failoverReplicationGroup', { groupId, planned: false }, '__typename', 'vmAdmin');
    await advance(1);
    expect((await alarmOf(groupId))?.status).toBe('GREEN');
  });

  it('deleting the source VM clears its group\'s RPO alarm', async () => {
    const { vmId, groupId } = await groupPastItsRpo();
    await ok(app, 'deleteVirtualMachine', { id: vmId }, '__typename', 'vmAdmin');
    await advance(1);
    expect((await alarmOf(groupId))?.status).toBe('GREEN');
  });

  it('a policy without an RPO any more clears the alarm', async () => {
    const { vmId, groupId } = await groupPastItsRpo();
    await ok(app, 'applyStoragePolicy', { targetId: vmId, policyId: ids.policies.BRONZE }, '__typename', 'vmAdmin');
    await app.settle();
    await advance(1);
    expect((await alarmOf(groupId))?.status).toBe('GREEN');
  });
});
