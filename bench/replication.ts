/**
 * Replication figures: `npm run bench -- replication` (PostgreSQL: with DATABASE_URL).
 *
 * The app runs in this process on the manual clock, listening on a free port; every operation goes through
 * the GraphQL API over HTTP, as a client would drive it. Data is written through the core's write path.
 *
 * 1. Full sync: a 1 TiB VM disk, every extent written, paired with a replica volume on the other site's
 *    array over a 1 Gbit/s link (125,000,000 B/s); `replicatePair(FULL)`, then `advanceSimulation` until the
 *    pair is RPL_SYNC. Reported: the wall time of the whole sync on the manual clock (BENCH_TICK_MS sets
 *    the simulated tick, default 1000 ms), and the simulated seconds it took (the floor is 1 TiB / link).
 * 2. ETA: when the task first passes 50 %, its `etaSeconds` (from the API) against the simulated seconds the
 *    rest really took (the pair's RPL_SYNC state time). Target: error <= 10 %.
 * 3. DIFF resync: separate, overwrite random extents (with repeats), `replicatePair(DIFF)` to the end.
 *    Bytes copied / bytes changed at extent granularity. Target: 1.0.
 * 4. Dedup (dds): a 64 GiB VM half written, a FAST clone of it with a tenth of its extents rewritten, a
 *    FULL backup of each and then, after more writes, a DIFFERENTIAL of the first. The backup array's
 *    stored bytes (the generations' `storedBytes` summed) / the bytes of distinct content ids the
 *    generations hold. Target: 1.0.
 * Prints one JSON line.
 */
import { sql } from 'drizzle-orm';
import { loadavg } from 'node:os';
import { createApp } from '../src/app.ts';
import { resultRows } from '../src/core/db/client.ts';
import { loadConfig } from '../src/core/config.ts';
import { seedInventory, seedPolicies } from '../src/core/demo.ts';
import { seededRandom } from '../src/core/random.ts';
import { benchTokens, benchTokenSpec, machine, memoryOf, progress, round, throwawayDatabase } from './lib/harness.ts';

const GiB = 1024 ** 3;
const TiB = 1024 * GiB;
const EXTENT = 32 * 1024 ** 2;
const LINK_BYTES_PER_SECOND = 125_000_000; // 1 Gbit/s
const TICK_MS = Number(process.env.BENCH_TICK_MS ?? 1000);
const DIFF_WRITES = 4000;
const targets = { diffCopiedOverChanged: 1, etaErrorAtHalf: 0.1, dedupStoredOverUnique: 1 };

