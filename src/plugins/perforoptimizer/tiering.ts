/**
 * NEC PerforOptimizer, the pure model (DESIGN.md §6–§7): extent heat, the relocation plan of one
 * analysis interval, the relocation cycle's states and the share of I/O served from SSD.
 * No clock, no database: the engine drives it every tick.
 */
import type { PolicyRule } from '../../core/plugin.ts';

export type Tier = 'SSD' | 'SAS' | 'NL_SAS';
/** Fastest first: a tier's index here is its level (0 = SSD, 2 = NL_SAS). */
export const tiers: readonly Tier[] = ['SSD', 'SAS', 'NL_SAS'];

// ---------------------------------------------------------------------------------------------
// 1. Heat
// ---------------------------------------------------------------------------------------------

/**
 * What one I/O adds to its extent's heat. Random reads count most (they gain most from SSD), random
 * writes a little less (the array's write cache absorbs part of them), sequential I/O little (HDDs
 * stream well); transfer amount adds 0.1 per MiB, so a large transfer still counts for something.
 */
export const heatWeights = Object.freeze({ randomRead: 1.0, randomWrite: 0.8, sequential: 0.2, perMiB: 0.1 });

/** The I/O an extent received in one tick: counts, the share of them that was random (0..1), bytes moved. */
export interface IoSample {
  reads: number;
  writes: number;
  randomRatio: number;
  bytes: number;
}

/** The heat one tick's I/O adds to its extent. */
export function ioWeight({ reads, writes, randomRatio, bytes }: IoSample): number {
  const r = Math.min(1, Math.max(0, randomRatio));
  const w = heatWeights;
  return reads * (r * w.randomRead + (1 - r) * w.sequential)
    + writes * (r * w.randomWrite + (1 - r) * w.sequential)
    + (bytes / 1048576) * w.perMiB;
}

/** What moving one extent costs in heat terms (it is read and written once): a sensible PlanInput.minGain. */
export function moveCostHeat(extentBytes: number): number {
  return (2 * extentBytes / 1048576) * heatWeights.perMiB;
}

/**
 * Decaying heat per extent, keyed by a dense extent index: heat ← heat·exp(−dt/τ) + weight(io),
 * τ = halfLife / ln 2, i.e. heat halves every `halfLifeSeconds`.
 *
 * The store keeps heat / scale, and decay only shrinks `scale`: record and decay are O(1); the
 * array is renormalised (O(n)) only once the scale falls below 2^-256, i.e. after 256 half-lives.
 */
export class HeatMap {
  private stored: Float64Array;
  private scale = 1;

  private halfLife: number;

  constructor(halfLifeSeconds: number, initialExtents = 1024) {
    this.halfLife = HeatMap.checked(halfLifeSeconds);
    this.stored = new Float64Array(Math.max(1, initialExtents));
  }

  private static checked(halfLifeSeconds: number): number {
    if (!(halfLifeSeconds > 0) || !Number.isFinite(halfLifeSeconds)) throw new RangeError(`HeatMap: halfLifeSeconds must be > 0, got ${halfLifeSeconds}`);
    return halfLifeSeconds;
  }

  get halfLifeSeconds(): number {
    return this.halfLife;
  }

  /** From now on heat halves every `halfLifeSeconds` (the policy's analysis interval changed); the heat so far stays. */
  set halfLifeSeconds(halfLifeSeconds: number) {
    this.halfLife = HeatMap.checked(halfLifeSeconds);
  }

  /** τ of heat·exp(−dt/τ). */
  get tauSeconds(): number {
    return this.halfLifeSeconds / Math.LN2;
  }

  record(extent: number, io: IoSample): void {
    this.add(extent, ioWeight(io));
  }

  add(extent: number, weight: number): void {
    if (!Number.isInteger(extent) || extent < 0) throw new RangeError(`HeatMap: extent must be an integer >= 0, got ${extent}`);
    if (extent >= this.stored.length) {
      const grown = new Float64Array(Math.max(extent + 1, this.stored.length * 2));
      grown.set(this.stored);
      this.stored = grown;
    }
    this.stored[extent] += weight / this.scale;
  }

