import { decodeGlobalID } from '@pothos/plugin-relay';
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GiB, seedBasics, startApp, type TestApp } from '../helpers/app.ts';
import { createVm, ok, unique } from '../api/support.ts';
import { stateOf } from '../../src/plugins/perforoptimizer/engine.ts';
import { resultRows } from '../../src/core/db/client.ts';

let app: TestApp;
let ids: Awaited<ReturnType<typeof seedBasics>>;

beforeAll(async () => {
  app = await startApp();
  ids = await seedBasics(app);
  // A database that fails while the tick writes its minutes of history (a full disk, a dropped connection),
  // while the table `history_fails` holds a row: the whole tick rolls back.
  await app.core.db.execute(sql`create table history_fails (reason text)`);
  await app.core.db.execute(sql.raw(`create function history_fails() returns trigger language plpgsql as $$
    begin if exists (select 1 from history_fails) then raise exception 'the disk is full'; end if; return null; end $$`));
  await app.core.db.execute(sql`create trigger history_fails before insert on io_history for each statement execute function history_fails()`);
});
afterAll(() => app?.close());

const now = async () => (await app.query('{ simulation { simulatedSeconds } }')).simulation.simulatedSeconds as number;

describe('a tick that rolls back after its statistics are taken', () => {
  it('leaves no trace in them: recentIo has no sample of it, and the minute it failed to close is whole when the tick runs again', async () => {
    const vm = await createVm(app, ids.policies.BRONZE, { containerId: ids.containers['tokyo-gold'], powerOn: true });
    const from = await now();
    const minuteEnd = (Math.floor(from / 60) + 1) * 60;
    if (minuteEnd - from > 1) await ok(app, 'advanceSimulation', { seconds: minuteEnd - from - 1 }, '__typename');
    // The tick that ends the minute fails as it writes it.
    await app.core.db.execute(sql`insert into history_fails values ('full')`);
    const failed = await app.gql('mutation { advanceSimulation(input: { seconds: 1 }) { __typename } }');
    await app.core.db.execute(sql`delete from history_fails`);
    expect(failed.errors?.[0]?.message).toBe('Unexpected error.');
    expect(await now()).toBe(minuteEnd - 1);
    await ok(app, 'advanceSimulation', { seconds: 1 }, '__typename');

    const { node } = await app.query(`query($id: ID!) { node(id: $id) { ... on VirtualMachine { recentIo(last: 60) { time } } } }`, { id: vm.id });
    const times = node.recentIo.map((s: { time: number }) => s.time);
    expect(times).toEqual(Array.from({ length: minuteEnd - from }, (_, i) => from + 1 + i));
    const { ioHistory } = await app.query(`query($id: ID!, $from: Float!) { ioHistory(vmId: $id, from: $from) { ... on IoHistoryConnection { edges { node { end samples } } } } }`, { id: vm.id, from: minuteEnd - 1 });
    expect(ioHistory.edges.map((e: { node: unknown }) => e.node)).toEqual([{ end: minuteEnd, samples: minuteEnd - from }]);
  });
});

describe('a tick that rolls back after perforoptimizer relocated extents', () => {
  it('leaves the tiers in memory as the database has them, and the relocation runs again when the tick does', async () => {
    const { createStoragePolicy } = await app.query(`mutation($input: CreateStoragePolicyInput!) { createStoragePolicy(input: $input) { ... on CreateStoragePolicyPayload { storagePolicy { id } } } }`, {
      input: { name: unique('ssd-20'), rules: [{ capabilityId: 'nec.po.ssdMaxPercent', value: 20 }, { capabilityId: 'nec.po.analysisIntervalMinutes', value: 1 }] },
    });
    // The VM starts running on a minute's boundary, so its first analysis interval ends with the minute, in the tick that fails.
    const from = await now();
    if (from % 60 !== 0) await ok(app, 'advanceSimulation', { seconds: 60 - (from % 60) }, '__typename');
    const vm = await createVm(app, createStoragePolicy.storagePolicy.id, { containerId: ids.containers['tokyo-gold'], disks: [100 * GiB], powerOn: true });
    const custom = { readIops: 4000, writeIops: 1000, blockSizeBytes: 8192, randomRatio: 1, zipfAlpha: 1.2, workingSetRatio: 0.5 };
    await ok(app, 'setWorkload', { vmId: vm.id, custom }, '__typename');
    await app.settle();
    await ok(app, 'advanceSimulation', { seconds: 59 }, '__typename');
    await app.core.db.execute(sql`insert into history_fails values ('full')`);
    const failed = await app.gql('mutation { advanceSimulation(input: { seconds: 1 }) { __typename } }');
    await app.core.db.execute(sql`delete from history_fails`);
    expect(failed.errors?.[0]?.message).toBe('Unexpected error.');
    await ok(app, 'advanceSimulation', { seconds: 1 }, '__typename');

    const { node } = await app.query(`query($id: ID!) { node(id: $id) { ... on VirtualVolume { tiering { bytesByTier { ssd } relocatedBytes } } } }`, { id: vm.disks[0] });
    expect(node.tiering.bytesByTier.ssd).toBeGreaterThan(0);
    expect(node.tiering.relocatedBytes).toBe(node.tiering.bytesByTier.ssd);
    const disk = decodeGlobalID(vm.disks[0]).id;
    const stored = resultRows<{ idx: number; tier: string }>(await app.core.db.execute(sql`select idx, tier::text as tier from extents where vvol_id = ${disk}::uuid and tier <> 'SAS' order by idx`));
    const inMemory = [...(stateOf(app.core.extents).volumes.get(disk)?.tierOf ?? new Map())].sort(([a], [b]) => a - b).map(([idx, tier]) => ({ idx, tier }));
    expect(inMemory).toEqual(stored);
  });
});
