import {
  bigint,
  bigserial,
  boolean,
  doublePrecision,
  index,
  integer,
  jsonb,
  pgEnum,
  pgSequence,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';

export const arrayRole = pgEnum('array_role', ['PRIMARY', 'BACKUP']);
export const tierKind = pgEnum('tier_kind', ['SSD', 'SAS', 'NL_SAS']);
export const peProtocol = pgEnum('pe_protocol', ['FC', 'ISCSI']);
export const powerState = pgEnum('power_state', ['POWERED_OFF', 'POWERED_ON', 'SUSPENDED']);
export const vvolType = pgEnum('vvol_type', ['CONFIG', 'DATA', 'SWAP', 'MEMORY']);
export const bindState = pgEnum('bind_state', ['UNBOUND', 'BOUND', 'REBINDING']);
export const vvolOrigin = pgEnum('vvol_origin', ['RAW', 'CLONE', 'FAST_CLONE', 'SNAPSHOT']);
export const policyState = pgEnum('policy_state', ['PENDING', 'IN_PROGRESS', 'APPLIED', 'INFEASIBLE']);
export const taskState = pgEnum('task_state', ['QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED']);
export const alarmKind = pgEnum('alarm_kind', ['SPACE_CAPACITY', 'COMPLIANCE', 'REPLICATION', 'CAPABILITY']);
export const alarmStatus = pgEnum('alarm_status', ['RED', 'YELLOW', 'GREEN']);

const createdAt = () => timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow();
const bytes = (name: string) => bigint(name, { mode: 'number' });

export const storageArrays = pgTable('storage_arrays', {
  id: uuid('id').primaryKey().defaultRandom(),
  name: text('name').notNull().unique(),
  model: text('model').notNull(),
  serialNumber: text('serial_number').notNull().unique(),
  site: text('site').notNull(),
  role: arrayRole('role').notNull(),
  /** The DRAM (L1) cache of its controllers, in front of every pool's tiers and L2 cache. */
  cacheBytes: bytes('cache_bytes').notNull().default(0),
  createdAt: createdAt(),
});

export const storagePools = pgTable(
  'storage_pools',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    arrayId: uuid('array_id').notNull().references(() => storageArrays.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    l2CacheBytes: bytes('l2_cache_bytes').notNull().default(0),
    encrypted: boolean('encrypted').notNull().default(false),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex('storage_pools_array_name').on(t.arrayId, t.name)],
);

export const poolTiers = pgTable(
  'pool_tiers',
  {
    poolId: uuid('pool_id').notNull().references(() => storagePools.id, { onDelete: 'cascade' }),
    tier: tierKind('tier').notNull(),
    capacityBytes: bytes('capacity_bytes').notNull(),
    usedBytes: bytes('used_bytes').notNull().default(0),
    maxIops: integer('max_iops').notNull(),
  },
  (t) => [primaryKey({ columns: [t.poolId, t.tier] })],
);

export const storageContainers = pgTable(
  'storage_containers',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    arrayId: uuid('array_id').notNull().references(() => storageArrays.id, { onDelete: 'cascade' }),
    poolId: uuid('pool_id').notNull().references(() => storagePools.id),
    name: text('name').notNull().unique(),
    capacityBytes: bytes('capacity_bytes').notNull(),
    /** Provisioned bytes of every VVOL in the container: capacity is reserved at creation. */
    usedBytes: bytes('used_bytes').notNull().default(0),
    maxVvolSizeBytes: bytes('max_vvol_size_bytes').notNull(),
    namespaces: text('namespaces').array().notNull(),
    /** What the container can deliver, per capability id: a list of values, a {min,max} range, or true. */
    offers: jsonb('offers').$type<Record<string, unknown>>().notNull().default({}),
    defaultPolicyId: uuid('default_policy_id'),
    createdAt: createdAt(),
  },
  (t) => [index('storage_containers_array').on(t.arrayId)],
);

export const protocolEndpoints = pgTable(
  'protocol_endpoints',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    arrayId: uuid('array_id').notNull().references(() => storageArrays.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    protocol: peProtocol('protocol').notNull(),
    /** WWN for FC, IQN for iSCSI. */
    identifier: text('identifier').notNull().unique(),
    createdAt: createdAt(),
  },
  (t) => [index('protocol_endpoints_array').on(t.arrayId)],
);

