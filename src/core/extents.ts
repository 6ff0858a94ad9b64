import { eq, sql } from 'drizzle-orm';
import { ValidationError } from './errors.ts';
import { anyOf, type Executor, pgArray, resultRows } from './db/client.ts';
import { CONTENT_BLOCK, extents, virtualVolumes } from './db/tables.ts';
import { ExtentMemory, type KnownContent } from './extent-memory.ts';
import { contentIdOf, digestTerm } from './content-hash.ts';

export const DEFAULT_EXTENT_BYTES = 32 * 1024 * 1024;

const MASK64 = (1n << 64n) - 1n;

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

/** A VVOL changed in memory, with the digest and size its row must still hold for the change to be saved as computed. */
interface Save {
  content: KnownContent;
  expectedDigest: bigint;
  expectedBytes: number;
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

  /**
   * What this process knows of each VVOL's content it has written (the array's controller memory): size,
   * allocated bytes, digest and each extent's share of the digest. It lets a write go without reading the
   * map first. It is checked, not trusted: every save of a VVOL's digest names the digest and size it was
   * computed from, and a VVOL whose row says otherwise (changed by another process, or by a transaction
   * of this one that rolled back) is read again from the database and its digest recomputed.
   */
  private readonly known = new ExtentMemory();

  /** Writes fresh content to the given extents of many VVOLs with a fixed number of statements; returns what it wrote. */
  async write(db: Executor, writes: ExtentWrite[]): Promise<ExtentContent[]> {
    const byVvol = new Map<string, Set<number>>();
    for (const w of writes) {
      const set = byVvol.get(w.vvolId) ?? new Set<number>();
      for (const i of w.indexes) set.add(i);
      byVvol.set(w.vvolId, set);
    }
    if (byVvol.size === 0) return [];
    const contents = await this.contentsOf(db, byVvol);
    const pairs: { vvolId: string; index: number }[] = [];
    for (const [vvolId, indexes] of byVvol) for (const index of indexes) pairs.push({ vvolId, index });

    const sequence = await this.drawNumbers(db, pairs.length);
    const saves = new Map<string, Save>();
    const rows = pairs.map((p, i): ExtentContent & { contentId: bigint } => {
      const contentId = contentIdOf(sequence(i));
      this.change(saves, p.vvolId, contents.get(p.vvolId)!, p.index, contentId);
      return { vvolId: p.vvolId, index: p.index, contentId };
    });

    // One statement with array parameters (a multi-row VALUES list would carry three parameters per row);
    // each VVOL id is sent once and rows name it by its place in that array.
    const places = new Map([...byVvol.keys()].map((id, i) => [id, i + 1]));
    await db.execute(sql`
      insert into ${extents} (vvol_id, idx, content_id)
      select (${pgArray([...byVvol.keys()])}::uuid[])[w.place], w.idx, w.content_id
      from unnest(${pgArray(rows.map((r) => places.get(r.vvolId)!))}::int[], ${pgArray(rows.map((r) => r.index))}::int[],
                  ${pgArray(rows.map((r) => r.contentId.toString()))}::bigint[]) as w(place, idx, content_id)
      on conflict (vvol_id, idx) do update set content_id = excluded.content_id`);
    await this.save(db, saves);
    return rows;
  }

  /** `count` numbers never drawn before, as a function of their place: whole blocks of content_seq, one value each. */
  private async drawNumbers(db: Executor, count: number): Promise<(place: number) => number> {
    const blocks = resultRows<{ start: string }>(
      await db.execute(sql`select nextval('content_seq')::text as start from generate_series(1, ${Math.ceil(count / CONTENT_BLOCK)}::int)`),
    ).map((r) => Number(r.start));
    // Blocks of 2^20: the sequence passes 2^53, where numbers stop being exact, only after 2^33 of them.
    if (!blocks.every((start) => Number.isSafeInteger(start + CONTENT_BLOCK))) throw new Error('content_seq has run past 2^53');
    return (place) => blocks[Math.floor(place / CONTENT_BLOCK)] + (place % CONTENT_BLOCK);
  }

