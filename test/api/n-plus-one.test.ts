import { decodeGlobalID } from '@pothos/plugin-relay';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVirtualMachine, powerOn } from '../../src/core/services/vms.ts';
import { GiB, seedBasics, startApp, type TestApp } from '../helpers/app.ts';
import { createVm, retryOnReset } from './support.ts';

/**
 * DESIGN §8: the number of SQL statements per request does not grow with the number of items listed.
 * The server reports the statements it ran for a request in `extensions.sqlStatements`.
 */

const SMALL = 10;
const LARGE = 500;
/** One per relation of the mapping queries, plus one per plugin that judges compliance in a batch (rdr's RPO, perforoptimizer's placement). */
const MAX_STATEMENTS = 9;
const MAX_PAGE = 1000;

// Page sizes go in as variables: graphql-armor multiplies a literal `first` into the query cost, and the
// VM mapping query with a literal `first: 500` is refused by the server's cost limit (75,320 > 50,000).
const VM_MAPPING = `query($first: Int) { virtualMachines(first: $first) { totalCount edges { node {
  name powerState storagePolicy { name } storageContainer { name }
  virtualVolumes { type bindState provisionedBytes storagePolicy { name } storageContainer { name array { name } } protocolEndpoint { name protocol } }
} } } }`;

const VVOL_LIST = `query($first: Int) { virtualVolumes(first: $first) { edges { node {
  type virtualMachine { name } storageContainer { name } storagePolicy { name } protocolEndpoint { name } compliance { status }
} } } }`;

let app: TestApp;
let ids: Awaited<ReturnType<typeof seedBasics>>;
const policyNames = ['GOLD', 'SILVER', 'BRONZE'] as const;

beforeAll(async () => {
  app = await startApp();
  ids = await seedBasics(app);
});
afterAll(() => app?.close());

/** Runs a query over HTTP and returns its data and the statement count the server reports. */
async function measure(query: string, first: number): Promise<{ data: any; statements: number }> {
  const result = await retryOnReset(() => app.gql(query, { first }, 'viewer'));
  expect(result.status).toBe(200);
  expect(result.errors).toBeUndefined();
  const statements = result.extensions?.sqlStatements;
  expect(typeof statements, 'the server reports extensions.sqlStatements').toBe('number');
  return { data: result.data, statements: statements as number };
}

async function vmCount(): Promise<number> {
  return (await retryOnReset(() => app.query('{ virtualMachines { totalCount } }'))).virtualMachines.totalCount;
}

/** VMs through the services, `perTransaction` to a transaction; every other one powered on. */
async function seedVms(from: number, to: number, perTransaction = 50): Promise<void> {
  const policyRowIds = policyNames.map((name) => decodeGlobalID(ids.policies[name]).id);
  for (let start = from; start < to; start += perTransaction) {
    await app.core.transact(async (work) => {
      for (let i = start; i < Math.min(to, start + perTransaction); i++) {
        const vm = await createVirtualMachine(app.core, work, {
          name: `bulk-${String(i).padStart(4, '0')}`,
          policyId: policyRowIds[i % policyRowIds.length],
          memoryBytes: GiB,
          disks: [{ sizeBytes: GiB }, ...(i % 4 === 0 ? [{ sizeBytes: 2 * GiB }] : [])],
        });
        if (i % 2 === 0) await powerOn(app.core, work, vm.id);
      }
    });
  }
  await app.settle();
}

