import { and, eq, inArray, sql } from 'drizzle-orm';
import { ValidationError } from './errors.ts';
import { type Executor, pgArray, resultRows } from './db/client.ts';
import { extents, virtualVolumes } from './db/tables.ts';

export const DEFAULT_EXTENT_BYTES = 32 * 1024 * 1024;

const MASK64 = (1n << 64n) - 1n;

/** SplitMix64's finalizer: a bijection on 64 bits, so distinct sequence numbers give distinct content ids. */
export function mix64(x: bigint): bigint {
  let z = (x + 0x9e3779b97f4a7c15n) & MASK64;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & MASK64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & MASK64;
  return z ^ (z >> 31n);
}

/** One extent's share of a digest. The digest is the sum of these mod 2^64, so a write updates it in O(1). */
function digestTerm(index: number, contentId: bigint): bigint {
  return mix64(BigInt.asUintN(64, contentId) ^ mix64(BigInt(index)));
}

export function parseDigest(hex: string): bigint {
  return BigInt(`0x${hex}`);
}

export function formatDigest(value: bigint): string {
  return (value & MASK64).toString(16).padStart(16, '0');
}

/** The digest of a whole extent map, computed from scratch (what the incremental one must equal). */
export function digestOf(map: Iterable<{ index: number; contentId: bigint }>): string {
  let sum = 0n;
  for (const extent of map) sum += digestTerm(extent.index, extent.contentId);
  return formatDigest(sum);
}

export interface ExtentRange {
  index: number;
  offsetBytes: number;
  lengthBytes: number;
  contentId: bigint;
}

export interface ExtentWrite {
  vvolId: string;
  indexes: number[];
}

/** One extent's content as written or assigned; a null content id trims (unallocates) the extent. */
export interface ExtentContent {
  vvolId: string;
  index: number;
  contentId: bigint | null;
}

/**
 * The extent model of DESIGN §6: a VVOL is a sparse map index -> content id. Every write gives the
 * extent a content id never used before; snapshots and fast clones copy the map (not the data), so
 * an extent is shared for as long as both sides hold the same content id.
 */
export class ExtentStore {
  constructor(readonly extentBytes = DEFAULT_EXTENT_BYTES) {}

  extentCount(provisionedBytes: number): number {
    return Math.ceil(provisionedBytes / this.extentBytes);
  }

  private lengthOf(index: number, provisionedBytes: number): number {
    return Math.min(this.extentBytes, provisionedBytes - index * this.extentBytes);
  }

  /** Writes fresh content to the given extents of many VVOLs with a fixed number of statements; returns what it wrote. */
  async write(db: Executor, writes: ExtentWrite[]): Promise<ExtentContent[]> {
    const byVvol = new Map<string, Set<number>>();
    for (const w of writes) {
      const set = byVvol.get(w.vvolId) ?? new Set<number>();
      for (const i of w.indexes) set.add(i);
      byVvol.set(w.vvolId, set);
    }
    if (byVvol.size === 0) return [];
    const vvolIds = [...byVvol.keys()];
    const vvols = await db
      .select({ id: virtualVolumes.id, provisionedBytes: virtualVolumes.provisionedBytes, allocatedBytes: virtualVolumes.allocatedBytes, contentDigest: virtualVolumes.contentDigest })
      .from(virtualVolumes)
      .where(inArray(virtualVolumes.id, vvolIds));
    const vvolById = new Map(vvols.map((v) => [v.id, v]));

    const pairs: { vvolId: string; index: number }[] = [];
    for (const [vvolId, indexes] of byVvol) {
      const vvol = vvolById.get(vvolId);
      if (!vvol) throw new ValidationError('vvolId', `No virtual volume ${vvolId}`);
      const count = this.extentCount(vvol.provisionedBytes);
      for (const index of indexes) {
        if (!Number.isInteger(index) || index < 0 || index >= count) {
          throw new ValidationError('indexes', `Extent ${index} is outside ${vvolId} (0..${count - 1})`);
        }
        pairs.push({ vvolId, index });
      }
    }

    const previous = resultRows<{ vvol_id: string; idx: number; content_id: string }>(
      await db.execute(sql`
        select e.vvol_id, e.idx, e.content_id::text as content_id
        from ${extents} e
        join unnest(${pgArray(pairs.map((p) => p.vvolId))}::uuid[], ${pgArray(pairs.map((p) => p.index))}::int[]) as w(vvol_id, idx)
          on e.vvol_id = w.vvol_id and e.idx = w.idx`),
    );
    const oldContent = new Map(previous.map((r) => [`${r.vvol_id}/${r.idx}`, BigInt(r.content_id)]));

    const sequence = resultRows<{ n: string }>(
      await db.execute(sql`select nextval('content_seq')::text as n from generate_series(1, ${pairs.length}::int)`),
    );

    const digest = new Map(vvols.map((v) => [v.id, parseDigest(v.contentDigest)]));
    const allocated = new Map(vvols.map((v) => [v.id, v.allocatedBytes]));
    const rows = pairs.map((p, i) => {
      const contentId = BigInt.asIntN(64, mix64(BigInt(sequence[i].n)));
      const before = oldContent.get(`${p.vvolId}/${p.index}`);
      let sum = digest.get(p.vvolId)! + digestTerm(p.index, contentId);
      if (before === undefined) {
        allocated.set(p.vvolId, allocated.get(p.vvolId)! + this.lengthOf(p.index, vvolById.get(p.vvolId)!.provisionedBytes));
      } else {
        sum -= digestTerm(p.index, before);
      }
      digest.set(p.vvolId, sum & MASK64);
      return { vvolId: p.vvolId, index: p.index, contentId } as ExtentContent & { contentId: bigint };
    });

    // One statement with three array parameters: a multi-row VALUES list would carry three parameters per row.
    await db.execute(sql`
      insert into ${extents} (vvol_id, idx, content_id)
      select * from unnest(${pgArray(rows.map((r) => r.vvolId))}::uuid[], ${pgArray(rows.map((r) => r.index))}::int[],
                           ${pgArray(rows.map((r) => r.contentId.toString()))}::bigint[])
      on conflict (vvol_id, idx) do update set content_id = excluded.content_id`);

    await db.execute(sql`
      update ${virtualVolumes} v set allocated_bytes = u.allocated, content_digest = u.digest
      from unnest(${pgArray(vvolIds)}::uuid[], ${pgArray(vvolIds.map((id) => allocated.get(id)!))}::bigint[],
                  ${pgArray(vvolIds.map((id) => formatDigest(digest.get(id)!)))}::text[]) as u(id, allocated, digest)
      where v.id = u.id`);
    return rows;
  }

