/**
 * The VM→VVOL mapping query under load: `npm run bench -- mapping`
 * (on PostgreSQL: `DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm run bench -- mapping`).
 *
 * 1. Seeds 10,000 VMs (one CONFIG and 1–3 DATA VVOLs each, a SWAP VVOL and bound VVOLs for the half that is
 *    powered on) in a throwaway database: an in-memory PGlite, or `vvolgraph_bench_<random>` on DATABASE_URL's
 *    server (dropped at the end).
 * 2. Starts the server in a CHILD PROCESS (bench/lib/server.ts: what `src/main.ts serve` does, with the clock
 *    manual, the demo off and fixed tokens), so the client's work (sending, reading 1 MB bodies) does not
 *    share the server's event loop and the RSS reported is the server's own (/proc/<pid>/status). An
 *    in-memory PGlite is handed over as a dump of its data directory, loaded into memory by the server.
 * 3. Warms up, then drives the query as the viewer over HTTP to 127.0.0.1 with fetch (undici, keep-alive):
 *    first:100 and first:1000, with 1 client and with 50 concurrent clients.
 * 4. Prints one JSON line. Fails (after printing) if the SQL statements per request change with the page
 *    size or from request to request. The targets are reported, not asserted.
 */
import { loadavg } from 'node:os';
import { benchTokens, driveGraphql, lineHeader, memoryOf, progress, round, runBench, type CaseResult, type GraphqlBody, type ServerStats } from './lib/harness.ts';
import { startSeededServer } from './lib/seeded-server.ts';

const VMS = 10_000;
const SEED = 'vvolgraph-bench-mapping';

const mappingQuery = `query($first:Int!){ virtualMachines(first:$first){ totalCount edges{ node{ id name powerState storagePolicy{ name } virtualVolumes{ id vasaId type bindState provisionedBytes storageContainer{ name } storagePolicy{ name } protocolEndpoint{ name protocol } } } } } }`;

const allCases = [
  { first: 100, clients: 1, requests: 200, maxSeconds: 60 },
  { first: 1000, clients: 1, requests: 50, maxSeconds: 90 },
  { first: 100, clients: 50, requests: 1000, maxSeconds: 90 },
  { first: 1000, clients: 50, requests: 200, maxSeconds: 180 },
];
/** BENCH_MAPPING_CASES=100x1,1000x50 runs only those (first x clients), e.g. while profiling one of them. */
const only = process.env.BENCH_MAPPING_CASES?.split(',').map((s) => s.trim()).filter(Boolean);
const cases = only?.length ? allCases.filter((c) => only.includes(`${c.first}x${c.clients}`)) : allCases;

/** PostGraphile v5 on this machine, first:100 with 50 clients (the reference). */
const targets = { maxStatementsPerRequest: 6, minRequestsPerSecondFirst100Clients50: 87, maxP50MsFirst100Client1: 12 };

function checkPage(first: number) {
  return (body: GraphqlBody) => {
    const connection = body.data?.virtualMachines;
    if (connection?.totalCount !== VMS) throw new Error(`totalCount ${connection?.totalCount}, expected ${VMS}`);
    if (connection.edges.length !== first) throw new Error(`${connection.edges.length} edges, expected ${first}`);
    const vvols = connection.edges.flatMap((e: any) => e.node.virtualVolumes);
    if (vvols.length < 2 * first) throw new Error(`only ${vvols.length} VVOLs for ${first} VMs`);
    for (const { node } of connection.edges) {
      const bound = node.virtualVolumes.filter((v: any) => v.bindState === 'BOUND');
      const on = node.powerState === 'POWERED_ON';
      if (on !== (bound.length === node.virtualVolumes.length) || (on && bound.some((v: any) => !v.protocolEndpoint?.name))) {
        throw new Error(`VM ${node.name}: ${node.powerState} with ${bound.length}/${node.virtualVolumes.length} VVOLs bound`);
      }
      if (!node.storagePolicy?.name || node.virtualVolumes.some((v: any) => !v.storageContainer?.name || !v.storagePolicy?.name)) throw new Error(`VM ${node.name}: a relation is missing`);
    }
  };
}

