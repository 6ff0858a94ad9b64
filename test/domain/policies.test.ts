import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GiB, seedBasics, startApp, type TestApp } from '../helpers/app.ts';
import { definePlugin } from '../../src/core/plugin.ts';
import { builtInPlugins } from '../../src/plugins/index.ts';

let app: TestApp;
let ids: Awaited<ReturnType<typeof seedBasics>>;
const TiB = 1024 * GiB;

async function createPolicy(name: string, rules: { capabilityId: string; value: unknown }[]) {
  const data = await app.query(
    `mutation($input: CreateStoragePolicyInput!) { createStoragePolicy(input: $input) { __typename ... on CreateStoragePolicyPayload { storagePolicy { id generation rules { capabilityId value capability { valueType } } } } ... on UserError { message } } }`,
    { input: { name, rules } },
  );
  expect(data.createStoragePolicy.__typename, data.createStoragePolicy.message).toBe('CreateStoragePolicyPayload');
  return data.createStoragePolicy.storagePolicy;
}

async function createVm(name: string, policyId: string, sizes: number[], containerId?: string) {
  const data = await app.query(
    `mutation($input: CreateVirtualMachineInput!) { createVirtualMachine(input: $input) { __typename ... on CreateVirtualMachinePayload { virtualMachine { id storageContainer { name } virtualVolumes { id } } } ... on UserError { message } } }`,
    { input: { name, policyId, containerId, disks: sizes.map((s) => ({ sizeBytes: s })) } },
  );
  expect(data.createVirtualMachine.__typename, data.createVirtualMachine.message).toBe('CreateVirtualMachinePayload');
  return data.createVirtualMachine.virtualMachine;
}

const vvolStates = async (vmId: string) =>
  (await app.query(`query($id: ID!) { node(id: $id) { ... on VirtualMachine { compliance { status violations { capabilityId expected current message } }
    virtualVolumes { type policyState policyGeneration policyReason storagePolicy { name }
      compliance { status violations { capabilityId expected current message } } } } } }`, { id: vmId })).node;

beforeAll(async () => {
  app = await startApp();
  ids = await seedBasics(app);
});
afterAll(() => app?.close());

