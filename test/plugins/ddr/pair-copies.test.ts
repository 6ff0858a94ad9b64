import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GiB, seedBasics, startApp, type TestApp } from '../../helpers/app.ts';
import { createVm, ok, writeExtents } from '../../api/support.ts';

let app: TestApp;
let ids: Awaited<ReturnType<typeof seedBasics>>;

beforeAll(async () => {
  app = await startApp();
  ids = await seedBasics(app);
});
afterAll(() => app?.close());

const advance = (seconds: number) => app.query(`mutation { advanceSimulation(input: { seconds: ${seconds} }) { __typename } }`);
const node = async (id: string, selection: string) => (await app.query(`query($id: ID!) { node(id: $id) { ${selection} } }`, { id })).node;
const lastEventId = async () => (await app.query('{ events(first: 1000) { id } }')).events.at(-1)?.id ?? 0;
const eventsSince = async (after: number) => (await app.query('query($a: Int) { events(first: 1000, after: $a) { kind message data } }', { a: after })).events;
const runningTasks = async () => (await app.query('{ tasks(first: 1000) { edges { node { id kind state } } } }')).tasks.edges.map((e: any) => e.node).filter((t: any) => t.state === 'RUNNING' || t.state === 'QUEUED');

/** A DDR pair (BACKGROUND) of an 8 GiB disk, in step, whose MV was then written all over: a catch-up copy runs. */
async function pairCatchingUp(): Promise<{ pairId: string; mvId: string }> {
  const vm = await createVm(app, ids.policies.BRONZE, { containerId: ids.containers['tokyo-gold'], disks: [8 * GiB] });
  await writeExtents(app, vm.disks[0], [0, 1]);
  const { pair } = await ok(app, 'pairLocalReplica', { mvId: vm.disks[0] }, '... on PairLocalReplicaPayload { pair { id } }', 'vmAdmin');
  await ok(app, 'replicatePair', { pairId: pair.id, range: 'FULL' }, '__typename', 'vmAdmin');
  await advance(1);
  return { pairId: pair.id, mvId: vm.disks[0] };
}

describe('a pair operation while a copy of the pair runs', () => {
  it('replicate from RST_SYNC stops the catch-up copy that was running: one copy per pair, and the RV ends with the MV\'s data', async () => {
    const { pairId, mvId } = await pairCatchingUp();
    await ok(app, 'separatePair', { pairId }, '__typename', 'vmAdmin');
    await ok(app, 'restorePair', { pairId }, '__typename', 'vmAdmin'); // nothing differs: RST_SYNC at once
    await writeExtents(app, mvId, Array.from({ length: 200 }, (_, i) => i)); // 6.25 GiB behind
    await advance(1);
    const catchingUp = await node(pairId, '... on ReplicaPair { syncState task { id state } }');
    expect(catchingUp).toMatchObject({ syncState: 'RST_SYNC', task: { state: 'RUNNING' } });

    const replicated = await ok(app, 'replicatePair', { pairId, range: 'DIFF' }, '... on ReplicatePairPayload { pair { syncState } task { id } }', 'vmAdmin');
    expect(replicated.pair.syncState).toBe('RPL_EXEC');
    expect(await node(catchingUp.task.id, '... on Task { state }')).toEqual({ state: 'CANCELLED' });
    expect((await runningTasks()).map((t: any) => t.id)).toEqual([replicated.task.id]);
    await advance(10);
    const synced = await node(pairId, '... on ReplicaPair { syncState masterVolume { contentDigest } replicaVolume { contentDigest } }');
    expect(synced.syncState).toBe('RPL_SYNC');
    expect(synced.replicaVolume.contentDigest).toBe(synced.masterVolume.contentDigest);
  });

  it('separate (and a forced unpair) stop the running copy without the pair passing through CANCEL', async () => {
    const { pairId, mvId } = await pairCatchingUp();
    await writeExtents(app, mvId, Array.from({ length: 200 }, (_, i) => i));
    await advance(1);
    expect(await node(pairId, '... on ReplicaPair { syncState task { state } }')).toMatchObject({ syncState: 'RPL_SYNC', task: { state: 'RUNNING' } });
    const after = await lastEventId();
    const separated = await ok(app, 'separatePair', { pairId }, '... on SeparatePairPayload { pair { syncState stateTimes { state } } }', 'vmAdmin');
    expect(separated.pair.syncState).toBe('SEP_EXEC');
    const moves = (await eventsSince(after)).filter((e: any) => e.kind === 'pair.stateChanged').map((e: any) => e.data.syncState);
    expect(moves).toEqual(['SEP_EXEC']);
    expect(separated.pair.stateTimes.map((s: any) => s.state)).not.toContain('CANCEL');

    // So does a forced unpair in the middle of the separation's copy: the pair goes, with no CANCEL first.
    const beforeUnpair = await lastEventId();
    await ok(app, 'unpair', { pairId, force: true }, '__typename', 'vmAdmin');
    expect((await eventsSince(beforeUnpair)).filter((e: any) => e.kind.startsWith('pair.')).map((e: any) => e.kind)).toEqual(['pair.unpaired']);
  });
});

