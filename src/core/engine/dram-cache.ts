/**
 * An array's DRAM (L1) cache: CLOCK (second chance, the usual approximation of LRU in controller caches)
 * over (owner, extent) keys, an owner being a number the caller gives each VVOL. Slots and an
 * open-addressing index (linear probing, at most half full, backward-shift deletion) live in typed arrays:
 * an access is O(1) amortised (the hand clears at most one reference bit per earlier hit) and allocates nothing.
 */
export class ClockCache {
  private readonly owners: Int32Array;
  private readonly extents: Int32Array;
  private readonly referenced: Uint8Array;
  /** Slot + 1 by hash of the key; 0 is empty. */
  private readonly index: Int32Array;
  private readonly mask: number;
  private hand = 0;
  size = 0;

  constructor(readonly capacity: number) {
    this.owners = new Int32Array(capacity);
    this.extents = new Int32Array(capacity);
    this.referenced = new Uint8Array(capacity);
    let length = 2;
    while (length < 2 * capacity) length *= 2;
    this.index = new Int32Array(length);
    this.mask = length - 1;
  }

  private home(owner: number, extent: number): number {
    const h = Math.imul(owner, 0x9e3779b1) ^ Math.imul(extent + 0x7f4a7c15, 0x85ebca6b);
    return (h ^ (h >>> 15)) & this.mask;
  }

  /** The index position holding the key, or the empty one where it would go (as ~position). */
  private find(owner: number, extent: number): number {
    for (let at = this.home(owner, extent); ; at = (at + 1) & this.mask) {
      const slot = this.index[at] - 1;
      if (slot < 0) return ~at;
      if (this.owners[slot] === owner && this.extents[slot] === extent) return at;
    }
  }

  has(owner: number, extent: number): boolean {
    return this.capacity > 0 && this.find(owner, extent) >= 0;
  }

  /** Looks the key up, marking it referenced on a hit and bringing it in on a miss; true on a hit. */
  access(owner: number, extent: number): boolean {
    if (this.capacity === 0) return false;
    const at = this.find(owner, extent);
    if (at >= 0) {
      this.referenced[this.index[at] - 1] = 1;
      return true;
    }
    let slot = this.size;
    let empty = ~at;
    if (slot < this.capacity) this.size++;
    else {
      while (this.referenced[this.hand] === 1) {
        this.referenced[this.hand] = 0;
        if (++this.hand === this.capacity) this.hand = 0;
      }
      slot = this.hand;
      if (++this.hand === this.capacity) this.hand = 0;
      this.unindex(this.find(this.owners[slot], this.extents[slot]));
      // The eviction may have moved the key's first empty position: look again.
      empty = ~this.find(owner, extent);
    }
    this.owners[slot] = owner;
    this.extents[slot] = extent;
    this.referenced[slot] = 0;
    this.index[empty] = slot + 1;
    return false;
  }

  /** Empties index position `at`, shifting back the entries after it that probed past it. */
  private unindex(at: number): void {
    let hole = at;
    for (let next = (hole + 1) & this.mask; this.index[next] !== 0; next = (next + 1) & this.mask) {
      const slot = this.index[next] - 1;
      const home = this.home(this.owners[slot], this.extents[slot]);
      // The entry at `next` may move to the hole unless its home lies cyclically in (hole, next].
      if (((next - home) & this.mask) >= ((next - hole) & this.mask)) {
        this.index[hole] = this.index[next];
        hole = next;
      }
    }
    this.index[hole] = 0;
  }
}

/** Service time of a read served from an array's DRAM cache. */
export const DRAM_SERVICE_TIME_MS = 0.1;
/** Service time of an access nothing faster serves: the SAS disks. */
export const BASE_SERVICE_TIME_MS = 5;
/**
 * Accesses sampled per array per tick at most: each VVOL's share of them is its share of the array's
 * served I/Os, so every sampled access of an array stands for about the same number of I/Os.
 */
export const SAMPLED_ACCESSES_PER_ARRAY = 32_768;
/** Slices of a tick in which the array's VVOLs' accesses interleave, so no VVOL's stream goes wholly first. */
const SLICES = 32;

/** What sampling needs of a VVOL's tick I/O (the engine's TickIo). */
export interface SampledVolume {
  vvolId: string;
  arrayId: string;
  readIops: number;
  writeIops: number;
  servedIops: number;
  /** A FAST clone's bases, nearest first: an extent it still shares with one is that base's block in the cache. */
  lineage: readonly string[];
  /** `count` extent indexes accessed this tick, each standing for `iosPerAccess` I/Os. */
  drawAccesses(count: number, iosPerAccess: number): number[];
  sampled: Sample;
}

