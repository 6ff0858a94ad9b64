import fc from 'fast-check';
import { sql } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { resultRows } from '../../src/core/db/client.ts';
import { digestOf } from '../../src/core/extents.ts';
import { IO_SAMPLES_KEPT } from '../../src/core/engine/io.ts';
import { GiB, globalId, seedBasics, startApp, type TestApp } from '../helpers/app.ts';
import { createPolicy } from '../api/support.ts';

/**
 * Random sequences of VM, snapshot, clone, policy, pair and backup operations over the API, with the
 * invariants that must hold after every step: capacity reserved exactly for the live thick volumes,
 * every volume's allocated bytes and digest what its extent map gives, snapshots and backups immutable,
 * copies with their source's data, no orphans, and a refused mutation (or a dry run) changes nothing.
 * Each run starts a fresh app, so a shrunk counterexample replays alone.
 *
 * The seed and size are fixed, so the suite runs the same sequences each time. To look for more:
 * FUZZ_SEED, FUZZ_RUNS, FUZZ_MIN/FUZZ_LENGTH (sequence length), FUZZ_TIMEOUT (ms), FUZZ_SHRINK=1 (shrink
 * a failure), FUZZ_LOG=1 (print the failing run's steps; `all`: every run's), FUZZ_REPLAY='[...]' (a
 * counterexample's steps, run first).
 */

let app: TestApp;
let policies: Record<string, string>;
let containers: Record<string, string>;
const MiB = 1024 ** 2;
const EXTENT = 32 * MiB;

const raw = async <T = any>(query: ReturnType<typeof sql>) => resultRows<T>(await app.core.db.execute(query));

async function setUp(): Promise<void> {
  app = await startApp();
  ({ policies, containers } = await seedBasics(app));
  policies.DDR = await createPolicy(app, [{ capabilityId: 'nec.ddr.replica', value: true }], 'DDR');
  policies.DDR2 = await createPolicy(app, [{ capabilityId: 'nec.ddr.replica', value: true }, { capabilityId: 'nec.ddr.replicaCount', value: 2 }, { capabilityId: 'nec.ddr.copyControl', value: 'SYNC' }], 'DDR2');
  policies.RDR = await createPolicy(app, [{ capabilityId: 'nec.rdr.replica', value: true }], 'RDR');
  policies.DDS = await createPolicy(app, [{ capabilityId: 'nec.dds.backup', value: true }, { capabilityId: 'nec.dds.generations', value: 2 }, { capabilityId: 'nec.dds.intervalMinutes', value: 15 }], 'DDS');
  policies.PC = await createPolicy(app, [{ capabilityId: 'nec.pc.enabled', value: true }, { capabilityId: 'nec.pc.capacityGiB', value: 1 }, { capabilityId: 'nec.pc.mode', value: 'READ_WRITE' }], 'PC');
  policies.PO = await createPolicy(app, [{ capabilityId: 'nec.po.ssdMinPercent', value: 10 }, { capabilityId: 'nec.po.analysisIntervalMinutes', value: 1 }], 'PO');
}
afterAll(() => app?.close());

const policyNames = ['GOLD', 'SILVER', 'BRONZE', 'DDR', 'DDR2', 'RDR', 'DDS', 'PC', 'PO'] as const;
const containerNames = [null, 'tokyo-gold', 'tokyo-bulk', 'osaka-gold', 'osaka-bulk', 'osaka-backup'] as const;
const diskSizes = [100 * MiB, GiB, 3 * GiB];

type Op =
  | { op: 'createVm'; policy: number; container: number; disks: number[]; memory: number }
  | { op: 'powerOn' | 'powerOff' | 'deleteVm' | 'addDisk'; vm: number; size?: number }
  | { op: 'workload'; vm: number; preset: 'OLTP' | 'IDLE' | 'BACKUP_SCAN' | 'VDI_BOOT_STORM' }
  | { op: 'advance'; seconds: number }
  | { op: 'write'; vvol: number; indexes: number[] }
  | { op: 'snapshot'; vm: number; withMemory: boolean }
  | { op: 'revert'; vm: number; snapshot: number }
  | { op: 'deleteSnapshot'; snapshot: number }
  | { op: 'clone'; vm: number; mode: 'FAST' | 'FULL'; policy: number; container: number }
  | { op: 'resize'; vvol: number; grow: number }
  | { op: 'deleteVolume'; vvol: number }
  | { op: 'applyPolicy'; target: 'vm' | 'vvol'; index: number; policy: number }
  | { op: 'pairLocal'; vvol: number; rv: number | null }
  | { op: 'pairRemote'; vvol: number }
  | { op: 'replicate'; pair: number; range: 'FULL' | 'DIFF' }
  | { op: 'separate'; pair: number; rvAccess: 'RO' | 'RW' }
  | { op: 'restorePair'; pair: number; mode: 'UPDATE' | 'PROTECT' }
  | { op: 'unpair'; pair: number; force: boolean }
  | { op: 'copyControl'; pair: number; copyControl: 'SYNC' | 'BACKGROUND' }
  | { op: 'attach'; pair: number; vm: number }
  | { op: 'detach'; pair: number }
  | { op: 'backup'; vm: number; type: 'FULL' | 'DIFFERENTIAL' }
  | { op: 'restoreBackup'; generation: number; target: 'VM' | 'NEW_VM' }
  | { op: 'deleteBackup'; generation: number }
  | { op: 'cancel'; task: number }
  | { op: 'createGroup'; vm: number }
  | { op: 'group'; group: number; transition: (typeof transitions)[number]; plan: boolean }
  | { op: 'updatePolicy'; policy: number; rules: number }
  | { op: 'ghost'; what: (typeof ghostOps)[number]; index: number };

/** Mutations on objects that were deleted: each a NotFoundError naming the field, changing nothing. */
const ghostOps = ['powerOnVirtualMachine', 'deleteVirtualMachine', 'snapshotVirtualMachine', 'cloneVirtualMachine', 'backupVirtualMachine', 'createReplicationGroup', 'applyStoragePolicy', 'addVirtualDisk', 'setWorkload', 'revertVirtualMachine', 'attachReplicaVolume', 'replicatePair', 'restorePair', 'unpair', 'deleteSnapshot', 'restoreBackup', 'resizeVirtualVolume', 'pairLocalReplica'] as const;
/** Ids of deleted objects, by type. */
let ghosts: Record<string, string[]> = {};

