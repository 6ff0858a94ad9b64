/**
 * Helpers shared by the API tests (not a test file itself): a fingerprint of everything a mutation
 * could change, and small wrappers that create objects over HTTP as a storageAdmin.
 */
import { expect } from 'vitest';
import type { Role } from '../../src/core/config.ts';
import { GiB, type TestApp } from '../helpers/app.ts';

export const roleRank: Record<Role, number> = { viewer: 0, vmAdmin: 1, storageAdmin: 2 };
export const allRoles: Role[] = ['viewer', 'vmAdmin', 'storageAdmin'];

/**
 * Separate operations, page sizes as variables: graphql-armor multiplies a literal `first` into the
 * query cost, and the fingerprint would exceed the server's cost limit.
 */
const FINGERPRINT = [
  `query($n: Int) { virtualMachines(first: $n) { totalCount edges { node { id name host powerState memoryBytes storagePolicy { id } storageContainer { id } disks { unitNumber } snapshots { id name } } } } }`,
  `query($n: Int) { virtualVolumes(first: $n, filter: { includeSnapshots: true }) { totalCount edges { node { id type provisionedBytes bindState policyState policyGeneration storagePolicy { id } protocolEndpoint { id } } } } }`,
  `query($n: Int) { storagePolicies(first: $n) { totalCount edges { node { id name description generation rules { capabilityId value } } } } }`,
  `query($n: Int) { storageContainers(first: $n) { edges { node { name usedBytes } } } tasks(first: $n) { totalCount edges { node { id state cancelRequested } } } }`,
  `query($n: Int) { events(first: $n) { id } simulation { tick simulatedSeconds } }`,
  `{ replicaPairs(first: 1000) { edges { node { id activity syncState copyControl rvAccess rvUse syncedAt linkBytesPerSecond linkLatencyMs task { id } } } } }`,
];

/** rdr's own state, when rdr is loaded. */
const RDR_FINGERPRINT = `{ replicationLinks { bytesPerSecond latencyMs semiSyncThresholdBytes } replicationGroups(first: 1000) { edges { node { id sourceState targetState pending targetVirtualMachine { id } pointsInTime { id complete } history { transition } } } } }`;

/**
 * Everything a mutation could change, read over HTTP once policy reconciliation has settled (so
 * nothing moves on its own between two fingerprints: the tests run on the manual clock).
 */
export async function fingerprint(app: TestApp): Promise<Record<string, unknown>> {
  await app.settle();
  const data: Record<string, any> = {};
  for (const query of FINGERPRINT) Object.assign(data, await app.query(query, { n: 1000 }));
  if (app.schema.getQueryType()!.getFields().replicationGroups) Object.assign(data, await app.query(RDR_FINGERPRINT));
  for (const key of ['virtualMachines', 'virtualVolumes', 'storagePolicies', 'tasks'] as const) {
    // The fingerprint must see every row, or a change past the page would go unnoticed.
    expect(data[key].edges.length, `${key} fits one fingerprint page`).toBe(data[key].totalCount);
  }
  expect(data.events.length, 'events fit one fingerprint page').toBeLessThan(1000);
  return data;
}

/** Sends a mutation and checks it came back as a typed result (HTTP 200, no top-level error). */
export async function mutate(app: TestApp, name: string, input: unknown, role: Role = 'storageAdmin', selection = ''): Promise<any> {
  const field = app.schema.getMutationType()!.getFields()[name];
  if (!field) throw new Error(`no mutation ${name} in the schema`);
  const inputType = String(field.args.find((a) => a.name === 'input')!.type);
  const result = await app.gql(
    `mutation($input: ${inputType}) { ${name}(input: $input) {
      __typename
      ... on UserError { message }
      ... on ValidationError { field issues { field message } }
      ... on NotFoundError { field id }
      ... on ConflictError { currentState }
      ... on CapacityError { requestedBytes containers { containerId containerName failedRules { capabilityId pass reason } } }
      ... on ForbiddenError { requiredRole }
      ${selection}
    } }`,
    { input },
    role,
  );
  expect(result.status, `${name}: HTTP status (${JSON.stringify(result.errors)})`).toBe(200);
  expect(result.errors, `${name}: no top-level errors`).toBeUndefined();
  return result.data[name];
}