export const storagePolicies = pgTable('storage_policies', {
  id: uuid('id').primaryKey().defaultRandom(),
  name: text('name').notNull().unique(),
  description: text('description').notNull().default(''),
  generation: integer('generation').notNull().default(1),
  createdAt: createdAt(),
  updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
});

export const policyRules = pgTable(
  'policy_rules',
  {
    policyId: uuid('policy_id').notNull().references(() => storagePolicies.id, { onDelete: 'cascade' }),
    position: integer('position').notNull(),
    capabilityId: text('capability_id').notNull(),
    value: jsonb('value').$type<unknown>().notNull(),
  },
  (t) => [primaryKey({ columns: [t.policyId, t.position] })],
);

export const virtualMachines = pgTable(
  'virtual_machines',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    name: text('name').notNull(),
    host: text('host').notNull(),
    powerState: powerState('power_state').notNull().default('POWERED_OFF'),
    /** Sizes the SWAP VVOL created at power-on. */
    memoryBytes: bytes('memory_bytes').notNull(),
    policyId: uuid('policy_id').notNull().references(() => storagePolicies.id),
    containerId: uuid('container_id').notNull().references(() => storageContainers.id),
    createdAt: createdAt(),
  },
  (t) => [
    index('virtual_machines_name').on(t.name),
    index('virtual_machines_policy').on(t.policyId),
    index('virtual_machines_container').on(t.containerId),
  ],
);

export const virtualVolumes = pgTable(
  'virtual_volumes',
  {
    /** The VASA id. */
    id: uuid('id').primaryKey().defaultRandom(),
    vmId: uuid('vm_id').references(() => virtualMachines.id, { onDelete: 'cascade' }),
    containerId: uuid('container_id').notNull().references(() => storageContainers.id),
    policyId: uuid('policy_id').notNull().references(() => storagePolicies.id),
    type: vvolType('type').notNull(),
    provisionedBytes: bytes('provisioned_bytes').notNull(),
    /** Bytes of written extents; kept in step by the write path. */
    allocatedBytes: bytes('allocated_bytes').notNull().default(0),
    /** Order-independent hash of the extent map, kept incrementally by the write path (hex). */
    contentDigest: text('content_digest').notNull().default('0000000000000000'),
    bindState: bindState('bind_state').notNull().default('UNBOUND'),
    protocolEndpointId: uuid('protocol_endpoint_id').references(() => protocolEndpoints.id),
    origin: vvolOrigin('origin').notNull().default('RAW'),
    parentId: uuid('parent_id'),
    /** Set on the DATA (and MEMORY) VVOLs that hold a snapshot's point in time. */
    snapshotId: uuid('snapshot_id'),
    policyState: policyState('policy_state').notNull().default('PENDING'),
    /** The policy generation this VVOL has reached (APPLIED) or last tried (INFEASIBLE). */
    policyGeneration: integer('policy_generation').notNull().default(0),
    policyReason: text('policy_reason'),
    metadata: jsonb('metadata').$type<Record<string, string>>().notNull().default({}),
    createdAt: createdAt(),
  },
  (t) => [
    index('virtual_volumes_vm').on(t.vmId),
    index('virtual_volumes_container').on(t.containerId),
    index('virtual_volumes_policy').on(t.policyId),
    index('virtual_volumes_parent').on(t.parentId),
    index('virtual_volumes_snapshot').on(t.snapshotId),
    index('virtual_volumes_policy_state').on(t.policyState),
  ],
);

export const virtualDisks = pgTable(
  'virtual_disks',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    vmId: uuid('vm_id').notNull().references(() => virtualMachines.id, { onDelete: 'cascade' }),
    unitNumber: integer('unit_number').notNull(),
    vvolId: uuid('vvol_id').notNull().references(() => virtualVolumes.id),
    /** A disk the VM only reads (a separated replica attached RO): the workload does not write to it. */
    readOnly: boolean('read_only').notNull().default(false),
  },
  (t) => [uniqueIndex('virtual_disks_vm_unit').on(t.vmId, t.unitNumber)],
);