describe('the figures of an immediate restore', () => {
  it('count the bytes its copy still moves behind the MV\'s new view: copyDiffBytes, progress bytesRemaining and etaSeconds agree with the task', async () => {
    const vm = await createVm(app, ids.policies.BRONZE, { containerId: ids.containers['tokyo-gold'], disks: [8 * GiB] });
    await writeExtents(app, vm.disks[0], Array.from({ length: 100 }, (_, i) => i));
    const { pair } = await ok(app, 'pairLocalReplica', { mvId: vm.disks[0] }, '... on PairLocalReplicaPayload { pair { id } }', 'vmAdmin');
    await ok(app, 'replicatePair', { pairId: pair.id, range: 'FULL' }, '__typename', 'vmAdmin');
    await advance(5);
    await ok(app, 'separatePair', { pairId: pair.id }, '__typename', 'vmAdmin');
    await writeExtents(app, vm.disks[0], Array.from({ length: 100 }, (_, i) => i)); // 3.125 GiB to restore
    await ok(app, 'restorePair', { pairId: pair.id }, '__typename', 'vmAdmin');
    await advance(1); // 1 GiB moved
    const fields = 'syncState copyDiffBytes secondsUntilSynced task { bytesTotal bytesDone } progress { bytesRemaining etaSeconds health }';
    const restoring = await node(pair.id, `... on ReplicaPair { ${fields} }`);
    const left = restoring.task.bytesTotal - restoring.task.bytesDone;
    expect(restoring.syncState).toBe('RST_EXEC');
    expect(left).toBe(100 * 32 * 1024 ** 2 - GiB);
    expect(restoring.copyDiffBytes).toBe(left);
    expect(restoring.progress).toEqual({ bytesRemaining: left, etaSeconds: restoring.secondsUntilSynced, health: 'OK' });
    await advance(5);
    expect(await node(pair.id, `... on ReplicaPair { ${fields} }`)).toMatchObject({ syncState: 'RST_SYNC', copyDiffBytes: 0, secondsUntilSynced: 0, progress: { bytesRemaining: 0, etaSeconds: 0 } });
  });
});

