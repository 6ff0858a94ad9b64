import { and, eq, sql } from 'drizzle-orm';
import { NotFoundError, pgArray, resultRows, ValidationError, type Executor, type PairService, type UnitOfWork } from '../../core/plugin.ts';
import { rdrLinks } from './tables.ts';

/** A link nobody configured: 1 Gbit/s, 5 ms one way, SEMI_SYNC waits above 256 MiB unsent. */
export const DEFAULT_LINK = { bytesPerSecond: 125_000_000, latencyMs: 5, semiSyncThresholdBytes: 256 * 1024 ** 2 };

export type LinkSettings = typeof DEFAULT_LINK;

export const linkName = (sourceArrayId: string, targetArrayId: string) => `rdr:${sourceArrayId}:${targetArrayId}`;

export interface ArrayRow {
  id: string;
  name: string;
  site: string;
  role: string;
}

export async function arraysById(tx: Executor, ids: string[]): Promise<Map<string, ArrayRow>> {
  if (ids.length === 0) return new Map();
  const rows = resultRows<ArrayRow>(await tx.execute(sql`select id::text as id, name, site, role::text as role from storage_arrays where id = any(${pgArray(ids)}::uuid[])`));
  return new Map(rows.map((r) => [r.id, r]));
}

export async function linkSettings(tx: Executor, sourceArrayId: string, targetArrayId: string): Promise<LinkSettings> {
  const [row] = await tx.select().from(rdrLinks).where(and(eq(rdrLinks.sourceArrayId, sourceArrayId), eq(rdrLinks.targetArrayId, targetArrayId)));
  return row ? { bytesPerSecond: row.bytesPerSecond, latencyMs: row.latencyMs, semiSyncThresholdBytes: row.semiSyncThresholdBytes } : DEFAULT_LINK;
}

/** configureReplicationLink: stores the link's figures and hands them to its pairs and running copies. */
export async function configureLink(work: UnitOfWork, pairs: PairService, sourceArrayId: string, targetArrayId: string, settings: LinkSettings) {
  if (!(settings.bytesPerSecond > 0)) throw new ValidationError('input.bytesPerSecond', `The link bandwidth must be positive, got ${settings.bytesPerSecond}`);
  if (!(settings.latencyMs >= 0)) throw new ValidationError('input.latencyMs', `The link latency cannot be negative, got ${settings.latencyMs}`);
  if (!(settings.semiSyncThresholdBytes >= 0)) throw new ValidationError('input.semiSyncThresholdBytes', `The SEMI_SYNC threshold cannot be negative, got ${settings.semiSyncThresholdBytes}`);
  const arrays = await arraysById(work.tx, [sourceArrayId, targetArrayId]);
  const source = arrays.get(sourceArrayId);
  const target = arrays.get(targetArrayId);
  if (!source) throw new NotFoundError('input.sourceArrayId', sourceArrayId);
  if (!target) throw new NotFoundError('input.targetArrayId', targetArrayId);
  if (source.site === target.site) throw new ValidationError('input.targetArrayId', `RDR links two sites; ${source.name} and ${target.name} are both at ${source.site} (use ddr within a site)`);
  if (target.role !== 'PRIMARY') throw new ValidationError('input.targetArrayId', `${target.name} is a ${target.role} array; RDR replicates to a PRIMARY array`);
  const [row] = await work.tx
    .insert(rdrLinks)
    .values({ sourceArrayId, targetArrayId, ...settings })
    .onConflictDoUpdate({ target: [rdrLinks.sourceArrayId, rdrLinks.targetArrayId], set: { ...settings, updatedAt: new Date() } })
    .returning();
  const affected = await pairs.reconfigureLink(work, linkName(sourceArrayId, targetArrayId), settings);
  work.emit({ kind: 'rdr.linkConfigured', entityType: 'StorageArray', entityId: sourceArrayId, message: `RDR link ${source.name} -> ${target.name}: ${settings.bytesPerSecond} B/s, ${settings.latencyMs} ms, SEMI_SYNC above ${settings.semiSyncThresholdBytes} bytes`, data: { targetArrayId, pairs: affected.length } });
  return { link: { ...row, source, target }, pairs: affected };
}
