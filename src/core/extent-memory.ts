/** What the ticking process knows of one VVOL's content. */
export interface KnownContent {
  provisionedBytes: number;
  allocatedBytes: number;
  digest: bigint;
  /** Each allocated extent's share of the digest, by index: equal terms at one index mean equal content. */
  terms: Map<number, bigint>;
}

/**
 * The extent store's memory (the array controller's): known content by VVOL, and for pairs of VVOLs
 * whose difference is followed (a replica pair's MV and RV), the indexes where their content differs,
 * kept up to date extent by extent as either side changes. Whoever reads from it checks it against the
 * database first (ExtentStore): a VVOL read again replaces what was known, and differences with it are
 * worked out afresh.
 */
export class ExtentMemory {
  private readonly known = new Map<string, KnownContent>();
  /** Differing indexes by pair key `a/b`. */
  private readonly differences = new Map<string, { a: string; b: string; indexes: Set<number> }>();
  /** Followed pair keys by VVOL (either side). */
  private readonly pairsOf = new Map<string, Set<string>>();
  /** The sweep round in which each known VVOL was last used. */
  private readonly usedIn = new Map<string, number>();
  private round = 0;

  get(vvolId: string): KnownContent | undefined {
    const content = this.known.get(vvolId);
    if (content) this.usedIn.set(vvolId, this.round);
    return content;
  }

  has(vvolId: string): boolean {
    return this.known.has(vvolId);
  }

  /** Knows a VVOL's content afresh (read from the database): differences with it are worked out again. */
  set(vvolId: string, content: KnownContent): void {
    this.known.set(vvolId, content);
    this.usedIn.set(vvolId, this.round);
    this.unfollow(vvolId);
  }

  forget(vvolIds: Iterable<string>): void {
    for (const id of vvolIds) {
      this.known.delete(id);
      this.usedIn.delete(id);
      this.unfollow(id);
    }
  }

  /**
   * Ends a round (the engine's tick); every `rounds` rounds, forgets the VVOLs nobody used in the last
   * `rounds` (a finished backup, a replica no longer followed), so memory holds what ticks keep using.
   */
  sweep(rounds: number): void {
    this.round += 1;
    if (this.round % rounds !== 0) return;
    this.forget([...this.usedIn].filter(([, round]) => round < this.round - rounds).map(([id]) => id));
  }

  /** The extent at `index` of `vvolId` has changed: the followed differences with it look at that index again. */
  changed(vvolId: string, index: number): void {
    const keys = this.pairsOf.get(vvolId);
    if (!keys) return;
    for (const key of keys) {
      const pair = this.differences.get(key)!;
      if (this.known.get(pair.a)!.terms.get(index) === this.known.get(pair.b)!.terms.get(index)) pair.indexes.delete(index);
      else pair.indexes.add(index);
    }
  }

  /**
   * The indexes where `a` and `b` differ (both must be known), followed from now on: worked out from
   * their maps the first time, then kept as they change, until either side is forgotten.
   */
  difference(a: string, b: string): ReadonlySet<number> {
    const key = `${a}/${b}`;
    const followed = this.differences.get(key);
    if (followed) return followed.indexes;
    const left = this.known.get(a)!.terms;
    const right = this.known.get(b)!.terms;
    const indexes = new Set<number>();
    for (const [index, term] of left) if (right.get(index) !== term) indexes.add(index);
    for (const index of right.keys()) if (!left.has(index)) indexes.add(index);
    this.differences.set(key, { a, b, indexes });
    for (const side of [a, b]) this.pairsOf.set(side, (this.pairsOf.get(side) ?? new Set()).add(key));
    return indexes;
  }

  private unfollow(vvolId: string): void {
    for (const key of this.pairsOf.get(vvolId) ?? []) {
      const pair = this.differences.get(key)!;
      this.drop(key, pair.a, pair.b);
    }
  }

  private drop(key: string, a: string, b: string): void {
    this.differences.delete(key);
    for (const side of [a, b]) {
      const keys = this.pairsOf.get(side);
      keys?.delete(key);
      if (keys?.size === 0) this.pairsOf.delete(side);
    }
  }
}
