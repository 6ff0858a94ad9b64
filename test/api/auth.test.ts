import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../../src/core/config.ts';
import { GiB, seedBasics, startApp, testTokens, wsClient, type TestApp } from '../helpers/app.ts';
import { allRoles, arrayId, attachableRv, backupGeneration, clone, createPolicy, createVm, fingerprint, localPair, mutate, replicationGroup, roleRank, snapshot, unique, writeExtents } from './support.ts';

let app: TestApp;
let ids: Awaited<ReturnType<typeof seedBasics>>;

beforeAll(async () => {
  app = await startApp();
  ids = await seedBasics(app);
});
afterAll(() => app?.close());

interface Entry {
  /** The least role that may run the mutation. */
  min: Role;
  /** A syntactically valid input, pointing at objects made for this mutation; every role sends the same one. */
  input: () => Promise<Record<string, unknown>>;
}

const bronze = () => ids.policies.BRONZE;

/**
 * Mutation -> the least role allowed. Every mutation of the schema must be here: a new mutation without
 * an entry fails the test until someone decides who may run it.
 */
const matrix: Record<string, Entry> = {
  createStoragePolicy: { min: 'storageAdmin', input: async () => ({ name: unique('auth-policy'), rules: [{ capabilityId: 'vasa.snapshot', value: true }] }) },
  updateStoragePolicy: { min: 'storageAdmin', input: async () => ({ id: await createPolicy(app), description: 'changed', rules: [{ capabilityId: 'vasa.clone', value: true }] }) },
  deleteStoragePolicy: { min: 'storageAdmin', input: async () => ({ id: await createPolicy(app) }) },
  advanceSimulation: { min: 'storageAdmin', input: async () => ({ seconds: 2 }) },
  createVirtualMachine: { min: 'vmAdmin', input: async () => ({ name: unique('auth-vm'), policyId: bronze(), disks: [{ sizeBytes: 2 * GiB }] }) },
  deleteVirtualMachine: { min: 'vmAdmin', input: async () => ({ id: (await createVm(app, bronze())).id }) },
  powerOnVirtualMachine: { min: 'vmAdmin', input: async () => ({ id: (await createVm(app, bronze())).id }) },
  powerOffVirtualMachine: { min: 'vmAdmin', input: async () => ({ id: (await createVm(app, bronze(), { powerOn: true })).id }) },
  addVirtualDisk: { min: 'vmAdmin', input: async () => ({ vmId: (await createVm(app, bronze())).id, sizeBytes: 3 * GiB }) },
  deleteVirtualVolume: { min: 'vmAdmin', input: async () => ({ id: (await createVm(app, bronze(), { disks: [GiB, GiB] })).disks[1] }) },
  resizeVirtualVolume: { min: 'vmAdmin', input: async () => ({ id: (await createVm(app, bronze())).disks[0], sizeBytes: 5 * GiB }) },
  applyStoragePolicy: { min: 'vmAdmin', input: async () => ({ targetId: (await createVm(app, bronze())).id, policyId: await createPolicy(app) }) },
  snapshotVirtualMachine: { min: 'vmAdmin', input: async () => ({ vmId: (await createVm(app, bronze())).id, name: 'auth-snap' }) },
  revertVirtualMachine: {
    min: 'vmAdmin',
    input: async () => {
      const vm = await createVm(app, bronze());
      return { vmId: vm.id, snapshotId: (await snapshot(app, vm.id)).id };
    },
  },
  deleteSnapshot: { min: 'vmAdmin', input: async () => ({ snapshotId: (await snapshot(app, (await createVm(app, bronze())).id)).id }) },
  cloneVirtualMachine: { min: 'vmAdmin', input: async () => ({ vmId: (await createVm(app, bronze())).id, name: unique('auth-clone'), mode: 'FAST' }) },
  cancelTask: {
    min: 'vmAdmin',
    input: async () => {
      // A FULL clone of a VM with data stays QUEUED on the manual clock: cancelable.
      const vm = await createVm(app, bronze());
      await writeExtents(app, vm.disks[0], [0, 1]);
      const task = await clone(app, vm.id, 'FULL');
      expect(task.taskState).toBe('QUEUED');
      return { taskId: task.taskId };
    },
  },
  setWorkload: { min: 'vmAdmin', input: async () => ({ vmId: (await createVm(app, bronze())).id, preset: 'OLTP' }) },
  relocateNow: { min: 'storageAdmin', input: async () => ({ vvolId: (await createVm(app, bronze())).disks[0] }) },
  pairLocalReplica: { min: 'vmAdmin', input: async () => ({ mvId: (await createVm(app, bronze())).disks[0] }) },
  replicatePair: { min: 'vmAdmin', input: async () => ({ pairId: await localPair(app, (await createVm(app, bronze())).disks[0]), range: 'FULL' }) },
  separatePair: { min: 'vmAdmin', input: async () => ({ pairId: await localPair(app, (await createVm(app, bronze())).disks[0], true), rvAccess: 'RO' }) },
  restorePair: { min: 'vmAdmin', input: async () => ({ pairId: await localPair(app, (await createVm(app, bronze())).disks[0]), mode: 'PROTECT' }) },
  changePairCopyControl: { min: 'vmAdmin', input: async () => ({ pairId: await localPair(app, (await createVm(app, bronze())).disks[0]), copyControl: 'SYNC' }) },
  attachReplicaVolume: { min: 'vmAdmin', input: async () => attachableRv(app, bronze(), ids.containers['tokyo-gold']) },
  detachReplicaVolume: {
    min: 'vmAdmin',
    input: async () => {
      const { pairId, vmId } = await attachableRv(app, bronze(), ids.containers['tokyo-gold']);
      await mutate(app, 'attachReplicaVolume', { pairId, vmId });
      return { pairId };
    },
  },
  unpair: { min: 'vmAdmin', input: async () => ({ pairId: await localPair(app, (await createVm(app, bronze())).disks[0]) }) },
  backupVirtualMachine: { min: 'vmAdmin', input: async () => ({ vmId: (await createVm(app, bronze())).id, type: 'FULL' }) },
  restoreBackup: { min: 'vmAdmin', input: async () => ({ generationId: await backupGeneration(app, (await createVm(app, bronze())).id, true), target: 'NEW_VM' }) },
  deleteBackup: { min: 'vmAdmin', input: async () => ({ generationId: await backupGeneration(app, (await createVm(app, bronze())).id, true) }) },
  configureReplicationLink: { min: 'storageAdmin', input: async () => ({ sourceArrayId: await arrayId(app, 'tokyo-m510'), targetArrayId: await arrayId(app, 'osaka-m310'), bytesPerSecond: 125_000_000, latencyMs: 5 }) },
  pairRemoteReplica: { min: 'vmAdmin', input: async () => ({ mvId: (await createVm(app, bronze())).disks[0] }) },
  createReplicationGroup: { min: 'vmAdmin', input: async () => ({ vmId: (await createVm(app, bronze(), { containerId: ids.containers['tokyo-gold'] })).id }) },
  syncReplicationGroup: { min: 'vmAdmin', input: async () => ({ groupId: (await replicationGroup(app, bronze(), ids.containers['tokyo-gold'])).groupId }) },
  testFailoverStart: { min: 'vmAdmin', input: async () => ({ groupId: (await replicationGroup(app, bronze(), ids.containers['tokyo-gold'], 'SYNCED')).groupId }) },
  testFailoverStop: { min: 'vmAdmin', input: async () => ({ groupId: (await replicationGroup(app, bronze(), ids.containers['tokyo-gold'], 'INTEST')).groupId }) },
  failoverReplicationGroup: { min: 'vmAdmin', input: async () => ({ groupId: (await replicationGroup(app, bronze(), ids.containers['tokyo-gold'], 'SYNCED')).groupId, planned: false }) },
  promoteReplicationGroup: { min: 'vmAdmin', input: async () => ({ groupId: (await replicationGroup(app, bronze(), ids.containers['tokyo-gold'], 'INTEST')).groupId }) },
  reverseReplicationGroup: { min: 'vmAdmin', input: async () => ({ groupId: (await replicationGroup(app, bronze(), ids.containers['tokyo-gold'], 'FAILEDOVER')).groupId }) },
};