/** A VVOL's sampled accesses of a tick, in the order drawn (VolumeIo.sampled). */
export interface Sample {
  /** The extent index of each access. */
  extents: readonly number[];
  /** The I/Os each access stands for. */
  iosPerAccess: number;
  /** 1 where the access is a write (writes spread evenly over the stream by the VVOL's write share). */
  writes: readonly number[];
  /** 1 where the access is a read the array's DRAM cache served: what is behind it never sees that access. */
  dramHits: readonly number[];
  /**
   * Each access's service time in ms: DRAM hits DRAM_SERVICE_TIME_MS, the others BASE_SERVICE_TIME_MS until a
   * serve hook sets the time of what serves them (the tiers, then a cache in front of them). The VVOL's
   * service time is their mean.
   */
  serviceTimesMs: number[];
}

export const NO_SAMPLE: Sample = { extents: [], iosPerAccess: 0, writes: [], dramHits: [], serviceTimesMs: [] };

/** Each allocated extent's content term by index (ExtentStore.contentTerms): equal terms at an index, equal content. */
export type ContentTerms = (vvolId: string) => ReadonlyMap<number, bigint> | undefined;

/**
 * The DRAM caches of the arrays one engine ticks, in memory (a restart starts them cold). Each tick it
 * samples every running VVOL's accesses, at one stride per array, and runs them through the array's
 * cache in time order: a read of a cached extent is a DRAM hit, and the caches and tiers behind (the
 * serve hooks) never see it. A uniform stride keeps the VVOLs' shares of the shared cache as their real
 * I/O rates make them (a per-VVOL cap would make a VVOL at 50,000 IOPS look no busier than one at 256).
 * The cache holds blocks, not VVOL extents: a FAST clone's read of an extent whose content it still shares
 * with its base (the same term, written in neither, or in neither since the clone) is the base's block, so a
 * hundred clones booting from one golden image share its cached blocks; a write is the clone's own (copy on write).
 */
export class DramCaches {
  private readonly byArray = new Map<string, ClockCache>();
  /** Each VVOL's owner number; a VVOL whose content was replaced (a revert) gets a new one, so its old extents age out. */
  private readonly owners = new Map<string, { owner: number; epoch: number; carry: number }>();
  private nextOwner = 0;

  /** Extents cached in an array's DRAM (0 for one not ticked here). */
  usedExtents(arrayId: string): number {
    return this.byArray.get(arrayId)?.size ?? 0;
  }

  serve(io: readonly SampledVolume[], cacheBytes: ReadonlyMap<string, number>, extentBytes: number, seconds: number, epochOf: (vvolId: string) => number, termsOf: ContentTerms = () => undefined): void {
    const byArray = new Map<string, SampledVolume[]>();
    for (const v of io) {
      const group = byArray.get(v.arrayId);
      if (group) group.push(v);
      else byArray.set(v.arrayId, [v]);
    }
    for (const [arrayId, volumes] of byArray) {
      const slots = Math.floor((cacheBytes.get(arrayId) ?? 0) / extentBytes);
      let cache = this.byArray.get(arrayId);
      if (cache?.capacity !== slots) this.byArray.set(arrayId, (cache = new ClockCache(slots)));
      this.serveArray(volumes, cache, seconds, epochOf, termsOf);
    }
    if (this.owners.size > 2 * io.length + 1024) {
      const live = new Set(io.flatMap((v) => [v.vvolId, ...v.lineage]));
      for (const id of this.owners.keys()) if (!live.has(id)) this.owners.delete(id);
    }
  }

