import { readFileSync } from 'node:fs';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resultRows } from '../../../src/core/db/client.ts';
import { seedBasics, startApp, type TestApp } from '../../helpers/app.ts';
import { backupGeneration, createVm, fingerprint, mutate, replicationGroup, snapshot, writeExtents } from '../../api/support.ts';

let app: TestApp;
let ids: Awaited<ReturnType<typeof seedBasics>>;

beforeAll(async () => {
  app = await startApp();
  ids = await seedBasics(app);
});
afterAll(() => app?.close());

const node = async (id: string, selection: string) => (await app.query(`query($id: ID!) { node(id: $id) { ${selection} } }`, { id })).node;

describe('which volumes may be paired', () => {
  it('a snapshot\'s VVOL is neither an MV (a restore would change the snapshot) nor an RV: a ValidationError naming the field, nothing made', async () => {
    const vm = await createVm(app, ids.policies.BRONZE, { containerId: ids.containers['tokyo-gold'] });
    const other = await createVm(app, ids.policies.BRONZE, { containerId: ids.containers['tokyo-gold'] });
    await writeExtents(app, vm.disks[0], [0, 1]);
    const snap = await snapshot(app, vm.id);
    const volumes = await Promise.all(snap.vvols.map((id) => node(id, '... on VirtualVolume { id type }')));
    const snapData = volumes.find((v) => v.type === 'DATA').id;
    const before = await fingerprint(app);
    expect(await mutate(app, 'pairLocalReplica', { mvId: snapData }, 'vmAdmin')).toMatchObject({ __typename: 'ValidationError', field: 'input.mvId' });
    expect(await mutate(app, 'pairLocalReplica', { mvId: other.disks[0], rvId: snapData }, 'vmAdmin')).toMatchObject({ __typename: 'ValidationError', field: 'input.rvId' });
    expect(await mutate(app, 'pairRemoteReplica', { mvId: snapData }, 'vmAdmin')).toMatchObject({ __typename: 'ValidationError', field: 'input.mvId' });
    expect(await fingerprint(app)).toEqual(before);
  });

  it('a backup generation\'s volume and a point in time\'s copy are neither MVs nor RVs (a restore onto one would lose the backup): a ValidationError naming the field, nothing made', async () => {
    const vm = await createVm(app, ids.policies.BRONZE, { containerId: ids.containers['tokyo-gold'] });
    await writeExtents(app, vm.disks[0], [0, 1]);
    const generationId = await backupGeneration(app, vm.id, true);
    const generation = await node(generationId, '... on BackupGeneration { state volumes { type contentDigest backupVolume { id contentDigest } } }');
    expect(generation.state).toBe('AVAILABLE');
    const backupData = generation.volumes.find((v: any) => v.type === 'DATA');
    const { groupId } = await replicationGroup(app, ids.policies.BRONZE, ids.containers['tokyo-gold'], 'SYNCED');
    const [point] = (await node(groupId, '... on ReplicationGroup { pointsInTime { complete volumes { id } } }')).pointsInTime;
    expect(point.complete).toBe(true);
    const pointCopy = point.volumes[0].id;
    const other = await createVm(app, ids.policies.BRONZE, { containerId: ids.containers['tokyo-gold'] });
    const before = await fingerprint(app);
    // Before, the backup volume was paired with a new, empty RV, and restorePair emptied the generation.
    expect(await mutate(app, 'pairLocalReplica', { mvId: backupData.backupVolume.id }, 'vmAdmin')).toMatchObject({ __typename: 'ValidationError', field: 'input.mvId' });
    expect(await mutate(app, 'pairRemoteReplica', { mvId: backupData.backupVolume.id }, 'vmAdmin')).toMatchObject({ __typename: 'ValidationError', field: 'input.mvId' });
    expect(await mutate(app, 'pairLocalReplica', { mvId: pointCopy }, 'vmAdmin')).toMatchObject({ __typename: 'ValidationError', field: 'input.mvId' });
    expect(await mutate(app, 'pairRemoteReplica', { mvId: other.disks[0], rvId: pointCopy }, 'vmAdmin')).toMatchObject({ __typename: 'ValidationError', field: 'input.rvId' });
    expect(await fingerprint(app)).toEqual(before);
    expect((await node(backupData.backupVolume.id, '... on VirtualVolume { contentDigest }')).contentDigest).toBe(backupData.contentDigest);
  });

  it('migration 0012 marks the backup and point-in-time volumes made before vvolgraph.keptBy existed, so they cannot be paired either', async () => {
    const vm = await createVm(app, ids.policies.BRONZE, { containerId: ids.containers['tokyo-gold'] });
    await writeExtents(app, vm.disks[0], [0]);
    const generationId = await backupGeneration(app, vm.id, true);
    const generation = await node(generationId, '... on BackupGeneration { volumes { type backupVolume { id } } }');
    const backupVolume = generation.volumes.find((v: any) => v.type === 'DATA').backupVolume.id;
    const { groupId } = await replicationGroup(app, ids.policies.BRONZE, ids.containers['tokyo-gold'], 'SYNCED');
    const pointCopy = (await node(groupId, '... on ReplicationGroup { pointsInTime { volumes { id } } }')).pointsInTime[0].volumes[0].id;
    const kept = async () => resultRows<{ kept: string }>(await app.core.db.execute(sql`select metadata->>'vvolgraph.keptBy' as kept from virtual_volumes where metadata ? 'vvolgraph.ddsGeneration' or metadata ? 'nec.rdr.pointInTime' order by 1`)).map((r) => r.kept);
    const marked = await kept();
    expect(new Set(marked)).toEqual(new Set(['dds', 'rdr']));
    // As a database from before the mark has them; then the migration's statements, as they run at start-up.
    await app.core.db.execute(sql`update virtual_volumes set metadata = metadata - 'vvolgraph.keptBy'`);
    expect((await kept()).every((k) => k === null)).toBe(true);
    for (const statement of readFileSync(new URL('../../../migrations/0012_kept_by_backfill.sql', import.meta.url), 'utf8').split('--> statement-breakpoint')) {
      await app.core.db.execute(sql.raw(statement));
    }
    expect(await kept()).toEqual(marked);
    expect(await mutate(app, 'pairLocalReplica', { mvId: backupVolume }, 'vmAdmin')).toMatchObject({ __typename: 'ValidationError', field: 'input.mvId' });
    expect(await mutate(app, 'pairLocalReplica', { mvId: pointCopy }, 'vmAdmin')).toMatchObject({ __typename: 'ValidationError', field: 'input.mvId' });
  });

  it('a VM\'s own volume is not an RV (detachReplicaVolume then took it from the VM as if attached): a ValidationError naming the field, nothing made', async () => {
    const vm = await createVm(app, ids.policies.BRONZE, { containerId: ids.containers['tokyo-gold'] });
    const owner = await createVm(app, ids.policies.BRONZE, { containerId: ids.containers['tokyo-gold'], disks: [8 * 1024 ** 3] });
    const remote = await createVm(app, ids.policies.BRONZE, { containerId: ids.containers['osaka-gold'], disks: [8 * 1024 ** 3] });
    const before = await fingerprint(app);
    // Before, the owner's CONFIG volume became the RV, and detaching it left the owner without its CONFIG volume.
    expect(await mutate(app, 'pairLocalReplica', { mvId: vm.disks[0], rvId: owner.config }, 'vmAdmin')).toMatchObject({ __typename: 'ValidationError', field: 'input.rvId' });
    expect(await mutate(app, 'pairLocalReplica', { mvId: vm.disks[0], rvId: owner.disks[0] }, 'vmAdmin')).toMatchObject({ __typename: 'ValidationError', field: 'input.rvId' });
    expect(await mutate(app, 'pairRemoteReplica', { mvId: vm.disks[0], rvId: remote.disks[0] }, 'vmAdmin')).toMatchObject({ __typename: 'ValidationError', field: 'input.rvId' });
    expect(await fingerprint(app)).toEqual(before);
  });
});