describe('policies', () => {
  it('stores rules with their capability metadata; a rules change is a new generation reconciled onto every VVOL under it', async () => {
    const policy = await createPolicy('perf', [{ capabilityId: 'vasa.performanceClass', value: 'MEDIUM' }]);
    expect(policy.generation).toBe(1);
    expect(policy.rules).toEqual([{ capabilityId: 'vasa.performanceClass', value: 'MEDIUM', capability: { valueType: 'ENUM' } }]);
    const vm = await createVm('perf-vm', policy.id, [GiB]);
    await app.settle();
    expect((await vvolStates(vm.id)).virtualVolumes.map((v: any) => [v.policyState, v.policyGeneration])).toEqual([['APPLIED', 1], ['APPLIED', 1]]);

    const updated = await app.query(
      `mutation($id: ID!) { updateStoragePolicy(input: { id: $id, rules: [{ capabilityId: "vasa.performanceClass", value: "MEDIUM" }, { capabilityId: "vasa.snapshot", value: true }] }) { ... on UpdateStoragePolicyPayload { storagePolicy { generation rules { capabilityId } } } } }`,
      { id: policy.id },
    );
    expect(updated.updateStoragePolicy.storagePolicy.generation).toBe(2);
    await app.settle();
    expect((await vvolStates(vm.id)).virtualVolumes.map((v: any) => [v.policyState, v.policyGeneration])).toEqual([['APPLIED', 2], ['APPLIED', 2]]);

    const renamed = await app.query(`mutation($id: ID!) { updateStoragePolicy(input: { id: $id, description: "just words" }) { ... on UpdateStoragePolicyPayload { storagePolicy { generation description } } } }`, { id: policy.id });
    expect(renamed.updateStoragePolicy.storagePolicy).toEqual({ generation: 2, description: 'just words' });
  });

  it('a policy the VVOL\'s container cannot deliver is INFEASIBLE with the reason, and compliance says what was expected and what is there', async () => {
    const vm = await createVm('moved', ids.policies.SILVER, [GiB], ids.containers['tokyo-bulk']);
    await app.settle();
    expect((await vvolStates(vm.id)).compliance.status).toBe('COMPLIANT');
    const applied = await app.query(
      `mutation($target: ID!, $policy: ID!) { applyStoragePolicy(input: { targetId: $target, policyId: $policy }) { ... on ApplyStoragePolicyPayload { virtualVolumes { policyState storagePolicy { name } } } } }`,
      { target: vm.id, policy: ids.policies.GOLD },
    );
    expect(applied.applyStoragePolicy.virtualVolumes).toHaveLength(2);
    expect(applied.applyStoragePolicy.virtualVolumes.every((v: any) => v.storagePolicy.name === 'GOLD')).toBe(true);
    await app.settle();
    const state = await vvolStates(vm.id);
    for (const vvol of state.virtualVolumes) {
      expect(vvol.policyState).toBe('INFEASIBLE');
      expect(vvol.policyReason).toContain('vasa.capacityClass: tokyo-bulk offers "MEDIUM", "LARGE", not "SMALL"');
      expect(vvol.compliance.status).toBe('NON_COMPLIANT');
    }
    expect(state.compliance.status).toBe('NON_COMPLIANT');

    // Back to SILVER: feasible again, and compliant.
    await app.query(`mutation($target: ID!, $policy: ID!) { applyStoragePolicy(input: { targetId: $target, policyId: $policy }) { __typename } }`, { target: vm.id, policy: ids.policies.SILVER });
    await app.settle();
    expect((await vvolStates(vm.id)).virtualVolumes.map((v: any) => v.policyState)).toEqual(['APPLIED', 'APPLIED']);
  });

  it('compliance lists each violated rule with expected and current values when a container stops offering it', async () => {
    const vm = await createVm('drift', ids.policies.GOLD, [GiB]);
    // GOLD's local and remote replicas make their first copies (OUT_OF_DATE until then), sharing their links with earlier tests' copies.
    await app.query(`mutation { advanceSimulation(input: { seconds: 60 }) { __typename } }`);
    await app.settle();
    expect((await vvolStates(vm.id)).compliance.status).toBe('COMPLIANT');
    // The array loses encryption on that container (e.g. a pool rebuilt without it).
    const { storageContainers } = await import('../../src/core/db/tables.ts');
    const { eq } = await import('drizzle-orm');
    const [row] = await app.core.db.select().from(storageContainers).where(eq(storageContainers.name, 'tokyo-gold'));
    await app.core.db.update(storageContainers).set({ offers: { ...row.offers, 'vasa.encryption': false } }).where(eq(storageContainers.id, row.id));
    const state = await vvolStates(vm.id);
    expect(state.compliance.status).toBe('NON_COMPLIANT');
    expect(state.virtualVolumes[0].compliance.violations).toEqual([
      { capabilityId: 'vasa.encryption', expected: 'true', current: 'false', message: 'tokyo-gold does not offer vasa.encryption' },
    ]);
    await app.core.db.update(storageContainers).set({ offers: row.offers }).where(eq(storageContainers.id, row.id));
  });

  it('a VVOL under a policy without rules is NOT_APPLICABLE', async () => {
    const empty = await createPolicy('empty', []);
    const vm = await createVm('plain', empty.id, [GiB]);
    await app.settle();
    expect((await vvolStates(vm.id)).virtualVolumes.map((v: any) => v.compliance.status)).toEqual(['NOT_APPLICABLE', 'NOT_APPLICABLE']);
  });
});