describe('no N+1: statements per request do not grow with the items listed', () => {
  const small = { vms: 0, vvols: 0 };

  it(`with ${SMALL} VMs (some made over HTTP, every other one powered on): the mapping queries run at most ${MAX_STATEMENTS} statements`, async () => {
    // The first few over the API, so the listed objects are what clients create; GOLD, SILVER and BRONZE
    // land on different containers of both arrays, so each loader batches several keys.
    for (let i = 0; i < 4; i++) {
      await createVm(app, ids.policies[policyNames[i % 3]], { name: `api-${i}`, disks: [GiB, 2 * GiB], powerOn: i % 2 === 0 });
    }
    await app.settle(); // GOLD's replicas of the API-made VMs first: seeding in one transaction alongside them could deadlock
    await seedVms(4, SMALL);
    expect(await vmCount()).toBe(SMALL);

    const vms = await measure(VM_MAPPING, SMALL);
    const nodes = vms.data.virtualMachines.edges.map((e: any) => e.node);
    expect(vms.data.virtualMachines.totalCount).toBe(SMALL);
    expect(nodes).toHaveLength(SMALL);
    // Every relation of the query is really exercised on this page: bound VVOLs with endpoints, several policies and containers.
    const vvols = nodes.flatMap((n: any) => n.virtualVolumes);
    expect(vvols.some((v: any) => v.type === 'SWAP' && v.bindState === 'BOUND' && v.protocolEndpoint?.name)).toBe(true);
    expect(vvols.some((v: any) => v.protocolEndpoint === null)).toBe(true);
    expect(new Set(nodes.map((n: any) => n.storagePolicy.name)).size).toBe(3);
    expect(new Set(vvols.map((v: any) => v.storageContainer.array.name)).size).toBe(2);
    expect(vms.statements).toBeGreaterThan(0);
    expect(vms.statements).toBeLessThanOrEqual(MAX_STATEMENTS);
    small.vms = vms.statements;

    const list = await measure(VVOL_LIST, SMALL);
    const items = list.data.virtualVolumes.edges.map((e: any) => e.node);
    expect(items).toHaveLength(SMALL);
    expect(items.some((v: any) => v.protocolEndpoint !== null)).toBe(true);
    // GOLD's local replicas (nec.ddr) are VVOLs of no VM; every other VVOL names its VM.
    expect(items.every((v: any) => v.compliance.status)).toBe(true);
    expect(items.filter((v: any) => v.virtualMachine).every((v: any) => v.virtualMachine.name)).toBe(true);
    expect(items.some((v: any) => v.virtualMachine)).toBe(true);
    expect(list.statements).toBeGreaterThan(0);
    expect(list.statements).toBeLessThanOrEqual(MAX_STATEMENTS);
    small.vvols = list.statements;
  });

  it(`with ${LARGE} VMs: the same queries listing ${LARGE} items run exactly as many statements as with ${SMALL}`, async () => {
    expect(small.vms, 'the small measurement ran').toBeGreaterThan(0);
    await seedVms(SMALL, LARGE);
    expect(await vmCount()).toBe(LARGE);

    const vms = await measure(VM_MAPPING, LARGE);
    const nodes = vms.data.virtualMachines.edges.map((e: any) => e.node);
    expect(vms.data.virtualMachines.totalCount).toBe(LARGE);
    expect(nodes).toHaveLength(LARGE);
    const vvols = nodes.flatMap((n: any) => n.virtualVolumes);
    // CONFIG + 1..2 DATA per VM, plus SWAP on the 250 running ones: well over a thousand VVOLs resolved.
    expect(vvols.length).toBeGreaterThan(1000);
    expect(vvols.filter((v: any) => v.type === 'SWAP')).toHaveLength(nodes.filter((n: any) => n.powerState === 'POWERED_ON').length);
    expect(nodes.filter((n: any) => n.powerState === 'POWERED_ON').length).toBeGreaterThanOrEqual(LARGE / 2);
    expect(vvols.filter((v: any) => v.bindState === 'BOUND').every((v: any) => v.protocolEndpoint?.protocol)).toBe(true);
    expect(vms.statements).toBe(small.vms);
    expect(vms.statements).toBeLessThanOrEqual(MAX_STATEMENTS);

    const list = await measure(VVOL_LIST, LARGE);
    const items = list.data.virtualVolumes.edges.map((e: any) => e.node);
    expect(items).toHaveLength(LARGE);
    expect(new Set(items.filter((v: any) => v.virtualMachine).map((v: any) => v.virtualMachine.name)).size).toBeGreaterThan(100);
    expect(items.filter((v: any) => v.protocolEndpoint !== null).length).toBeGreaterThan(100);
    expect(list.statements).toBe(small.vvols);
    expect(list.statements).toBeLessThanOrEqual(MAX_STATEMENTS);
  });

  it('events with their entities: one statement per entity type listed, whatever the number of events', async () => {
    for (const first of [SMALL, LARGE]) {
      const { data, statements } = await measure('query($first: Int) { events(first: $first) { entityType entity { id __typename } } }', first);
      expect(data.events).toHaveLength(first);
      const types = new Set(data.events.map((e: any) => e.entityType));
      expect(statements, `${first} events of ${types.size} entity types`).toBeLessThanOrEqual(1 + types.size);
      const found = data.events.filter((e: any) => e.entity);
      expect(found.length).toBeGreaterThan(first / 2);
      for (const e of found) expect(e.entity.__typename).toBe(e.entityType);
    }
  });

  it('replica pairs, replication groups and alarms with what they name: as many statements for a page of 5 as for a page of them all', async () => {
    const PAIRS = `query($first: Int) { replicaPairs(first: $first) { totalCount edges { node { owner syncState copyDiffBytes separateDiffBytes progress { bytesRemaining etaSeconds }
      masterVolume { virtualMachine { name } storageContainer { name } } replicaVolume { storageContainer { name } } task { state } } } } }`;
    const all = (await measure(PAIRS, MAX_PAGE)).data.replicaPairs.totalCount;
    expect(all, 'GOLD\'s policy replicas of the seeded VMs').toBeGreaterThan(50);
    const few = await measure(PAIRS, 5);
    const many = await measure(PAIRS, Math.min(all, MAX_PAGE));
    expect(many.data.replicaPairs.edges).toHaveLength(Math.min(all, MAX_PAGE));
    expect(many.statements).toBe(few.statements);
    const GROUPS = `query($first: Int) { replicationGroups(first: $first) { totalCount edges { node { state sourceVirtualMachine { name }
      targetContainer { name } pairs { syncState } pointsInTime { takenAt } history { transition } progress { bytesRemaining health rpoLagSeconds } } } } }`;
    const groups = (await measure(GROUPS, MAX_PAGE)).data.replicationGroups.totalCount;
    expect(groups, 'GOLD\'s replication groups of the seeded VMs').toBeGreaterThan(50);
    expect((await measure(GROUPS, Math.min(groups, MAX_PAGE))).statements).toBe((await measure(GROUPS, 5)).statements);
    const ALARMS = 'query($first: Int) { alarms(first: $first, includeCleared: true) { edges { node { kind status entity { id } } } } }';
    expect((await measure(ALARMS, MAX_PAGE)).statements).toBeLessThanOrEqual((await measure(ALARMS, 1)).statements + 4);
  });

  it(`the count is per request, not cumulative: a plain page of ${LARGE} VM names is one statement`, async () => {
    const { statements } = await measure('query($first: Int) { virtualMachines(first: $first) { edges { node { name } } } }', LARGE);
    expect(statements).toBe(1);
  });
});