  /**
   * Gives extents of many VVOLs the given content ids (a copy: the target then shares the source's
   * content), or trims them (null); allocatedBytes and contentDigest follow. A fixed number of statements.
   */
  async assign(db: Executor, contents: readonly ExtentContent[]): Promise<void> {
    if (contents.length === 0) return;
    const latest = new Map<string, ExtentContent>();
    for (const c of contents) latest.set(`${c.vvolId}/${c.index}`, c);
    const entries = [...latest.values()];
    const vvolIds = [...new Set(entries.map((e) => e.vvolId))];
    const vvols = await db
      .select({ id: virtualVolumes.id, provisionedBytes: virtualVolumes.provisionedBytes, allocatedBytes: virtualVolumes.allocatedBytes, contentDigest: virtualVolumes.contentDigest })
      .from(virtualVolumes)
      .where(inArray(virtualVolumes.id, vvolIds));
    const vvolById = new Map(vvols.map((v) => [v.id, v]));
    const previous = resultRows<{ vvol_id: string; idx: number; content_id: string }>(
      await db.execute(sql`
        select e.vvol_id, e.idx, e.content_id::text as content_id
        from ${extents} e
        join unnest(${pgArray(entries.map((e) => e.vvolId))}::uuid[], ${pgArray(entries.map((e) => e.index))}::int[]) as w(vvol_id, idx)
          on e.vvol_id = w.vvol_id and e.idx = w.idx`),
    );
    const oldContent = new Map(previous.map((r) => [`${r.vvol_id}/${r.idx}`, BigInt(r.content_id)]));
    const digest = new Map(vvols.map((v) => [v.id, parseDigest(v.contentDigest)]));
    const allocated = new Map(vvols.map((v) => [v.id, v.allocatedBytes]));
    for (const e of entries) {
      const vvol = vvolById.get(e.vvolId);
      if (!vvol) throw new ValidationError('vvolId', `No virtual volume ${e.vvolId}`);
      const before = oldContent.get(`${e.vvolId}/${e.index}`);
      let sum = digest.get(e.vvolId)!;
      if (before !== undefined) sum -= digestTerm(e.index, before);
      if (e.contentId !== null) sum += digestTerm(e.index, e.contentId);
      digest.set(e.vvolId, sum & MASK64);
      const length = this.lengthOf(e.index, vvol.provisionedBytes);
      const delta = (e.contentId === null ? 0 : length) - (before === undefined ? 0 : length);
      allocated.set(e.vvolId, allocated.get(e.vvolId)! + delta);
    }
    const stored = entries.filter((e) => e.contentId !== null);
    const trimmed = entries.filter((e) => e.contentId === null && oldContent.has(`${e.vvolId}/${e.index}`));
    if (stored.length > 0) {
      await db.execute(sql`
        insert into ${extents} (vvol_id, idx, content_id)
        select * from unnest(${pgArray(stored.map((r) => r.vvolId))}::uuid[], ${pgArray(stored.map((r) => r.index))}::int[],
                             ${pgArray(stored.map((r) => r.contentId!.toString()))}::bigint[])
        on conflict (vvol_id, idx) do update set content_id = excluded.content_id`);
    }
    if (trimmed.length > 0) {
      await db.execute(sql`
        delete from ${extents} e using unnest(${pgArray(trimmed.map((r) => r.vvolId))}::uuid[], ${pgArray(trimmed.map((r) => r.index))}::int[]) as t(vvol_id, idx)
        where e.vvol_id = t.vvol_id and e.idx = t.idx`);
    }
    await db.execute(sql`
      update ${virtualVolumes} v set allocated_bytes = u.allocated, content_digest = u.digest
      from unnest(${pgArray(vvolIds)}::uuid[], ${pgArray(vvolIds.map((id) => allocated.get(id)!))}::bigint[],
                  ${pgArray(vvolIds.map((id) => formatDigest(digest.get(id)!)))}::text[]) as u(id, allocated, digest)
      where v.id = u.id`);
  }

