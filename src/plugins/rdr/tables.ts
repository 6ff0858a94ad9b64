import { bigint, bigserial, doublePrecision, index, jsonb, pgTable, primaryKey, text, timestamp, uuid } from 'drizzle-orm/pg-core';

const bytes = (name: string) => bigint(name, { mode: 'number' });

/** A replication link between two arrays, one direction: what every rdr pair from source to target gets. */
export const rdrLinks = pgTable(
  'rdr_links',
  {
    sourceArrayId: uuid('source_array_id').notNull(),
    targetArrayId: uuid('target_array_id').notNull(),
    bytesPerSecond: bytes('bytes_per_second').notNull(),
    latencyMs: doublePrecision('latency_ms').notNull(),
    semiSyncThresholdBytes: bytes('semi_sync_threshold_bytes').notNull(),
    updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.sourceArrayId, t.targetArrayId] })],
);

export type GroupState = 'SOURCE' | 'TARGET' | 'INTEST' | 'FAILEDOVER' | 'REMOTE_FAILEDOVER';

/** A transition waiting for a copy to end (a sync's point in time, a planned failover's final sync). */
export interface PendingTransition {
  transition: 'SYNC' | 'FAILOVER';
  taskId: string;
  pointInTimeId: string;
}

/**
 * A VASA 3.0 replication group: one VM's replicated volumes, consistent together. One row holds both
 * sides: the source side's state (SOURCE | REMOTE_FAILEDOVER) and the target side's (TARGET | INTEST |
 * FAILEDOVER), with the VM at each side.
 */
export const rdrGroups = pgTable(
  'rdr_groups',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    /** The VM whose volumes are the MVs. */
    sourceVmId: uuid('source_vm_id').notNull().unique(),
    sourceArrayId: uuid('source_array_id').notNull(),
    targetArrayId: uuid('target_array_id').notNull(),
    targetContainerId: uuid('target_container_id').notNull(),
    sourceState: text('source_state').$type<GroupState>().notNull().default('SOURCE'),
    targetState: text('target_state').$type<GroupState>().notNull().default('TARGET'),
    /** The VM at the target: the test VM (INTEST) or the failed-over VM (FAILEDOVER). */
    targetVmId: uuid('target_vm_id'),
    pending: jsonb('pending').$type<PendingTransition | null>(),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (t) => [index('rdr_groups_target_vm').on(t.targetVmId)],
);

export interface PointVolume {
  mvId: string;
  rvId: string;
  /** The copy at the target holding the MV's data as of `takenAt`. */
  copyId: string;
  type: string;
  /** The DATA volume's unit number in the source VM, or null for CONFIG. */
  unitNumber: number | null;
}

/** A point-in-time replica: at the target, a copy of each MV of the group as of one instant. */
export const rdrPointsInTime = pgTable(
  'rdr_points_in_time',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    groupId: uuid('group_id').notNull().references(() => rdrGroups.id, { onDelete: 'cascade' }),
    /** Simulated seconds: the instant the point in time holds. */
    takenAt: doublePrecision('taken_at').notNull(),
    state: text('state').$type<'COPYING' | 'COMPLETE'>().notNull(),
    taskId: uuid('task_id'),
    volumes: jsonb('volumes').$type<PointVolume[]>().notNull(),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (t) => [index('rdr_points_in_time_group').on(t.groupId)],
);

/** Every transition of a group, in order. */
export const rdrGroupHistory = pgTable(
  'rdr_group_history',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    groupId: uuid('group_id').notNull().references(() => rdrGroups.id, { onDelete: 'cascade' }),
    /** Simulated seconds. */
    at: doublePrecision('at').notNull(),
    transition: text('transition').notNull(),
    fromState: text('from_state').notNull(),
    toState: text('to_state').notNull(),
    detail: text('detail').notNull(),
  },
  (t) => [index('rdr_group_history_group').on(t.groupId)],
);
