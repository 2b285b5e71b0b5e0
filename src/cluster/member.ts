/**
 * ClusterMember: what `token-refresh start` on PostgreSQL runs to be one instance of a cluster.
 * It owns the LeaseManager (SQL lease store), the SharedBudget of the API key (SQL budget store,
 * keyed by budgetKey: a sha256 prefix, never the key), the limiter the price client and the
 * scheduler use, and the LISTEN connection that makes handovers and 429s travel in a round trip.
 *
 * Lease events drive the scheduler: acquired -> gainPartitions (load with the persisted
 * schedule), lost -> losePartitions (stop at once), shed -> the drain hook waits for the
 * partition's in-flight batches before the release. Stop order (SIGTERM): the caller stops the
 * scheduler first (no new sends, in-flight batches commit), then stop() releases every lease and
 * notifies, so the others take over within a round trip.
 */
import pg from 'pg';
import type { ClusterStatusView } from '../api/types.js';
import type { Clock } from '../core/clock.js';
import type { Queryable } from '../store/executor.js';
import type { Logger } from '../scheduler/scheduler.js';
import { budgetKey, SqlBudgetStore } from './budget-store.js';
import { ClusterLimiter } from './cluster-limiter.js';
import { SqlLeaseStore, type ClusterView } from './lease-store.js';
import { LeaseManager } from './leases.js';
import type { BudgetSplitMode } from './instance.js';
import { decodeCurve, encodeCurve, MuBalancer } from './mu-balancer.js';
import type { DemandCurve } from './mu-split.js';
import { listenForCluster } from './notify.js';
import { SharedBudget } from './shared-budget.js';

export const CLUSTER_PARTITIONS = 64;

/** A new own curve at most this often (one costs 12–21 ms of CPU: mu-split.ts). */
const CURVE_MIN_INTERVAL_MS = 5_000;

/** What the equal-μ budget split needs from the instance's planner (mu-balancer.ts). */
export interface DemandSource {
  /**
   * An identity that changes when the planner re-planned (the policy's demand sample), so a
   * curve is recomputed only after a re-plan; null when the policy has none (baselines).
   */
  version(): unknown;
  /** This instance's demand curve now (refreshes per second against μ), or null. */
  curve(): DemandCurve | null;
  /** Refreshes per second the whole plan buys (every instance's curves are in this unit). */
  planCapacityPerSecond(): number;
  /** Partitions served when the curve's plan was made (stamped on the curve; optional). */
  plannedPartitions?(): number;
}

/** What the member drives (TokenRefreshScheduler implements it). */
export interface PartitionTarget {
  gainPartitions(partitions: readonly number[]): Promise<number>;
  losePartitions(partitions: readonly number[]): Promise<void>;
}

export interface ClusterMemberOptions {
  /** The store's connection pool (lease and budget functions, one round trip each). */
  queryable: Queryable;
  /** For the LISTEN connection; null = no notifications (handover at the next round). */
  databaseUrl: string | null;
  clock: Clock;
  instanceId: string;
  leaseMs: number;
  apiKey: string | null;
  /** The plan of the API key (for the whole cluster). */
  requestsPerMinute: number;
  logger?: Logger;
  /** The planner's multiplier, published with the heartbeat (null when the policy has none). */
  mu?: () => number | null;
  /** How this instance's share of the plan is found (instance.ts resolveBudgetSplit); default mu. */
  budgetSplit?: BudgetSplitMode;
}

/** GET /api/v1/cluster: the API's own view type. */
export type ClusterStatus = ClusterStatusView;

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} };

const STATUS_SQL = `SELECT i.id, token_refresh_ms(i.heartbeat_at) AS heartbeat_ms, i.requests_per_minute, i.mu,
  coalesce(array_agg(l.partition::int ORDER BY l.partition) FILTER (WHERE l.partition IS NOT NULL), '{}') AS parts
FROM cluster_instances i
LEFT JOIN cluster_leases l ON l.owner = i.id AND l.expires_at > clock_timestamp()
WHERE i.expires_at > clock_timestamp()
GROUP BY i.id ORDER BY i.id`;

