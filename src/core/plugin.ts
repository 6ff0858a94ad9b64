/**
 * The plugin contract: the only module (with what it re-exports) that a plugin may import.
 * A plugin is a plain object, so one written in plain JavaScript works as well as a typed one.
 */
import type { Executor } from './db/client.ts';
import type { UnitOfWork } from './unit-of-work.ts';
import type { SchemaBuilder, SchemaRefs } from '../schema/refs.ts';
import type { snapshots, storageContainers, virtualMachines, virtualVolumes } from './db/tables.ts';
import type { ExtentContent, ExtentStore } from './extents.ts';
import type { ExtentCopier } from './copier.ts';
import type { TaskRow, TaskService } from './tasks.ts';
import type { CopyControl, PairService } from './pairs.ts';
import type { VolumeService } from './volumes.ts';
import type { PolicyVerdictState } from './policy-verdicts.ts';
import type { Sample } from './engine/dram-cache.ts';

export type ValueType = 'BOOLEAN' | 'INT' | 'FLOAT' | 'STRING' | 'ENUM' | 'RANGE';
export const valueTypes: readonly ValueType[] = ['BOOLEAN', 'INT', 'FLOAT', 'STRING', 'ENUM', 'RANGE'];

export type LineOfService =
  | 'REPLICATION'
  | 'CACHING'
  | 'DATASTORE_IO_CONTROL'
  | 'DATA_PROTECTION'
  | 'PERSISTENCE'
  | 'ENCRYPTION'
  | 'INSPECTION'
  | 'COMPRESSION'
  | 'DEDUPLICATION';
export const linesOfService: readonly LineOfService[] = [
  'REPLICATION', 'CACHING', 'DATASTORE_IO_CONTROL', 'DATA_PROTECTION', 'PERSISTENCE',
  'ENCRYPTION', 'INSPECTION', 'COMPRESSION', 'DEDUPLICATION',
];

/** SPBM-style capability metadata. `min`/`max` bound INT, FLOAT and both ends of a RANGE. */
export interface CapabilityDefinition {
  id: string;
  name: string;
  summary: string;
  valueType: ValueType;
  unit?: string;
  min?: number;
  max?: number;
  allowedValues?: string[];
  default?: unknown;
  lineOfService: LineOfService;
}

export interface PolicyRule {
  capabilityId: string;
  value: unknown;
}

/** A rule problem found by a namespace's own cross-field check. */
export interface RuleViolation {
  capabilityId: string;
  message: string;
}

export interface CapabilityNamespace {
  namespace: string;
  items: CapabilityDefinition[];
  /**
   * True when the plugin delivers these capabilities itself rather than the array: every container
   * then supports the namespace. Otherwise a container supports it only if it lists it.
   */
  everyContainer?: boolean;
  /** Cross-field rules (e.g. lowerLimit <= upperLimit). Gets only this namespace's rules, already type-checked. */
  validate?(rules: PolicyRule[]): RuleViolation[];
}

export type VirtualVolumeRow = typeof virtualVolumes.$inferSelect;
export type VirtualMachineRow = typeof virtualMachines.$inferSelect;
export type StorageContainerRow = typeof storageContainers.$inferSelect;
export type SnapshotRow = typeof snapshots.$inferSelect;

/** Volumes the array made as copies of another (replicas, backup generations) carry `vvolgraph.replicaOf`. */
export function isCopyOf(vvol: VirtualVolumeRow): boolean {
  return 'vvolgraph.replicaOf' in vvol.metadata;
}

/**
 * Copies a feature keeps as they were taken (a backup generation's volumes, an rdr point in time) carry
 * `vvolgraph.keptBy`, naming the feature: no pair may take them, as a restore or a copy onto them would
 * change what the feature gives back.
 */
export const KEPT_BY = 'vvolgraph.keptBy';

export function isKeptCopy(vvol: Pick<VirtualVolumeRow, 'metadata'>): boolean {
  return KEPT_BY in vvol.metadata;
}