/** Sparse: only written extents exist. Sharing is by content id (copy-on-write at extent granularity). */
export const extents = pgTable(
  'extents',
  {
    vvolId: uuid('vvol_id').notNull().references(() => virtualVolumes.id, { onDelete: 'cascade' }),
    index: integer('idx').notNull(),
    contentId: bigint('content_id', { mode: 'bigint' }).notNull(),
    tier: tierKind('tier').notNull().default('SAS'),
  },
  (t) => [primaryKey({ columns: [t.vvolId, t.index] })],
);

/**
 * Every write draws fresh content ids from this sequence (mixed into 64 bits), so ids never repeat: each
 * value starts a block of CONTENT_BLOCK numbers that one write uses from the bottom up, so a write of
 * thousands of extents draws one value, not thousands.
 */
export const CONTENT_BLOCK = 1 << 20;
export const contentSequence = pgSequence('content_seq', { startWith: 1, increment: CONTENT_BLOCK });

export const snapshots = pgTable(
  'snapshots',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    vmId: uuid('vm_id').notNull().references(() => virtualMachines.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    description: text('description').notNull().default(''),
    withMemory: boolean('with_memory').notNull().default(false),
    createdAt: createdAt(),
  },
  (t) => [index('snapshots_vm').on(t.vmId)],
);

export const tasks = pgTable(
  'tasks',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    kind: text('kind').notNull(),
    state: taskState('state').notNull().default('QUEUED'),
    bytesDone: bytes('bytes_done').notNull().default(0),
    bytesTotal: bytes('bytes_total').notNull().default(0),
    bytesPerSecond: bytes('bytes_per_second').notNull().default(0),
    cancelable: boolean('cancelable').notNull().default(false),
    cancelRequested: boolean('cancel_requested').notNull().default(false),
    targetType: text('target_type').notNull(),
    targetId: uuid('target_id').notNull(),
    params: jsonb('params').$type<Record<string, unknown>>().notNull().default({}),
    /** The plugin (or `core`) that hears when the task finishes or is cancelled. */
    owner: text('owner').notNull().default('core'),
    error: text('error'),
    createdAt: createdAt(),
    startedAt: timestamp('started_at', { withTimezone: true, mode: 'date' }),
    finishedAt: timestamp('finished_at', { withTimezone: true, mode: 'date' }),
  },
  (t) => [index('tasks_state').on(t.state)],
);

export const copyState = pgEnum('copy_state', ['RUNNING', 'DONE', 'CANCELLED']);

/**
 * One bandwidth-limited copy of a VVOL's extents onto another, frozen at a point in time: what it must
 * copy is fixed when it starts (copy_extents), so later writes to the source are not part of it.
 */
export const extentCopies = pgTable(
  'extent_copies',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    taskId: uuid('task_id').notNull().references(() => tasks.id, { onDelete: 'cascade' }),
    sourceVvolId: uuid('source_vvol_id').notNull().references(() => virtualVolumes.id, { onDelete: 'cascade' }),
    targetVvolId: uuid('target_vvol_id').notNull().references(() => virtualVolumes.id, { onDelete: 'cascade' }),
    range: text('range').$type<'FULL' | 'DIFF'>().notNull(),
    /** The target showed the frozen data from the start (an immediate restore); the copy only moves the bytes. */
    immediate: boolean('immediate').notNull().default(false),
    /** Copies with the same link share its bandwidth. */
    link: text('link').notNull(),
    bytesPerSecond: bytes('bytes_per_second').notNull(),
    state: copyState('state').notNull().default('RUNNING'),
    /** Simulated time of the point in time, and the source's digest then (what the target holds once done). */
    frozenAt: doublePrecision('frozen_at').notNull(),
    frozenDigest: text('frozen_digest').notNull(),
    bytesTotal: bytes('bytes_total').notNull(),
    bytesDone: bytes('bytes_done').notNull().default(0),
    /** The next extent index to copy. */
    cursor: integer('cursor').notNull().default(0),
    /** Bandwidth of earlier ticks not yet spent on a whole extent. */
    credit: doublePrecision('credit').notNull().default(0),
    createdAt: createdAt(),
  },
  (t) => [index('extent_copies_task').on(t.taskId), index('extent_copies_source').on(t.sourceVvolId), index('extent_copies_target').on(t.targetVvolId)],
);