/** Unexpired leases per owner in a round's view of the lease table. */
function heldBy(view: ClusterView): Map<string, number> {
  const held = new Map<string, number>();
  for (const l of view.leases) {
    if (l.owner === null || l.expiresAtMs === null || l.expiresAtMs <= view.nowMs) continue;
    held.set(l.owner, (held.get(l.owner) ?? 0) + 1);
  }
  return held;
}

export class ClusterMember {
  readonly leases: LeaseManager;
  readonly budget: SharedBudget;
  readonly limiter: ClusterLimiter;
  /** This instance's share of the plan: equal μ across instances, by partitions until it can be. */
  readonly balancer: MuBalancer;
  /** Partitions gained, lost or released since start (token_refresh_lease_changes_total). */
  leaseChanges = 0;
  private readonly log: Logger;
  private target: PartitionTarget | null = null;
  private listener: pg.Client | null = null;
  private unlisten: (() => Promise<void>) | null = null;
  private stopped = false;
  private muOf: () => number | null;
  private demand: DemandSource | null = null;
  private curveVersion: unknown = undefined;
  private curveAt = -Infinity;

  constructor(private readonly o: ClusterMemberOptions) {
    this.log = o.logger ?? silent;
    this.muOf = o.mu ?? (() => null);
    this.budget = new SharedBudget({
      store: new SqlBudgetStore(o.queryable),
      clock: o.clock,
      key: budgetKey(o.apiKey),
      requestsPerMinute: o.requestsPerMinute,
      shareOf: () => this.balancer.share(),
    });
    this.leases = new LeaseManager({
      store: new SqlLeaseStore(o.queryable),
      clock: o.clock,
      instanceId: o.instanceId,
      leaseMs: o.leaseMs,
      drain: (p) => this.target?.losePartitions([p]) ?? Promise.resolve(),
      report: () => ({
        requestsPerMinute: this.limiter.usedLastMinute(),
        mu: this.muOf(),
        demand: this.ownCurve(),
      }),
    });
    this.balancer = new MuBalancer({
      instanceId: o.instanceId,
      fallbackShare: () => this.leases.usablePartitions().length / CLUSTER_PARTITIONS,
    });
    this.limiter = new ClusterLimiter(this.budget, o.clock, o.requestsPerMinute, () => this.balancer.share());
  }

  /** The own curve to publish, recomputed after a re-plan (at most every 5 s); null = keep. */
  private ownCurve(): Record<string, unknown> | null {
    const d = this.demand;
    if (!d) return null;
    const v = d.version();
    const now = this.o.clock.now();
    if (v === this.curveVersion || now - this.curveAt < CURVE_MIN_INTERVAL_MS) return null;
    try {
      const planned = d.curve();
      const curve = planned && d.plannedPartitions ? { ...planned, parts: d.plannedPartitions() } : planned;
      this.curveVersion = v;
      this.curveAt = now;
      this.balancer.setOwnCurve(curve);
      return curve ? encodeCurve(curve) : null;
    } catch (err) {
      this.log.warn({ err }, 'demand curve failed; the budget split keeps the last one');
      return null;
    }
  }

  /** After each lease round: read every live instance's curve and solve this instance's share. */
  private async rebalance(view: ClusterView): Promise<void> {
    const live = view.live;
    if (!this.demand || this.stopped) return;
    try {
      const raw = await this.leases.store.demands();
      const curves = new Map<string, DemandCurve | null>();
      for (const [id, json] of raw) curves.set(id, decodeCurve(json));
      const before = this.balancer.mode;
      this.balancer.update(live, curves, this.demand.planCapacityPerSecond(), heldBy(view));
      if (this.balancer.mode !== before) {
        this.log.info({ split: this.balancer.mode, share: this.balancer.share() }, 'budget split changed');
      }
    } catch (err) {
      this.log.warn({ err }, 'reading the cluster demand curves failed; the share stays as it was');
    }
  }

  get instanceId(): string {
    return this.o.instanceId;
  }