async function main(): Promise<void> {
  const startedAt = performance.now();
  // The machine may be shared: a busy one shows here (and in the figures).
  const loadAverage = round(loadavg()[0], 2);
  const { database, server, inventory, seedSeconds, cleanup } = await startSeededServer({ vms: VMS, seed: SEED });
  try {
    const idleMemory = memoryOf(server.pid);

    const base = { url: server.url, token: benchTokens.viewer, query: mappingQuery };
    progress('warming up');
    await driveGraphql({ ...base, variables: { first: 100 }, clients: 1, requests: 20, maxSeconds: 60, check: checkPage(100) });
    await driveGraphql({ ...base, variables: { first: 1000 }, clients: 1, requests: 5, maxSeconds: 60, check: checkPage(1000) });

    const results: ({ first: number; clients: number; server: ServerStats } & CaseResult)[] = [];
    for (const c of cases) {
      progress(`first:${c.first} with ${c.clients} client(s), ${c.requests} requests`);
      await server.stats();
      const result = await driveGraphql({ ...base, variables: { first: c.first }, clients: c.clients, requests: c.requests, maxSeconds: c.maxSeconds, check: checkPage(c.first) });
      const stats = await server.stats();
      progress(`  ${JSON.stringify({ ...result, server: stats, memory: memoryOf(server.pid) })}`);
      results.push({ first: c.first, clients: c.clients, server: stats, ...result });
    }
    const memory = memoryOf(server.pid);

    const seen = [...new Set(results.flatMap((r) => r.sqlStatements))];
    const statementsConstant = seen.length === 1;
    const find = (first: number, clients: number) => results.find((r) => r.first === first && r.clients === clients);
    const line = {
      ...lineHeader('mapping', database.kind, loadAverage),
      server: 'child process (bench/lib/server.ts = src/main.ts serve)',
      dataset: { vms: inventory.vms, poweredOn: inventory.poweredOn, vvols: inventory.vvols, disks: inventory.disks, seedSeconds: round(seedSeconds, 1) },
      cases: results.map((r) => ({
        first: r.first,
        clients: r.clients,
        requests: r.requests,
        requestsPerSecond: r.requestsPerSecond,
        p50Ms: r.p50Ms,
        p99Ms: r.p99Ms,
        sqlStatementsPerRequest: r.sqlStatements.length === 1 ? r.sqlStatements[0] : r.sqlStatements,
        serverCpuMsPerRequest: round(r.server.cpuMs / Math.max(1, r.requests), 1),
        eventLoopMaxMs: r.server.eventLoopMaxMs,
        ...(r.connectionErrors ? { connectionErrors: r.connectionErrors, firstConnectionError: r.firstConnectionError } : {}),
        ...(r.truncated ? { truncated: true } : {}),
      })),
      sqlStatementsPerRequest: statementsConstant ? seen[0] : seen,
      sqlStatementsConstant: statementsConstant,
      serverRssMB: memory?.rssMB ?? null,
      serverPeakRssMB: memory?.peakRssMB ?? null,
      serverIdleRssMB: idleMemory?.rssMB ?? null,
      targets: {
        statementsPerRequestAtMost6: statementsConstant && seen[0] <= targets.maxStatementsPerRequest,
        first100Clients50Above87rps: (find(100, 50)?.requestsPerSecond ?? NaN) > targets.minRequestsPerSecondFirst100Clients50,
        first100Client1P50AtMost12ms: (find(100, 1)?.p50Ms ?? NaN) <= targets.maxP50MsFirst100Client1,
      },
      totalSeconds: round((performance.now() - startedAt) / 1000, 1),
    };
    process.stdout.write(`${JSON.stringify(line)}\n`);
    if (!statementsConstant) throw new Error(`SQL statements per request vary (${seen.join(', ')}): they must not depend on the page size`);
  } finally {
    await cleanup();
  }
}

runBench(main);
