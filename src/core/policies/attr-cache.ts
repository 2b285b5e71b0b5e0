/**
 * Weight and tier per token id, recomputed only when an importance field changes: the hot path
 * asks for them on every refresh (the seed's rules are cheap but not free at 7,500 refreshes/s),
 * and a re-plan asks for every token.
 *
 * Columns, not objects: ids below 2^24 (every id a database sequence hands out in practice)
 * live in typed arrays indexed by id, 34 bytes per token; one object per token cost ~100 bytes
 * (measured with 200,000 tokens), 100 MB of heap at a million. Other ids fall back to a Map.
 */
import type { PolicyToken } from '../policy.js';
import { calculatePriorityScore, effectiveTier } from '../tiers.js';
import type { TierDef, TierName } from '../types.js';

const TIERS: readonly TierName[] = ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW', 'MINIMAL', 'INACTIVE'];
const TIER_INDEX = new Map(TIERS.map((t, i) => [t, i]));
const DENSE_LIMIT = 1 << 24;
const VALID = 1;
const CONTEST = 2;

interface SparseAttrs {
  rank: number | null;
  volume: number | null;
  contest: boolean;
  boost: number;
  weight: number;
  tier: TierName;
}

const col = (v: number | null): number => (v === null ? Number.NaN : v);
const same = (stored: number, v: number | null): boolean =>
  v === null ? Number.isNaN(stored) : stored === v;

export class AttrCache {
  private capacity = 0;
  private flags = new Uint8Array(0);
  private tier = new Uint8Array(0);
  private rank = new Float64Array(0);
  private volume = new Float64Array(0);
  private boost = new Float64Array(0);
  private weightCol = new Float64Array(0);
  private readonly sparse = new Map<number, SparseAttrs>();

  constructor(private readonly tiers: readonly TierDef[]) {}

  weight(t: PolicyToken): number {
    const i = this.slot(t);
    return i >= 0 ? this.weightCol[i]! : this.sparseOf(t).weight;
  }

  tierOf(t: PolicyToken): TierName {
    const i = this.slot(t);
    return i >= 0 ? TIERS[this.tier[i]!]! : this.sparseOf(t).tier;
  }

  /** Forget sparse entries when they outnumber the live tokens (they are recomputable). */
  trimSparse(liveTokens: number): void {
    if (this.sparse.size > 2 * liveTokens + 1024) this.sparse.clear();
  }

  /** The dense slot of a token with fresh values, or -1 for an id kept in the sparse map. */
  private slot(t: PolicyToken): number {
    const id = t.id;
    if (!(id >= 0 && id < DENSE_LIMIT && Number.isInteger(id))) return -1;
    if (id >= this.capacity) this.grow(id + 1);
    const f = this.flags[id]!;
    if (
      f & VALID &&
      ((f & CONTEST) !== 0) === t.in_contest &&
      same(this.rank[id]!, t.rank) &&
      same(this.volume[id]!, t.volume_24h) &&
      this.boost[id] === t.priority_score
    ) {
      return id;
    }
    this.rank[id] = col(t.rank);
    this.volume[id] = col(t.volume_24h);
    this.boost[id] = t.priority_score;
    this.weightCol[id] = calculatePriorityScore(t, this.tiers);
    this.tier[id] = TIER_INDEX.get(effectiveTier(t, this.tiers).name)!;
    this.flags[id] = VALID | (t.in_contest ? CONTEST : 0);
    return id;
  }

  private sparseOf(t: PolicyToken): SparseAttrs {
    const c = this.sparse.get(t.id);
    if (
      c !== undefined &&
      c.rank === t.rank &&
      c.volume === t.volume_24h &&
      c.contest === t.in_contest &&
      c.boost === t.priority_score
    ) {
      return c;
    }
    const fresh: SparseAttrs = {
      rank: t.rank,
      volume: t.volume_24h,
      contest: t.in_contest,
      boost: t.priority_score,
      weight: calculatePriorityScore(t, this.tiers),
      tier: effectiveTier(t, this.tiers).name,
    };
    this.sparse.set(t.id, fresh);
    return fresh;
  }

  private grow(min: number): void {
    const next = Math.min(DENSE_LIMIT, Math.max(min, 1024, this.capacity * 2));
    const copy = <A extends Uint8Array | Float64Array>(a: A, make: (n: number) => A): A => {
      const b = make(next);
      b.set(a);
      return b;
    };
    this.flags = copy(this.flags, (n) => new Uint8Array(n));
    this.tier = copy(this.tier, (n) => new Uint8Array(n));
    this.rank = copy(this.rank, (n) => new Float64Array(n));
    this.volume = copy(this.volume, (n) => new Float64Array(n));
    this.boost = copy(this.boost, (n) => new Float64Array(n));
    this.weightCol = copy(this.weightCol, (n) => new Float64Array(n));
    this.capacity = next;
  }
}