  /**
   * Feed lease changes to the scheduler. Call once, before start(). With `demand` and the `mu`
   * budget split, the instance plans with its equal-μ share of the budget (mu-balancer.ts);
   * otherwise by partitions.
   */
  attach(target: PartitionTarget, mu?: () => number | null, demand?: DemandSource): void {
    this.target = target;
    if (mu) this.muOf = mu;
    if (demand && (this.o.budgetSplit ?? 'mu') === 'mu') {
      this.demand = demand;
      this.leases.on('round', ({ view }) => void this.rebalance(view));
    }
    this.leases.on('acquired', ({ partitions }) => {
      this.leaseChanges += partitions.length;
      this.log.info({ partitions }, 'leases acquired');
      void this.gain(partitions);
    });
    this.leases.on('lost', ({ partitions }) => {
      this.leaseChanges += partitions.length;
      this.log.warn({ partitions }, 'leases lost (taken over or expired); their tokens are dropped');
      void target.losePartitions(partitions).catch((err: unknown) => this.log.error({ err }, 'drop failed'));
    });
    this.leases.on('released', ({ partitions }) => {
      this.leaseChanges += partitions.length;
      this.log.info({ partitions }, 'leases released');
    });
    this.leases.on('error', ({ error }) =>
      this.log.warn({ err: error }, 'lease round failed; partitions stop at their self-fence time'),
    );
  }

  /** Load gained partitions; a failed load is retried every second while the lease is held. */
  private async gain(partitions: readonly number[]): Promise<void> {
    let todo = [...partitions];
    while (!this.stopped && this.target && todo.length > 0) {
      try {
        await this.target.gainPartitions(todo);
        return;
      } catch (err) {
        this.log.warn({ err, partitions: todo }, 'loading gained partitions failed; retrying in 1 s');
        await this.o.clock.sleep(1_000);
        todo = todo.filter((p) => this.leases.epochOf(p) !== null);
      }
    }
  }

  /** First round (take the fair share) at once, then a round every lease / 3; listen. */
  async start(): Promise<void> {
    await this.leases.tick();
    this.leases.start();
    if (this.o.databaseUrl) {
      try {
        const client = new pg.Client({ connectionString: this.o.databaseUrl });
        client.on('error', (err) => this.log.warn({ err }, 'cluster notification connection failed'));
        await client.connect();
        this.listener = client;
        this.unlisten = await listenForCluster(client, { leases: this.leases, budgets: [this.budget] });
      } catch (err) {
        this.log.warn({ err }, 'cannot listen for cluster notifications; handovers wait for the next round');
      }
    }
  }

  /** Release every lease and leave (after the scheduler stopped sending). */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    // The scheduler has stopped and committed its in-flight batches: unloading each partition's
    // tokens before the release is only cleanup in a process about to exit, and it held the
    // handover up by 1.5–7.3 s at 60,000 tokens (32 drains). Release at once.
    this.target = null;
    await this.leases.stop();
    await this.unlisten?.().catch(() => undefined);
    await this.listener?.end().catch(() => undefined);
    await this.budget.flush().catch(() => undefined);
  }

  async status(): Promise<ClusterStatus> {
    const res = await this.o.queryable.query<Record<string, unknown>>(STATUS_SQL);
    const instances = res.rows.map((r) => {
      const own = r.id === this.o.instanceId;
      return {
        id: String(r.id),
        partitions: (r.parts as unknown[]).map(Number),
        heartbeatAt: Number(r.heartbeat_ms),
        // Our own use is read live; the others' as of their last heartbeat (<= lease / 3 old).
        requestsPerMinute: own
          ? this.limiter.usedLastMinute()
          : r.requests_per_minute === null
            ? null
            : Number(r.requests_per_minute),
        mu: r.mu === null ? null : Number(r.mu),
      };
    });
    return {
      instanceId: this.o.instanceId,
      partitionCount: CLUSTER_PARTITIONS,
      instances,
      budget: {
        requestsPerMinute: this.o.requestsPerMinute,
        usedLastMinute: instances.reduce((s, i) => s + (i.requestsPerMinute ?? 0), 0),
      },
    };
  }
}
