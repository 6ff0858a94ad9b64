/**
 * The L2 cache of NEC PerforCache (SSD behind the array's DRAM L1): S3-FIFO (Yang et al., SOSP'23) over
 * block ids, e.g. `extent * blocksPerExtent + block`.
 *
 * - small FIFO (S, ~10% of capacity): every new block enters here. Evicting from S moves a block that
 *   was hit while in S to the main FIFO (its counter cleared), and any other to the ghost FIFO: one-hit
 *   wonders leave quickly without polluting M.
 * - main FIFO (M, the rest): a block evicted from M with freq > 0 is reinserted at the head with freq - 1
 *   ("lazy promotion"); the first one with freq 0 leaves the cache.
 * - ghost FIFO (G, keys only, as many as M's share): a miss on a ghost key inserts it straight into M.
 * - freq is a 2-bit counter: +1 per hit, capped at 3.
 *
 * All three FIFOs are intrusive doubly linked lists and one Map indexes every node, so an access is O(1)
 * (amortised: each reinsertion in M spends a hit's increment) and memory is capacity + ghost nodes.
 *
 * `lruHits` and `beladyOptHits` are reference policies on read-only traces for the tests and the bench.
 */

export const cacheModes = ['READ_ONLY', 'READ_WRITE'] as const;
export type CacheMode = (typeof cacheModes)[number];
export type CacheQueue = 'SMALL' | 'MAIN' | 'GHOST';

const SMALL = 0;
const MAIN = 1;
const GHOST = 2;
const queueNames: readonly CacheQueue[] = ['SMALL', 'MAIN', 'GHOST'];
const MAX_FREQ = 3;

interface Node {
  key: number;
  freq: number;
  queue: number;
  /** Towards the head (newer). */
  prev: Node | null;
  /** Towards the tail (older). */
  next: Node | null;
}

class Fifo {
  head: Node | null = null;
  tail: Node | null = null;
  size = 0;

  constructor(readonly id: number) {}

  push(node: Node): void {
    node.queue = this.id;
    node.prev = null;
    node.next = this.head;
    if (this.head) this.head.prev = node;
    else this.tail = node;
    this.head = node;
    this.size++;
  }

  remove(node: Node): void {
    if (node.prev) node.prev.next = node.next;
    else this.head = node.next;
    if (node.next) node.next.prev = node.prev;
    else this.tail = node.prev;
    node.prev = node.next = null;
    this.size--;
  }

  clear(): void {
    this.head = this.tail = null;
    this.size = 0;
  }
}

export class S3FifoCache {
  readonly stats = { readHits: 0, readMisses: 0, writeHits: 0, writeMisses: 0 };
  private readonly index = new Map<number, Node>();
  private readonly small = new Fifo(SMALL);
  private readonly main = new Fifo(MAIN);
  private readonly ghost = new Fifo(GHOST);
  private capacity = 0;
  private smallTarget = 1;
  private ghostCapacity = 0;

  constructor(capacityBlocks: number, private mode: CacheMode) {
    this.resize(capacityBlocks);
  }

  /** Blocks cached now (S + M; ghost keys hold no data). */
  get size(): number {
    return this.small.size + this.main.size;
  }

  get capacityBlocks(): number {
    return this.capacity;
  }

  get cacheMode(): CacheMode {
    return this.mode;
  }

  /** Ghost keys remembered now (at most the main FIFO's share of the capacity). */
  get ghostSize(): number {
    return this.ghost.size;
  }

  /** Where a block is: for tests and diagnostics. */
  locate(key: number): CacheQueue | null {
    const node = this.index.get(key);
    return node ? queueNames[node.queue] : null;
  }

  /**
   * Returns true on a hit. READ_ONLY: reads are admitted and can hit; a write invalidates the block and is
   * a miss (write-through around the cache). READ_WRITE (write-back): writes are admitted and can hit too.
   */
  access(key: number, isWrite: boolean): boolean {
    const node = this.index.get(key);
    const cached = node !== undefined && node.queue !== GHOST;
    if (isWrite && this.mode === 'READ_ONLY') {
      if (cached) this.drop(node);
      this.stats.writeMisses++;
      return false;
    }
    if (cached) {
      if (node.freq < MAX_FREQ) node.freq++;
      if (isWrite) this.stats.writeHits++;
      else this.stats.readHits++;
      return true;
    }
    if (isWrite) this.stats.writeMisses++;
    else this.stats.readMisses++;
    if (this.capacity > 0) this.insert(key, node);
    return false;
  }

  /** Live resize: shrinking evicts by the algorithm until the blocks fit; 0 empties the cache and its ghost. */
  resize(capacityBlocks: number): void {
    if (!Number.isInteger(capacityBlocks) || capacityBlocks < 0) {
      throw new RangeError(`cache capacity must be a non-negative integer of blocks, got ${capacityBlocks}`);
    }
    this.capacity = capacityBlocks;
    this.smallTarget = Math.max(1, Math.round(capacityBlocks / 10));
    this.ghostCapacity = Math.max(0, capacityBlocks - this.smallTarget);
    if (capacityBlocks === 0) {
      this.index.clear();
      this.small.clear();
      this.main.clear();
      this.ghost.clear();
      return;
    }
    while (this.size > capacityBlocks) this.evict();
    this.trimGhost();
  }