/** What a lifecycle hook gets: the transaction of the core change, so its writes commit or roll back with it. */
export interface LifecycleContext {
  work: UnitOfWork;
  tx: Executor;
  extents: ExtentStore;
  /** Long work as durable tasks of extent copies (replicate, restore, backup). */
  tasks: TaskService;
  copier: ExtentCopier;
  /** Replication pairs (ddr, rdr): the state machine and its copies. */
  pairs: PairService;
  /** Volumes and VMs the array makes for copies (replicas, backups, restores), with capacity and events. */
  volumes: VolumeService;
}

/** What `policyApplied` gets: a lifecycle context, and what its reconciling pass has decided so far. */
export interface PolicyContext extends LifecycleContext {
  /**
   * The verdicts this pass reached for the VVOLs before this one, not yet written (their rows still say
   * PENDING, or their previous state): an admission check that counts what other VVOLs hold counts these
   * by their verdict (`holdsPolicy` does in SQL).
   */
  reconciled: ReadonlyMap<string, PolicyVerdictState>;
}

/**
 * The outcome of reconciling a policy onto one VVOL: nothing (done), `infeasible` (the VVOL cannot have
 * it: INFEASIBLE with the reason) or `inProgress` (work has started: IN_PROGRESS, retried next tick).
 */
export type PolicyOutcome = { infeasible: string } | { inProgress: string } | void;

export interface ComplianceViolation {
  capabilityId: string;
  expected: string;
  current: string;
  message: string;
}

/** What a compliance judge may look at: the database, the extent store, and each VVOL's I/O in the last tick. */
export interface ComplianceContext {
  db: Executor;
  /** The array's extent model (its extent size: policies in % of a VVOL's capacity are judged in extents). */
  extents: ExtentStore;
  lastIo(vvolId: string): IoSample | undefined;
  /** Replication pairs, read through `db` (rdr judges its RPO from them). */
  pairs: PairService;
}

/** One tick's I/O statistics of a VVOL or VM. */
export interface IoSample {
  time: number;
  readIops: number;
  writeIops: number;
  mbps: number;
  latencyMs: number;
  servedIops: number;
  throttledIops: number;
  /** Share of the reads served from perforcache's L2 (the reads the DRAM cache served are among the reads, not the hits). */
  cacheHitRatio: number;
  ssdServedRatio: number;
  /** Share of the reads served from the array's DRAM (L1) cache. */
  dramHitRatio: number;
}

export interface PluginHooks {
  vvolCreated?(ctx: LifecycleContext, vvol: VirtualVolumeRow): Promise<void> | void;
  vvolDeleted?(ctx: LifecycleContext, vvol: VirtualVolumeRow): Promise<void> | void;
  /** Called while reconciling: `rules` are the policy's rules of this plugin's namespace. */
  policyApplied?(ctx: PolicyContext, vvol: VirtualVolumeRow, rules: PolicyRule[]): Promise<PolicyOutcome> | PolicyOutcome;
  vmPoweredOn?(ctx: LifecycleContext, vm: VirtualMachineRow): Promise<void> | void;
  vmPoweredOff?(ctx: LifecycleContext, vm: VirtualMachineRow): Promise<void> | void;
  /**
   * In a revert's transaction, once the VM's disks hold the snapshot's data: a plugin refuses the revert by
   * throwing one of the core's typed errors (it then changes nothing), as vmPoweredOn refuses a power-on.
   */
  vmReverted?(ctx: LifecycleContext, vm: VirtualMachineRow, snapshot: SnapshotRow): Promise<void> | void;
  snapshotTaken?(ctx: LifecycleContext, snapshot: SnapshotRow, vvols: VirtualVolumeRow[]): Promise<void> | void;
  cloned?(ctx: LifecycleContext, clone: { source: VirtualMachineRow; target: VirtualMachineRow; mode: 'FULL' | 'FAST' }): Promise<void> | void;
  /** A task this plugin started (its `owner`) has ended: SUCCEEDED, FAILED or CANCELLED. */
  taskFinished?(ctx: LifecycleContext, task: TaskRow): Promise<void> | void;
  /**
   * Judges this plugin's capabilities for many VVOLs at once (one query, not one per VVOL).
   * Returns the violations per VVOL id; VVOLs it has nothing to say about may be left out.
   */
  compliance?(ctx: ComplianceContext, items: { vvol: VirtualVolumeRow; rules: PolicyRule[] }[]): Promise<Map<string, ComplianceViolation[]>> | Map<string, ComplianceViolation[]>;
  /** Engine phases, in this order every tick. */
  demand?(ctx: TickContext): Promise<void> | void;
  schedule?(ctx: TickContext): Promise<void> | void;
  serve?(ctx: TickContext): Promise<void> | void;
  background?(ctx: TickContext): Promise<void> | void;
  observe?(ctx: TickContext): Promise<void> | void;
}

