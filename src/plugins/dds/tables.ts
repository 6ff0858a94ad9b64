import { bigint, boolean, doublePrecision, index, integer, pgEnum, pgTable, primaryKey, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';

const bytes = (name: string) => bigint(name, { mode: 'number' });

export const ddsBackupType = pgEnum('dds_backup_type', ['FULL', 'DIFFERENTIAL']);
/** RUNNING while its copies run; AVAILABLE once they are done; FAILED (or cancelled); PRUNED by retention (its volumes deleted, the row kept). */
export const ddsGenerationState = pgEnum('dds_generation_state', ['RUNNING', 'AVAILABLE', 'FAILED', 'PRUNED']);

/**
 * One backup generation of a VM on the BACKUP array. The VM is not a foreign key: backups outlive the
 * VM (restoring a deleted VM as a new one is what they are for), so what a restore needs is kept here.
 */
export const ddsGenerations = pgTable(
  'dds_generations',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    vmId: uuid('vm_id').notNull(),
    vmName: text('vm_name').notNull(),
    vmHost: text('vm_host').notNull(),
    vmMemoryBytes: bytes('vm_memory_bytes').notNull(),
    vmPolicyId: uuid('vm_policy_id').notNull(),
    /** 1, 2, ... per VM. */
    number: integer('number').notNull(),
    type: ddsBackupType('type').notNull(),
    state: ddsGenerationState('state').notNull().default('RUNNING'),
    /** The point in time backed up (simulated seconds): the copies freeze the VM's volumes then. */
    time: doublePrecision('time').notNull(),
    /** The generation a DIFFERENTIAL started from (its map), if any. */
    baseGenerationId: uuid('base_generation_id'),
    containerId: uuid('container_id').notNull(),
    /** nec.dds.dedup when it was taken: with dedup, extents the backup array already held are not stored again. */
    dedup: boolean('dedup').notNull(),
    taskId: uuid('task_id'),
    /** Bytes of data the generation holds (its volumes' allocated bytes), set when AVAILABLE. */
    logicalBytes: bytes('logical_bytes').notNull().default(0),
    /** Bytes it added to the backup array: extents whose content no earlier available generation held. */
    storedBytes: bytes('stored_bytes').notNull().default(0),
    finishedAt: doublePrecision('finished_at'),
    prunedAt: doublePrecision('pruned_at'),
    error: text('error'),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex('dds_generations_vm_number').on(t.vmId, t.number), index('dds_generations_state').on(t.state), index('dds_generations_task').on(t.taskId)],
);

/** Which backup volume of a generation holds which source volume of the VM, and the digest it was frozen at. */
export const ddsGenerationVolumes = pgTable(
  'dds_generation_volumes',
  {
    generationId: uuid('generation_id').notNull().references(() => ddsGenerations.id, { onDelete: 'cascade' }),
    sourceVvolId: uuid('source_vvol_id').notNull(),
    /** Null once the generation is pruned (the volume is deleted). */
    backupVvolId: uuid('backup_vvol_id'),
    type: text('type').$type<'CONFIG' | 'DATA'>().notNull(),
    unitNumber: integer('unit_number'),
    provisionedBytes: bytes('provisioned_bytes').notNull(),
    policyId: uuid('policy_id').notNull(),
    /** The source's content digest at the generation's point in time: what the backup volume and any restore of it end with. */
    contentDigest: text('content_digest').notNull(),
  },
  (t) => [primaryKey({ columns: [t.generationId, t.sourceVvolId] }), index('dds_generation_volumes_backup').on(t.backupVvolId)],
);