  /** Drops every block and ghost, keeping capacity and statistics: the data they stood for was replaced (a revert). */
  invalidate(): void {
    const capacity = this.capacity;
    this.resize(0);
    this.resize(capacity);
  }

  setMode(mode: CacheMode): void {
    this.mode = mode;
  }

  resetStats(): void {
    this.stats.readHits = this.stats.readMisses = this.stats.writeHits = this.stats.writeMisses = 0;
  }

  /** Hit ratios; 0 for a kind with no accesses. */
  hitRatio(): { read: number; write: number; all: number } {
    const { readHits, readMisses, writeHits, writeMisses } = this.stats;
    const ratio = (hits: number, total: number) => (total > 0 ? hits / total : 0);
    return {
      read: ratio(readHits, readHits + readMisses),
      write: ratio(writeHits, writeHits + writeMisses),
      all: ratio(readHits + writeHits, readHits + readMisses + writeHits + writeMisses),
    };
  }

  private insert(key: number, ghostNode: Node | undefined): void {
    if (ghostNode) this.ghost.remove(ghostNode); // first, so that evicting cannot trim it from the ghost
    while (this.size >= this.capacity) this.evict();
    if (ghostNode) {
      ghostNode.freq = 0;
      this.main.push(ghostNode);
      return;
    }
    const node: Node = { key, freq: 0, queue: SMALL, prev: null, next: null };
    this.index.set(key, node);
    this.small.push(node);
  }

  /** Makes progress towards one eviction: S when it holds its share (or M is empty), else M. */
  private evict(): void {
    if (this.small.size >= this.smallTarget || this.main.size === 0) this.evictSmall();
    else this.evictMain();
  }

  /** Moves accessed tail blocks of S to M until one unaccessed block leaves for the ghost (or S empties). */
  private evictSmall(): void {
    for (let tail = this.small.tail; tail; tail = this.small.tail) {
      this.small.remove(tail);
      if (tail.freq > 0) {
        tail.freq = 0;
        this.main.push(tail);
      } else {
        this.ghost.push(tail);
        this.trimGhost();
        return;
      }
    }
  }

  /** Reinserts tail blocks of M with freq - 1 until one with freq 0 leaves the cache. */
  private evictMain(): void {
    for (let tail = this.main.tail; tail; tail = this.main.tail) {
      this.main.remove(tail);
      if (tail.freq > 0) {
        tail.freq--;
        this.main.push(tail);
      } else {
        this.index.delete(tail.key);
        return;
      }
    }
  }

  private trimGhost(): void {
    while (this.ghost.size > this.ghostCapacity) this.drop(this.ghost.tail!);
  }

  private drop(node: Node): void {
    (node.queue === SMALL ? this.small : node.queue === MAIN ? this.main : this.ghost).remove(node);
    this.index.delete(node.key);
  }
}

/** Hits of a classic LRU of `capacity` blocks on a read-only trace (a Map's insertion order is the recency list). */
export function lruHits(trace: ArrayLike<number>, capacity: number): number {
  if (capacity <= 0) return 0;
  const cache = new Map<number, true>();
  let hits = 0;
  for (let i = 0; i < trace.length; i++) {
    const key = trace[i];
    if (cache.delete(key)) hits++;
    else if (cache.size >= capacity) cache.delete(cache.keys().next().value!);
    cache.set(key, true);
  }
  return hits;
}

/**
 * Hits of Belady's OPT with bypass on a read-only trace: the most any policy can get. On a miss with the
 * cache full, the new block is not admitted if its own next use is farthest; otherwise the cached block
 * whose next use is farthest is evicted. O(n log n): next uses precomputed, a max-heap of next-use times.
 *
 * A next use is a trace position (or n + i for "never again"), unique per access, so the heap holds bare
 * positions. A hit at time i leaves a stale entry i in the heap, but every live entry is > i, so stale
 * entries never reach the top while the cache holds anything, and the top is only read when it is full.
 */
export function beladyOptHits(trace: ArrayLike<number>, capacity: number): number {
  const n = trace.length;
  if (capacity <= 0 || n === 0) return 0;
  const nextUse = new Float64Array(n);
  const seen = new Map<number, number>();
  for (let i = n - 1; i >= 0; i--) {
    nextUse[i] = seen.get(trace[i]) ?? n + i;
    seen.set(trace[i], i);
  }
  const heap = new Float64Array(n);
  let heapSize = 0;
  const push = (value: number) => {
    let i = heapSize++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (heap[parent] >= value) break;
      heap[i] = heap[parent];
      i = parent;
    }
    heap[i] = value;
  };
  const pop = () => {
    const top = heap[0];
    const last = heap[--heapSize];
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= heapSize) break;
      if (child + 1 < heapSize && heap[child + 1] > heap[child]) child++;
      if (heap[child] <= last) break;
      heap[i] = heap[child];
      i = child;
    }
    heap[i] = last;
    return top;
  };
  const cached = new Set<number>();
  let hits = 0;
  for (let i = 0; i < n; i++) {
    const key = trace[i];
    if (cached.has(key)) {
      hits++;
    } else if (cached.size < capacity) {
      cached.add(key);
    } else if (nextUse[i] < heap[0]) {
      const victim = pop();
      cached.delete(trace[victim < n ? victim : victim - n]);
      cached.add(key);
    } else {
      continue; // bypass: this block is needed later than every cached one
    }
    push(nextUse[i]);
  }
  return hits;
}