describe('placement, explained', () => {
  it('lists every container with each rule passed or failed and why, utilization before and after, compatible and least utilized first', async () => {
    const { matchingContainers } = await app.query(
      `query($policy: ID!) { matchingContainers(policyId: $policy, sizeBytes: ${10 * TiB}) { compatible container { name } freeBytes utilizationBefore utilizationAfter checks { capabilityId pass reason } } }`,
      { policy: ids.policies.BRONZE },
    );
    expect(matchingContainers.map((m: any) => m.container.name).sort()).toEqual(['osaka-bulk', 'osaka-gold', 'tokyo-bulk', 'tokyo-gold']);
    const compatible = matchingContainers.filter((m: any) => m.compatible);
    expect(matchingContainers.slice(0, compatible.length)).toEqual(compatible);
    for (let i = 1; i < compatible.length; i++) expect(compatible[i].utilizationAfter).toBeGreaterThanOrEqual(compatible[i - 1].utilizationAfter);
    for (const m of matchingContainers) {
      expect(m.utilizationAfter - m.utilizationBefore).toBeCloseTo((10 * TiB) / (m.freeBytes / (1 - m.utilizationBefore)), 6);
      expect(m.checks.map((c: any) => c.capabilityId)).toEqual(expect.arrayContaining(['vasa.capacityClass', 'vasa.performanceClass', 'capacity', 'maxVvolSize']));
      expect(m.compatible).toBe(m.checks.every((c: any) => c.pass));
    }
    const osakaGold = matchingContainers.find((m: any) => m.container.name === 'osaka-gold');
    expect(osakaGold.compatible).toBe(true);
  });

  it('says which rule failed where when nothing matches, and createVirtualMachine refuses with the same reasons', async () => {
    const impossible = await createPolicy('impossible', [
      { capabilityId: 'vasa.capacityClass', value: 'LARGE' },
      { capabilityId: 'vasa.performanceClass', value: 'HIGH' },
    ]);
    const { matchingContainers } = await app.query(`query($p: ID!) { matchingContainers(policyId: $p, sizeBytes: ${GiB}) { compatible container { name } checks { capabilityId pass reason } } }`, { p: impossible.id });
    expect(matchingContainers.every((m: any) => !m.compatible)).toBe(true);
    const gold = matchingContainers.find((m: any) => m.container.name === 'tokyo-gold');
    expect(gold.checks.filter((c: any) => !c.pass)).toEqual([{ capabilityId: 'vasa.capacityClass', pass: false, reason: 'tokyo-gold offers "SMALL", "MEDIUM", not "LARGE"' }]);

    const refused = await app.query(
      `mutation($p: ID!) { createVirtualMachine(input: { name: "nowhere", policyId: $p, disks: [{ sizeBytes: ${GiB} }] }) { __typename ... on CapacityError { message containers { containerName failedRules { capabilityId reason } } } } }`,
      { p: impossible.id },
    );
    expect(refused.createVirtualMachine.__typename).toBe('CapacityError');
    expect(refused.createVirtualMachine.containers).toHaveLength(4);
    expect(refused.createVirtualMachine.containers.find((c: any) => c.containerName === 'tokyo-bulk').failedRules).toEqual([
      { capabilityId: 'vasa.performanceClass', reason: 'tokyo-bulk offers "MEDIUM", "LOW", not "HIGH"' },
    ]);
  });
});