/** Like mutate, but the mutation must succeed with its payload. */
export async function ok(app: TestApp, name: string, input: unknown, selection: string, role: Role = 'storageAdmin'): Promise<any> {
  const result = await mutate(app, name, input, role, selection);
  expect(result.__typename, `${name}: ${result.message}`).toBe(`${name[0].toUpperCase()}${name.slice(1)}Payload`);
  return result;
}

export interface CreatedVm {
  id: string;
  name: string;
  containerId: string;
  container: string;
  config: string;
  disks: string[];
}

let counter = 0;
export const unique = (prefix: string) => `${prefix}-${++counter}-${Math.random().toString(36).slice(2, 8)}`;

/** A VM over HTTP: BRONZE by default, one 1 GiB disk, powered off unless asked. */
export async function createVm(app: TestApp, policyId: string, options: { name?: string; disks?: number[]; powerOn?: boolean; containerId?: string } = {}): Promise<CreatedVm> {
  const { virtualMachine: vm } = await ok(
    app,
    'createVirtualMachine',
    { name: options.name ?? unique('vm'), policyId, containerId: options.containerId, disks: (options.disks ?? [GiB]).map((sizeBytes) => ({ sizeBytes })) },
    '... on CreateVirtualMachinePayload { virtualMachine { id name storageContainer { id name } virtualVolumes { id type } } }',
  );
  if (options.powerOn) await ok(app, 'powerOnVirtualMachine', { id: vm.id }, '... on PowerOnVirtualMachinePayload { virtualMachine { id } }');
  return {
    id: vm.id,
    name: vm.name,
    containerId: vm.storageContainer.id,
    container: vm.storageContainer.name,
    config: vm.virtualVolumes.find((v: any) => v.type === 'CONFIG').id,
    disks: vm.virtualVolumes.filter((v: any) => v.type === 'DATA').map((v: any) => v.id),
  };
}

export async function snapshot(app: TestApp, vmId: string, name = unique('snap')): Promise<{ id: string; vvols: string[] }> {
  const { snapshot: s } = await ok(app, 'snapshotVirtualMachine', { vmId, name }, '... on SnapshotVirtualMachinePayload { snapshot { id virtualVolumes { id } } }');
  return { id: s.id, vvols: s.virtualVolumes.map((v: any) => v.id) };
}

export async function clone(app: TestApp, vmId: string, mode: 'FULL' | 'FAST'): Promise<{ vmId: string; taskId: string; taskState: string }> {
  const result = await ok(app, 'cloneVirtualMachine', { vmId, name: unique('clone'), mode }, '... on CloneVirtualMachinePayload { virtualMachine { id } task { id state } }');
  return { vmId: result.virtualMachine.id, taskId: result.task.id, taskState: result.task.state };
}

/** Writes extents of a VVOL (by its global id) through the core's write path, as the workload would. */
export async function writeExtents(app: TestApp, vvolId: string, indexes: number[]): Promise<void> {
  const id = Buffer.from(vvolId, 'base64').toString().split(':')[1];
  await app.core.transact((work) => app.core.extents.write(work.tx, [{ vvolId: id, indexes }]));
}

/** A DDR pair of the VVOL `mvId` with a new RV: SEPARATED, or RPL_SYNC once `synced` (a FULL copy run to its end). */
export async function localPair(app: TestApp, mvId: string, synced = false): Promise<string> {
  const { pair } = await ok(app, 'pairLocalReplica', { mvId }, '... on PairLocalReplicaPayload { pair { id } }');
  if (synced) {
    await ok(app, 'replicatePair', { pairId: pair.id, range: 'FULL' }, '... on ReplicatePairPayload { task { id } }');
    await ok(app, 'advanceSimulation', { seconds: 60 }, '... on AdvanceSimulationPayload { __typename }');
  }
  return pair.id;
}