  decay(seconds: number): void {
    if (!(seconds >= 0)) throw new RangeError(`HeatMap: seconds must be >= 0, got ${seconds}`);
    this.scale *= 2 ** (-seconds / this.halfLife);
    if (this.scale < 2 ** -256) {
      for (let i = 0; i < this.stored.length; i++) this.stored[i] *= this.scale;
      this.scale = 1;
    }
  }

  heat(extent: number): number {
    return extent >= 0 && extent < this.stored.length ? this.stored[extent] * this.scale : 0;
  }

  /** Forgets an extent (deleted, or its index reused). */
  reset(extent: number): void {
    if (extent >= 0 && extent < this.stored.length) this.stored[extent] = 0;
  }
}

// ---------------------------------------------------------------------------------------------
// 2. Relocation plan
// ---------------------------------------------------------------------------------------------

/** Per tier, in % of the VVOL's capacity: defaults min 0, max 100. */
export interface TierBounds {
  min?: number;
  max?: number;
}
export type PolicyBounds = Partial<Record<Tier, TierBounds>>;

export interface PlanExtent {
  /** Extent id (unique within the VVOL; the engine passes its dense heat index). */
  extent: number;
  tier: Tier;
  heat: number;
}

export interface PlanVvol {
  id: string;
  /** The VVOL's capacity in extents (>= its allocated extents; volumes are sparse). */
  capacityExtents: number;
  /** Its allocated extents. */
  extents: PlanExtent[];
  bounds?: PolicyBounds;
}

export interface PlanInput {
  vvols: PlanVvol[];
  /** Free extents per tier of the pool (a missing tier has none). */
  poolFree: Partial<Record<Tier, number>>;
  /** Extents that may move in this interval (demotions that make room count too). */
  budget: number;
  /**
   * Hysteresis, so that extents of about the same heat do not trade places every interval: a promotion
   * and the moves that make room for it are done only if up >= (1 + stickiness)·down + minGain·moves,
   * where up is the promoted extent's heat × tiers climbed and down the same summed over the extents the
   * chain demotes. Defaults: stickiness 0.1, minGain 0;
   * minGain = moveCostHeat(extent size) stops tail extents whose heat is mostly noise from trading places.
   */
  stickiness?: number;
  minGain?: number;
}

export interface Move {
  vvolId: string;
  extent: number;
  from: Tier;
  to: Tier;
}

export interface Plan {
  /** In execution order: a demotion that makes room comes before the promotion it makes room for. */
  moves: Move[];
  /** One entry per VVOL whose policy cannot be met, sorted by id. */
  infeasible: { vvolId: string; reason: string }[];
}

/**
 * A VVOL's bounds in extents, per tier level: max = ⌈max%·capacity⌉, min = ⌊min%·capacity⌋. Rounding
 * outwards keeps every policy that validate() accepts (Σmin% <= 100 <= Σmax%, min <= max) satisfiable.
 */
export function extentLimits(capacityExtents: number, bounds: PolicyBounds = {}): { min: number[]; max: number[] } {
  const pct = (value: number | undefined, fallback: number) => Math.min(100, Math.max(0, value ?? fallback));
  return {
    min: tiers.map((t) => Math.floor((pct(bounds[t]?.min, 0) * capacityExtents) / 100)),
    max: tiers.map((t) => Math.ceil((pct(bounds[t]?.max, 100) * capacityExtents) / 100)),
  };
}

/** A tier's key in its capability ids: `nec.po.${key}MinPercent`, `nec.po.${key}MaxPercent`. */
export const ruleKeys: Record<Tier, string> = { SSD: 'ssd', SAS: 'sas', NL_SAS: 'nlsas' };