  /**
   * Gives extents of many VVOLs the given content ids (a copy: the target then shares the source's
   * content), or trims them (null); allocatedBytes and contentDigest follow. A fixed number of statements.
   */
  async assign(db: Executor, assigned: readonly ExtentContent[]): Promise<void> {
    if (assigned.length === 0) return;
    const latest = new Map<string, ExtentContent>();
    for (const c of assigned) latest.set(`${c.vvolId}/${c.index}`, c);
    const entries = [...latest.values()];
    const byVvol = new Map<string, Set<number>>();
    for (const e of entries) byVvol.set(e.vvolId, (byVvol.get(e.vvolId) ?? new Set()).add(e.index));
    const contents = await this.contentsOf(db, byVvol, false);
    const saves = new Map<string, Save>();
    for (const e of entries) this.change(saves, e.vvolId, contents.get(e.vvolId)!, e.index, e.contentId);
    const stored = entries.filter((e) => e.contentId !== null);
    // Trims are deleted whether or not memory says the extent exists: a delete of nothing costs nothing.
    const trimmed = entries.filter((e) => e.contentId === null);
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
    await this.save(db, saves);
  }

  /**
   * The known content of each VVOL about to change, read from the database for those not known yet (two
   * statements, only then). Checks every index against the volume's size, reading a volume again once
   * if memory calls an index outside it (the volume may have grown elsewhere).
   */
  private async contentsOf(db: Executor, indexesByVvol: ReadonlyMap<string, ReadonlySet<number>>, checkBounds = true): Promise<Map<string, KnownContent>> {
    const outside = (vvolId: string, content: KnownContent) => {
      const count = this.extentCount(content.provisionedBytes);
      return [...indexesByVvol.get(vvolId)!].find((index) => !Number.isInteger(index) || index < 0 || index >= count);
    };
    await this.load(db, [...indexesByVvol.keys()].filter((id) => !this.known.has(id)));
    if (checkBounds) {
      const doubtful = [...indexesByVvol.keys()].filter((id) => this.known.has(id) && outside(id, this.known.get(id)!) !== undefined);
      this.forget(doubtful);
      await this.load(db, doubtful);
    }
    const contents = new Map<string, KnownContent>();
    for (const vvolId of indexesByVvol.keys()) {
      const content = this.known.get(vvolId);
      if (!content) throw new ValidationError('vvolId', `No virtual volume ${vvolId}`);
      const index = checkBounds ? outside(vvolId, content) : undefined;
      if (index !== undefined) throw new ValidationError('indexes', `Extent ${index} is outside ${vvolId} (0..${this.extentCount(content.provisionedBytes) - 1})`);
      contents.set(vvolId, content);
    }
    return contents;
  }

  /** Reads what the database holds of these VVOLs into memory (their rows, and the maps of those with data). */
  private async load(db: Executor, vvolIds: readonly string[]): Promise<void> {
    if (vvolIds.length === 0) return;
    const vvols = await db
      .select({ id: virtualVolumes.id, provisionedBytes: virtualVolumes.provisionedBytes, allocatedBytes: virtualVolumes.allocatedBytes, contentDigest: virtualVolumes.contentDigest })
      .from(virtualVolumes)
      .where(anyOf(virtualVolumes.id, [...vvolIds]));
    const loaded = new Map(vvols.map((v) => [v.id, { provisionedBytes: v.provisionedBytes, allocatedBytes: v.allocatedBytes, digest: parseDigest(v.contentDigest), terms: new Map<number, bigint>() }]));
    const withData = vvols.filter((v) => v.allocatedBytes > 0).map((v) => v.id);
    if (withData.length > 0) {
      const rows = resultRows<{ vvol_id: string; idx: number; content_id: string }>(
        await db.execute(sql`select vvol_id::text as vvol_id, idx, content_id::text as content_id from ${extents} where vvol_id = any(${pgArray(withData)}::uuid[])`),
      );
      for (const r of rows) loaded.get(r.vvol_id)!.terms.set(r.idx, digestTerm(r.idx, BigInt(r.content_id)));
    }
    for (const [id, content] of loaded) this.known.set(id, content);
  }