describe('role matrix (every mutation x every role)', () => {
  it('has an entry for every mutation of the schema, and no entry for a mutation that does not exist', () => {
    const mutations = Object.keys(app.schema.getMutationType()!.getFields()).sort();
    expect(Object.keys(matrix).sort()).toEqual(mutations);
  });

  it('lists exactly the policy and simulation mutations as storageAdmin-only, every VM operation as vmAdmin, and none as viewer', () => {
    const byRole = (role: Role) => Object.entries(matrix).filter(([, e]) => e.min === role).map(([name]) => name).sort();
    expect(byRole('storageAdmin')).toEqual(['advanceSimulation', 'configureReplicationLink', 'createStoragePolicy', 'deleteStoragePolicy', 'relocateNow', 'updateStoragePolicy']);
    expect(byRole('viewer')).toEqual([]);
    for (const name of ['createVirtualMachine', 'deleteVirtualMachine', 'powerOnVirtualMachine', 'powerOffVirtualMachine', 'addVirtualDisk', 'deleteVirtualVolume', 'resizeVirtualVolume',
      'applyStoragePolicy', 'snapshotVirtualMachine', 'revertVirtualMachine', 'deleteSnapshot', 'cloneVirtualMachine', 'cancelTask',
      'replicatePair', 'separatePair', 'restorePair', 'changePairCopyControl', 'unpair', 'attachReplicaVolume', 'detachReplicaVolume', 'backupVirtualMachine', 'restoreBackup', 'deleteBackup']) {
      expect(matrix[name]?.min, name).toBe('vmAdmin');
    }
  });

  // One test per mutation, so a failure names it. Mutations only present at run time (a plugin's) are
  // caught by the completeness test above.
  for (const [name, entry] of Object.entries(matrix)) {
    it(`${name}: roles below ${entry.min} get ForbiddenError and change nothing; ${entry.min} and above are let through`, async () => {
      if (!app.schema.getMutationType()!.getFields()[name]) throw new Error(`${name} is in the matrix but not in the schema`);
      const input = await entry.input();
      // Lowest role first, so the refused attempts see the objects as the input's preparation left them.
      for (const role of allRoles) {
        const before = await fingerprint(app);
        const result = await mutate(app, name, input, role);
        if (roleRank[role] < roleRank[entry.min]) {
          expect(result.__typename, `${role} on ${name}`).toBe('ForbiddenError');
          expect(result.requiredRole, `${role} on ${name}`).toBe(entry.min);
          expect(result.message).toMatch(/\S/);
          expect(await fingerprint(app), `${role} on ${name} changed nothing`).toEqual(before);
        } else {
          expect(result.__typename, `${role} on ${name}: ${result.message}`).not.toBe('ForbiddenError');
          // The least allowed role runs it on fresh objects: it must succeed, not fail for some other reason.
          if (role === entry.min) expect(result.__typename, `${role} on ${name}: ${result.message}`).toBe(`${name[0].toUpperCase()}${name.slice(1)}Payload`);
        }
      }
    });
  }

  it('a refused caller cannot probe ids: dangling or malformed ids still get ForbiddenError, not NotFoundError', async () => {
    const before = await fingerprint(app);
    const vm = await mutate(app, 'createVirtualMachine', { name: 'probe', policyId: 'garbage', disks: [{ sizeBytes: GiB }] }, 'viewer');
    expect(vm.__typename).toBe('ForbiddenError');
    expect(vm.requiredRole).toBe('vmAdmin');
    const policy = await mutate(app, 'deleteStoragePolicy', { id: 'garbage' }, 'vmAdmin');
    expect(policy.__typename).toBe('ForbiddenError');
    expect(policy.requiredRole).toBe('storageAdmin');
    expect(await fingerprint(app)).toEqual(before);
  });

  it('a refused caller sending an input out of its static range is told so first (the range is checked before the role)', async () => {
    const before = await fingerprint(app);
    for (const seconds of [0, 3_601]) {
      const advance = await mutate(app, 'advanceSimulation', { seconds }, 'viewer');
      expect(advance.__typename, `${seconds}`).toBe('ValidationError');
      expect(advance.field).toBe('input.seconds');
    }
    expect(await fingerprint(app)).toEqual(before);
  });
});

