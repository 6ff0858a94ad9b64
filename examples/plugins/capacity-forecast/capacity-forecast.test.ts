import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GiB, seedBasics, startApp, type TestApp } from '../../../test/helpers/app.ts';

let app: TestApp;
let ids: Awaited<ReturnType<typeof seedBasics>>;

beforeAll(async () => {
  app = await startApp({ env: { VVOLGRAPH_PLUGINS: './examples/plugins/capacity-forecast/index.js' } });
  ids = await seedBasics(app);
});
afterAll(() => app?.close());

const EXTENT = 32 * 1024 ** 2;
const advance = (seconds: number) => app.query(`mutation($s: Float!) { advanceSimulation(input: { seconds: $s }) { __typename } }`, { s: seconds });
const forecastOf = async (name: string) =>
  (await app.query(`{ storageContainers { edges { node { name capacityBytes capacityForecast { time allocatedBytes growthBytesPerDay daysUntilFull } } } } }`))
    .storageContainers.edges.map((e: any) => e.node).find((c: any) => c.name === name);

describe('capacity-forecast, a plain JavaScript plugin on the observe hook', () => {
  it('samples each container every tick and forecasts when it fills at its recent growth; a policy asking for more days is NON_COMPLIANT', async () => {
    const plugins = (await app.query('{ plugins { name capabilityNamespace { namespace } } }')).plugins;
    expect(plugins.at(-1)).toEqual({ name: 'capacity-forecast', capabilityNamespace: { namespace: 'example.forecast' } });
    expect((await forecastOf('tokyo-gold')).capacityForecast).toBeNull(); // no tick sampled yet

    const policy = (await app.query(`mutation { createStoragePolicy(input: { name: "roomy", rules: [{ capabilityId: "example.forecast.minDaysUntilFull", value: 30 }] }) { ... on CreateStoragePolicyPayload { storagePolicy { id } } } }`)).createStoragePolicy.storagePolicy.id;
    const vm = (await app.query(
      `mutation($p: ID!, $c: ID!) { createVirtualMachine(input: { name: "filler", policyId: $p, containerId: $c, disks: [{ sizeBytes: ${1024 * GiB} }] }) { ... on CreateVirtualMachinePayload { virtualMachine { id virtualVolumes { vasaId type } } } } }`,
      { p: policy, c: ids.containers['tokyo-gold'] },
    )).createVirtualMachine.virtualMachine;
    const disk = vm.virtualVolumes.find((v: any) => v.type === 'DATA').vasaId;
    await advance(2);
    const still = await forecastOf('tokyo-gold');
    expect(still.capacityForecast).toMatchObject({ growthBytesPerDay: 0, daysUntilFull: null });

    // 256 extents (8 GiB) written before each of 10 ticks: 8 GiB a second.
    for (let i = 0; i < 10; i++) {
      await app.core.transact((work) => app.core.extents.write(work.tx, [{ vvolId: disk, indexes: Array.from({ length: 256 }, (_, k) => i * 256 + k) }]));
      await advance(1);
    }
    const { capacityBytes, capacityForecast: f } = await forecastOf('tokyo-gold');
    expect(f.growthBytesPerDay).toBeGreaterThan(0);
    // The least-squares line over 2 flat samples and 10 rising ones: between the flat and the rising rate.
    expect(f.growthBytesPerDay).toBeLessThanOrEqual(256 * EXTENT * 86_400);
    expect(f.daysUntilFull).toBeCloseTo((capacityBytes - f.allocatedBytes) / f.growthBytesPerDay, 6);
    expect(f.daysUntilFull).toBeLessThan(30);

    const { node } = await app.query(`query($id: ID!) { node(id: $id) { ... on VirtualMachine { compliance { status violations { capabilityId expected current } } } } }`, { id: vm.id });
    expect(node.compliance.status).toBe('NON_COMPLIANT');
    expect(node.compliance.violations[0]).toMatchObject({ capabilityId: 'example.forecast.minDaysUntilFull', expected: '>= 30 d' });
  });

  it('keeps no sample of a tick that rolled back', async () => {
    // The database fails the tick as it writes the minute's I/O history, after every hook has run.
    await app.core.db.execute(sql`create table forecast_fails (reason text)`);
    await app.core.db.execute(sql.raw(`create function forecast_fails() returns trigger language plpgsql as $$
      begin if exists (select 1 from forecast_fails) then raise exception 'the disk is full'; end if; return null; end $$`));
    await app.core.db.execute(sql`create trigger forecast_fails before insert on io_history for each statement execute function forecast_fails()`);
    const now = (await app.query('{ simulation { simulatedSeconds } }')).simulation.simulatedSeconds as number;
    const minuteEnd = (Math.floor(now / 60) + 1) * 60;
    if (minuteEnd - now > 1) await advance(minuteEnd - now - 1);
    expect((await forecastOf('tokyo-gold')).capacityForecast.time).toBe(minuteEnd - 1);

    await app.core.db.execute(sql`insert into forecast_fails values ('full')`);
    const failed = await app.gql('mutation { advanceSimulation(input: { seconds: 1 }) { __typename } }');
    await app.core.db.execute(sql`delete from forecast_fails`);
    expect(failed.errors?.[0]?.message).toBe('Unexpected error.');
    expect((await forecastOf('tokyo-gold')).capacityForecast.time).toBe(minuteEnd - 1);
    await advance(1);
    expect((await forecastOf('tokyo-gold')).capacityForecast.time).toBe(minuteEnd);
  });
});