  /** Bytes of an extent at `index` of a VVOL of `provisionedBytes` (the last extent may be short). */
  bytesAt(index: number, provisionedBytes: number): number {
    return this.lengthOf(index, provisionedBytes);
  }

  /** Makes `targetId` hold exactly the extents of `sourceId` (shared, not copied): snapshot, fast clone, revert. */
  async copyMap(db: Executor, sourceId: string, targetId: string): Promise<void> {
    await db.delete(extents).where(eq(extents.vvolId, targetId));
    await db.execute(sql`
      insert into ${extents} (vvol_id, idx, content_id, tier)
      select ${targetId}::uuid, idx, content_id, tier from ${extents} where vvol_id = ${sourceId}::uuid`);
    await db.execute(sql`
      update ${virtualVolumes} t set
        content_digest = s.content_digest,
        allocated_bytes = (select coalesce(sum(least(${this.extentBytes}::bigint, t.provisioned_bytes - e.idx::bigint * ${this.extentBytes}::bigint)), 0)
                           from ${extents} e where e.vvol_id = t.id)
      from ${virtualVolumes} s where s.id = ${sourceId}::uuid and t.id = ${targetId}::uuid`);
  }

  async map(db: Executor, vvolId: string): Promise<{ index: number; contentId: bigint }[]> {
    return db
      .select({ index: extents.index, contentId: extents.contentId })
      .from(extents)
      .where(eq(extents.vvolId, vvolId))
      .orderBy(extents.index);
  }

  /** VASA allocatedBitmap: the written extents of a VVOL, optionally within [offset, offset+length). */
  async allocated(db: Executor, vvolId: string, provisionedBytes: number, window?: { offsetBytes: number; lengthBytes: number }): Promise<ExtentRange[]> {
    const rows = await this.map(db, vvolId);
    return this.ranges(rows, provisionedBytes, window);
  }

  /** VASA unsharedBitmap: extents of `vvolId` whose content `baseId` does not hold (what an incremental backup reads). */
  async unshared(db: Executor, vvolId: string, baseId: string, provisionedBytes: number, window?: { offsetBytes: number; lengthBytes: number }): Promise<ExtentRange[]> {
    const rows = resultRows<{ idx: number; content_id: string }>(
      await db.execute(sql`
        select e.idx, e.content_id::text as content_id from ${extents} e
        left join ${extents} b on b.vvol_id = ${baseId}::uuid and b.idx = e.idx
        where e.vvol_id = ${vvolId}::uuid and (b.content_id is null or b.content_id <> e.content_id)
        order by e.idx`),
    );
    return this.ranges(rows.map((r) => ({ index: r.idx, contentId: BigInt(r.content_id) })), provisionedBytes, window);
  }

  private ranges(rows: { index: number; contentId: bigint }[], provisionedBytes: number, window?: { offsetBytes: number; lengthBytes: number }): ExtentRange[] {
    const from = window?.offsetBytes ?? 0;
    const to = window ? window.offsetBytes + window.lengthBytes : Number.MAX_SAFE_INTEGER;
    return rows
      .map((r) => ({ index: r.index, offsetBytes: r.index * this.extentBytes, lengthBytes: this.lengthOf(r.index, provisionedBytes), contentId: r.contentId }))
      .filter((r) => r.offsetBytes < to && r.offsetBytes + r.lengthBytes > from);
  }

  /**
   * Bytes each VVOL holds that no other VVOL shares: for snapshots and fast clones, the extents whose
   * content differs from the parent's; for everything else, all its written extents. One statement.
   */
  async uniqueBytes(db: Executor, vvolIds: readonly string[]): Promise<Map<string, number>> {
    if (vvolIds.length === 0) return new Map();
    const rows = resultRows<{ vvol_id: string; bytes: string }>(
      await db.execute(sql`
        select e.vvol_id, sum(least(${this.extentBytes}::bigint, v.provisioned_bytes - e.idx::bigint * ${this.extentBytes}::bigint))::text as bytes
        from ${extents} e
        join ${virtualVolumes} v on v.id = e.vvol_id
        left join ${extents} p on p.vvol_id = v.parent_id and p.idx = e.idx
        where e.vvol_id = any(${pgArray(vvolIds)}::uuid[])
          and (v.origin not in ('FAST_CLONE', 'SNAPSHOT') or p.content_id is null or p.content_id <> e.content_id)
        group by e.vvol_id`),
    );
    return new Map(rows.map((r) => [r.vvol_id, Number(r.bytes)]));
  }

  async deleteAll(db: Executor, vvolIds: string[]): Promise<void> {
    if (vvolIds.length > 0) await db.delete(extents).where(and(inArray(extents.vvolId, vvolIds)));
  }
}