/** The bounds a policy's nec.po rules set (capabilities.ts), defaults filled in. */
export function boundsFromRules(rules: readonly PolicyRule[]): Record<Tier, Required<TierBounds>> {
  const value = (id: string, fallback: number) => {
    const v = rules.find((r) => r.capabilityId === id)?.value;
    return typeof v === 'number' ? v : fallback;
  };
  const entry = (t: Tier) => [t, { min: value(`nec.po.${ruleKeys[t]}MinPercent`, 0), max: value(`nec.po.${ruleKeys[t]}MaxPercent`, 100) }];
  return Object.fromEntries(tiers.map(entry)) as Record<Tier, Required<TierBounds>>;
}

/** Rounds of target and moves in one plan: usually one that moves and one that finds nothing left to do. */
const MAX_ROUNDS = 8;
const byString = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const level = (tier: Tier) => {
  const l = tiers.indexOf(tier);
  if (l < 0) throw new RangeError(`plan: unknown tier ${String(tier)}`);
  return l;
};

/**
 * Plans one analysis interval's relocation.
 *
 * Reservations. Each VVOL's minimums are reserved first (VVOLs in id order): room for
 * ⌊min%·capacity⌋ extents on that tier of the pool, whether or not the VVOL has written them yet. A
 * minimum the pool tier cannot hold (its capacity less what earlier VVOLs reserved) makes the VVOL
 * infeasible and is cut to what is left.
 *
 * Target. All extents, hottest first (ties: the one already on a faster tier, then the lower extent
 * id, then the VVOL id), take the fastest tier where the VVOL is under its maximum and there is room:
 * its own reservation, else the tier's unreserved capacity. An extent leaves the VVOL's reservations
 * unfilled only if its other extents or unwritten capacity can still fill them (so a minimum on
 * NL_SAS keeps the coldest extents there). An extent that fits nowhere stays put (infeasible).
 *
 * Moves. Towards the target one extent at a time, so that at every step no pool tier overflows, no
 * VVOL goes above a maximum (or further above one it already exceeds) and none falls further below
 * its minimums (except for one step while a VVOL swaps two of its own extents between tiers). The
 * budget goes first to moves that repair a policy the current placement breaks, then to promotions by
 * benefit (heat × tiers climbed). A move into a full tier (or a tier at the VVOL's maximum) first
 * moves out the coldest extent that leaves that tier in the target, recursively down the tiers; the
 * chain counts against the budget and is done only if it all fits and, for a promotion, is worth it
 * (hysteresis, see PlanInput). Tiers that are all full leave no room to swap through, so some targets
 * may be out of reach, and moves change ties: the plan recomputes the target from where its moves got
 * to (another round) until a round moves nothing or the budget is spent (at most MAX_ROUNDS).
 */
