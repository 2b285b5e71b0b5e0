/**
 * The budget split of several simulated instances, round by round, as ClusterMember runs it in
 * `start` (src/cluster/member.ts), with the lease table replaced by a shared map:
 *
 *  - every ROUND_MS (a lease round: lease / 3) each instance publishes its demand curve, recomputed
 *    only after its policy re-planned and at most every CURVE_MIN_INTERVAL_MS (member.ts
 *    ownCurve: "null = keep the last one");
 *  - then it reads every instance's last published curve and solves its share
 *    (MuBalancer.update), falling back to its partition count until every instance has a curve.
 *
 * Instances' rounds are staggered by ROUND_MS / N, as unsynchronised processes would be, so an
 * instance may solve from a curve another published up to one round earlier.
 * With split 'partitions' nothing is exchanged: the share stays the partition count (what
 * `start` does without the split, and for baseline policies, which have no curve).
 */
import type { Clock } from '../core/clock.js';
import type { DemandSource } from '../cluster/member.js';
import type { MuBalancer } from '../cluster/mu-balancer.js';
import type { DemandCurve } from '../cluster/mu-split.js';

/** A lease round: lease 10 s / 3 (docs/cluster.md, "Numbers"). */
export const ROUND_MS = 10_000 / 3;
/** As member.ts: a new own curve at most this often (one costs 12–21 ms of CPU: mu-split.ts). */
const CURVE_MIN_INTERVAL_MS = 5_000;

export interface RoundMember {
  readonly id: string;
  readonly balancer: MuBalancer;
  /** null: the policy publishes no curve (baselines), so the split stays by partitions. */
  readonly demand: DemandSource | null;
  /** Called after each of this instance's rounds (share sampling). */
  afterRound?: () => void;
}

interface CurveState {
  version: unknown;
  at: number;
}

export class SimRounds {
  /** What each instance last published (the cluster_instances.demand column). */
  private readonly published = new Map<string, DemandCurve | null>();
  private readonly state = new Map<string, CurveState>();
  /** Curves computed (for the figures: what the split cost in CPU). */
  curvesComputed = 0;

  constructor(
    private readonly clock: Clock,
    private readonly members: readonly RoundMember[],
    private readonly exchange: boolean,
  ) {}

  /** Schedule every instance's rounds, the first at t + j·ROUND_MS/N (never stopped: runs end). */
  start(): void {
    const n = this.members.length;
    this.members.forEach((m, j) => {
      this.state.set(m.id, { version: undefined, at: -Infinity });
      const tick = (): void => {
        this.round(m);
        this.clock.setTimeout(tick, ROUND_MS);
      };
      this.clock.setTimeout(tick, (ROUND_MS * j) / n);
    });
  }

  private round(m: RoundMember): void {
    if (this.exchange && m.demand) {
      this.publish(m, m.demand);
      const live = this.members.map((x) => x.id);
      m.balancer.update(live, this.published, m.demand.planCapacityPerSecond());
    }
    m.afterRound?.();
  }

  /** member.ts ownCurve(): recompute after a re-plan, at most every 5 s; keep the last otherwise. */
  private publish(m: RoundMember, d: DemandSource): void {
    const s = this.state.get(m.id)!;
    const v = d.version();
    const now = this.clock.now();
    if (v === s.version || now - s.at < CURVE_MIN_INTERVAL_MS) return;
    const curve = d.curve();
    this.curvesComputed++;
    s.version = v;
    s.at = now;
    m.balancer.setOwnCurve(curve);
    if (curve) this.published.set(m.id, curve);
  }
}
