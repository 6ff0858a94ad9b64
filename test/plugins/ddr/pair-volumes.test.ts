import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { seedBasics, startApp, type TestApp } from '../../helpers/app.ts';
import { createVm, fingerprint, mutate, snapshot, writeExtents } from '../../api/support.ts';

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
});