  /**
   * The dirty-extent bitmap of each pair (a, b) (indexes where the content differs, bytes sized by a),
   * from memory: the difference of a pair is worked out once and then kept as writes, mirrors and copies
   * change either side, for as long as both VVOLs stay in memory (tickEnded forgets what ticks stop using).
   * One statement checks that memory still holds what the database does (every VVOL's digest and size);
   * VVOLs that differ are read again.
   */
  async differing(db: Executor, pairs: readonly (readonly [string, string])[]): Promise<Map<string, { indexes: number[]; bytes: number }>> {
    const ids = [...new Set(pairs.flat())];
    await this.load(db, ids.filter((id) => !this.known.has(id)));
    const rows = ids.length === 0 ? [] : await db
      .select({ id: virtualVolumes.id, provisionedBytes: virtualVolumes.provisionedBytes, contentDigest: virtualVolumes.contentDigest })
      .from(virtualVolumes)
      .where(anyOf(virtualVolumes.id, ids));
    const stale = rows.filter((r) => {
      const content = this.known.get(r.id);
      return !content || content.provisionedBytes !== r.provisionedBytes || formatDigest(content.digest) !== r.contentDigest;
    });
    this.forget(stale.map((r) => r.id));
    await this.load(db, stale.map((r) => r.id));
    const result = new Map<string, { indexes: number[]; bytes: number }>();
    for (const [a, b] of pairs) {
      const size = this.known.get(a)?.provisionedBytes;
      if (size === undefined || !this.known.has(b)) throw new ValidationError('vvolId', `No virtual volume ${size === undefined ? a : b}`);
      const indexes = [...this.known.difference(a, b)].sort((x, y) => x - y);
      // An index past a's end (b, an RV, is larger and holds data there) is a trim on b when copying a onto it: no bytes.
      result.set(`${a}/${b}`, { indexes, bytes: indexes.reduce((sum, index) => sum + Math.max(0, this.lengthOf(index, size)), 0) });
    }
    return result;
  }

  /** Applies one extent's new content (null: trimmed) to a VVOL's known content, remembering what the save must check. */
  private change(saves: Map<string, Save>, vvolId: string, content: KnownContent, index: number, contentId: bigint | null): void {
    if (!saves.has(vvolId)) saves.set(vvolId, { content, expectedDigest: content.digest, expectedBytes: content.provisionedBytes });
    const before = content.terms.get(index);
    let sum = content.digest;
    if (before !== undefined) sum -= before;
    const length = this.lengthOf(index, content.provisionedBytes);
    if (contentId === null) {
      content.terms.delete(index);
      if (before !== undefined) content.allocatedBytes -= length;
    } else {
      const term = digestTerm(index, contentId);
      sum += term;
      content.terms.set(index, term);
      if (before === undefined) content.allocatedBytes += length;
    }
    content.digest = sum & MASK64;
    this.known.changed(vvolId, index);
  }

  /**
   * Writes the new digests and allocated bytes in one statement, each only where the row still holds the
   * digest and size it was computed from; the VVOLs where it did not are read again and recomputed.
   */
  private async save(db: Executor, saves: ReadonlyMap<string, Save>): Promise<void> {
    if (saves.size === 0) return;
    const ids = [...saves.keys()];
    const list = [...saves.values()];
    const stale = resultRows<{ id: string }>(
      await db.execute(sql`
        with saved as (
          update ${virtualVolumes} v set
            allocated_bytes = case when v.content_digest = u.expected and v.provisioned_bytes = u.size then u.allocated else v.allocated_bytes end,
            content_digest = case when v.content_digest = u.expected and v.provisioned_bytes = u.size then u.digest else v.content_digest end
          from unnest(${pgArray(ids)}::uuid[], ${pgArray(list.map((s) => s.content.allocatedBytes))}::bigint[], ${pgArray(list.map((s) => formatDigest(s.content.digest)))}::text[],
                      ${pgArray(list.map((s) => formatDigest(s.expectedDigest)))}::text[], ${pgArray(list.map((s) => s.expectedBytes))}::bigint[]) as u(id, allocated, digest, expected, size)
          where v.id = u.id
          returning v.id, v.content_digest = u.digest as saved
        )
        select id::text as id from saved where not saved`),
    ).map((r) => r.id);
    if (stale.length > 0) await this.recompute(db, stale);
  }

