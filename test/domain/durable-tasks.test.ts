import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { createThrowawayDatabase } from '../../src/core/db/client.ts';
import { testTokens } from '../helpers/app.ts';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const GiB = 1024 ** 3;

interface Server {
  child: ChildProcess;
  url: string;
  /** What the server printed: shown with an error it answered, since it masks the cause to clients. */
  output(): string;
}

/** `src/main.ts serve` in a process of its own, so that it can be killed like a crashed server. */
async function startServer(env: Record<string, string>): Promise<Server> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', 'serve'], { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const match = /listening on (http:\/\/[^/\s]+)\/graphql/.exec(output);
      if (match) resolve(match[1]);
    });
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) => reject(new Error(`server exited (${code}) before listening:\n${output}`)));
  });
  return { child, url, output: () => output };
}

async function query(server: Server, text: string, variables: Record<string, unknown> = {}): Promise<any> {
  const response = await fetch(`${server.url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${testTokens.storageAdmin}` },
    body: JSON.stringify({ query: text, variables }),
  });
  const body = (await response.json()) as { data: any; errors?: unknown[] };
  if (body.errors) throw new Error(`${JSON.stringify(body.errors)}\nserver output (tail):\n${server.output().slice(-4000)}`);
  return body.data;
}

const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

describe('durable tasks', () => {
  it('a replication interrupted by SIGKILL resumes after a restart, from where it was, and the RV ends with the MV\'s data as of the replicate', async () => {
    const env: Record<string, string> = {
      PORT: '0',
      VVOLGRAPH_CLOCK: 'manual',
      VVOLGRAPH_DEMO: 'true',
      VVOLGRAPH_SEED: 'sigkill',
      VVOLGRAPH_TOKENS: Object.entries(testTokens).map(([role, token]) => `${role}:${token}`).join(','),
    };
    if (process.env.DATABASE_URL) {
      const database = await createThrowawayDatabase(process.env.DATABASE_URL, 'vvolgraph_kill');
      cleanups.push(() => database.drop());
      env.DATABASE_URL = database.url;
    } else {
      const dir = mkdtempSync(join(tmpdir(), 'vvolgraph-kill-'));
      cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
      Object.assign(env, { VVOLGRAPH_DB: 'file', VVOLGRAPH_DATA_DIR: dir });
    }

    const first = await startServer(env);
    cleanups.push(() => void first.child.kill('SIGKILL'));
    // The largest disk of a powered-off demo VM in OSAKA: nothing writes to it while it is copied, and no
    // other copy shares OSAKA's internal link (the demo's GOLD VMs replicate in TOKYO).
    const { virtualVolumes } = await query(first, `{ virtualVolumes(filter: { type: DATA }, first: 1000) { edges { node { id allocatedBytes storageContainer { array { site } } virtualMachine { powerState } } } } }`);
    const mv = virtualVolumes.edges.map((e: any) => e.node).filter((v: any) => v.virtualMachine?.powerState === 'POWERED_OFF' && v.storageContainer.array.site === 'OSAKA').sort((a: any, b: any) => b.allocatedBytes - a.allocatedBytes)[0];
    expect(mv.allocatedBytes).toBeGreaterThan(3 * GiB);

    const paired = await query(first, `mutation($mv: ID!) { pairLocalReplica(input: { mvId: $mv }) { ... on PairLocalReplicaPayload { pair { id } } } }`, { mv: mv.id });
    const pairId = paired.pairLocalReplica.pair.id;
    const replicated = await query(first, `mutation($p: ID!) { replicatePair(input: { pairId: $p, range: FULL }) { ... on ReplicatePairPayload { task { id bytesTotal } pair { masterVolume { contentDigest } } } } }`, { p: pairId });
    const { task } = replicated.replicatePair;
    const digestAtReplicate = replicated.replicatePair.pair.masterVolume.contentDigest;
    expect(task.bytesTotal).toBe(mv.allocatedBytes);

    const taskQuery = `query($t: ID!, $p: ID!) { task: node(id: $t) { ... on Task { state bytesDone } } pair: node(id: $p) { ... on ReplicaPair { syncState replicaVolume { contentDigest } } } }`;
    await query(first, `mutation { advanceSimulation(input: { seconds: 1 }) { __typename } }`);
    const before = await query(first, taskQuery, { t: task.id, p: pairId });
    expect(before.task).toEqual({ state: 'RUNNING', bytesDone: GiB });

    first.child.kill('SIGKILL');
    await new Promise((resolve) => first.child.once('exit', resolve));

    const second = await startServer(env);
    cleanups.push(() => void second.child.kill('SIGTERM'));
    const seen: number[] = [];
    let now = before;
    // The dead process's job comes back once its heartbeat is missed; until then ticks leave the task alone.
    for (let attempt = 0; attempt < 180 && now.task.bytesDone === before.task.bytesDone; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      await query(second, `mutation { advanceSimulation(input: { seconds: 1 }) { __typename } }`);
      now = await query(second, taskQuery, { t: task.id, p: pairId });
      seen.push(now.task.bytesDone);
    }
    // Resumed from where it was (a copy started over would be back at one tick's worth at most).
    expect(now.task.bytesDone).toBeGreaterThan(before.task.bytesDone);
    expect(seen.slice(0, -1).every((bytes) => bytes === before.task.bytesDone)).toBe(true); // untouched until the dead holder's heartbeat is missed
    for (let attempt = 0; attempt < 20 && now.task.state !== 'SUCCEEDED'; attempt++) {
      await query(second, `mutation { advanceSimulation(input: { seconds: 60 }) { __typename } }`);
      const next = await query(second, taskQuery, { t: task.id, p: pairId });
      expect(next.task.bytesDone).toBeGreaterThanOrEqual(now.task.bytesDone);
      now = next;
    }
    expect(now.task).toEqual({ state: 'SUCCEEDED', bytesDone: task.bytesTotal });
    expect(now.pair.syncState).toBe('RPL_SYNC');
    expect(now.pair.replicaVolume.contentDigest).toBe(digestAtReplicate);
  }, 300_000);
});
