import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { queryLimits } from '../../src/server.ts';
import { startApp, type TestApp } from '../helpers/app.ts';

let app: TestApp;

beforeAll(async () => {
  app = await startApp();
});
afterAll(() => app?.close());

describe('query limits', () => {
  it('refuses a query deeper than the limit, saying so, and runs one at the limit', async () => {
    // node -> VirtualVolume -> parent -> parent ... : each `parent` adds one level.
    const nest = (levels: number) => `{ node(id: "x") { ... on VirtualVolume { ${'parent { '.repeat(levels)}vasaId${' }'.repeat(levels)} } } }`;
    const deep = await app.gql(nest(queryLimits.maxDepth + 2));
    expect(deep.errors?.[0].message).toMatch(/depth/i);
    expect(deep.data ?? null).toBeNull();
    const ok = await app.gql(nest(queryLimits.maxDepth - 3));
    expect(ok.errors).toBeUndefined();
  });

  it('lets the VM to VVOL mapping query through at the largest page, and refuses a query far costlier', async () => {
    const mapping = `{ virtualMachines(first: 1000) { totalCount edges { node { id name powerState storagePolicy { name } virtualVolumes {
      id vasaId type bindState provisionedBytes storageContainer { name } storagePolicy { name } protocolEndpoint { name protocol } } } } } }`;
    expect((await app.gql(mapping)).errors).toBeUndefined();
    const wide = `{ ${Array.from({ length: 10 }, (_, i) => `a${i}: virtualVolumes(first: 1000) { edges { node { parent { parent { parent { storageContainer { array { pools { tiers { tier } } } } } } } } } }`).join(' ')} }`;
    expect((await app.gql(wide)).errors?.[0].message).toMatch(/cost/i);
  });

  it('refuses too many aliases', async () => {
    const aliases = Array.from({ length: queryLimits.maxAliases + 1 }, (_, i) => `a${i}: viewer { role }`).join(' ');
    const result = await app.gql(`{ ${aliases} }`);
    expect(result.errors?.[0].message).toMatch(/aliases/i);
  });

  it('caps connection pages at 1000 with a clear error, not a silent cut', async () => {
    const result = await app.gql(`{ virtualMachines(first: 1001) { totalCount } }`);
    expect(result.errors?.map((e: any) => [e.message, e.path])).toEqual([['first must be between 0 and 1000, got 1001', ['virtualMachines']]]);
    const fine = await app.gql(`{ virtualMachines(first: 1000) { totalCount } }`);
    expect(fine.data.virtualMachines.totalCount).toBe(0);
  });

  it('answers malformed ids in queries without a server error', async () => {
    const foreign = Buffer.from('Foo:bar').toString('base64');
    const nodes = await app.gql(`{ node(id: "not-an-id") { id } nodes(ids: ["x", "${foreign}", "${Buffer.from('VirtualMachine:not-a-uuid').toString('base64')}"]) { id } }`);
    expect(nodes).toMatchObject({ status: 200, data: { node: null, nodes: [null, null, null] } });
    expect(nodes.errors).toBeUndefined();
    const result = await app.gql(`{ virtualMachines(filter: { policyId: "garbage" }) { totalCount } }`);
    expect(result.status).toBe(200);
    expect(result.errors?.map((e) => e.message)).toEqual(['"garbage" is not a global id']);
  });
});

describe('events(kinds)', () => {
  it('finds a rare kind however many other events came first, with vm.* matching by prefix only', async () => {
    for (let i = 0; i < 30; i++) await app.query(`mutation($n: String!) { createStoragePolicy(input: { name: $n, rules: [] }) { __typename } }`, { n: `noise-${i}` });
    const { createStoragePolicy } = await app.query(`mutation { createStoragePolicy(input: { name: "rare", rules: [] }) { ... on CreateStoragePolicyPayload { storagePolicy { id } } } }`);
    await app.query(`mutation($id: ID!) { deleteStoragePolicy(input: { id: $id }) { __typename } }`, { id: createStoragePolicy.storagePolicy.id });
    const found = await app.query(`{ events(first: 1, kinds: ["policy.deleted"]) { kind message } }`);
    expect(found.events).toEqual([{ kind: 'policy.deleted', message: 'Storage policy rare deleted' }]);
    const prefixed = await app.query(`{ events(first: 1000, kinds: ["policy.*"]) { kind } }`);
    expect(prefixed.events).toHaveLength(32);
    expect((await app.query(`{ events(kinds: ["polic%.*"]) { kind } }`)).events).toEqual([]);
  });
});