async function main(): Promise<void> {
  const database = await throwawayDatabase();
  const config = loadConfig({
    VVOLGRAPH_CLOCK: 'manual', VVOLGRAPH_DEMO: 'false', VVOLGRAPH_DB: 'memory', VVOLGRAPH_SEED: 'bench-replication',
    VVOLGRAPH_TICK_MS: String(TICK_MS), PORT: '0', VVOLGRAPH_TOKENS: benchTokenSpec,
  });
  const app = await createApp({ ...config, demo: false }, { database: database.handle });
  try {
    const gql = async (query: string, variables: Record<string, unknown> = {}) => {
      const response = await fetch(`${app.url}/graphql`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${benchTokens.storageAdmin}` },
        body: JSON.stringify({ query, variables }),
      });
      const body = (await response.json()) as { data: any; errors?: unknown[] };
      if (body.errors) throw new Error(JSON.stringify(body.errors));
      return body.data;
    };
    const { core } = app;
    const { containers } = await seedInventory(core);
    const bronze = Buffer.from(`StoragePolicy:${(await seedPolicies(core)).BRONZE}`).toString('base64');

    progress('writing a 1 TiB disk...');
    const { createVirtualMachine: created } = await gql(
      `mutation($p: ID!) { createVirtualMachine(input: { name: "big", policyId: $p, disks: [{ sizeBytes: ${TiB} }] }) { __typename ... on CreateVirtualMachinePayload { virtualMachine { virtualVolumes { id vasaId type storageContainer { name } } } } } }`,
      { p: bronze },
    );
    if (!created.virtualMachine) throw new Error(`createVirtualMachine: ${created.__typename}`);
    const disk = created.virtualMachine.virtualVolumes.find((v: any) => v.type === 'DATA');
    const extentCount = TiB / EXTENT;
    for (let from = 0; from < extentCount; from += 4096) {
      await core.transact((work) => core.extents.write(work.tx, [{ vvolId: disk.vasaId, indexes: Array.from({ length: 4096 }, (_, i) => from + i) }]));
    }

    // The remote replica: a volume on the other site's array, the pair's link at 1 Gbit/s.
    const remote = disk.storageContainer.name.startsWith('tokyo') ? 'osaka-bulk' : 'tokyo-bulk';
    const pairId = await core.transact(async (work) => {
      const rv = await core.pairs.createReplicaVolume(work, disk.vasaId, containers[remote], 'rv');
      const pair = await core.pairs.create(work, { owner: 'rdr', mvId: disk.vasaId, rvId: rv.id, copyControl: 'BACKGROUND', link: `bench:${disk.storageContainer.name}->${remote}`, bytesPerSecond: LINK_BYTES_PER_SECOND });
      return Buffer.from(`ReplicaPair:${pair.id}`).toString('base64');
    });
    const pairQuery = `query($id: ID!) { node(id: $id) { ... on ReplicaPair { syncState stateTimes { state at } masterVolume { contentDigest } replicaVolume { contentDigest } task { bytesDone bytesTotal progress etaSeconds } } } }`;
    const clock = async () => (await gql('{ simulation { simulatedSeconds } }')).simulation.simulatedSeconds as number;
    const advanceUntilSynced = async (step: number, onProgress?: (task: any, now: number) => void) => {
      for (;;) {
        await gql(`mutation($s: Float!) { advanceSimulation(input: { seconds: $s }) { __typename } }`, { s: step });
        const { node } = await gql(pairQuery, { id: pairId });
        if (node.syncState === 'RPL_SYNC') return node;
        onProgress?.(node.task, await clock());
      }
    };

    progress('full sync of 1 TiB over 1 Gbit/s...');
    const startedAt = await clock();
    const wallStart = performance.now();
    const full = (await gql(`mutation($id: ID!) { replicatePair(input: { pairId: $id, range: FULL }) { ... on ReplicatePairPayload { task { bytesTotal } } } }`, { id: pairId })).replicatePair.task;
    let half: { at: number; eta: number; progress: number } | null = null;
    const synced = await advanceUntilSynced(60, (task, now) => {
      if (!half && task.progress >= 0.5) half = { at: now, eta: task.etaSeconds, progress: task.progress };
    });
    const fullWallSeconds = (performance.now() - wallStart) / 1000;
    const syncedAt = synced.stateTimes.find((s: any) => s.state === 'RPL_SYNC').at as number;
    if (!half) throw new Error('the copy never reported a point past 50 % before it ended');
    const halfway: { at: number; eta: number; progress: number } = half;
    const actualRest = syncedAt - halfway.at;
    if (synced.replicaVolume.contentDigest !== synced.masterVolume.contentDigest) throw new Error('the replica does not hold the master\'s data');

    progress('DIFF resync after random overwrites...');
    await gql(`mutation($id: ID!) { separatePair(input: { pairId: $id }) { __typename } }`, { id: pairId });
    const random = seededRandom('bench-replication:diff');
    const written = Array.from({ length: DIFF_WRITES }, () => Math.floor(random() * extentCount));
    await core.transact((work) => core.extents.write(work.tx, [{ vvolId: disk.vasaId, indexes: [...new Set(written)] }]));
    const changedBytes = new Set(written).size * EXTENT;
    const diff = (await gql(`mutation($id: ID!) { replicatePair(input: { pairId: $id, range: DIFF }) { ... on ReplicatePairPayload { task { id bytesTotal } } } }`, { id: pairId })).replicatePair.task;
    const resynced = await advanceUntilSynced(60);
    const diffTask = (await gql(`query($id: ID!) { node(id: $id) { ... on Task { state bytesDone } } }`, { id: diff.id })).node;
    if (resynced.replicaVolume.contentDigest !== resynced.masterVolume.contentDigest) throw new Error('the DIFF resync left the replica different from the master');

    progress('dds: backups of a VM and its FAST clone, deduplicated...');
    const vmFields = '... on CreateVirtualMachinePayload { virtualMachine { id virtualVolumes { vasaId type } } }';
    const source = (await gql(`mutation($p: ID!) { createVirtualMachine(input: { name: "dedup-src", policyId: $p, disks: [{ sizeBytes: ${64 * GiB} }] }) { ${vmFields} } }`, { p: bronze })).createVirtualMachine.virtualMachine;
    const sourceDisk = source.virtualVolumes.find((v: any) => v.type === 'DATA').vasaId;
    await core.transact((work) => core.extents.write(work.tx, [{ vvolId: sourceDisk, indexes: Array.from({ length: 1024 }, (_, i) => 2 * i) }]));
    const clone = (await gql(`mutation($id: ID!) { cloneVirtualMachine(input: { vmId: $id, name: "dedup-clone", mode: FAST }) { ... on CloneVirtualMachinePayload { virtualMachine { id virtualVolumes { vasaId type } } } } }`, { id: source.id })).cloneVirtualMachine.virtualMachine;
    const cloneDisk = clone.virtualVolumes.find((v: any) => v.type === 'DATA').vasaId;
    await core.transact((work) => core.extents.write(work.tx, [{ vvolId: cloneDisk, indexes: Array.from({ length: 103 }, (_, i) => 20 * i) }]));
    const backup = async (vmId: string, type: 'FULL' | 'DIFFERENTIAL') => {
      const { generation } = (await gql(`mutation($id: ID!, $t: BackupType) { backupVirtualMachine(input: { vmId: $id, type: $t }) { ... on BackupVirtualMachinePayload { generation { id } } } }`, { id: vmId, t: type })).backupVirtualMachine;
      for (;;) {
        await gql(`mutation { advanceSimulation(input: { seconds: 60 }) { __typename } }`);
        const { node } = await gql(`query($id: ID!) { node(id: $id) { ... on BackupGeneration { state logicalBytes storedBytes } } }`, { id: generation.id });
        if (node.state !== 'RUNNING') return { id: generation.id, ...node };
      }
    };
    const generations = [await backup(source.id, 'FULL'), await backup(clone.id, 'FULL')];
    await core.transact((work) => core.extents.write(work.tx, [{ vvolId: sourceDisk, indexes: Array.from({ length: 200 }, (_, i) => 5 * i + 1) }]));
    generations.push(await backup(source.id, 'DIFFERENTIAL'));
    if (generations.some((g) => g.state !== 'AVAILABLE')) throw new Error(`a backup did not complete: ${JSON.stringify(generations)}`);
    const generationIds = generations.map((g) => Buffer.from(g.id, 'base64').toString().split(':')[1]);
    const [{ distinct }] = resultRows<{ distinct: number }>(await core.db.execute(sql`
      select count(distinct e.content_id)::int as distinct from extents e
      join dds_generation_volumes g on g.backup_vvol_id = e.vvol_id
      where g.generation_id in (${sql.join(generationIds.map((id) => sql`${id}::uuid`), sql`, `)})`));
    const storedBytes = generations.reduce((sum, g) => sum + g.storedBytes, 0);
    const logicalBytes = generations.reduce((sum, g) => sum + g.logicalBytes, 0);

    console.log(JSON.stringify({
      bench: 'replication',
      database: database.kind,
      tickMs: TICK_MS,
      fullSync: {
        bytes: full.bytesTotal,
        linkBytesPerSecond: LINK_BYTES_PER_SECOND,
        simulatedSeconds: round(syncedAt - startedAt, 1),
        floorSeconds: round(full.bytesTotal / LINK_BYTES_PER_SECOND, 1),
        wallSeconds: round(fullWallSeconds, 1),
      },
      etaAtHalf: { progress: round(halfway.progress, 4), etaSeconds: round(halfway.eta, 1), actualSeconds: round(actualRest, 1), error: round(Math.abs(halfway.eta - actualRest) / actualRest, 4) },
      diffResync: { writes: DIFF_WRITES, changedBytes, taskBytesTotal: diff.bytesTotal, bytesCopied: diffTask.bytesDone, copiedOverChanged: round(diffTask.bytesDone / changedBytes, 4) },
      dedup: { generations: generations.length, logicalBytes, storedBytes, uniqueBytes: distinct * EXTENT, storedOverUnique: round(storedBytes / (distinct * EXTENT), 4), dedupRatio: round(logicalBytes / storedBytes, 2) },
      targets,
      memory: memoryOf(process.pid),
      loadAverage: round(loadavg()[0], 2),
      machine: machine(),
    }));
  } finally {
    await app.close();
    await database.drop();
  }
}

await main();