export const tickPhases = ['demand', 'schedule', 'serve', 'background', 'observe'] as const;
export type TickPhase = (typeof tickPhases)[number];

/** Every hook a plugin may have, so that a misspelt one (a plain-JavaScript plugin has no type check) is refused at load instead of never running. */
const everyHook: Record<keyof PluginHooks, true> = {
  vvolCreated: true, vvolDeleted: true, policyApplied: true, vmPoweredOn: true, vmPoweredOff: true, vmReverted: true, snapshotTaken: true, cloned: true,
  taskFinished: true, compliance: true, demand: true, schedule: true, serve: true, background: true, observe: true,
};
export const hookNames = Object.keys(everyHook) as (keyof PluginHooks)[];

export interface TickContext {
  tick: number;
  /** Simulated seconds since the simulation began. */
  now: number;
  /** Simulated seconds this tick covers. */
  seconds: number;
  /**
   * Ids of the storage arrays this process ticks (it holds their locks; DESIGN §6). `io` and `poolIops`
   * hold only theirs; work bound to an array (e.g. a VM's scheduled backup) keeps to them, so that two
   * instances never both do it.
   */
  arrays: ReadonlySet<string>;
  db: Executor;
  extents: ExtentStore;
  tasks: TaskService;
  copier: ExtentCopier;
  pairs: PairService;
  volumes: VolumeService;
  /** Whether someone in this process follows `topicName` (a subscription): publish per-tick data only then. */
  followed(topicName: string): boolean;
  /** The followed topics whose names start with `prefix` (e.g. every pair whose progress someone follows); empty when none is. */
  followedWith(prefix: string): string[];
  /** Emits events and raises or clears alarms; written in one batch at the end of the tick. */
  work: UnitOfWork;
  /** The extents the workload wrote this tick (set before `serve`): what synchronous replication mirrors. */
  written: ExtentContent[];
  /** This tick's I/O, one row per VVOL with demand: each phase reads what the earlier ones wrote. */
  io: VolumeIo[];
  /** IOPS each pool can serve this tick (the sum of its tiers' maxIops), by pool id. */
  poolIops: Map<string, number>;
}

/**
 * One VVOL's I/O in one tick. The core's workload fills the demand; `schedule` (I/O control) may
 * lower `servedIops`; `serve` (cache, tiers) sets the hit ratio, SSD share and service time; the
 * core then derives the statistics (latency grows with the pool's utilization).
 */
