import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GiB, seedBasics, startApp, type TestApp } from '../../helpers/app.ts';
import { createPolicy, createVm, ok } from '../../api/support.ts';

let app: TestApp;
let ids: Awaited<ReturnType<typeof seedBasics>>;

beforeAll(async () => {
  app = await startApp();
  ids = await seedBasics(app);
});
afterAll(() => app?.close());

const advance = (seconds: number) => ok(app, 'advanceSimulation', { seconds }, '... on AdvanceSimulationPayload { __typename }');

async function volumes(vmId: string) {
  await app.settle();
  const { node } = await app.query(
    `query($id: ID!) { node(id: $id) { ... on VirtualMachine { virtualVolumes { id vasaId type policyState provisionedBytes contentDigest localReplicas { syncState copyControl replicaVolume { id contentDigest metadata { key value } } } } } } }`,
    { id: vmId },
  );
  return node.virtualVolumes as any[];
}

const container = async (name: string) =>
  (await app.query(`{ storageContainers { edges { node { name usedBytes } } } }`)).storageContainers.edges.map((e: any) => e.node).find((c: any) => c.name === name).usedBytes as number;

describe('ddr replicas from the policy', () => {
  it('makes, pairs and syncs replicaCount replicas of every CONFIG and DATA volume; IN_PROGRESS until they are in sync, then APPLIED', async () => {
    const policyId = await createPolicy(app, [{ capabilityId: 'nec.ddr.replica', value: true }, { capabilityId: 'nec.ddr.replicaCount', value: 2 }, { capabilityId: 'nec.ddr.copyControl', value: 'SYNC' }]);
    const usedBefore = await container('tokyo-gold');
    // A VM with data first, then the policy: the replicas have a first copy to make.
    const vm = await createVm(app, ids.policies.BRONZE, { disks: [4 * GiB], containerId: ids.containers['tokyo-gold'] });
    const [disk] = (await volumes(vm.id)).filter((v) => v.type === 'DATA');
    await app.core.transact((work) => app.core.extents.write(work.tx, [{ vvolId: disk.vasaId, indexes: Array.from({ length: 64 }, (_, i) => i) }]));
    await ok(app, 'applyStoragePolicy', { targetId: vm.id, policyId }, '... on ApplyStoragePolicyPayload { __typename }', 'vmAdmin');
    const [copying] = (await volumes(vm.id)).filter((v) => v.type === 'DATA');
    expect(copying.localReplicas).toHaveLength(2);
    expect(copying.policyState).toBe('IN_PROGRESS');
    // Two FULL copies of 2 GiB share the array's 1 GiB/s: four seconds.
    await advance(5);
    const vvols = await volumes(vm.id);
    for (const vvol of vvols.filter((v) => v.type === 'DATA' || v.type === 'CONFIG')) {
      expect(vvol.policyState, vvol.type).toBe('APPLIED');
      expect(vvol.localReplicas.map((p: any) => p.syncState)).toEqual(['RPL_SYNC', 'RPL_SYNC']);
      expect(vvol.localReplicas.map((p: any) => p.copyControl)).toEqual(['SYNC', 'SYNC']);
      for (const pair of vvol.localReplicas) expect(pair.replicaVolume.contentDigest).toBe(vvol.contentDigest);
    }
    // The replicas' capacity is reserved in the container: each is as large as its MV.
    const provisioned = vvols.filter((v) => v.type === 'DATA' || v.type === 'CONFIG').reduce((sum, v) => sum + v.provisionedBytes, 0);
    expect((await container('tokyo-gold')) - usedBefore).toBe(3 * provisioned);
  });

  it('growing a disk grows its replicas with it, reserving their space too', async () => {
    const policyId = await createPolicy(app, [{ capabilityId: 'nec.ddr.replica', value: true }, { capabilityId: 'nec.ddr.replicaCount', value: 2 }]);
    const vm = await createVm(app, policyId, { disks: [2 * GiB], containerId: ids.containers['tokyo-gold'] });
    const [disk] = (await volumes(vm.id)).filter((v) => v.type === 'DATA');
    const usedBefore = await container('tokyo-gold');
    await ok(app, 'resizeVirtualVolume', { id: disk.id, sizeBytes: 3 * GiB }, '... on ResizeVirtualVolumePayload { __typename }', 'vmAdmin');
    const sizes = async (ids: string[]) => Promise.all(ids.map(async (id) => (await app.query(`query($id: ID!) { node(id: $id) { ... on VirtualVolume { provisionedBytes } } }`, { id })).node.provisionedBytes));
    expect(await sizes(disk.localReplicas.map((p: any) => p.replicaVolume.id))).toEqual([3 * GiB, 3 * GiB]);
    expect((await container('tokyo-gold')) - usedBefore).toBe(3 * GiB);
  });

  it('unpairs and deletes the replicas when the rules go, and when the VM goes', async () => {
    const policyId = await createPolicy(app, [{ capabilityId: 'nec.ddr.replica', value: true }]);
    const usedBefore = await container('tokyo-gold');
    const vm = await createVm(app, policyId, { disks: [2 * GiB], containerId: ids.containers['tokyo-gold'] });
    const count = async () => (await app.query(`{ virtualVolumes(first: 1000) { totalCount } }`)).virtualVolumes.totalCount as number;
    const replicas = (await volumes(vm.id)).flatMap((v) => v.localReplicas);
    expect(replicas).toHaveLength(2); // CONFIG and DATA
    const withReplicas = await count();

    await ok(app, 'updateStoragePolicy', { id: policyId, rules: [{ capabilityId: 'vasa.snapshot', value: true }] }, '... on UpdateStoragePolicyPayload { storagePolicy { id } }');
    const after = await volumes(vm.id);
    expect(after.flatMap((v) => v.localReplicas)).toEqual([]);
    expect(after.every((v) => v.policyState === 'APPLIED')).toBe(true);
    expect(await count()).toBe(withReplicas - 2);
    for (const rv of replicas) expect((await app.query(`query($id: ID!) { node(id: $id) { id } }`, { id: rv.replicaVolume.id })).node).toBeNull();

    await ok(app, 'updateStoragePolicy', { id: policyId, rules: [{ capabilityId: 'nec.ddr.replica', value: true }] }, '... on UpdateStoragePolicyPayload { storagePolicy { id } }');
    expect((await volumes(vm.id)).flatMap((v) => v.localReplicas)).toHaveLength(2);
    await ok(app, 'deleteVirtualMachine', { id: vm.id }, '... on DeleteVirtualMachinePayload { deletedId }');
    expect(await count()).toBe(withReplicas - 2 - 2); // the replicas, then the VM's CONFIG and DATA
    expect(await container('tokyo-gold')).toBe(usedBefore);
    expect((await app.query(`{ replicaPairs(first: 1000) { edges { node { id } } } }`)).replicaPairs.edges.map((e: any) => e.node).filter((p: any) => replicas.some((r: any) => r.id === p.id))).toEqual([]);
  });

  it('a policy replica whose RV a VM has attached stays as the VM sees it (IN_PROGRESS, saying why), and the other VVOLs still reconcile', async () => {
    const policyId = await createPolicy(app, [{ capabilityId: 'nec.ddr.replica', value: true }]);
    const vm = await createVm(app, policyId, { containerId: ids.containers['tokyo-gold'], disks: [GiB] });
    const reader = await createVm(app, ids.policies.BRONZE, { containerId: ids.containers['tokyo-gold'] });
    await app.settle();
    await advance(3);
    const [pair] = (await app.query(`{ replicaPairs(owner: "ddr", first: 1000) { edges { node { id masterVolume { id } } } } }`)).replicaPairs.edges.map((e: any) => e.node).filter((p: any) => p.masterVolume.id === vm.disks[0]);
    await ok(app, 'separatePair', { pairId: pair.id }, '... on SeparatePairPayload { __typename }', 'vmAdmin');
    await ok(app, 'attachReplicaVolume', { pairId: pair.id, vmId: reader.id }, '... on AttachReplicaVolumePayload { __typename }', 'vmAdmin');
    // Re-applying asks the reconciler to replicate the separated pair, which would copy onto the attached RV.
    await ok(app, 'applyStoragePolicy', { targetId: vm.id, policyId }, '... on ApplyStoragePolicyPayload { __typename }', 'vmAdmin');
    const other = await createVm(app, ids.policies.BRONZE, { containerId: ids.containers['tokyo-gold'], disks: [GiB] });
    const disk = (await volumes(vm.id)).find((v) => v.id === vm.disks[0]);
    expect(disk.policyState).toBe('IN_PROGRESS');
    expect(disk.localReplicas[0].syncState).toBe('SEPARATED');
    const reason = (await app.query(`query($id: ID!) { node(id: $id) { ... on VirtualVolume { policyReason } } }`, { id: vm.disks[0] })).node.policyReason;
    expect(reason).toContain('attached');
    expect((await volumes(other.id)).every((v) => v.policyState === 'APPLIED')).toBe(true);
  });

  it('a policy replica whose RV another VM has attached stays that VM\'s disk when the policy stops asking for it, and when its MV\'s VM is deleted: only the pair goes', async () => {
    const policyId = await createPolicy(app, [{ capabilityId: 'nec.ddr.replica', value: true }]);
    const reader = await createVm(app, ids.policies.BRONZE, { containerId: ids.containers['tokyo-gold'], powerOn: true });
    const disksOf = async () => (await app.query(`query($id: ID!) { node(id: $id) { ... on VirtualMachine { disks { unitNumber virtualVolume { id bindState } } } } }`, { id: reader.id })).node.disks;
    const attachReplica = async (vm: { id: string; disks: string[] }) => {
      await app.settle();
      await advance(3);
      const [pair] = (await app.query(`{ replicaPairs(owner: "ddr", first: 1000) { edges { node { id masterVolume { id } replicaVolume { id } } } } }`)).replicaPairs.edges.map((e: any) => e.node).filter((p: any) => p.masterVolume.id === vm.disks[0]);
      await ok(app, 'separatePair', { pairId: pair.id }, '... on SeparatePairPayload { __typename }', 'vmAdmin');
      await ok(app, 'attachReplicaVolume', { pairId: pair.id, vmId: reader.id }, '... on AttachReplicaVolumePayload { __typename }', 'vmAdmin');
      return pair;
    };
    const pairs = async () => (await app.query(`{ replicaPairs(owner: "ddr", first: 1000) { edges { node { id } } } }`)).replicaPairs.edges.map((e: any) => e.node.id);

    const first = await createVm(app, policyId, { containerId: ids.containers['tokyo-gold'], disks: [GiB] });
    const dropped = await attachReplica(first);
    const used = await container('tokyo-gold');
    await ok(app, 'applyStoragePolicy', { targetId: first.id, policyId: ids.policies.BRONZE }, '... on ApplyStoragePolicyPayload { __typename }', 'vmAdmin');
    await app.settle();
    // Before, the running reader lost its hot-added disk, deleted under it.
    expect(await disksOf()).toEqual([expect.objectContaining({ unitNumber: 0 }), { unitNumber: 1, virtualVolume: { id: dropped.replicaVolume.id, bindState: 'BOUND' } }]);
    expect(await pairs()).not.toContain(dropped.id);
    expect(await container('tokyo-gold')).toBe(used - 4 * GiB); // only the CONFIG volume's replica went

    const second = await createVm(app, policyId, { containerId: ids.containers['tokyo-gold'], disks: [GiB] });
    const orphaned = await attachReplica(second);
    await ok(app, 'deleteVirtualMachine', { id: second.id }, '... on DeleteVirtualMachinePayload { deletedId }');
    expect((await disksOf()).map((d: any) => d.virtualVolume.id)).toContain(orphaned.replicaVolume.id);
    expect(await pairs()).not.toContain(orphaned.id);
  });

  it('deleting a VM that has its own disk\'s policy replica attached gives that replica\'s space back once, not twice', async () => {
    const policyId = await createPolicy(app, [{ capabilityId: 'nec.ddr.replica', value: true }]);
    // Another VM in the container, so that a release of too much shows (usedBytes does not go below 0).
    await createVm(app, ids.policies.BRONZE, { containerId: ids.containers['tokyo-gold'], disks: [GiB] });
    const vm = await createVm(app, policyId, { containerId: ids.containers['tokyo-gold'], disks: [GiB] });
    await app.settle();
    await advance(3);
    const [pair] = (await app.query(`{ replicaPairs(owner: "ddr", first: 1000) { edges { node { id masterVolume { id } } } } }`)).replicaPairs.edges.map((e: any) => e.node).filter((p: any) => p.masterVolume.id === vm.disks[0]);
    await ok(app, 'separatePair', { pairId: pair.id }, '... on SeparatePairPayload { __typename }', 'vmAdmin');
    await ok(app, 'attachReplicaVolume', { pairId: pair.id, vmId: vm.id }, '... on AttachReplicaVolumePayload { __typename }', 'vmAdmin');
    const used = await container('tokyo-gold');
    await ok(app, 'deleteVirtualMachine', { id: vm.id }, '... on DeleteVirtualMachinePayload { deletedId }');
    // The VM's CONFIG and DATA (4 GiB + 1 GiB) and their replicas (as much again). The RV went with its MV
    // (a policy replica) and was released there, then again as the VM's attached disk: 1 GiB too much.
    expect(await container('tokyo-gold')).toBe(used - 2 * (4 * GiB + GiB));
    const { events } = await app.query(`{ events(first: 1000, kinds: ["vvol.deleted"]) { entityId } }`);
    expect(new Set(events.map((e: any) => e.entityId)).size).toBe(events.length); // each volume's deletion announced once
  });
});