describe('alarms and events', () => {
  it('raises SPACE_CAPACITY yellow at 80 %, red at 95 %, and clears it when space comes back; events ids only increase', async () => {
    const policy = await createPolicy('fill', [{ capabilityId: 'vasa.performanceClass', value: 'HIGH' }]);
    const container = ids.containers['osaka-gold'];
    const info = async () => (await app.query(`query($id: ID!) { node(id: $id) { ... on StorageContainer { capacityBytes usedBytes maxVvolSizeBytes } } }`, { id: container })).node;
    const alarm = async () => (await app.query(`{ alarms(kind: SPACE_CAPACITY, first: 1000) { edges { node { status entityId message } } } }`)).alarms.edges.map((e: any) => e.node);
    const { capacityBytes, usedBytes, maxVvolSizeBytes } = await info();
    const fill = async (name: string, bytes: number) => {
      const disks = [];
      for (let left = bytes; left > 0; left -= maxVvolSizeBytes) disks.push(Math.min(left, maxVvolSizeBytes));
      return createVm(name, policy.id, disks, container);
    };
    const toYellow = await fill('fill-yellow', Math.ceil(capacityBytes * 0.81) - usedBytes - 4 * GiB);
    expect(await alarm()).toEqual([expect.objectContaining({ status: 'YELLOW', message: expect.stringContaining('osaka-gold is 81') })]);
    const toRed = await fill('fill-red', Math.ceil(capacityBytes * 0.96) - (await info()).usedBytes - 4 * GiB);
    expect((await alarm())[0].status).toBe('RED');
    for (const vm of [toRed, toYellow]) await app.query(`mutation($id: ID!) { deleteVirtualMachine(input: { id: $id }) { __typename } }`, { id: vm.id });
    expect(await alarm()).toEqual([]);
    const cleared = (await app.query(`{ alarms(includeCleared: true, kind: SPACE_CAPACITY, first: 1000) { edges { node { status } } } }`)).alarms.edges.map((e: any) => e.node);
    expect(cleared).toEqual([{ status: 'GREEN' }]);

    const { events } = await app.query(`{ events(first: 1000, kinds: ["alarm.*"]) { id kind data } }`);
    expect(events.map((e: any) => [e.kind, e.data.status])).toEqual([
      ['alarm.raised', 'YELLOW'], ['alarm.raised', 'RED'], ['alarm.raised', 'YELLOW'], ['alarm.cleared', 'GREEN'],
    ]);
    const all = (await app.query(`{ events(first: 1000) { id } }`)).events.map((e: any) => e.id);
    expect(all).toEqual([...all].sort((a: number, b: number) => a - b));
    const after = (await app.query(`query($after: Int) { events(after: $after, first: 5) { id } }`, { after: all[10] })).events.map((e: any) => e.id);
    expect(after).toEqual(all.slice(11, 16));
  });
});

describe('a plugin that throws while reconciling', () => {
  it('parks the VVOL it fails (INFEASIBLE with the error) and every other VVOL still reaches its policy', async () => {
    const failing = definePlugin({
      name: 'test-failing',
      version: '1.0.0',
      capabilities: {
        namespace: 'test.failing',
        everyContainer: true,
        items: [{ id: 'test.failing.always', name: 'Fails', summary: 'The plugin throws for a VVOL under this rule', valueType: 'BOOLEAN', lineOfService: 'INSPECTION' }],
      },
      hooks: {
        policyApplied(_ctx, _vvol, rules) {
          if (rules.some((r) => r.capabilityId === 'test.failing.always')) throw new Error('the plugin broke');
        },
      },
    });
    const own = await startApp({ builtIns: [...builtInPlugins, failing] });
    try {
      const { policies, containers } = await seedBasics(own);
      const policyOf = async (name: string, rules: unknown[]) =>
        (await own.query(`mutation($input: CreateStoragePolicyInput!) { createStoragePolicy(input: $input) { ... on CreateStoragePolicyPayload { storagePolicy { id } } } }`, { input: { name, rules } })).createStoragePolicy.storagePolicy.id;
      const broken = await policyOf('broken', [{ capabilityId: 'test.failing.always', value: true }]);
      const vmOn = async (name: string, policyId: string) =>
        (await own.query(`mutation($p: ID!, $c: ID!) { createVirtualMachine(input: { name: "${name}", policyId: $p, containerId: $c, disks: [{ sizeBytes: ${GiB} }] }) { ... on CreateVirtualMachinePayload { virtualMachine { id } } } }`, { p: policyId, c: containers['tokyo-bulk'] })).createVirtualMachine.virtualMachine.id;
      const bad = await vmOn('bad', broken);
      const good = await vmOn('good', policies.BRONZE);
      await own.settle();
      const states = async (id: string) => (await own.query(`query($id: ID!) { node(id: $id) { ... on VirtualMachine { virtualVolumes { policyState policyReason } } } }`, { id })).node.virtualVolumes;
      expect((await states(good)).every((v: any) => v.policyState === 'APPLIED')).toBe(true);
      expect(await states(bad)).toContainEqual({ policyState: 'INFEASIBLE', policyReason: 'reconciliation failed: the plugin broke' });
    } finally {
      await own.close();
    }
  });
});