  private serveArray(volumes: readonly SampledVolume[], cache: ClockCache, seconds: number, epochOf: (vvolId: string) => number, termsOf: ContentTerms): void {
    let total = 0;
    for (const v of volumes) total += v.servedIops * seconds;
    const stride = Math.max(1, total / SAMPLED_ACCESSES_PER_ARRAY);
    // A VVOL with any I/O gets at least one access, so each has a service time of its own in every tick. One whose
    // share is less than an access would weigh more than its I/O in the shared cache: its access brings its extent
    // in only as often as its I/O adds up to a whole access (a carry kept from tick to tick), and else only looks.
    const counts = volumes.map((v) => (v.servedIops * seconds > 0 ? Math.max(1, Math.round((v.servedIops * seconds) / stride)) : 0));
    const looksOnly = new Uint8Array(volumes.length);
    const n = counts.reduce((sum, count) => sum + count, 0);
    // The array's accesses side by side for the cache's pass; each VVOL's results go to plain arrays of its own
    // (a typed-array view per VVOL cost more than all its accesses: ~0.6 µs each, tens of thousands a tick).
    const writes = new Uint8Array(n);
    const owners = new Int32Array(n);
    const keys = new Int32Array(n);
    const volumeOf = new Int32Array(n);
    /** Where each VVOL's accesses begin among the array's. */
    const firstOf = new Int32Array(volumes.length);
    /** How many of the array's accesses fall in each slice, then where each slice's next one goes. */
    const sliceStart = new Int32Array(SLICES + 1);
    // Plain loops, no closures: a closure made per VVOL, or a counter it captures, costs more than the accesses.
    for (let j = 0, offset = 0; j < volumes.length; j++) {
      const v = volumes[j];
      const count = counts[j];
      firstOf[j] = offset;
      if (count === 0) {
        v.sampled = NO_SAMPLE;
        continue;
      }
      const iosPerAccess = (v.servedIops * seconds) / count;
      const extents = v.drawAccesses(count, iosPerAccess);
      const demand = v.readIops + v.writeIops;
      const writeShare = demand > 0 ? v.writeIops / demand : 0;
      const entry = this.ownerOf(v.vvolId, epochOf(v.vvolId));
      const owner = entry.owner;
      const share = (v.servedIops * seconds) / stride;
      if (share < 1) {
        entry.carry += share;
        if (entry.carry >= 1) entry.carry -= 1;
        else looksOnly[j] = 1;
      }
      const volumeWrites = new Array<number>(count);
      const bases = v.lineage.length > 0 ? this.basesOf(v, epochOf, termsOf) : null;
      for (let i = 0; i < count; i++) {
        // Access i is a write when floor((i + 1)·w) passes an integer: the writes spread evenly, deterministically.
        volumeWrites[i] = writes[offset + i] = Math.floor((i + 1) * writeShare) > Math.floor(i * writeShare) ? 1 : 0;
        owners[offset + i] = bases && volumeWrites[i] === 0 ? blockOwner(owner, bases, extents[i]) : owner;
        keys[offset + i] = extents[i];
        volumeOf[offset + i] = j;
        sliceStart[1 + Math.floor((i * SLICES) / count)]++;
      }
      v.sampled = { extents, iosPerAccess, writes: volumeWrites, dramHits: new Array<number>(count).fill(0), serviceTimesMs: new Array<number>(count).fill(BASE_SERVICE_TIME_MS) };
      offset += count;
    }
    for (let s = 1; s <= SLICES; s++) sliceStart[s] += sliceStart[s - 1];
    // The accesses in time order: slice by slice, in each the VVOLs in demand order, each's accesses in the order drawn.
    const order = new Int32Array(n);
    for (let j = 0; j < counts.length; j++) {
      const count = counts[j];
      for (let i = 0; i < count; i++) order[sliceStart[Math.floor((i * SLICES) / count)]++] = firstOf[j] + i;
    }
    for (let k = 0; k < n; k++) {
      const a = order[k];
      const j = volumeOf[a];
      if ((looksOnly[j] === 1 ? cache.has(owners[a], keys[a]) : cache.access(owners[a], keys[a])) && writes[a] === 0) {
        const sample = volumes[j].sampled;
        (sample.dramHits as number[])[a - firstOf[j]] = 1;
        sample.serviceTimesMs[a - firstOf[j]] = DRAM_SERVICE_TIME_MS;
      }
    }
  }

  /** A clone's own terms, then each base's owner number and terms; null where a VVOL's terms are not known (it shares nothing then). */
  private basesOf(v: SampledVolume, epochOf: (vvolId: string) => number, termsOf: ContentTerms): Bases | null {
    const own = termsOf(v.vvolId);
    if (!own) return null;
    const bases: { owner: number; terms: ReadonlyMap<number, bigint> }[] = [];
    for (const id of v.lineage) {
      const terms = termsOf(id);
      if (!terms) break;
      bases.push({ owner: this.ownerOf(id, epochOf(id)).owner, terms });
    }
    return { own, bases };
  }

  private ownerOf(vvolId: string, epoch: number): { owner: number; epoch: number; carry: number } {
    let entry = this.owners.get(vvolId);
    if (entry?.epoch !== epoch) this.owners.set(vvolId, (entry = { owner: this.nextOwner++ | 0, epoch, carry: 0 }));
    return entry;
  }
}

interface Bases {
  own: ReadonlyMap<number, bigint>;
  bases: readonly { owner: number; terms: ReadonlyMap<number, bigint> }[];
}

/** Whose block a clone's extent is: the farthest base that holds the same content at that index, through every base between. */
function blockOwner(owner: number, { own, bases }: Bases, extent: number): number {
  let term = own.get(extent);
  for (const base of bases) {
    const baseTerm = base.terms.get(extent);
    if (baseTerm !== term) break;
    owner = base.owner;
    term = baseTerm;
  }
  return owner;
}