export function plan(input: PlanInput): Plan {
  const vvols = [...input.vvols].sort((a, b) => byString(a.id, b.id));
  const vOf: number[] = [];
  const ext: number[] = [];
  const cur: number[] = [];
  const heat: number[] = [];
  const count = vvols.map(() => [0, 0, 0]);
  vvols.forEach((v, vi) => {
    for (const e of [...v.extents].sort((a, b) => a.extent - b.extent)) {
      if (vOf.at(-1) === vi && ext.at(-1) === e.extent) throw new RangeError(`plan: extent ${e.extent} of VVOL ${v.id} given twice`);
      vOf.push(vi);
      ext.push(e.extent);
      cur.push(level(e.tier));
      heat.push(Number.isFinite(e.heat) ? Math.max(0, e.heat) : 0);
      count[vi][level(e.tier)]++;
    }
  });
  const n = ext.length;
  const free = tiers.map((t) => Math.max(0, Math.floor(input.poolFree[t] ?? 0)));
  const capacity = free.map((f, l) => f + count.reduce((s, c) => s + c[l], 0));
  const limits = vvols.map((v) => extentLimits(Math.max(v.capacityExtents, v.extents.length), v.bounds));
  const unwritten = vvols.map((v) => Math.max(0, v.capacityExtents - v.extents.length));
  const reasons = vvols.map((): string[] => []);

  const reserved = [0, 0, 0];
  const granted = vvols.map((v, vi) =>
    tiers.map((t, l) => {
      const want = Math.min(limits[vi].min[l], limits[vi].max[l]);
      const left = capacity[l] - reserved[l];
      const got = Math.min(want, left);
      if (got < want) {
        reasons[vi].push(`${t} minimum ${v.bounds?.[t]?.min} % of ${v.capacityExtents} extents needs ${want} extents on ${t}, but only ${left} of the pool's ${capacity[l]} ${t} extents are left unreserved`);
      }
      reserved[l] += got;
      return got;
    }));
  const stick = 1 + Math.max(0, input.stickiness ?? 0.1);
  const minGain = Math.max(0, input.minGain ?? 0);
  const hasMinimum = granted.map((g) => g.some((x) => x > 0));
  const shortfall = (v: number, c = count[v]) => granted[v].reduce((s, g, l) => s + Math.max(0, g - c[l]), 0);

  /** The target tier of every extent, from the current placement; counts per VVOL the extents that fit nowhere. */
  const placeTargets = (stuck: number[]) => {
    const target = new Int8Array(n);
    const placed = vvols.map(() => [0, 0, 0]);
    const remaining = vvols.map((v) => v.extents.length);
    const deficit = granted.map((g) => g[0] + g[1] + g[2]);
    const shared = capacity.map((c, l) => c - reserved[l]);
    const sharedUsed = [0, 0, 0];
    const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => heat[b] - heat[a] || cur[a] - cur[b] || ext[a] - ext[b] || vOf[a] - vOf[b]);
    for (const i of order) {
      const v = vOf[i];
      let to = -1;
      for (let l = 0; l < 3 && to < 0; l++) {
        if (placed[v][l] >= limits[v].max[l]) continue;
        const inReservation = placed[v][l] < granted[v][l];
        if (!inReservation && (sharedUsed[l] >= shared[l] || remaining[v] - 1 + unwritten[v] < deficit[v])) continue;
        to = l;
      }
      if (to < 0) {
        to = cur[i];
        stuck[v]++;
      }
      if (placed[v][to] < granted[v][to]) deficit[v]--;
      else sharedUsed[to]++;
      placed[v][to]++;
      remaining[v]--;
      target[i] = to;
    }
    return target;
  };

  /** Moves extents towards `target` within `budget` (updating count and free); returns the extents moved, in order. */
  const relocate = (target: Int8Array, budget: number): number[] => {
    const pending = Array.from({ length: n }, (_, i) => i).filter((i) => target[i] !== cur[i]);
    const outOf: number[][] = [[], [], []];
    const outOfVvol = vvols.map((): number[][] => [[], [], []]);
    for (const i of [...pending].sort((a, b) => heat[a] - heat[b] || ext[a] - ext[b] || vOf[a] - vOf[b])) {
      outOf[cur[i]].push(i);
      outOfVvol[vOf[i]][cur[i]].push(i);
    }
    const done = new Uint8Array(n);
    let version = 0;
    const blocked = new Map<number, number>();
    const step = (i: number, from: number, to: number) => {
      count[vOf[i]][from]--;
      count[vOf[i]][to]++;
      free[from]++;
      free[to]--;
      version++;
    };
    const apply = (i: number) => { step(i, cur[i], target[i]); done[i] = 1; };
    const undo = (i: number) => { step(i, target[i], cur[i]); done[i] = 0; };
    const minOk = (i: number) => {
      if (!hasMinimum[vOf[i]]) return true;
      const c = [...count[vOf[i]]];
      c[cur[i]]--;
      c[target[i]]++;
      return shortfall(vOf[i], c) <= Math.max(unwritten[vOf[i]], shortfall(vOf[i]));
    };

    /**
     * Does move i after whatever chain it needs; returns the moves done, or null with nothing done.
     * `visiting`: tiers the chain is making room on (a move into one of them would go round in circles).
     * `swap`: i leaves a tier its VVOL's next move in the chain enters, so the minimum there holds.
     */
    const tryMove = (i: number, visiting: number, swap = false): number[] | null => {
      const v = vOf[i];
      const to = target[i];
      if (done[i] || visiting & (1 << to) || (!swap && !minOk(i))) return null;
      const mask = visiting | (1 << to);
      const chain: number[] = [];
      const fail = () => {
        for (let k = chain.length - 1; k >= 0; k--) undo(chain[k]);
        return null;
      };
      // Moves one extent out of `to` to make `ok` true; a success always does (nothing in the chain enters `to`).
      const makeRoom = (candidates: number[], ok: () => boolean, swapping = false) => {
        for (const j of candidates) {
          const sub = done[j] ? null : tryMove(j, mask, swapping);
          if (sub) {
            chain.push(...sub);
            if (ok()) return true;
          }
        }
        return ok();
      };
      if (count[v][to] >= limits[v].max[to] && !makeRoom(outOfVvol[v][to], () => count[v][to] < limits[v].max[to], true)) return fail();
      if (free[to] <= 0) {
        // Whether room can be made depends only on the state and (tier, mask): remember a failure until the state changes.
        const key = to * 8 + mask;
        if (blocked.get(key) === version || !makeRoom(outOf[to], () => free[to] > 0)) {
          blocked.set(key, version);
          return fail();
        }
      }
      apply(i);
      chain.push(i);
      return chain;
    };

    const repairs = pending.filter((i) => {
      const v = vOf[i];
      return count[v][cur[i]] > limits[v].max[cur[i]] || (shortfall(v) > unwritten[v] && count[v][target[i]] < granted[v][target[i]]);
    });
    const benefit = (i: number) => heat[i] * (cur[i] - target[i]);
    const promotions = pending.filter((i) => target[i] < cur[i] && heat[i] > 0)
      .sort((a, b) => benefit(b) - benefit(a) || ext[a] - ext[b] || vOf[a] - vOf[b]);
    const isRepair = new Uint8Array(n);
    for (const i of repairs) isRepair[i] = 1;
    // The promotion's gain against what its chain demotes (gains of moves on up in the chain are not counted).
    const worthIt = (i: number, chain: number[]) => {
      let down = 0;
      for (const j of chain) if (target[j] > cur[j]) down += heat[j] * (target[j] - cur[j]);
      return benefit(i) >= stick * down + minGain * chain.length;
    };
    const declined = new Uint8Array(n);
    const moved: number[] = [];
    // A move done can open the way for one that failed earlier in the pass: passes repeat while they move something.
    for (let progress = true; progress && budget > 0;) {
      progress = false;
      for (const i of [...repairs, ...promotions]) {
        if (budget <= 0 || (!isRepair[i] && benefit(i) < minGain)) break; // promotions come by benefit: none after is worth it
        const chain = declined[i] ? null : tryMove(i, 0);
        if (!chain) continue;
        const worth = isRepair[i] || worthIt(i, chain);
        if (!worth || chain.length > budget) {
          for (let k = chain.length - 1; k >= 0; k--) undo(chain[k]);
          if (!worth) declined[i] = 1;
          continue;
        }
        budget -= chain.length;
        progress = true;
        moved.push(...chain);
      }
    }
    return moved;
  };

  const moves: Move[] = [];
  let budget = Math.max(0, Math.floor(input.budget));
  let stuck: number[];
  for (let round = 1; ; round++) {
    stuck = vvols.map(() => 0);
    const target = placeTargets(stuck);
    const moved = relocate(target, budget);
    for (const i of moved) {
      moves.push({ vvolId: vvols[vOf[i]].id, extent: ext[i], from: tiers[cur[i]], to: tiers[target[i]] });
      cur[i] = target[i];
    }
    budget -= moved.length;
    if (moved.length === 0 || budget <= 0 || round === MAX_ROUNDS) break;
  }
  vvols.forEach((_, vi) => {
    if (stuck[vi] > 0) reasons[vi].push(`${stuck[vi]} extent(s) fit no tier within the policy and the pool's capacity and stay where they are`);
  });
  const infeasible = vvols.flatMap((v, vi) => (reasons[vi].length ? [{ vvolId: v.id, reason: reasons[vi].join('; ') }] : []));
  return { moves, infeasible };
}