  /** Recomputes digest and allocated bytes of VVOLs from the database's maps, and knows them afresh. */
  private async recompute(db: Executor, vvolIds: readonly string[]): Promise<void> {
    this.forget(vvolIds);
    const vvols = await db.select({ id: virtualVolumes.id, provisionedBytes: virtualVolumes.provisionedBytes }).from(virtualVolumes).where(anyOf(virtualVolumes.id, [...vvolIds]));
    const rows = resultRows<{ vvol_id: string; idx: number; content_id: string }>(
      await db.execute(sql`select vvol_id::text as vvol_id, idx, content_id::text as content_id from ${extents} where vvol_id = any(${pgArray(vvolIds)}::uuid[])`),
    );
    const contents = new Map(vvols.map((v) => [v.id, { provisionedBytes: v.provisionedBytes, allocatedBytes: 0, digest: 0n, terms: new Map<number, bigint>() }]));
    for (const r of rows) {
      const content = contents.get(r.vvol_id)!;
      const term = digestTerm(r.idx, BigInt(r.content_id));
      content.terms.set(r.idx, term);
      content.digest = (content.digest + term) & MASK64;
      content.allocatedBytes += this.lengthOf(r.idx, content.provisionedBytes);
    }
    const list = [...contents.entries()];
    await db.execute(sql`
      update ${virtualVolumes} v set allocated_bytes = u.allocated, content_digest = u.digest
      from unnest(${pgArray(list.map(([id]) => id))}::uuid[], ${pgArray(list.map(([, c]) => c.allocatedBytes))}::bigint[],
                  ${pgArray(list.map(([, c]) => formatDigest(c.digest)))}::text[]) as u(id, allocated, digest)
      where v.id = u.id`);
    for (const [id, content] of contents) this.known.set(id, content);
  }

  /**
   * Brings these VVOLs' content into memory, reading only those it does not hold (two statements, only then), for
   * `contentTerms`. What it holds is the write path's: kept up to date by this process's writes and copies.
   */
  async remember(db: Executor, vvolIds: readonly string[]): Promise<void> {
    await this.load(db, vvolIds.filter((id) => !this.known.has(id)));
  }

  /** A remembered VVOL's content term by extent index (equal terms at an index: equal content), or undefined. */
  contentTerms(vvolId: string): ReadonlyMap<number, bigint> | undefined {
    return this.known.get(vvolId)?.terms;
  }

  /** Per VVOL whose map may have been replaced since this process started: a number that changes each time. */
  private readonly epochs = new Map<string, number>();
  private lastEpoch = 0;

  /** Drops what memory holds of these VVOLs (their maps were replaced in SQL, or changed elsewhere): the next write reads them. */
  forget(vvolIds: readonly string[]): void {
    this.known.forget(vvolIds);
    for (const id of vvolIds) this.epochs.set(id, ++this.lastEpoch);
  }

  /** These VVOLs are gone: nothing of them is kept. */
  deleted(vvolIds: readonly string[]): void {
    this.known.forget(vvolIds);
    for (const id of vvolIds) this.epochs.delete(id);
  }

  /**
   * Changes whenever the VVOL's map may have been replaced (a revert, a change another process made and a
   * write of this one found): what plugins keep per extent in memory (tiers, cache contents) is stale then.
   */
  contentEpoch(vvolId: string): number {
    return this.epochs.get(vvolId) ?? 0;
  }

  /** The engine's tick ended: what no write, copy or pair used in the last 64 ticks leaves memory. */
  tickEnded(): void {
    this.known.sweep(64);
  }

  /** Bytes of an extent at `index` of a VVOL of `provisionedBytes` (the last extent may be short). */
  bytesAt(index: number, provisionedBytes: number): number {
    return this.lengthOf(index, provisionedBytes);
  }

  /** Makes `targetId` hold exactly the extents of `sourceId` (shared, not copied): snapshot, fast clone, revert. */
  async copyMap(db: Executor, sourceId: string, targetId: string): Promise<void> {
    this.forget([targetId]);
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
}