const transitions = ['sync', 'testFailoverStart', 'testFailoverStop', 'failoverPlanned', 'failoverUnplanned', 'promote', 'reverse'] as const;
/** Policies the fuzzer may edit (the seeded ones stay as they are), and rule sets to give them. */
const editable = ['DDR', 'DDR2', 'RDR', 'DDS', 'PC', 'PO'] as const;
const ruleSets = [
  [],
  [{ capabilityId: 'nec.ddr.replica', value: true }],
  [{ capabilityId: 'nec.ddr.replica', value: true }, { capabilityId: 'nec.ddr.replicaCount', value: 3 }],
  [{ capabilityId: 'nec.rdr.replica', value: true }, { capabilityId: 'nec.rdr.copyControl', value: 'SYNC' }],
  [{ capabilityId: 'nec.dds.backup', value: true }, { capabilityId: 'nec.dds.generations', value: 1 }],
  [{ capabilityId: 'nec.iolm.lowerLimit', value: 100 }, { capabilityId: 'nec.iolm.upperLimit', value: 200 }],
];

const idx = fc.nat({ max: 7 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('createVm' as const), policy: fc.nat({ max: policyNames.length - 1 }), container: fc.nat({ max: containerNames.length - 1 }), disks: fc.array(fc.nat({ max: 2 }), { minLength: 1, maxLength: 3 }), memory: fc.nat({ max: 1 }) }) },
  fc.record({ op: fc.constantFrom('powerOn' as const, 'powerOff' as const, 'deleteVm' as const), vm: idx }),
  fc.record({ op: fc.constant('addDisk' as const), vm: idx, size: fc.nat({ max: 2 }) }),
  fc.record({ op: fc.constant('workload' as const), vm: idx, preset: fc.constantFrom('OLTP' as const, 'IDLE' as const, 'BACKUP_SCAN' as const, 'VDI_BOOT_STORM' as const) }),
  { weight: 3, arbitrary: fc.record({ op: fc.constant('advance' as const), seconds: fc.constantFrom(1, 2, 5, 30, 61) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('write' as const), vvol: fc.nat({ max: 30 }), indexes: fc.uniqueArray(fc.nat({ max: 40 }), { minLength: 1, maxLength: 4 }) }) },
  fc.record({ op: fc.constant('snapshot' as const), vm: idx, withMemory: fc.boolean() }),
  fc.record({ op: fc.constant('revert' as const), vm: idx, snapshot: idx }),
  fc.record({ op: fc.constant('deleteSnapshot' as const), snapshot: idx }),
  fc.record({ op: fc.constant('clone' as const), vm: idx, mode: fc.constantFrom('FAST' as const, 'FULL' as const), policy: fc.nat({ max: policyNames.length }), container: fc.nat({ max: containerNames.length - 1 }) }),
  fc.record({ op: fc.constant('resize' as const), vvol: fc.nat({ max: 30 }), grow: fc.constantFrom(0, 10 * MiB, GiB) }),
  { weight: 2, arbitrary: fc.record({ op: fc.constant('deleteVolume' as const), vvol: fc.nat({ max: 30 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('applyPolicy' as const), target: fc.constantFrom('vm' as const, 'vvol' as const), index: fc.nat({ max: 30 }), policy: fc.nat({ max: policyNames.length - 1 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('pairLocal' as const), vvol: fc.nat({ max: 30 }), rv: fc.option(fc.nat({ max: 30 }), { freq: 3 }) }) },
  fc.record({ op: fc.constant('pairRemote' as const), vvol: fc.nat({ max: 30 }) }),
  { weight: 2, arbitrary: fc.record({ op: fc.constant('replicate' as const), pair: idx, range: fc.constantFrom('FULL' as const, 'DIFF' as const) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('separate' as const), pair: idx, rvAccess: fc.constantFrom('RO' as const, 'RW' as const) }) },
  fc.record({ op: fc.constant('restorePair' as const), pair: idx, mode: fc.constantFrom('UPDATE' as const, 'PROTECT' as const) }),
  fc.record({ op: fc.constant('unpair' as const), pair: idx, force: fc.boolean() }),
  fc.record({ op: fc.constant('copyControl' as const), pair: idx, copyControl: fc.constantFrom('SYNC' as const, 'BACKGROUND' as const) }),
  fc.record({ op: fc.constant('attach' as const), pair: idx, vm: idx }),
  fc.record({ op: fc.constant('detach' as const), pair: idx }),
  fc.record({ op: fc.constant('backup' as const), vm: idx, type: fc.constantFrom('FULL' as const, 'DIFFERENTIAL' as const) }),
  fc.record({ op: fc.constant('restoreBackup' as const), generation: idx, target: fc.constantFrom('VM' as const, 'NEW_VM' as const) }),
  fc.record({ op: fc.constant('deleteBackup' as const), generation: idx }),
  fc.record({ op: fc.constant('cancel' as const), task: idx }),
  fc.record({ op: fc.constant('createGroup' as const), vm: idx }),
  { weight: 2, arbitrary: fc.record({ op: fc.constant('group' as const), group: idx, transition: fc.constantFrom(...transitions), plan: fc.boolean() }) },
  fc.record({ op: fc.constant('ghost' as const), what: fc.constantFrom(...ghostOps), index: fc.nat({ max: 20 }) }),
  fc.record({ op: fc.constant('updatePolicy' as const), policy: fc.nat({ max: editable.length - 1 }), rules: fc.nat({ max: ruleSets.length - 1 }) }),
);

const pick = <T>(list: T[], i: number): T | undefined => (list.length === 0 ? undefined : list[i % list.length]);

let names = 0;

interface Expectation {
  what: string;
  vvolId: string;
  digest: string;
}

/** Mutations return a typed union: the payload or a UserError. Anything else (a top-level error) fails. */
async function mutation(name: string, input: Record<string, unknown>): Promise<{ ok: boolean; data: any }> {
  const field = app.schema.getMutationType()!.getFields()[name];
  const inputType = String(field.args.find((a) => a.name === 'input')!.type);
  const result = await app.gql(`mutation($input: ${inputType}) { ${name}(input: $input) { __typename ... on UserError { message } ... on ValidationError { field } ... on ConflictError { currentState } } }`, { input });
  expect(result.errors, `${name}(${JSON.stringify(input)}): ${JSON.stringify(result.errors)}`).toBeUndefined();
  const payload = result.data[name];
  return { ok: payload.__typename.endsWith('Payload'), data: payload };
}

/** Every row a mutation could change (volumes, VMs, pairs, tasks, capacity, generations, events), for comparing before and after. */
async function tableState(): Promise<string> {
  const parts = await Promise.all([
    raw(sql`select id, vm_id, container_id, policy_id, type, provisioned_bytes, allocated_bytes, content_digest, bind_state, protocol_endpoint_id, parent_id, snapshot_id, policy_state, policy_generation, metadata from virtual_volumes order by id`),
    raw(sql`select id, name, power_state, policy_id, container_id from virtual_machines order by id`),
    raw(sql`select id, used_bytes from storage_containers order by id`),
    raw(sql`select id, mv_id, rv_id, activity, sync_state, copy_control, rv_access, task_id from replica_pairs order by id`),
    raw(sql`select id, state, cancel_requested from tasks order by id`),
    raw(sql`select id, state from dds_generations order by id`),
    raw(sql`select vm_id, unit_number, vvol_id from virtual_disks order by vm_id, unit_number`),
    raw(sql`select id from snapshots order by id`),
    raw(sql`select count(*)::int as n, max(id)::text as last from events`),
    raw(sql`select count(*)::int as n from extents`),
    raw(sql`select id, source_state, target_state, target_vm_id, pending from rdr_groups order by id`),
    raw(sql`select id, state from rdr_points_in_time order by id`),
    raw(sql`select id, generation from storage_policies order by id`),
  ]);
  return JSON.stringify(parts);
}

/** The invariants that hold between any two operations. */
async function checkInvariants(context: string, expectations: Expectation[]): Promise<void> {
  const vvols = await raw<{ id: string; vm_id: string | null; container_id: string; type: string; provisioned_bytes: string; allocated_bytes: string; content_digest: string; snapshot_id: string | null; metadata: Record<string, string>; bind_state: string }>(
    sql`select id::text, vm_id::text, container_id::text, type::text, provisioned_bytes::text, allocated_bytes::text, content_digest, snapshot_id::text, metadata, bind_state::text from virtual_volumes`,
  );
  const extentRows = await raw<{ vvol_id: string; idx: number; content_id: string }>(sql`select vvol_id::text, idx, content_id::text from extents`);
  const maps = new Map<string, { index: number; contentId: bigint }[]>();
  for (const e of extentRows) maps.set(e.vvol_id, [...(maps.get(e.vvol_id) ?? []), { index: e.idx, contentId: BigInt(e.content_id) }]);
  const byId = new Map(vvols.map((v) => [v.id, v]));
  for (const v of vvols) {
    const map = maps.get(v.id) ?? [];
    const size = Number(v.provisioned_bytes);
    for (const e of map) expect(e.index * EXTENT < size, `${context}: extent ${e.index} of ${v.type} ${v.id} beyond its ${size} bytes`).toBe(true);
    const allocated = map.reduce((sum, e) => sum + Math.min(EXTENT, size - e.index * EXTENT), 0);
    expect(Number(v.allocated_bytes), `${context}: allocatedBytes of ${v.type} ${v.id}`).toBe(allocated);
    expect(v.content_digest, `${context}: contentDigest of ${v.type} ${v.id}`).toBe(digestOf(map));
  }
  // Capacity: every volume but snapshot and backup volumes (thin) reserves its provisioned bytes.
  const reserved = new Map<string, number>();
  for (const v of vvols) {
    if (v.snapshot_id !== null || v.metadata['vvolgraph.ddsGeneration']) continue;
    reserved.set(v.container_id, (reserved.get(v.container_id) ?? 0) + Number(v.provisioned_bytes));
  }
  const used = await raw<{ id: string; name: string; used_bytes: string; capacity_bytes: string }>(sql`select id::text, name, used_bytes::text, capacity_bytes::text from storage_containers`);
  for (const c of used) {
    expect(Number(c.used_bytes), `${context}: usedBytes of ${c.name}`).toBe(reserved.get(c.id) ?? 0);
  }
  // Orphans.
  const vms = await raw<{ id: string; power_state: string }>(sql`select id::text, power_state::text from virtual_machines`);
  const vmIds = new Map(vms.map((v) => [v.id, v.power_state]));
  for (const v of vvols) {
    if (v.vm_id === null) {
      expect(v.metadata['vvolgraph.replicaOf'], `${context}: ${v.type} ${v.id} has no VM and is no copy`).toBeDefined();
      expect(v.snapshot_id, `${context}: snapshot volume ${v.id} without a VM`).toBeNull();
    } else if (v.snapshot_id === null) {
      const power = vmIds.get(v.vm_id);
      expect(v.bind_state, `${context}: ${v.type} ${v.id} of a ${power} VM`).toBe(power === 'POWERED_ON' ? 'BOUND' : 'UNBOUND');
    }
    if (v.type === 'SWAP') expect(vmIds.get(v.vm_id!), `${context}: SWAP of a VM that is off`).toBe('POWERED_ON');
  }
  const orphanSnapshots = await raw(sql`select v.id from virtual_volumes v left join snapshots s on s.id = v.snapshot_id where v.snapshot_id is not null and (s.id is null or s.vm_id <> v.vm_id)`);
  expect(orphanSnapshots, `${context}: snapshot volumes without their snapshot`).toEqual([]);
  const badDisks = await raw(sql`select d.vvol_id from virtual_disks d join virtual_volumes v on v.id = d.vvol_id where v.vm_id is distinct from d.vm_id or v.snapshot_id is not null`);
  expect(badDisks, `${context}: disks whose volume is another VM's`).toEqual([]);
  const diskless = await raw(sql`select v.id from virtual_volumes v left join virtual_disks d on d.vvol_id = v.id where v.type = 'DATA' and v.vm_id is not null and v.snapshot_id is null and d.vvol_id is null`);
  expect(diskless, `${context}: a VM's DATA volumes without a disk`).toEqual([]);
  const swaps = await raw(sql`select vm.id from virtual_machines vm where vm.power_state = 'POWERED_ON' and (select count(*) from virtual_volumes v where v.vm_id = vm.id and v.type = 'SWAP') <> 1`);
  expect(swaps, `${context}: running VMs without exactly one SWAP`).toEqual([]);
  // Pairs: a copy state has its running task; a task a pair names is running.
  const pairs = await raw<{ id: string; sync_state: string; task_id: string | null; task_state: string | null }>(
    sql`select p.id::text, p.sync_state::text, p.task_id::text, t.state::text as task_state from replica_pairs p left join tasks t on t.id = p.task_id`,
  );
  for (const p of pairs) {
    if (['RPL_EXEC', 'SEP_EXEC', 'RST_EXEC'].includes(p.sync_state)) expect(p.task_state, `${context}: pair ${p.id} ${p.sync_state} without a running task`).toMatch(/QUEUED|RUNNING/);
    if (p.task_id) expect(p.task_state, `${context}: pair ${p.id} names a finished task`).toMatch(/QUEUED|RUNNING/);
  }
  const copies = await raw(sql`select c.id from extent_copies c join tasks t on t.id = c.task_id where c.state = 'RUNNING' and t.state not in ('QUEUED', 'RUNNING')`);
  expect(copies, `${context}: running copies of finished tasks`).toEqual([]);
  // Replication groups: their source VM exists; their points in time's copies exist.
  const groups = await raw(sql`select g.id from rdr_groups g left join virtual_machines vm on vm.id = g.source_vm_id where vm.id is null`);
  expect(groups, `${context}: groups whose source VM is gone`).toEqual([]);
  const points = await raw<{ volumes: { copyId: string }[]; state: string }>(sql`select volumes, state from rdr_points_in_time`);
  for (const point of points) for (const v of point.volumes) expect(byId.has(v.copyId), `${context}: a ${point.state} point in time lost its copy`).toBe(true);
  // Backups are immutable once AVAILABLE.
  const backups = await raw<{ backup_vvol_id: string | null; content_digest: string; state: string; number: number }>(
    sql`select gv.backup_vvol_id::text, gv.content_digest, g.state::text, g.number from dds_generation_volumes gv join dds_generations g on g.id = gv.generation_id where g.state = 'AVAILABLE'`,
  );
  for (const b of backups) {
    expect(b.backup_vvol_id, `${context}: AVAILABLE generation without its volume`).not.toBeNull();
    expect(byId.get(b.backup_vvol_id!)?.content_digest, `${context}: AVAILABLE generation ${b.number}'s volume changed`).toBe(b.content_digest);
  }
  for (const e of expectations) {
    const v = byId.get(e.vvolId);
    if (v) expect(v.content_digest, `${context}: ${e.what}`).toBe(e.digest);
  }
  // Each VVOL's ticks as the engine keeps them: shares are shares, and the DRAM and the L2 together serve no more reads than there are.
  for (const v of vvols) for (const io of app.engine.io.recent(v.id, IO_SAMPLES_KEPT)) {
    for (const share of ['cacheHitRatio', 'dramHitRatio', 'ssdServedRatio'] as const) {
      expect(io[share] >= 0 && io[share] <= 1, `${context}: ${share} ${io[share]} of ${v.type} ${v.id}`).toBe(true);
    }
    expect(io.cacheHitRatio + io.dramHitRatio, `${context}: reads served by the caches of ${v.id}`).toBeLessThanOrEqual(1 + 1e-9);
    expect(Number.isFinite(io.latencyMs) && io.latencyMs >= 0, `${context}: latency ${io.latencyMs} of ${v.id}`).toBe(true);
  }
}

/**
 * Volumes (aliased v) in creation order. Rows made in one transaction share created_at, and their uuids
 * differ from run to run: ties go by what names them (VM, type, disk, size, container), so a seed picks
 * the same volumes each time (the uuid last, for what is left).
 */
const volumeOrder = sql`v.created_at, (select name from virtual_machines where id = v.vm_id) nulls last, v.type,
  (select unit_number from virtual_disks where vvol_id = v.id) nulls first, v.provisioned_bytes,
  (select name from storage_containers where id = v.container_id), v.metadata->>'VMW_VVolName', (select name from snapshots where id = v.snapshot_id), v.id`;

async function lists() {
  const vms = await raw<{ id: string; power_state: string }>(sql`select id::text, power_state::text from virtual_machines order by created_at, name, id`);
  const vvols = await raw<{ id: string; vm_id: string | null; snapshot_id: string | null; type: string; content_digest: string }>(
    sql`select v.id::text, v.vm_id::text, v.snapshot_id::text, v.type::text, v.content_digest from virtual_volumes v where v.type <> 'SWAP' order by ${volumeOrder}`,
  );
  const snapshots = await raw<{ id: string; vm_id: string }>(sql`select id::text, vm_id::text from snapshots order by created_at, name, id`);
  const pairs = await raw<{ id: string; mv_id: string; rv_id: string }>(sql`
    select p.id::text, p.mv_id::text, p.rv_id::text from replica_pairs p join virtual_volumes v on v.id = p.mv_id
    order by p.created_at, p.owner, ${volumeOrder}`);
  const generations = await raw<{ id: string }>(sql`select id::text from dds_generations order by created_at, vm_name, number, id`);
  const tasks = await raw<{ id: string }>(sql`select id::text from tasks where state in ('QUEUED', 'RUNNING') order by created_at, kind, bytes_total, id`);
  return { vms, vvols, snapshots, pairs, generations, tasks };
}

/** The ids of every object a ghost operation may name, by GraphQL type. */
async function allIds(): Promise<Record<string, string[]>> {
  const ids = async (table: string) => (await raw<{ id: string }>(sql.raw(`select id::text from ${table}`))).map((r) => r.id);
  return {
    VirtualMachine: await ids('virtual_machines'), VirtualVolume: await ids('virtual_volumes'), Snapshot: await ids('snapshots'),
    ReplicaPair: await ids('replica_pairs'), BackupGeneration: await ids('dds_generations'),
  };
}

const digestOfVvol = async (id: string) => (await raw<{ d: string }>(sql`select content_digest as d from virtual_volumes where id = ${id}::uuid`))[0]?.d;

async function runOp(step: Op, expectations: Expectation[]): Promise<string> {
  const l = await lists();
  const vm = 'vm' in step ? pick(l.vms, step.vm) : undefined;
  const pair = 'pair' in step ? pick(l.pairs, step.pair) : undefined;
  const vmGid = (id: string) => globalId('VirtualMachine', id);
  const vvolGid = (id: string) => globalId('VirtualVolume', id);
  const pairGid = (id: string) => globalId('ReplicaPair', id);
  switch (step.op) {
    case 'createVm': {
      const container = containerNames[step.container];
      const r = await mutation('createVirtualMachine', {
        name: `fz-${names++}`, policyId: policies[policyNames[step.policy]], containerId: container ? containers[container] : null,
        memoryBytes: step.memory ? GiB : 256 * MiB, disks: step.disks.map((d) => ({ sizeBytes: diskSizes[d] })),
      });
      return `createVm ${r.ok ? 'ok' : r.data.message}`;
    }
    case 'powerOn': case 'powerOff': case 'deleteVm': {
      if (!vm) return 'skip';
      const name = { powerOn: 'powerOnVirtualMachine', powerOff: 'powerOffVirtualMachine', deleteVm: 'deleteVirtualMachine' }[step.op];
      const r = await mutation(name, { id: vmGid(vm.id) });
      return `${step.op} ${r.ok ? 'ok' : r.data.message}`;
    }
    case 'addDisk': {
      if (!vm) return 'skip';
      const r = await mutation('addVirtualDisk', { vmId: vmGid(vm.id), sizeBytes: diskSizes[step.size ?? 0] });
      return `addDisk ${r.ok ? 'ok' : r.data.message}`;
    }
    case 'workload': {
      if (!vm) return 'skip';
      const r = await mutation('setWorkload', { vmId: vmGid(vm.id), preset: step.preset });
      return `workload ${r.ok ? 'ok' : r.data.message}`;
    }
    case 'advance': {
      await mutation('advanceSimulation', { seconds: step.seconds });
      // At the end of a tick, a following pair that says it was in step as of now (syncedAt) has the MV's data on its RV.
      const inStep = await raw<{ id: string; mv_id: string; mv: string; rv: string; sync_state: string }>(sql`
        select p.id::text, p.mv_id::text, p.sync_state::text, mv.content_digest as mv, rv.content_digest as rv from replica_pairs p
        join virtual_volumes mv on mv.id = p.mv_id join virtual_volumes rv on rv.id = p.rv_id
        where p.task_id is null and (p.sync_state = 'RPL_SYNC' or (p.sync_state = 'RST_SYNC' and p.activity = 'RESTORE'))
          and p.synced_at = (select simulated_seconds from simulation_state where id = 1)`);
      for (const p of inStep) {
        if (p.rv === p.mv) continue;
        const detail = await raw(sql`select p.owner, p.copy_control, p.activity, p.synced_at, p.state_times, mv.type, mv.vm_id, mv.metadata as mvm, rv.metadata as rvm,
          (select json_agg(json_build_object('i', coalesce(a.idx, b.idx), 'mv', a.content_id::text, 'rv', b.content_id::text)) from (select * from extents where vvol_id = p.mv_id) a full join (select * from extents where vvol_id = p.rv_id) b on a.idx = b.idx where a.content_id is distinct from b.content_id) as diff,
          (select json_agg(json_build_object('kind', t.kind, 'state', t.state, 'target', t.target_id)) from tasks t where t.target_id = p.id) as tasks
          from replica_pairs p join virtual_volumes mv on mv.id = p.mv_id join virtual_volumes rv on rv.id = p.rv_id where p.id = ${p.id}::uuid`);
        expect(p.rv, `pair ${p.id} ${p.sync_state} without a copy: the RV has the MV's digest ${JSON.stringify(detail)}`).toBe(p.mv);
      }
      return 'advance';
    }
    case 'write': {
      // What a VM's workload does to its disks (as if it ran): only a VM's own DATA volumes, not while a task fills the VM.
      const writable = await raw<{ id: string }>(sql`
        select v.id::text from virtual_volumes v join virtual_disks d on d.vvol_id = v.id and not d.read_only
        where v.snapshot_id is null and v.type = 'DATA'
          and not exists (select 1 from tasks t where t.target_id = v.vm_id and t.state in ('QUEUED', 'RUNNING'))
        order by ${volumeOrder}`);
      const vvol = pick(writable, step.vvol);
      if (!vvol) return 'skip';
      await app.core.transact((work) => app.core.extents.write(work.tx, [{ vvolId: vvol.id, indexes: step.indexes }])).catch((e) => {
        if (!String(e.message).includes('outside')) throw e;
      });
      return 'write';
    }
    case 'snapshot': {
      if (!vm) return 'skip';
      const r = await app.gql(`mutation($input: SnapshotVirtualMachineInput!) { snapshotVirtualMachine(input: $input) { __typename ... on UserError { message } ... on SnapshotVirtualMachinePayload { snapshot { virtualVolumes { id type contentDigest parent { id contentDigest } } } } } }`, { input: { vmId: vmGid(vm.id), name: `s${names++}`, withMemory: step.withMemory } });
      expect(r.errors).toBeUndefined();
      const p = r.data.snapshotVirtualMachine;
      if (p.snapshot) {
        for (const v of p.snapshot.virtualVolumes) {
          if (v.parent) expect(v.contentDigest, 'a snapshot has its disk\'s digest').toBe(v.parent.contentDigest);
          // A snapshot never changes.
          expectations.push({ what: `snapshot volume ${v.id} keeps its data`, vvolId: Buffer.from(v.id, 'base64').toString().split(':')[1], digest: v.contentDigest });
        }
      }
      return `snapshot ${p.snapshot ? 'ok' : p.message}`;
    }
    case 'revert': {
      if (!vm) return 'skip';
      const snap = pick(l.snapshots, step.snapshot);
      if (!snap) return 'skip';
      const r = await mutation('revertVirtualMachine', { vmId: vmGid(vm.id), snapshotId: globalId('Snapshot', snap.id) });
      if (r.ok) {
        const held = await raw<{ parent_id: string; content_digest: string }>(sql`select parent_id::text, content_digest from virtual_volumes where snapshot_id = ${snap.id}::uuid and type = 'DATA' and parent_id is not null`);
        for (const h of held) expect(await digestOfVvol(h.parent_id), 'a reverted disk has its snapshot\'s digest').toBe(h.content_digest);
      }
      return `revert ${r.ok ? 'ok' : r.data.message}`;
    }
    case 'deleteSnapshot': {
      const snap = pick(l.snapshots, step.snapshot);
      if (!snap) return 'skip';
      const r = await mutation('deleteSnapshot', { snapshotId: globalId('Snapshot', snap.id) });
      return `deleteSnapshot ${r.ok ? 'ok' : r.data.message}`;
    }
    case 'clone': {
      if (!vm) return 'skip';
      const container = containerNames[step.container];
      const policy = policyNames[step.policy];
      const before = new Map((await raw<{ id: string; content_digest: string }>(sql`select id::text, content_digest from virtual_volumes where vm_id = ${vm.id}::uuid and snapshot_id is null`)).map((v) => [v.id, v.content_digest]));
      const r = await app.gql(`mutation($input: CloneVirtualMachineInput!) { cloneVirtualMachine(input: $input) { __typename ... on UserError { message } ... on CloneVirtualMachinePayload { task { id } virtualMachine { virtualVolumes { id contentDigest parent { id } } } } } }`, {
        input: { vmId: vmGid(vm.id), name: `c${names++}`, mode: step.mode, policyId: policy ? policies[policy] : null, containerId: container ? containers[container] : null },
      });
      expect(r.errors).toBeUndefined();
      const p = r.data.cloneVirtualMachine;
      if (p.virtualMachine) {
        for (const v of p.virtualMachine.virtualVolumes) {
          const parent = v.parent ? Buffer.from(v.parent.id, 'base64').toString().split(':')[1] : null;
          if (!parent) continue;
          if (step.mode === 'FAST') expect(v.contentDigest, 'a FAST clone has its parent\'s digest').toBe(before.get(parent));
          else pendingCopies.push({ what: 'a finished FULL clone has its source\'s digest as of the clone', taskId: Buffer.from(p.task.id, 'base64').toString().split(':')[1], vvolId: Buffer.from(v.id, 'base64').toString().split(':')[1], digest: before.get(parent)! });
        }
      }
      return `clone ${step.mode} ${p.virtualMachine ? 'ok' : p.message}`;
    }
    case 'resize': {
      const vvol = pick(l.vvols, step.vvol);
      if (!vvol) return 'skip';
      const [{ size }] = await raw<{ size: string }>(sql`select provisioned_bytes::text as size from virtual_volumes where id = ${vvol.id}::uuid`);
      const r = await mutation('resizeVirtualVolume', { id: vvolGid(vvol.id), sizeBytes: Number(size) + step.grow });
      return `resize ${r.ok ? 'ok' : r.data.message}`;
    }
    case 'deleteVolume': {
      const vvol = pick(l.vvols, step.vvol);
      if (!vvol) return 'skip';
      const r = await mutation('deleteVirtualVolume', { id: vvolGid(vvol.id) });
      return `deleteVolume ${r.ok ? 'ok' : r.data.message}`;
    }
    case 'applyPolicy': {
      const target = step.target === 'vm' ? (pick(l.vms, step.index) ? vmGid(pick(l.vms, step.index)!.id) : null) : (pick(l.vvols, step.index) ? vvolGid(pick(l.vvols, step.index)!.id) : null);
      if (!target) return 'skip';
      const r = await mutation('applyStoragePolicy', { targetId: target, policyId: policies[policyNames[step.policy]] });
      return `applyPolicy ${policyNames[step.policy]} ${r.ok ? 'ok' : r.data.message}`;
    }
    case 'pairLocal': {
      const mv = pick(l.vvols, step.vvol);
      if (!mv) return 'skip';
      const rv = step.rv === null ? null : pick(l.vvols, step.rv);
      const r = await mutation('pairLocalReplica', { mvId: vvolGid(mv.id), rvId: rv ? vvolGid(rv.id) : null });
      return `pairLocal ${r.ok ? 'ok' : r.data.message}`;
    }
    case 'pairRemote': {
      const mv = pick(l.vvols, step.vvol);
      if (!mv) return 'skip';
      const r = await mutation('pairRemoteReplica', { mvId: vvolGid(mv.id) });
      return `pairRemote ${r.ok ? 'ok' : r.data.message}`;
    }
    case 'replicate': case 'separate': case 'restorePair': case 'unpair': case 'copyControl': case 'detach': {
      if (!pair) return 'skip';
      const input: Record<string, unknown> = { pairId: pairGid(pair.id) };
      if (step.op === 'replicate') input.range = step.range;
      if (step.op === 'separate') input.rvAccess = step.rvAccess;
      if (step.op === 'restorePair') input.mode = step.mode;
      if (step.op === 'unpair') input.force = step.force;
      if (step.op === 'copyControl') input.copyControl = step.copyControl;
      const name = { replicate: 'replicatePair', separate: 'separatePair', restorePair: 'restorePair', unpair: 'unpair', copyControl: 'changePairCopyControl', detach: 'detachReplicaVolume' }[step.op];
      const r = await mutation(name, input);
      // Restore is immediate: the MV shows the RV's data at once (what fits in the MV, when the RV is larger).
      if (step.op === 'restorePair' && r.ok) {
        const [{ size }] = await raw<{ size: string }>(sql`select provisioned_bytes::text as size from virtual_volumes where id = ${pair.mv_id}::uuid`);
        const rvMap = await raw<{ idx: number; content_id: string }>(sql`select idx, content_id::text from extents where vvol_id = ${pair.rv_id}::uuid and idx::bigint * ${EXTENT} < ${Number(size)}`);
        expect(await digestOfVvol(pair.mv_id), 'an immediate restore gives the MV the RV\'s data').toBe(digestOf(rvMap.map((e) => ({ index: e.idx, contentId: BigInt(e.content_id) }))));
      }
      return `${step.op} ${r.ok ? 'ok' : r.data.message}`;
    }
    case 'attach': {
      if (!pair || !vm) return 'skip';
      const r = await mutation('attachReplicaVolume', { pairId: pairGid(pair.id), vmId: vmGid(vm.id) });
      return `attach ${r.ok ? 'ok' : r.data.message}`;
    }
    case 'backup': {
      if (!vm) return 'skip';
      const r = await mutation('backupVirtualMachine', { vmId: vmGid(vm.id), type: step.type });
      return `backup ${r.ok ? 'ok' : r.data.message}`;
    }
    case 'restoreBackup': {
      const generation = pick(l.generations, step.generation);
      if (!generation) return 'skip';
      const r = await app.gql(`mutation($input: RestoreBackupInput!) { restoreBackup(input: $input) { __typename ... on UserError { message } ... on RestoreBackupPayload { task { id } virtualMachine { id } } } }`, {
        input: { generationId: globalId('BackupGeneration', generation.id), target: step.target },
      });
      expect(r.errors).toBeUndefined();
      const p = r.data.restoreBackup;
      if (p.task) {
        const taskId = Buffer.from(p.task.id, 'base64').toString().split(':')[1];
        // Where each copy of the restore lands and the digest the generation recorded for it.
        const targets = await raw<{ target: string; digest: string }>(sql`
          select c.target_vvol_id::text as target, gv.content_digest as digest from extent_copies c
          join dds_generation_volumes gv on gv.backup_vvol_id = c.source_vvol_id where c.task_id = ${taskId}::uuid`);
        for (const t of targets) pendingCopies.push({ what: 'a finished backup restore gives back the generation\'s digest', taskId, vvolId: t.target, digest: t.digest });
      }
      return `restoreBackup ${step.target} ${p.task ? 'ok' : p.message}`;
    }
    case 'deleteBackup': {
      const generation = pick(l.generations, step.generation);
      if (!generation) return 'skip';
      const r = await mutation('deleteBackup', { generationId: globalId('BackupGeneration', generation.id) });
      return `deleteBackup ${r.ok ? 'ok' : r.data.message}`;
    }
    case 'createGroup': {
      if (!vm) return 'skip';
      const r = await mutation('createReplicationGroup', { vmId: vmGid(vm.id) });
      return `createGroup ${r.ok ? 'ok' : r.data.message}`;
    }
    case 'group': {
      const group = pick(await raw<{ id: string }>(sql`select g.id::text from rdr_groups g join virtual_machines vm on vm.id = g.source_vm_id order by g.created_at, vm.name, g.id`), step.group);
      if (!group) return 'skip';
      const groupId = globalId('ReplicationGroup', group.id);
      const [name, input] = {
        sync: ['syncReplicationGroup', {}], testFailoverStart: ['testFailoverStart', {}], testFailoverStop: ['testFailoverStop', {}],
        failoverPlanned: ['failoverReplicationGroup', { planned: true }], failoverUnplanned: ['failoverReplicationGroup', { planned: false }],
        promote: ['promoteReplicationGroup', {}], reverse: ['reverseReplicationGroup', {}],
      }[step.transition] as [string, Record<string, unknown>];
      const before = step.plan ? await tableState() : null;
      const r = await mutation(name, { groupId, plan: step.plan, ...input });
      // A dry run changes nothing, whatever it answers.
      if (before !== null) expect(await tableState(), `${step.transition} plan: true changed something`).toBe(before);
      return `group ${step.transition}${step.plan ? ' (plan)' : ''} ${r.ok ? (step.plan ? 'planned' : 'ok') : r.data.message}`;
    }
    case 'updatePolicy': {
      const r = await mutation('updateStoragePolicy', { id: policies[editable[step.policy]], rules: ruleSets[step.rules] });
      return `updatePolicy ${editable[step.policy]} ${r.ok ? 'ok' : r.data.message}`;
    }
    case 'ghost': {
      // Every id of that type ever deleted in this run (VMs, their volumes, snapshots, pairs, generations).
      const ghost = (type: string) => {
        const list = ghosts[type] ?? [];
        return list.length === 0 ? null : globalId(type, list[step.index % list.length]);
      };
      const live = pick(l.vms, step.index);
      const liveVm = live ? vmGid(live.id) : null;
      const inputs: Record<(typeof ghostOps)[number], () => Record<string, unknown> | null> = {
        powerOnVirtualMachine: () => (ghost('VirtualMachine') ? { id: ghost('VirtualMachine') } : null),
        deleteVirtualMachine: () => (ghost('VirtualMachine') ? { id: ghost('VirtualMachine') } : null),
        snapshotVirtualMachine: () => (ghost('VirtualMachine') ? { vmId: ghost('VirtualMachine'), name: 'ghost' } : null),
        cloneVirtualMachine: () => (ghost('VirtualMachine') ? { vmId: ghost('VirtualMachine'), name: 'ghost', mode: 'FAST' } : null),
        backupVirtualMachine: () => (ghost('VirtualMachine') ? { vmId: ghost('VirtualMachine') } : null),
        createReplicationGroup: () => (ghost('VirtualMachine') ? { vmId: ghost('VirtualMachine') } : null),
        applyStoragePolicy: () => (ghost('VirtualVolume') ? { targetId: ghost('VirtualVolume'), policyId: policies.GOLD } : null),
        addVirtualDisk: () => (ghost('VirtualMachine') ? { vmId: ghost('VirtualMachine'), sizeBytes: GiB } : null),
        setWorkload: () => (ghost('VirtualMachine') ? { vmId: ghost('VirtualMachine'), preset: 'OLTP' } : null),
        revertVirtualMachine: () => (ghost('Snapshot') && liveVm ? { vmId: liveVm, snapshotId: ghost('Snapshot') } : null),
        attachReplicaVolume: () => (ghost('ReplicaPair') && liveVm ? { pairId: ghost('ReplicaPair'), vmId: liveVm } : null),
        replicatePair: () => (ghost('ReplicaPair') ? { pairId: ghost('ReplicaPair') } : null),
        restorePair: () => (ghost('ReplicaPair') ? { pairId: ghost('ReplicaPair') } : null),
        unpair: () => (ghost('ReplicaPair') ? { pairId: ghost('ReplicaPair'), force: true } : null),
        deleteSnapshot: () => (ghost('Snapshot') ? { snapshotId: ghost('Snapshot') } : null),
        restoreBackup: () => (ghost('BackupGeneration') ? { generationId: ghost('BackupGeneration'), target: 'NEW_VM' } : null),
        resizeVirtualVolume: () => (ghost('VirtualVolume') ? { id: ghost('VirtualVolume'), sizeBytes: 4 * GiB } : null),
        pairLocalReplica: () => (ghost('VirtualVolume') ? { mvId: ghost('VirtualVolume') } : null),
      };
      const input = inputs[step.what]();
      if (!input) return 'skip';
      const r = await mutation(step.what, input);
      expect(r.data.__typename, `${step.what} on a deleted object: ${r.data.message}`).toBe('NotFoundError');
      return `ghost ${step.what} ${r.data.message}`;
    }
    case 'cancel': {
      const task = pick(l.tasks, step.task);
      if (!task) return 'skip';
      const r = await mutation('cancelTask', { taskId: globalId('Task', task.id) });
      return `cancel ${r.ok ? 'ok' : r.data.message}`;
    }
  }
}

/** Copies whose target must hold a digest once their task succeeds (a FULL clone, a backup restore). */
let pendingCopies: { what: string; taskId: string; vvolId: string; digest: string }[] = [];

/** Copies that finished give their targets the expected digests (checked before anything else can change the volumes). */
async function checkFinishedCopies(context: string): Promise<void> {
  const still: typeof pendingCopies = [];
  for (const r of pendingCopies) {
    const [task] = await raw<{ state: string }>(sql`select state::text from tasks where id = ${r.taskId}::uuid`);
    if (task?.state === 'SUCCEEDED') {
      const digest = await digestOfVvol(r.vvolId);
      if (digest !== undefined) expect(digest, `${context}: ${r.what}`).toBe(r.digest);
    } else if (task && (task.state === 'QUEUED' || task.state === 'RUNNING')) still.push(r);
  }
  pendingCopies = still;
}

/** A few VMs with data to start from: BRONZE, GOLD (replicated and backed up by its policy), SILVER at the other site. */
async function prelude(): Promise<void> {
  let gold = '';
  for (const [policy, container, disks] of [['BRONZE', 'tokyo-bulk', [GiB, 100 * MiB]], ['GOLD', null, [GiB]], ['SILVER', 'osaka-bulk', [3 * GiB]]] as const) {
    if (policy === 'GOLD') gold = `fz-${names}`;
    const r = await mutation('createVirtualMachine', { name: `fz-${names++}`, policyId: policies[policy], containerId: container ? containers[container] : null, memoryBytes: 256 * MiB, disks: disks.map((sizeBytes) => ({ sizeBytes })) });
    expect(r.ok, r.data.message).toBe(true);
  }
  const data = await raw<{ id: string }>(sql`select id::text from virtual_volumes where type = 'DATA'`);
  await app.core.transact((work) => app.core.extents.write(work.tx, data.map((v) => ({ vvolId: v.id, indexes: [0, 1, 2] }))));
  // One VM runs from the start, so the ticks carry I/O (writes, the DRAM cache, tiers and the L2) from the first advance.
  const [running] = await raw<{ id: string }>(sql`select id::text from virtual_machines where name = ${gold}`);
  for (const [name, input] of [['powerOnVirtualMachine', { id: globalId('VirtualMachine', running.id) }], ['setWorkload', { vmId: globalId('VirtualMachine', running.id), preset: 'OLTP' }]] as const) {
    const r = await mutation(name, input);
    expect(r.ok, `${name}: ${r.data.message}`).toBe(true);
  }
  await app.settle();
}

async function cleanUp(): Promise<void> {
  // Stop every write, let every task end, then remove every VM: the capacity must come back to what the remaining copies hold.
  for (const vm of await raw<{ id: string }>(sql`select id::text from virtual_machines where power_state <> 'POWERED_OFF'`)) {
    const r = await mutation('powerOffVirtualMachine', { id: globalId('VirtualMachine', vm.id) });
    expect(r.ok, `power off: ${r.data.message}`).toBe(true);
  }
  await mutation('advanceSimulation', { seconds: 120 });
  await app.settle();
  await mutation('advanceSimulation', { seconds: 10 });
  await app.settle();
  const running = await raw(sql`select t.id, t.kind, t.state, t.target_id, t.created_at, t.bytes_done, t.bytes_total, p.sync_state, p.copy_control, p.task_id from tasks t left join replica_pairs p on p.id = t.target_id where t.state in ('QUEUED', 'RUNNING')`);
  expect(running, 'tasks still running after two quiet minutes').toEqual([]);
  for (const vm of await raw<{ id: string; power_state: string }>(sql`select id::text, power_state::text from virtual_machines`)) {
    const r = await mutation('deleteVirtualMachine', { id: globalId('VirtualMachine', vm.id) });
    expect(r.ok, `delete VM: ${r.data.message}`).toBe(true);
  }
  await app.settle();
  await checkInvariants('after deleting every VM', []);
}

const FUZZ_SEED = Number(process.env.FUZZ_SEED ?? 20240611);
const FUZZ_RUNS = Number(process.env.FUZZ_RUNS ?? 6);
const FUZZ_LENGTH = Number(process.env.FUZZ_LENGTH ?? 30);

describe('lifecycle invariants (fast-check over random operation sequences through the API)', () => {
  it('keeps capacity, extent maps, digests, copies and orphans consistent; a refused mutation changes nothing', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: Number(process.env.FUZZ_MIN ?? 20), maxLength: FUZZ_LENGTH, size: 'max' }), async (sequence) => {
        await app?.close();
        await setUp();
        const expectations: Expectation[] = [];
        pendingCopies = [];
        ghosts = {};
        const log: string[] = [];
        try {
          await prelude();
          for (const [i, step] of sequence.entries()) {
            await app.settle();
            const before = await tableState();
            const existing = await allIds();
            const outcome = await runOp(step, expectations);
            const now = await allIds();
            for (const [type, ids] of Object.entries(existing)) ghosts[type] = [...(ghosts[type] ?? []), ...ids.filter((id) => !now[type].includes(id))];
            log.push(`${i}: ${JSON.stringify(step)} -> ${outcome}`);
            const context = `step ${i} ${JSON.stringify(step)} (${outcome})`;
            await app.settle();
            const refused = outcome !== 'skip' && !outcome.endsWith(' ok') && step.op !== 'advance' && step.op !== 'write';
            if (refused) expect(await tableState(), `${context}: a refused mutation changed something`).toBe(before);
            await checkFinishedCopies(context);
            await checkInvariants(context, expectations);
          }
          if (process.env.FUZZ_LOG === 'all') console.log(log.join('\n'));
          await cleanUp();
        } catch (error) {
          if (process.env.FUZZ_LOG) console.log(`${log.join('\n')}\nFAILED: ${String((error as Error).message).slice(0, 600)}`);
          throw error;
        }
      }),
      { numRuns: FUZZ_RUNS, seed: FUZZ_SEED, ...(process.env.FUZZ_REPLAY ? { examples: [[JSON.parse(process.env.FUZZ_REPLAY)]] as [Op[]][] } : {}), endOnFailure: process.env.FUZZ_SHRINK ? false : true },
    );
  }, Number(process.env.FUZZ_TIMEOUT ?? 120_000));
});
