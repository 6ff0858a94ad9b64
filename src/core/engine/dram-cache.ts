/**
 * An array's DRAM (L1) cache: CLOCK (second chance, the usual approximation of LRU in controller caches)
 * over extent keys. Slots live in typed arrays and one Map finds a key's slot, so an access is O(1)
 * amortised (the hand clears at most one reference bit per earlier hit) and nothing is allocated per access.
 */
export class ClockCache {
  private readonly slotOf = new Map<number, number>();
  private keys: Float64Array;
  private referenced: Uint8Array;
  private hand = 0;

  constructor(private slots: number) {
    this.keys = new Float64Array(slots);
    this.referenced = new Uint8Array(slots);
  }

  get capacity(): number {
    return this.slots;
  }

  get size(): number {
    return this.slotOf.size;
  }

  has(key: number): boolean {
    return this.slotOf.has(key);
  }

  /** Looks `key` up, marking it referenced on a hit and bringing it in on a miss; true on a hit. */
  access(key: number): boolean {
    const slot = this.slotOf.get(key);
    if (slot !== undefined) {
      this.referenced[slot] = 1;
      return true;
    }
    if (this.slots === 0) return false;
    let free = this.slotOf.size;
    if (free >= this.slots) {
      while (this.referenced[this.hand] === 1) {
        this.referenced[this.hand] = 0;
        this.hand = (this.hand + 1) % this.slots;
      }
      free = this.hand;
      this.slotOf.delete(this.keys[free]);
      this.hand = (this.hand + 1) % this.slots;
    }
    this.keys[free] = key;
    this.referenced[free] = 0;
    this.slotOf.set(key, free);
    return false;
  }
}

/** Service time of a read served from an array's DRAM cache. */
export const DRAM_SERVICE_TIME_MS = 0.1;
/**
 * Accesses sampled per array per tick at most: each VVOL's share of them is its share of the array's
 * served I/Os, so every sampled access of an array stands for about the same number of I/Os.
 */
export const SAMPLED_ACCESSES_PER_ARRAY = 131_072;
/** Slices of a tick in which the array's VVOLs' accesses interleave, so no VVOL's stream goes wholly first. */
const SLICES = 32;
/** Extents per VVOL a cache key can tell apart (2^26 × 32 MiB = 2 PiB, over any VVOL size). */
const EXTENTS_PER_KEY_BASE = 2 ** 26;

/** What sampling needs of a VVOL's tick I/O (the engine's TickIo). */
export interface SampledVolume {
  vvolId: string;
  arrayId: string;
  readIops: number;
  writeIops: number;
  servedIops: number;
  /** Draws `count` accesses, each standing for an equal share of the tick's served I/Os, and keeps them as the tick's sample. */
  takeSample(count: number): Sample;
}

/** A VVOL's sampled accesses of a tick, in the order drawn (VolumeIo.sampled). */
export interface Sample {
  /** The extent index of each access. */
  extents: readonly number[];
  /** The I/Os each access stands for. */
  iosPerAccess: number;
  /** 1 where the access is a write (writes spread evenly over the stream by the VVOL's write share). */
  writes: Uint8Array;
  /** 1 where the access is a read the array's DRAM cache served: what is behind it never sees that access. */
  dramHits: Uint8Array;
  /**
   * Each access's service time in ms: DRAM hits DRAM_SERVICE_TIME_MS, the others BASE_SERVICE_TIME_MS until a
   * serve hook sets the time of what serves them (the tiers, then a cache in front of them). The VVOL's
   * service time is their mean.
   */
  serviceTimesMs: Float64Array;
}

export const NO_SAMPLE: Sample = { extents: [], iosPerAccess: 0, writes: new Uint8Array(0), dramHits: new Uint8Array(0), serviceTimesMs: new Float64Array(0) };

/**
 * The DRAM caches of the arrays one engine ticks, in memory (a restart starts them cold). Each tick it
 * samples every running VVOL's accesses, at one stride per array, and runs them through the array's
 * cache in time order: a read of a cached extent is a DRAM hit, and the caches and tiers behind (the
 * serve hooks) never see it. A uniform stride keeps the VVOLs' shares of the shared cache as their real
 * I/O rates make them (a per-VVOL cap would make a VVOL at 50,000 IOPS look no busier than one at 256).
 */
export class DramCaches {
  private readonly byArray = new Map<string, ClockCache>();
  /** Each VVOL's key base; a VVOL whose content was replaced (a revert) gets a new one, so its old extents age out. */
  private readonly keyBases = new Map<string, { base: number; epoch: number }>();
  private nextBase = 0;

  /** Extents cached in an array's DRAM (0 for one not ticked here). */
  usedExtents(arrayId: string): number {
    return this.byArray.get(arrayId)?.size ?? 0;
  }

  serve(io: readonly SampledVolume[], cacheBytes: ReadonlyMap<string, number>, extentBytes: number, seconds: number, epochOf: (vvolId: string) => number): void {
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
      this.serveArray(volumes, cache, seconds, epochOf);
    }
    if (this.keyBases.size > 2 * io.length + 1024) {
      const live = new Set(io.map((v) => v.vvolId));
      for (const id of this.keyBases.keys()) if (!live.has(id)) this.keyBases.delete(id);
    }
  }

  private serveArray(volumes: readonly SampledVolume[], cache: ClockCache, seconds: number, epochOf: (vvolId: string) => number): void {
    let total = 0;
    for (const v of volumes) total += v.servedIops * seconds;
    const stride = Math.max(1, total / SAMPLED_ACCESSES_PER_ARRAY);
    // A VVOL with any I/O gets at least one access, so each has a service time of its own in every tick.
    const samples = volumes.map((v) => {
      const ios = v.servedIops * seconds;
      return ios > 0 ? v.takeSample(Math.max(1, Math.round(ios / stride))) : NO_SAMPLE;
    });
    const bases = volumes.map((v) => this.keyBase(v.vvolId, epochOf(v.vvolId)));
    const next = new Int32Array(volumes.length);
    for (let slice = 1; slice <= SLICES; slice++) {
      for (let j = 0; j < volumes.length; j++) {
        const { extents, writes, dramHits, serviceTimesMs } = samples[j];
        const end = Math.floor((slice * extents.length) / SLICES);
        for (let i = next[j]; i < end; i++) {
          if (cache.access(bases[j] + extents[i]) && writes[i] === 0) {
            dramHits[i] = 1;
            serviceTimesMs[i] = DRAM_SERVICE_TIME_MS;
          }
        }
        next[j] = end;
      }
    }
  }

  private keyBase(vvolId: string, epoch: number): number {
    let entry = this.keyBases.get(vvolId);
    if (entry?.epoch !== epoch) this.keyBases.set(vvolId, (entry = { base: this.nextBase++ * EXTENTS_PER_KEY_BASE, epoch }));
    return entry.base;
  }
}