describe('separate with rvUse IMMEDIATE', () => {
  it('the RV shows the MV\'s data of the separation at once and can be attached while the copy runs behind; COMPLETE waits for SEPARATED', async () => {
    const attach = (pairId: string, vmId: string) => app.query(
      'mutation($p: ID!, $v: ID!) { attachReplicaVolume(input: { pairId: $p, vmId: $v }) { __typename ... on ConflictError { currentState } } }', { p: pairId, v: vmId }, 'vmAdmin');
    const reader = await createVm(app, ids.policies.BRONZE, { containerId: ids.containers['tokyo-gold'] });
    for (const rvUse of ['COMPLETE', 'IMMEDIATE']) {
      const { pairId, mvId } = await pairCatchingUp();
      await ok(app, 'separatePair', { pairId }, '__typename', 'vmAdmin');
      await ok(app, 'replicatePair', { pairId, range: 'DIFF' }, '__typename', 'vmAdmin');
      await advance(1);
      await writeExtents(app, mvId, Array.from({ length: 200 }, (_, i) => i)); // 6.25 GiB the RV lacks
      const frozen = (await node(mvId, '... on VirtualVolume { contentDigest }')).contentDigest;
      const separated = await ok(app, 'separatePair', { pairId, rvUse }, '... on SeparatePairPayload { pair { syncState replicaVolume { id contentDigest } } }', 'vmAdmin');
      expect(separated.pair.syncState).toBe('SEP_EXEC');
      if (rvUse === 'COMPLETE') {
        expect(separated.pair.replicaVolume.contentDigest).not.toBe(frozen);
        expect((await attach(pairId, reader.id)).attachReplicaVolume).toEqual({ __typename: 'ConflictError', currentState: 'SEP_EXEC' });
        continue;
      }
      expect(separated.pair.replicaVolume.contentDigest).toBe(frozen);
      expect((await attach(pairId, reader.id)).attachReplicaVolume.__typename).toBe('AttachReplicaVolumePayload');
      // The host's writes to the attached RV are its own: the copy behind does not write over them.
      await writeExtents(app, separated.pair.replicaVolume.id, [0]);
      const written = (await node(separated.pair.replicaVolume.id, '... on VirtualVolume { contentDigest }')).contentDigest;
      expect(written).not.toBe(frozen);
      await advance(20);
      expect(await node(pairId, '... on ReplicaPair { syncState replicaVolume { contentDigest } }')).toEqual({ syncState: 'SEPARATED', replicaVolume: { contentDigest: written } });
    }
  });
});

describe('an RV larger than its MV', () => {
  it('restoring from it gives the MV only the extents that fit: none past the MV\'s end, allocatedBytes and digest those of its own map', async () => {
    // The RV of a 1 GiB disk, with data in extent 20, kept after unpairing; it then becomes the RV of a 100 MiB disk (4 extents).
    const big = await createVm(app, ids.policies.BRONZE, { containerId: ids.containers['tokyo-gold'], disks: [GiB] });
    const small = await createVm(app, ids.policies.BRONZE, { containerId: ids.containers['tokyo-gold'], disks: [100 * 1024 ** 2] });
    await writeExtents(app, big.disks[0], [0, 20]);
    const { pair: first } = await ok(app, 'pairLocalReplica', { mvId: big.disks[0] }, '... on PairLocalReplicaPayload { pair { id replicaVolume { id } } }', 'vmAdmin');
    await ok(app, 'replicatePair', { pairId: first.id, range: 'FULL' }, '__typename', 'vmAdmin');
    await advance(1);
    await ok(app, 'separatePair', { pairId: first.id }, '__typename', 'vmAdmin');
    await ok(app, 'unpair', { pairId: first.id }, '__typename', 'vmAdmin');
    const rvId = first.replicaVolume.id;
    const { pair } = await ok(app, 'pairLocalReplica', { mvId: small.disks[0], rvId }, '... on PairLocalReplicaPayload { pair { id separateDiffBytes } }', 'vmAdmin');
    // Extent 0 differs (32 MiB to copy); extent 20 is past the MV's end: a trim of the RV, no bytes (it counted -512 MiB).
    expect(pair.separateDiffBytes).toBe(32 * 1024 ** 2);

    await ok(app, 'restorePair', { pairId: pair.id, mode: 'PROTECT' }, '__typename', 'vmAdmin');
    await advance(1);
    const mv = await node(small.disks[0], '... on VirtualVolume { allocatedBytes allocatedExtents { index } }');
    const rv = await node(rvId, '... on VirtualVolume { allocatedExtents { index } }');
    expect(rv.allocatedExtents.map((e: any) => e.index)).toEqual([0, 20]);
    // Before, extent 20 landed in the 100 MiB MV and its allocatedBytes were -508 MiB.
    expect(mv.allocatedExtents.map((e: any) => e.index)).toEqual([0]);
    expect(mv.allocatedBytes).toBe(32 * 1024 ** 2);
    expect((await node(pair.id, '... on ReplicaPair { syncState task { id } }'))).toEqual({ syncState: 'RST_SYNC', task: null });
  });
});