// ---------------------------------------------------------------------------------------------
// 3. Relocation cycle
// ---------------------------------------------------------------------------------------------

export type RelocationState = 'MONITORING' | 'CALCULATING' | 'RELOCATING' | 'IDLE';
export type ExecutionMode = 'AUTO' | 'MANUAL';

/**
 * MONITORING (heat is collected) → CALCULATING at the end of each analysis interval → RELOCATING while
 * moves remain → MONITORING. In MANUAL mode the resting state is IDLE and only relocateNow() starts a
 * cycle (at the next tick). The end of an interval while RELOCATING (AUTO) replans: the new plan replaces
 * what was left of the old one. Heat is collected in every state.
 *
 * Per tick the engine calls tick(seconds); on CALCULATING it plans and calls planned(moves), and while
 * RELOCATING it reports the moves it did with relocated(n).
 */
export class RelocationCycle {
  state: RelocationState;
  private elapsed = 0;
  private requested = false;
  private left = 0;

  constructor(readonly analysisIntervalSeconds: number, private mode: ExecutionMode = 'AUTO') {
    if (!(analysisIntervalSeconds > 0)) throw new RangeError(`RelocationCycle: analysisIntervalSeconds must be > 0, got ${analysisIntervalSeconds}`);
    this.state = this.resting();
  }

