import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resultRows } from '../../../src/core/db/client.ts';
import { GiB, seedBasics, startApp, type TestApp } from '../../../test/helpers/app.ts';

let app: TestApp;
let ids: Awaited<ReturnType<typeof seedBasics>>;

beforeAll(async () => {
  app = await startApp({ env: { VVOLGRAPH_PLUGINS: './examples/plugins/vvol-labels/index.js' } });
  ids = await seedBasics(app);
});
afterAll(() => app?.close());

describe('vvol-labels, a plain JavaScript plugin from outside src/', () => {
  it('is loaded last, with its capability namespace, and its own migrations journal', async () => {
    const data = await app.query(`{ plugins { name vendor capabilityNamespace { namespace capabilities { id valueType } } } }`);
    expect(data.plugins.at(-1)).toEqual({ name: 'vvol-labels', vendor: 'Example Corp', capabilityNamespace: { namespace: 'example.labels', capabilities: [{ id: 'example.labels.costCenter', valueType: 'STRING' }] } });
    const journal = resultRows(await app.core.db.execute(sql`select count(*)::int as n from drizzle.__drizzle_migrations_vvol_labels`));
    expect(journal).toEqual([{ n: 1 }]);
  });

  it('validates its rules in policies, as a typed error naming the field', async () => {
    const bad = await app.query(`mutation { createStoragePolicy(input: { name: "billing", rules: [{ capabilityId: "vasa.snapshot", value: true }, { capabilityId: "example.labels.costCenter", value: "accounting" }] }) { __typename ... on ValidationError { field message } } }`);
    expect(bad.createStoragePolicy).toEqual({ __typename: 'ValidationError', field: 'input.rules.1.value', message: 'example.labels.costCenter must look like CC-0042, got "accounting"' });
  });

  it('its hooks label every VVOL in the core\'s transaction, and VirtualVolume.costCenter reads the label in one batch', async () => {
    const policy = await app.query(`mutation { createStoragePolicy(input: { name: "billed", rules: [{ capabilityId: "example.labels.costCenter", value: "CC-0042" }] }) { ... on CreateStoragePolicyPayload { storagePolicy { id } } } }`);
    const created = await app.query(
      `mutation($p: ID!) { createVirtualMachine(input: { name: "billed-vm", policyId: $p, disks: [{ sizeBytes: ${GiB} }, { sizeBytes: ${GiB} }] }) { ... on CreateVirtualMachinePayload { virtualMachine { id virtualVolumes { costCenter } } } } }`,
      { p: policy.createStoragePolicy.storagePolicy.id },
    );
    // vvolCreated has run (a row exists, no label yet) ...
    expect(created.createVirtualMachine.virtualMachine.virtualVolumes).toHaveLength(3);
    await app.settle();
    // ... and reconciling the policy labelled each VVOL.
    const result = await app.gql(`query($id: ID!) { node(id: $id) { ... on VirtualMachine { virtualVolumes { type costCenter } } } }`, { id: created.createVirtualMachine.virtualMachine.id });
    expect(result.data.node.virtualVolumes).toEqual([{ type: 'CONFIG', costCenter: 'CC-0042' }, { type: 'DATA', costCenter: 'CC-0042' }, { type: 'DATA', costCenter: 'CC-0042' }]);

    // Moving the VM to a policy without the rule clears the label.
    await app.query(`mutation($vm: ID!, $p: ID!) { applyStoragePolicy(input: { targetId: $vm, policyId: $p }) { __typename } }`, { vm: created.createVirtualMachine.virtualMachine.id, p: ids.policies.BRONZE });
    await app.settle();
    const cleared = await app.query(`query($id: ID!) { node(id: $id) { ... on VirtualMachine { virtualVolumes { costCenter } } } }`, { id: created.createVirtualMachine.virtualMachine.id });
    expect(cleared.node.virtualVolumes.map((v: any) => v.costCenter)).toEqual([null, null, null]);

    // One statement for the labels of the whole list, however many VVOLs it has.
    const statements = async (fields: string) => {
      const result = await app.gql(`{ virtualVolumes(first: 50) { edges { node { ${fields} } } } }`);
      expect(result.data.virtualVolumes.edges.length).toBeGreaterThanOrEqual(3);
      return result.extensions!.sqlStatements as number;
    };
    expect((await statements('id costCenter')) - (await statements('id'))).toBe(1);
  });

  it('a failing core change rolls back the plugin\'s writes with it', async () => {
    const count = async () => resultRows<{ n: number }>(await app.core.db.execute(sql`select count(*)::int as n from example_vvol_labels`))[0].n;
    const before = await count();
    const refused = await app.query(`mutation($p: ID!) { createVirtualMachine(input: { name: "too-big", policyId: $p, disks: [{ sizeBytes: ${GiB} }, { sizeBytes: ${1024 * 1024 * GiB} }] }) { __typename } }`, { p: ids.policies.BRONZE });
    expect(refused.createVirtualMachine.__typename).toBe('ValidationError');
    expect(await count()).toBe(before);
  });
});