/** A copy's work list, frozen when it starts: each extent to copy, with its content then (null: trim it on the target). */
export const copyExtents = pgTable(
  'copy_extents',
  {
    copyId: uuid('copy_id').notNull().references(() => extentCopies.id, { onDelete: 'cascade' }),
    index: integer('idx').notNull(),
    contentId: bigint('content_id', { mode: 'bigint' }),
  },
  (t) => [primaryKey({ columns: [t.copyId, t.index] })],
);

/** How a pair's copies run; each owning plugin allows some of them (`replicaPairs.copyControls`). */
export const copyControls = ['SYNC', 'SEMI_SYNC', 'BACKGROUND'] as const;
export const pairActivity = pgEnum('pair_activity', ['REPLICATE', 'SEPARATE', 'RESTORE', 'RESTORE_PROTECT']);
export const pairSyncState = pgEnum('pair_sync_state', ['RPL_EXEC', 'RPL_SYNC', 'SEP_EXEC', 'SEPARATED', 'RST_EXEC', 'RST_SYNC', 'CANCEL', 'FAULT']);

/**
 * A master volume (MV) paired with a replica volume (RV), with NEC's activity and sync states. The
 * core keeps the state machine and the copies; the plugin that owns the pair (ddr: same array, rdr:
 * another site) decides its link and which copy controls it allows.
 */
export const replicaPairs = pgTable(
  'replica_pairs',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    owner: text('owner').notNull(),
    mvId: uuid('mv_id').notNull().references(() => virtualVolumes.id, { onDelete: 'cascade' }),
    rvId: uuid('rv_id').notNull().references(() => virtualVolumes.id, { onDelete: 'cascade' }),
    activity: pairActivity('activity').notNull().default('SEPARATE'),
    syncState: pairSyncState('sync_state').notNull().default('SEPARATED'),
    copyControl: text('copy_control').$type<(typeof copyControls)[number]>().notNull(),
    /** What a host may do with the RV: NR (no access) while replicating, RO or RW once separated. */
    rvAccess: text('rv_access').$type<'NR' | 'RO' | 'RW'>().notNull().default('RW'),
    /** IMMEDIATE: the RV may be used while a separation finishes (SEP_EXEC); COMPLETE: only once SEPARATED. */
    rvUse: text('rv_use').$type<'COMPLETE' | 'IMMEDIATE'>().notNull().default('COMPLETE'),
    link: text('link').notNull(),
    bytesPerSecond: bytes('bytes_per_second').notNull(),
    latencyMs: doublePrecision('latency_ms').notNull().default(0),
    /** SEMI_SYNC: above this many unsent bytes, writes wait for the remote side. */
    semiSyncThresholdBytes: bytes('semi_sync_threshold_bytes').notNull().default(0),
    /** The copy task running for the pair (replicate, separate's last copy, restore), if any. */
    /** Made by policy reconciliation: its RV goes when the policy stops asking for it, or with the MV. */
    policyManaged: boolean('policy_managed').notNull().default(false),
    taskId: uuid('task_id').references(() => tasks.id, { onDelete: 'set null' }),
    /** Simulated seconds: the last point in time the RV held exactly (the MV at that instant). */
    syncedAt: doublePrecision('synced_at'),
    /** Simulated seconds at which each state was last entered, by sync state. */
    stateTimes: jsonb('state_times').$type<Record<string, number>>().notNull().default({}),
    createdAt: createdAt(),
  },
  (t) => [uniqueIndex('replica_pairs_rv').on(t.rvId), index('replica_pairs_mv').on(t.mvId)],
);

export const events = pgTable(
  'events',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    kind: text('kind').notNull(),
    entityType: text('entity_type').notNull(),
    entityId: text('entity_id').notNull(),
    message: text('message').notNull(),
    data: jsonb('data').$type<Record<string, unknown>>().notNull().default({}),
    createdAt: createdAt(),
  },
  (t) => [index('events_kind').on(t.kind)],
);