describe('HTTP authentication', () => {
  const post = (headers: Record<string, string>, body: unknown = { query: '{ viewer { role } }' }) =>
    fetch(`${app.url}/graphql`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

  it('no token: 401 with a GraphQL error body, for queries and mutations alike (and the mutation does not run)', async () => {
    const before = await fingerprint(app);
    for (const body of [{ query: '{ viewer { role } }' }, { query: 'mutation { advanceSimulation(input: { seconds: 1 }) { __typename } }' }]) {
      const response = await post({}, body);
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toMatch(/^Bearer/);
      const json = (await response.json()) as any;
      expect(json.data).toBeUndefined();
      expect(json.errors[0].message).toMatch(/token/i);
      expect(json.errors[0].extensions.code).toBe('UNAUTHENTICATED');
    }
    expect(await fingerprint(app)).toEqual(before);
  });

  it('no token on another path yoga answers GraphQL on (/graphql/, //graphql, /x/graphql): 401 too, SSE and introspection alike', async () => {
    for (const path of ['/graphql/', '//graphql', '/x/graphql', '/x?y=/graphql']) {
      for (const body of [{ query: '{ viewer { role } }' }, { query: '{ __schema { queryType { name } } }' }]) {
        const response = await fetch(`${app.url}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
        expect(response.status, path).toBe(401);
      }
    }
    const sse = await fetch(`${app.url}/graphql/`, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'text/event-stream' }, body: JSON.stringify({ query: 'subscription { events { id } }' }) });
    expect(sse.status).toBe(401);
  });

  it('an unknown, an empty or a malformed token: 401', async () => {
    for (const authorization of ['Bearer not-a-real-token', 'Bearer ', `Basic ${testTokens.storageAdmin}x`, `Bearer ${testTokens.storageAdmin}x`]) {
      const response = await post({ authorization });
      expect(response.status, authorization).toBe(401);
      expect(((await response.json()) as any).errors[0].extensions.code).toBe('UNAUTHENTICATED');
    }
  });

  it('a GET query without a token is refused too', async () => {
    const response = await fetch(`${app.url}/graphql?query=${encodeURIComponent('{ viewer { role } }')}`, { headers: { accept: 'application/json' } });
    expect(response.status).toBe(401);
  });

  it('/health answers 200 without a token', async () => {
    const response = await fetch(`${app.url}/health`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
  });

  it('GET /graphql asking for HTML serves the GraphiQL page without a token', async () => {
    const response = await fetch(`${app.url}/graphql`, { headers: { accept: 'text/html' } });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/text\/html/);
    expect(await response.text()).toMatch(/graphiql/i);
  });

  it('every role reads, and viewer { role } names the caller\'s role', async () => {
    for (const role of allRoles) {
      const result = await app.gql('{ viewer { role } storagePolicies { totalCount } }', {}, role);
      expect(result.status).toBe(200);
      expect(result.errors).toBeUndefined();
      expect(result.data.viewer.role).toBe(role);
      expect(result.data.storagePolicies.totalCount).toBeGreaterThanOrEqual(3);
    }
  });
});

describe('WebSocket authentication (graphql-ws)', () => {
  const clients: Client[] = [];
  const wsUrl = () => `${app.url.replace(/^http/, 'ws')}/graphql`;
  afterAll(async () => {
    for (const client of clients) await client.dispose();
  });

  /** Subscribes with the given connection params and resolves with the close code the server sends. */
  async function closeCode(connectionParams: Record<string, unknown> | undefined): Promise<{ closed: number; sinkError: number }> {
    let closed = -1;
    const client = createClient({ url: wsUrl(), webSocketImpl: WebSocket, connectionParams, retryAttempts: 0, lazy: true, on: { closed: (event: any) => (closed = event?.code ?? -2) } });
    clients.push(client);
    const sinkError = await new Promise<number>((resolve) => {
      client.subscribe({ query: 'subscription { events { id kind } }' }, {
        next: () => resolve(0),
        error: (error: any) => resolve(error?.code ?? -3),
        complete: () => resolve(-4),
      });
    });
    return { closed, sinkError };
  }

  it('a connection without a token is closed with 4403', async () => {
    expect(await closeCode(undefined)).toEqual({ closed: 4403, sinkError: 4403 });
    expect(await closeCode({})).toEqual({ closed: 4403, sinkError: 4403 });
  });

  it('a connection with a bad token is closed with 4403', async () => {
    expect(await closeCode({ authorization: 'Bearer wrong-token-123' })).toEqual({ closed: 4403, sinkError: 4403 });
  });

  it('a viewer subscribes to events and receives the change a storageAdmin makes over HTTP', async () => {
    const client = wsClient(app);
    clients.push(client);
    const received: { id: number; kind: string }[] = [];
    let failure: unknown = null;
    const dispose = client.subscribe<{ events: { id: number; kind: string } }>({ query: 'subscription { events(kinds: ["policy.*"]) { id kind } }' }, {
      next: (message) => (message.errors ? (failure = message.errors) : received.push(message.data!.events)),
      error: (error) => (failure = error),
      complete: () => {},
    });
    // graphql-ws does not acknowledge a subscribe: create policies until one arrives.
    const created: string[] = [];
    for (let i = 0; received.length === 0 && failure === null; i++) {
      if (i === 100) throw new Error('no event reached the subscriber');
      created.push(await createPolicy(app, [], unique('ws')));
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    dispose();
    expect(failure).toBeNull();
    expect(received[0].kind).toBe('policy.created');
    expect(Number.isInteger(received[0].id)).toBe(true);
    // The event is the one stored for one of the policies just created.
    const { events } = await app.query(`query($after: Int!) { events(after: $after, kinds: ["policy.created"]) { id kind } }`, { after: received[0].id - 1 });
    expect(events[0]).toEqual(received[0]);
  });
});