  get executionMode(): ExecutionMode {
    return this.mode;
  }

  get movesLeft(): number {
    return this.left;
  }

  setMode(mode: ExecutionMode): void {
    this.mode = mode;
    if (this.state === 'MONITORING' || this.state === 'IDLE') this.state = this.resting();
  }

  relocateNow(): void {
    this.requested = true;
  }

  /** The cycle under another analysis interval, counted afresh; a relocateNow not yet acted on still holds. */
  withInterval(analysisIntervalSeconds: number): RelocationCycle {
    const next = new RelocationCycle(analysisIntervalSeconds, this.mode);
    next.requested = this.requested;
    return next;
  }

  tick(seconds: number): RelocationState {
    if (this.state === 'CALCULATING') return this.state;
    this.elapsed += seconds;
    const due = this.elapsed >= this.analysisIntervalSeconds;
    if (due) this.elapsed -= Math.floor(this.elapsed / this.analysisIntervalSeconds) * this.analysisIntervalSeconds;
    if (this.requested || (due && this.mode === 'AUTO')) {
      this.requested = false;
      this.state = 'CALCULATING';
    }
    return this.state;
  }

  planned(moves: number): void {
    if (this.state !== 'CALCULATING') throw new Error(`RelocationCycle: planned() while ${this.state}`);
    this.left = moves;
    this.state = moves > 0 ? 'RELOCATING' : this.resting();
  }

  relocated(moves: number): void {
    if (this.state !== 'RELOCATING') return;
    this.left = Math.max(0, this.left - moves);
    if (this.left === 0) this.state = this.resting();
  }

  private resting(): RelocationState {
    return this.mode === 'MANUAL' ? 'IDLE' : 'MONITORING';
  }
}

// ---------------------------------------------------------------------------------------------
// 4. SSD share
// ---------------------------------------------------------------------------------------------

/** The share (0..1) of the I/O that extents on SSD served: ios[i] is extent i's I/O, tierOf[i] its tier. 0 without I/O. */
export function ssdServedRatio(ios: ArrayLike<number>, tierOf: ArrayLike<Tier>): number {
  if (ios.length !== tierOf.length) throw new RangeError(`ssdServedRatio: ${ios.length} I/O counts for ${tierOf.length} tiers`);
  let all = 0;
  let ssd = 0;
  for (let i = 0; i < ios.length; i++) {
    all += ios[i];
    if (tierOf[i] === 'SSD') ssd += ios[i];
  }
  return all > 0 ? ssd / all : 0;
}