export const alarms = pgTable(
  'alarms',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    kind: alarmKind('kind').notNull(),
    status: alarmStatus('status').notNull(),
    entityType: text('entity_type').notNull(),
    entityId: text('entity_id').notNull(),
    message: text('message').notNull(),
    raisedAt: timestamp('raised_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex('alarms_kind_entity').on(t.kind, t.entityId)],
);

export const workloadPreset = pgEnum('workload_preset', ['OLTP', 'VDI_BOOT_STORM', 'BACKUP_SCAN', 'IDLE', 'CUSTOM']);

/** A VM's synthetic I/O profile; a VM without a row runs IDLE. */
export const workloads = pgTable('workloads', {
  vmId: uuid('vm_id').primaryKey().references(() => virtualMachines.id, { onDelete: 'cascade' }),
  preset: workloadPreset('preset').notNull(),
  readIops: integer('read_iops').notNull(),
  writeIops: integer('write_iops').notNull(),
  blockSizeBytes: integer('block_size_bytes').notNull(),
  /** Share of I/Os that are random (the rest sequential), 0..1. */
  randomRatio: doublePrecision('random_ratio').notNull(),
  /** Zipf skew of accesses over the working set; larger is hotter. */
  zipfAlpha: doublePrecision('zipf_alpha').notNull(),
  /** Share of the VM's provisioned data the accesses fall on, 0..1. */
  workingSetRatio: doublePrecision('working_set_ratio').notNull(),
  /** Bursts: every periodSeconds, for dutyCycle of it, demand is multiplied by multiplier. */
  burst: jsonb('burst').$type<{ periodSeconds: number; dutyCycle: number; multiplier: number } | null>(),
  updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
});

/** Simulation clock state, one row per process-independent simulation. */
export const simulationState = pgTable('simulation_state', {
  id: integer('id').primaryKey(),
  tick: bigint('tick', { mode: 'number' }).notNull().default(0),
  simulatedSeconds: doublePrecision('simulated_seconds').notNull().default(0),
  seed: text('seed').notNull(),
});

const ioMean = (name: string) => doublePrecision(name).notNull();

/**
 * Per-minute I/O history (DESIGN §6): each VVOL's and VM's per-tick statistics rolled up per simulated
 * minute. Written by the ticking engine in one statement when a minute ends; kept for a retention
 * window (VVOLGRAPH_IO_HISTORY_MINUTES), pruned in that same statement. Rates are means weighted by
 * the seconds each tick covered; latency and the ratios are weighted by the I/Os served.
 */
export const ioHistory = pgTable(
  'io_history',
  {
    /** A VVOL's or a VM's id (no foreign key: rows outlive deletions until retention prunes them). */
    subjectId: uuid('subject_id').notNull(),
    /** Simulated minute m covers the ticks that end in (60·m, 60·(m+1)] seconds. */
    minute: integer('minute').notNull(),
    /** Ticks in which the subject had I/O demand, and the simulated seconds they covered. */
    samples: integer('samples').notNull(),
    seconds: doublePrecision('seconds').notNull(),
    readIops: ioMean('read_iops'),
    maxReadIops: ioMean('max_read_iops'),
    writeIops: ioMean('write_iops'),
    maxWriteIops: ioMean('max_write_iops'),
    mbps: ioMean('mbps'),
    maxMbps: ioMean('max_mbps'),
    latencyMs: ioMean('latency_ms'),
    maxLatencyMs: ioMean('max_latency_ms'),
    servedIops: ioMean('served_iops'),
    maxServedIops: ioMean('max_served_iops'),
    throttledIops: ioMean('throttled_iops'),
    maxThrottledIops: ioMean('max_throttled_iops'),
    cacheHitRatio: ioMean('cache_hit_ratio'),
    ssdServedRatio: ioMean('ssd_served_ratio'),
    // Rows written before the DRAM cache was modelled had none.
    dramHitRatio: ioMean('dram_hit_ratio').default(0),
  },
  (t) => [primaryKey({ columns: [t.subjectId, t.minute] }), index('io_history_minute').on(t.minute)],
);

/**
 * One row, moved by every transaction whose events may change the workload's demand (a VM powered on or
 * off, a workload set, a disk added, a policy applied or edited: see demand-changes.ts), by any instance.
 * The ticking process reads its demand set again when it has moved. Kept apart from simulation_state,
 * which a tick holds locked until it commits.
 */
export const demandChanges = pgTable('demand_changes', {
  id: integer('id').primaryKey(),
  version: bigint('version', { mode: 'number' }).notNull().default(0),
});