export interface VolumeIo {
  vvolId: string;
  vmId: string;
  containerId: string;
  poolId: string;
  arrayId: string;
  /** The VVOL's policy rules, every namespace. */
  rules: PolicyRule[];
  readIops: number;
  writeIops: number;
  blockSizeBytes: number;
  randomRatio: number;
  /** Extents of the VVOL (written or not), and the first `workingSetExtents` of its ranks that I/O falls on. */
  extentCount: number;
  workingSetExtents: number;
  /** Skew of the accesses over the working set (Zipf alpha). */
  zipfAlpha: number;
  /** What the array serves this tick; starts at the demand (readIops + writeIops). */
  servedIops: number;
  /**
   * The tick's sampled accesses, set by the core as the serve phase begins (empty before, and for a VVOL
   * without I/O): extent indexes drawn like the workload's writes (Zipf over the working set for the random
   * share, a stream walking it in order for the rest; fixed by seed, tick and VVOL), as many as the VVOL's
   * share of its array's SAMPLED_ACCESSES_PER_ARRAY, at least one. The array's DRAM cache has seen them:
   * reads it served are marked and must be left alone by what sits behind it (caches, tiers, heat of the
   * back end); the serve hooks set the service time of each access they serve, in `serviceTimesMs`. The
   * core then makes `serviceTimeMs` their mean and `dramHitRatio` the DRAM's share of the reads.
   */
  sampled: Sample;
  /** Share of the reads perforcache's L2 served (of all reads, the DRAM's hits included in them). */
  cacheHitRatio: number;
  /** Share of the accesses the tiers served (DRAM hits left out) that were on SSD extents. */
  ssdServedRatio: number;
  /** Share of the reads the array's DRAM cache served; set by the core after the serve hooks. */
  dramHitRatio: number;
  /** Milliseconds per I/O before queueing: the sampled accesses' mean after `serve`. */
  serviceTimeMs: number;
}

export interface Plugin {
  name: string;
  version: string;
  vendor?: string;
  description?: string;
  capabilities?: CapabilityNamespace;
  /** Drizzle tables, for built-ins whose SQL drizzle-kit generates into migrations/. */
  tables?: Record<string, unknown>;
  /**
   * A third party's own SQL migrations (drizzle journal layout), applied at load with their own journal
   * table: a folder relative to the plugin's module (`'./migrations'`), or an absolute path.
   */
  migrationsFolder?: string;
  schema?(builder: SchemaBuilder, refs: SchemaRefs): void;
  hooks?: PluginHooks;
  /** This plugin owns replication pairs (`pairs.create` with its name as owner) and allows these copy controls. */
  replicaPairs?: { copyControls: CopyControl[] };
  /** Names of plugins whose hooks must run before this one's. */
  after?: string[];
  /**
   * Beginnings of this plugin's event kinds (`'acme.quota.'`) that never change the workload's demand
   * (running VMs' DATA VVOLs, their workloads, policy rules, pools). Any other event a transaction emits
   * makes the next tick read the whole demand set again: declare those a tick emits all the time.
   */
  demandNeutralEvents?: string[];
}

/** Types a plugin object; returns its argument unchanged. */
export function definePlugin<const T extends Plugin>(plugin: T): T {
  return plugin;
}

export { ValidationError, NotFoundError, ConflictError, CapacityError, ForbiddenError } from './errors.ts';
export type { AlarmChange, AlarmRow, UnitOfWork } from './unit-of-work.ts';
export type { ExtentStore, ExtentContent } from './extents.ts';
export type { ExtentCopier, CopyRow, CopyRequest } from './copier.ts';
export type { TaskService, TaskRow, CopySpec, NewTask } from './tasks.ts';
export type { PairService, PairRow, CopyControl, NewPair, ReplicaGoal, ReplicaPlacement } from './pairs.ts';
export type { VolumeService, NewVm, NewVmVolume, CopyTargetOptions, RegisterVmSpec } from './volumes.ts';
export { topic } from './bus.ts';
export { formatDigest, digestOf } from './extents.ts';
export { simulatedNow } from './clock.ts';
export { DRAM_SERVICE_TIME_MS, SAMPLED_ACCESSES_PER_ARRAY, type Sample } from './engine/dram-cache.ts';
export type { Executor } from './db/client.ts';
export type { SchemaBuilder, SchemaRefs } from '../schema/refs.ts';
export { isUuid } from '../schema/refs.ts';
export { tablePage } from '../schema/connections.ts';
export { anyOf, pgArray, resultRows } from './db/client.ts';
export { holdsPolicy, type PolicyVerdictState } from './policy-verdicts.ts';
