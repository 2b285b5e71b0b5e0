/**
 * MuBalancer: one instance's share of the cluster's request budget, split by equal μ
 * (mu-split.ts says why that split is the right one).
 *
 * Every instance publishes its own demand curve with its heartbeat (`encodeCurve`, a few hundred
 * bytes of jsonb) and, each lease round, reads the curves of every live instance and solves the
 * same split from them: no coordinator, and every instance arrives at the same shares because
 * they read the same rows. The share is a fraction of the plan (0..1), which is what the
 * ClusterLimiter multiplies the plan's requests by.
 *
 * Until every live instance has published a curve (a newcomer before its first re-plan or with
 * its tokens not loaded yet, a baseline policy that has no μ, an older version), the split cannot
 * be solved and the share
 * falls back to the split by partition count, which every instance can compute alone. Shares of
 * different instances computed from curves of slightly different ages may sum to a little more
 * or less than the plan: that only sizes the plans' intervals, the shared slots still pace every
 * request, so a 1 % disagreement costs 1 % of one instance's plan for one round.
 */
import { PARTITION_COUNT } from '../store/types.js';
import { DEMAND_POINTS, splitBudget, type DemandCurve } from './mu-split.js';

export interface MuBalancerOptions {
  instanceId: string;
  /** The share used while the split cannot be solved: this instance's partitions / 64. */
  fallbackShare: () => number;
}

export type ShareMode = 'mu' | 'partitions';

export class MuBalancer {
  private own: DemandCurve | null = null;
  private solved: number | null = null;
  private solvedMu = Number.NaN;

  constructor(private readonly o: MuBalancerOptions) {}

  /** This instance's curve (from its policy's last re-plan), or null when it has none. */
  setOwnCurve(curve: DemandCurve | null): void {
    this.own = curve;
  }

  get ownCurve(): DemandCurve | null {
    return this.own;
  }

  /**
   * One round: `live` are the instances alive now (this one among them once registered), `curves`
   * what each published (this instance's own entry is ignored: its current curve is used).
   * `capacity` is the whole plan's refreshes per second, the unit of the curves.
   */
  update(
    live: readonly string[],
    curves: ReadonlyMap<string, DemandCurve | null>,
    capacity: number,
    /** Partitions each instance holds now (the lease table); a curve stamped otherwise is stale. */
    held?: ReadonlyMap<string, number>,
  ): void {
    this.solved = null;
    this.solvedMu = Number.NaN;
    if (!(capacity > 0) || !Number.isFinite(capacity) || !live.includes(this.o.instanceId)) return;
    const list: DemandCurve[] = [];
    let self = -1;
    for (const id of live) {
      const c = id === this.o.instanceId ? this.own : (curves.get(id) ?? null);
      // A curve that asks for nothing at any μ is one planned before the instance's tokens were
      // loaded (its first re-plan runs on an empty book): solved with it, that instance's share
      // is 0 and it refreshes what it loads next at the maximum interval (1 h out of the plan).
      if (c === null || !c.rate.some((r) => r > 0)) return;
      // Planned before a partition moved to or from that instance: its curve asks for the
      // tokens it had then. Solved with it after a newcomer took a third of an instance's
      // partitions, the newcomer's share came out at 5 % for a round or two (bench:cluster);
      // the partition split holds until every curve is re-planned on the current leases.
      if (held && c.parts !== undefined && (held.get(id) ?? 0) !== c.parts) return;
      if (id === this.o.instanceId) self = list.length;
      list.push(c);
    }
    const split = splitBudget(list, capacity);
    this.solved = Math.min(1, Math.max(0, split.shares[self]! / capacity));
    this.solvedMu = split.mu;
  }

  /** Fraction of the plan this instance plans with. */
  share(): number {
    return this.solved ?? this.o.fallbackShare();
  }

  /** How the current share was found. */
  get mode(): ShareMode {
    return this.solved === null ? 'partitions' : 'mu';
  }

  /** The cluster's common μ of the last solved split (NaN when not solved or outside the curves). */
  get mu(): number {
    return this.solvedMu;
  }
}

/** The jsonb an instance publishes (version 1). */
export function encodeCurve(curve: DemandCurve): Record<string, unknown> {
  return curve.parts === undefined
    ? { v: 1, mu: curve.mu, rate: curve.rate }
    : { v: 1, mu: curve.mu, rate: curve.rate, parts: curve.parts };
}

/**
 * A published curve, or null when it is missing or malformed (another version, a hand-edited row):
 * a bad row then counts as "no curve", so the cluster falls back to the partition split instead
 * of planning with garbage.
 */
export function decodeCurve(json: unknown): DemandCurve | null {
  if (json === null || typeof json !== 'object') return null;
  const { v, mu, rate, parts } = json as Record<string, unknown>;
  if (
    parts !== undefined &&
    !(Number.isInteger(parts) && (parts as number) >= 0 && (parts as number) <= PARTITION_COUNT)
  )
    return null;
  if (v !== 1 || !Array.isArray(mu) || !Array.isArray(rate)) return null;
  if (mu.length === 0 || mu.length !== rate.length || mu.length > DEMAND_POINTS * 2) return null;
  for (let k = 0; k < mu.length; k++) {
    const m = mu[k];
    const r = rate[k];
    if (typeof m !== 'number' || !(m > 0) || !Number.isFinite(m)) return null;
    if (typeof r !== 'number' || !(r >= 0) || !Number.isFinite(r)) return null;
    if (k > 0 && !(m > (mu[k - 1] as number))) return null;
  }
  const curve: DemandCurve = { mu: mu as number[], rate: rate as number[] };
  if (parts !== undefined) curve.parts = parts as number;
  return curve;
}