/** A VM in `containerId` and the RV of a separated DDR pair of a disk in the same container: ready to attach. */
export async function attachableRv(app: TestApp, policyId: string, containerId: string): Promise<{ pairId: string; vmId: string }> {
  const source = await createVm(app, policyId, { containerId });
  const reader = await createVm(app, policyId, { containerId });
  return { pairId: await localPair(app, source.disks[0]), vmId: reader.id };
}

/** A dds backup generation of the VM: started (RUNNING, on the manual clock until time moves), or run to its end (AVAILABLE). */
export async function backupGeneration(app: TestApp, vmId: string, available = false): Promise<string> {
  const { generation } = await ok(app, 'backupVirtualMachine', { vmId, type: 'FULL' }, '... on BackupVirtualMachinePayload { generation { id } }');
  if (available) await ok(app, 'advanceSimulation', { seconds: 5 }, '... on AdvanceSimulationPayload { __typename }');
  return generation.id;
}

export async function createPolicy(app: TestApp, rules: { capabilityId: string; value: unknown }[] = [], name = unique('policy')): Promise<string> {
  const result = await ok(app, 'createStoragePolicy', { name, rules }, '... on CreateStoragePolicyPayload { storagePolicy { id } }');
  return result.storagePolicy.id;
}

/** The VM, created for the purpose, deleted: its id is well formed and of the right type, but names nothing. */
export async function deletedVmId(app: TestApp, policyId: string): Promise<string> {
  const vm = await createVm(app, policyId);
  await ok(app, 'deleteVirtualMachine', { id: vm.id }, '... on DeleteVirtualMachinePayload { deletedId }');
  return vm.id;
}

export const b64 = (text: string) => Buffer.from(text).toString('base64');

/**
 * Runs an idempotent request again once if the kept-alive connection it went out on was reset. After a
 * long stretch of embedded-database work (PGlite runs on this thread) the server's keep-alive timer and
 * the client's reuse of the idle socket can cross; that is the test process racing itself, not the API.
 */
export async function retryOnReset<T>(request: () => Promise<T>): Promise<T> {
  try {
    return await request();
  } catch (error: any) {
    if (error?.cause?.code !== 'ECONNRESET') throw error;
    return request();
  }
}

/** The id of a storage array by name. */
export async function arrayId(app: TestApp, name: string): Promise<string> {
  const { storageArrays } = await app.query('{ storageArrays { edges { node { id name } } } }');
  return storageArrays.edges.find((e: any) => e.node.name === name).node.id;
}

/**
 * An RDR replication group of a new VM (one 1 GiB disk on tokyo-gold): TARGET side, in step once `synced`
 * (its copies run and a point in time is taken), INTEST with `testing`.
 */
export async function replicationGroup(app: TestApp, policyId: string, containerId: string, state: 'TARGET' | 'SYNCED' | 'INTEST' | 'FAILEDOVER' = 'TARGET'): Promise<{ vmId: string; groupId: string }> {
  const vm = await createVm(app, policyId, { containerId });
  const { group } = await ok(app, 'createReplicationGroup', { vmId: vm.id }, '... on CreateReplicationGroupPayload { group { id } }', 'vmAdmin');
  if (state !== 'TARGET') {
    await ok(app, 'advanceSimulation', { seconds: 2 }, '... on AdvanceSimulationPayload { __typename }');
    await ok(app, 'syncReplicationGroup', { groupId: group.id }, '... on SyncReplicationGroupPayload { __typename }', 'vmAdmin');
    await ok(app, 'advanceSimulation', { seconds: 1 }, '... on AdvanceSimulationPayload { __typename }');
  }
  if (state === 'INTEST') await ok(app, 'testFailoverStart', { groupId: group.id }, '... on TestFailoverStartPayload { __typename }', 'vmAdmin');
  if (state === 'FAILEDOVER') await ok(app, 'failoverReplicationGroup', { groupId: group.id, planned: false }, '... on FailoverReplicationGroupPayload { __typename }', 'vmAdmin');
  return { vmId: vm.id, groupId: group.id };
}
