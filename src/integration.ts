/**
 * TokenRefreshIntegration: the library facade. One call wires the store, the price source, the
 * single price client (lock + limiter + breaker), the policy and the scheduler; the same object
 * is what the HTTP API serves.
 *
 *   const trs = await initializeTokenRefresh({ databaseUrl: process.env.DATABASE_URL });
 *   trs.on('price:updated', (e) => console.log(e.address, e.newPrice));
 *   await trs.refreshToken('So11111111111111111111111111111111111111112');
 *   await trs.shutdown();
 */
import { type Clock, systemClock, type TimerHandle } from './core/clock.js';
import { CircuitBreaker } from './core/circuit-breaker.js';
import { RateLimiter, requestConcurrency } from './core/rate-limiter.js';
import { createPolicy } from './core/policies.js';
import { buildAnalysisReport } from './core/analysis-report.js';
import type { Token, TokenWithState } from './core/types.js';
import { type Config, batchSpacingMs, defaultPriceUrl, loadConfig } from './config.js';
import { createPriceSource, isMintAddress, type PriceSource } from './sources/index.js';
import { PriceClient } from './sources/price-client.js';
import { attachUpstreamLogging } from './sources/upstream-log.js';
import { openStore, partitionOf } from './store/index.js';
import { waitForDatabase } from './store/wait.js';
import type { Store, TokenSettings } from './store/types.js';
import { TokenRefreshScheduler, type Logger } from './scheduler/scheduler.js';
import type { SchedulerEventName, SchedulerEvents, SchedulerStatus } from './scheduler/types.js';
import type {
  ApiService,
  LiveBudget,
  LiveToken,
  OptionalStatusExtras,
  RefreshOutcome,
  TokenScheduleFacts,
} from './api/types.js';
import type { RefreshPolicy } from './core/policy.js';
import { effectiveTier } from './core/tiers.js';
import { sigmaToDaily } from './core/volatility.js';
import { strided } from './core/stride.js';
import type { SchedToken } from './scheduler/token-state.js';
import { BadRequestError, TokenNotFoundError } from './api/errors.js';
import type { ClusterMember, ClusterStatus, DemandSource } from './cluster/member.js';
import { sampleDemandCurve } from './cluster/mu-split.js';
import { OptimalPolicy } from './core/policies/optimal.js';
import { clusterOfOne, joinCluster, type ClusterOption } from './cluster/join.js';

export interface TokenRefreshOptions extends Partial<Config> {
  /** Use this store instead of opening one from databaseUrl/dataDir (it is not closed on shutdown). */
  store?: Store;
  /** Use this price source instead of building one from priceSource/priceApiUrl. */
  source?: PriceSource;
  clock?: Clock;
  logger?: Logger;
  /** Start the refresh loop right away (default true). */
  autoStart?: boolean;
  /** Run migrations on start (default true). */
  migrate?: boolean;
  /** Environment to read defaults from (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Scheduler tuning passed through (tests, benchmarks). */
  deltaLoadIntervalMs?: number;
  replanIntervalMs?: number;
  requestTimeoutMs?: number;
  /**
   * Price requests in flight at once (default: requestConcurrency(rpm), i.e. enough for 400 ms
   * round trips at the plan's full rate; 1 up to 150 rpm). Requests start evenly paced either way.
   */
  maxConcurrentRequests?: number;
  /** Circuit breaker tuning (default: open after 5 consecutive failures, 30 s cool-down). */
  breaker?: { failureThreshold?: number; cooldownMs?: number };
  /** Run price history retention at start and hourly (default true). */
  historyMaintenance?: boolean;
  /**
   * Wait for an unreachable database at start (ping, retry 1 s doubling to 30 s, logged) instead
   * of failing; abort with the signal. Default: no wait.
   */
  waitForDatabase?: boolean | { signal?: AbortSignal };
  /**
   * Several instances on one PostgreSQL database (src/cluster, docs/cluster.md): partition
   * leases, fenced writes, one shared request budget. Default: on when this call opens a
   * PostgreSQL store itself (no `store`, no `clock` given); off on the embedded database, which
   * has exactly one process. `true` or an object opts a given PostgreSQL store in.
   */
  cluster?: ClusterOption;
}

/**
 * Price history maintenance period. Partitions are days and three are kept ready ahead
 * (store/history-partitions.ts), so hourly is far more often than needed; it is cheap (a catalog
 * query when nothing is due) and drops an expired day within an hour of its expiry.
 */
export const HISTORY_MAINTENANCE_INTERVAL_MS = 3_600_000;

/**
 * PostgreSQL connections for a plan: every batch is one write statement, and with history on
 * one commits in ~80 ms on the 2-core machine at the pro plan's 150 requests/s. The old fixed
 * pool of 10 therefore capped writes at ~120/s: 7,151 requests/min, 79 % of the 9,000 plan,
 * with the service's CPU 65 % idle (bench:scale, 1M tokens). One connection per request in
 * flight (60 at pro), at least 10 (the small plans need few), at most 40 (PostgreSQL's
 * default max_connections is 100, and a replica or two share it).
 */
export function poolSizeFor(requestsInFlight: number): number {
  return Math.max(10, Math.min(40, Math.ceil(requestsInFlight)));
}

export class TokenRefreshIntegration implements ApiService {
  readonly store: Store;
  readonly clock: Clock;
  readonly config: Config;
  readonly client: PriceClient;
  readonly limiter: RateLimiter;
  readonly breaker: CircuitBreaker;
  readonly scheduler: TokenRefreshScheduler;
  /** The policy the scheduler runs (read-only use: intervals and σ for the dashboard). */
  readonly policy: RefreshPolicy;
  private readonly ownsStore: boolean;
  private closed = false;
  private readonly logger: Logger | undefined;
  private historyTimer: TimerHandle | null = null;
  private historyRun: Promise<void> | null = null;
  /** Set when this instance is one of a cluster (PostgreSQL). */
  readonly cluster: ClusterMember | null;
  private readonly instanceId: string;
  private joined: Promise<void> | null = null;

  private constructor(parts: {
    store: Store;
    ownsStore: boolean;
    config: Config;
    clock: Clock;
    source: PriceSource;
    logger?: Logger;
    opts: TokenRefreshOptions;
    cluster: ClusterMember | null;
    instanceId: string;
  }) {
    const { config, clock, opts } = parts;
    this.cluster = parts.cluster;
    this.instanceId = parts.instanceId;
    this.store = parts.store;
    this.ownsStore = parts.ownsStore;
    this.logger = parts.logger;
    this.config = config;
    this.clock = clock;
    this.limiter = new RateLimiter({
      clock,
      maxRequests: config.requestsPerMinute,
      minSpacingMs: batchSpacingMs(config),
      startPaced: true, // a restart must not add a request to its predecessor's last window
    });
    this.breaker = new CircuitBreaker({ clock, ...opts.breaker });
    this.client = new PriceClient({
      // the scheduler keeps as many batches in flight as the client may send at once
      maxConcurrent: opts.maxConcurrentRequests ?? requestConcurrency(config.requestsPerMinute),
      source: parts.source,
      clock,
      // A cluster member starts requests on the API key's shared slots instead.
      limiter: this.cluster?.limiter ?? this.limiter,
      breaker: this.breaker,
      timeoutMs: opts.requestTimeoutMs ?? 10_000,
    });
    this.policy = createPolicy(config.policy, { deviation: config.deviation });
    this.scheduler = new TokenRefreshScheduler({
      store: this.store,
      client: this.client,
      limiter: this.cluster?.limiter ?? this.limiter,
      breaker: this.breaker,
      clock,
      policy: this.policy,
      authority: this.cluster?.leases,
      requestsPerMinute: config.requestsPerMinute,
      maxBatchSize: Math.min(config.maxBatchSize, parts.source.maxIdsPerRequest),
      sourceName: parts.source.name,
      minIntervalSeconds: config.minIntervalSeconds,
      maxIntervalSeconds: config.maxIntervalSeconds,
      deviation: config.deviation,
      deltaLoadIntervalMs: opts.deltaLoadIntervalMs,
      replanIntervalMs: opts.replanIntervalMs,
      logger: parts.logger,
    });
    if (parts.logger) attachUpstreamLogging(this.client, parts.logger, clock);
    this.cluster?.attach(this.scheduler, () => this.mu(), this.demandSource(config));
  }

  /** Build everything and (unless autoStart is false) start refreshing. */
  static async initializeTokenRefresh(opts: TokenRefreshOptions = {}): Promise<TokenRefreshIntegration> {
    const { store: givenStore, source: givenSource, clock: givenClock, logger, env, ...flags } = opts;
    const config = loadConfig(env ?? process.env, pickConfig(flags));
    const clock = givenClock ?? systemClock;
    const store =
      givenStore ??
      (await openStore({
        databaseUrl: config.databaseUrl ?? undefined,
        dataDir: config.dataDir,
        historyMinChange: config.historyMinChange,
        poolSize: poolSizeFor(opts.maxConcurrentRequests ?? requestConcurrency(config.requestsPerMinute)),
        migrate: false, // below, after waiting for the database if asked to
      }));
    try {
      if (opts.waitForDatabase) {
        const signal = typeof opts.waitForDatabase === 'object' ? opts.waitForDatabase.signal : undefined;
        await waitForDatabase(() => store.ping(), { clock, logger, signal });
      }
      if (opts.migrate !== false) await store.migrate();
      const source =
        givenSource ??
        createPriceSource({
          kind: config.priceSource,
          url: config.priceApiUrl ?? defaultPriceUrl(config),
          apiKey: config.jupiterApiKey ?? undefined,
        });
      const { member: cluster, instanceId } = joinCluster({
        store,
        option: opts.cluster,
        givenStoreOrClock: Boolean(givenStore || givenClock),
        env: env ?? process.env,
        clock,
        databaseUrl: config.databaseUrl,
        apiKey: config.jupiterApiKey,
        requestsPerMinute: config.requestsPerMinute,
        logger,
      });
      const trs = new TokenRefreshIntegration({
        store,
        ownsStore: !givenStore,
        config,
        clock,
        source,
        logger,
        opts,
        cluster,
        instanceId,
      });
      await trs.scheduler.initialize();
      if (opts.historyMaintenance !== false) await trs.maintainHistory();
      if (opts.autoStart !== false) {
        await trs.join();
        trs.scheduler.start();
      }
      return trs;
    } catch (err) {
      if (!givenStore) await store.close().catch(() => {});
      throw err;
    }
  }

  start(): void {
    if (this.cluster && !this.joined) {
      void this.join().then(() => this.scheduler.start());
      return;
    }
    this.scheduler.start();
  }

  /** Cluster: take this instance's first share of the partitions (their tokens load). */
  private join(): Promise<void> {
    this.joined ??= this.cluster ? this.cluster.start() : Promise.resolve();
    return this.joined;
  }

  /** GET /api/v1/cluster: the leases and budget of the cluster; a cluster of one without one. */
  async clusterStatus(): Promise<ClusterStatus> {
    if (this.cluster) return this.cluster.status();
    return clusterOfOne({
      instanceId: this.instanceId,
      partitions: this.scheduler.partitions.servedPartitions(),
      now: this.clock.now(),
      usedLastMinute: this.limiter.requestsInWindow(),
      requestsPerMinute: this.config.requestsPerMinute,
      mu: this.mu(),
    });
  }

  /** Why a manual refresh of a token of another instance's partition is not done here. */
  private servedElsewhere(address: string): string {
    const p = partitionOf(address);
    const owner = this.cluster?.leases.lastView?.leases.find((l) => l.partition === p)?.owner ?? null;
    return owner && owner !== this.instanceId
      ? `its partition ${p} is served by instance ${owner} of the cluster; refresh it there`
      : `its partition ${p} is served by another instance of the cluster`;
  }

  /** What the cluster's equal-μ budget split reads from this instance (optimal policy only). */
  private demandSource(config: Config): DemandSource | undefined {
    const policy = this.policy;
    if (!(policy instanceof OptimalPolicy)) return undefined;
    return {
      version: () => policy.demandSample,
      curve: () => {
        const sample = policy.demandSample;
        return sample ? sampleDemandCurve(sample) : null;
      },
      planCapacityPerSecond: () => this.scheduler.capacityAt(config.requestsPerMinute),
      plannedPartitions: () => this.scheduler.plannedPartitions,
    };
  }

  private mu(): number | null {
    const m = (this.policy as { multiplier?: unknown }).multiplier;
    return typeof m === 'number' && Number.isFinite(m) ? m : null;
  }

  /**
   * Price history retention now, then again every HISTORY_MAINTENANCE_INTERVAL_MS on the injected
   * clock. A failure is logged and retried at the next run; it never stops the service.
   */
  private async maintainHistory(): Promise<void> {
    this.historyTimer = null;
    if (this.closed) return;
    const run = this.store.maintainHistory(this.clock.now(), this.config.historyRetention).then(
      (r) => {
        if (r.created.length || r.dropped.length || r.moved || r.expiredFromDefault)
          this.logger?.info({ ...r }, 'price history maintained');
      },
      (err: unknown) => this.logger?.warn({ err }, 'price history maintenance failed'),
    );
    this.historyRun = run;
    await run;
    this.historyRun = null;
    if (!this.closed) {
      this.historyTimer = this.clock.setTimeout(
        () => void this.maintainHistory(),
        HISTORY_MAINTENANCE_INTERVAL_MS,
      );
    }
  }

  on<E extends SchedulerEventName>(event: E, fn: (payload: SchedulerEvents[E]) => void): () => void {
    return this.scheduler.events.on(event, fn);
  }

  status(): SchedulerStatus & OptionalStatusExtras {
    return {
      ...this.scheduler.status(),
      upstreamFailingSince: this.client.stats().upstreamFailingSince,
      cluster: {
        leasesHeld: this.cluster
          ? this.cluster.leases.usablePartitions().length
          : this.scheduler.partitions.servedPartitions().length,
        leaseChanges: this.cluster?.leaseChanges ?? 0,
        fencedWrites: this.scheduler.fencedWrites,
        budgetShare: this.cluster ? this.cluster.balancer.share() : 1,
        budgetSplit: this.cluster?.balancer.mode ?? 'partitions',
        ...(this.cluster ? { budgetSlots: this.cluster.budget.slotCounts() } : {}),
      },
    };
  }
  pause(): void {
    this.scheduler.pause();
  }
  resume(): void {
    this.scheduler.resume();
  }

  /** Refresh one token now: first in line, through the limiter. Resolves after the write commits. */
  async refreshToken(address: string): Promise<RefreshOutcome> {
    if (!isMintAddress(address))
      throw new BadRequestError(`address: not a base58 mint address (32–44 characters)`);
    let id = this.scheduler.idForAddress(address);
    if (id === undefined) {
      const row = await this.store.getToken(address);
      if (!row) throw new TokenNotFoundError(address);
      if (!row.is_active)
        return { address, refreshed: false, price: row.price, changed: false, reason: 'token is inactive' };
      this.scheduler.applyRows([viewToState(row)]);
      if (!this.scheduler.tokens.has(row.id)) {
        return {
          address,
          refreshed: false,
          price: row.price,
          changed: false,
          reason: this.servedElsewhere(address),
        };
      }
      id = row.id;
    }
    if (!this.scheduler.isRunning) {
      return { address, refreshed: false, price: null, changed: false, reason: 'scheduler is not running' };
    }
    const r = await this.scheduler.requestRefresh(id);
    if (r.status === 'updated') return { address, refreshed: true, price: r.price, changed: r.changed };
    const price = this.scheduler.tokens.get(id)?.price ?? null;
    return { address, refreshed: false, price, changed: false, reason: r.reason };
  }

  /** Store new settings and re-queue that token only. */
  async updateTokenRefreshSettings(
    addressOrId: string | number,
    settings: TokenSettings,
  ): Promise<Token | null> {
    const row = await this.store.updateTokenSettings(addressOrId, settings, this.clock.now());
    if (!row) return null;
    const view = await this.store.getToken(row.id);
    if (view) this.scheduler.applyRows([viewToState(view)]);
    return row;
  }

  updateTokenSettings(addressOrId: string | number, settings: TokenSettings): Promise<Token | null> {
    return this.updateTokenRefreshSettings(addressOrId, settings);
  }

  getSchedulerMetrics() {
    return {
      status: this.status(),
      batches: this.scheduler.metrics.getMetrics(),
      client: this.client.stats(),
      limiter: this.limiter.snapshot(),
    };
  }

  /** Distribution, per-tier recommendations for the configured plan, and projections per plan. */
  async getRefreshRecommendations() {
    return buildAnalysisReport([...this.scheduler.tokens.values()], {
      planName: this.config.plan,
      requestsPerMinute: this.config.requestsPerMinute,
      maxBatchSize: this.config.maxBatchSize,
      minIntervalSeconds: this.config.minIntervalSeconds,
      deviation: this.config.deviation,
      now: this.clock.now(),
    });
  }

  recommendations(): Promise<unknown> {
    return this.getRefreshRecommendations();
  }

  /** What the scheduler knows and plans for one token; null when it is not scheduled. */
  tokenSchedule(address: string): TokenScheduleFacts | null {
    const id = this.scheduler.idForAddress(address);
    const t = id === undefined ? undefined : this.scheduler.tokens.get(id);
    if (!t) return null;
    const live = this.liveToken(t, this.clock.now());
    const s = t.schedule;
    return {
      tier: live.tier,
      weight: live.weight,
      plannedIntervalSeconds: live.intervalSeconds,
      sigmaDaily: live.planSigmaDaily,
      sigmaSamples: t.sigmaSamples,
      nextDueAt: Number.isFinite(s.nextDueAt) ? s.nextDueAt : null,
      consecutiveFailures: s.consecutiveFailures,
      failingSince: s.failingSince,
      lastRefreshSuccess: t.lastRefreshSuccess,
      lastPriceChangeAt: t.lastPriceChangeAt,
    };
  }

  /** Every scheduled token with its plan (O(N): for timers, never per request). */
  liveTokens(max: number): { tokens: LiveToken[]; total: number } {
    const now = this.clock.now();
    const all = this.scheduler.tokens;
    const tokens: LiveToken[] = [];
    for (const t of strided(all.values(), all.size, max)) tokens.push(this.liveToken(t, now));
    return { tokens, total: all.size };
  }

  budget(): LiveBudget {
    const plan = this.scheduler.status().plan;
    return {
      requestsPerMinute: plan.requestsPerMinute,
      maxBatchSize: plan.maxBatchSize,
      capacityPerSecond: plan.capacityPerSecond,
      minIntervalSeconds: this.config.minIntervalSeconds,
      maxIntervalSeconds: this.config.maxIntervalSeconds,
      deviation: this.config.deviation,
    };
  }

  private liveToken(t: SchedToken, now: number): LiveToken {
    const sigma = this.policy.sigma ? this.policy.sigma(t) : null;
    return {
      rank: t.rank,
      volume_24h: t.volume_24h,
      in_contest: t.in_contest,
      priority_score: t.priority_score,
      refresh_interval_seconds: t.refresh_interval_seconds,
      tier: effectiveTier(t).name,
      weight: this.scheduler.importance(t),
      intervalSeconds: this.policy.intervalSeconds(t, now),
      sigma: t.sigma,
      sigmaSamples: t.sigmaSamples,
      planSigmaDaily: sigma === null ? null : sigmaToDaily(sigma),
      lastPriceChangeAt: t.lastPriceChangeAt,
    };
  }

  async readiness(): Promise<{ db: boolean; migrations: boolean; scheduler: boolean }> {
    const db = await this.store.ping().then(
      () => true,
      () => false,
    );
    const migrations = db ? await this.store.migrationsApplied().catch(() => false) : false;
    return { db, migrations, scheduler: this.scheduler.isRunning };
  }

  /** Stop taking batches, commit the in-flight batch, persist the schedule, close what we opened. */
  async shutdown(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.historyTimer) this.clock.clearTimeout(this.historyTimer);
    await this.historyRun;
    // Cluster: batches still waiting for a shared slot give up now (nothing of them was sent).
    this.cluster?.limiter.close();
    await this.scheduler.stop();
    // After the last in-flight batch committed: release every lease, so others take over now.
    await this.cluster?.stop();
    if (this.ownsStore) await this.store.close();
  }
}

export function initializeTokenRefresh(opts: TokenRefreshOptions = {}): Promise<TokenRefreshIntegration> {
  return TokenRefreshIntegration.initializeTokenRefresh(opts);
}

const CONFIG_KEYS: readonly (keyof Config)[] = [
  'databaseUrl',
  'dataDir',
  'priceSource',
  'priceApiUrl',
  'jupiterApiKey',
  'plan',
  'requestsPerMinute',
  'maxBatchSize',
  'minIntervalSeconds',
  'batchDelayMs',
  'policy',
  'deviation',
  'maxIntervalSeconds',
  'adminToken',
  'host',
  'port',
  'logLevel',
  'historyMinChange',
  'historyRetention',
];

function pickConfig(o: Record<string, unknown>): Partial<Record<keyof Config, unknown>> {
  const out: Partial<Record<keyof Config, unknown>> = {};
  for (const k of CONFIG_KEYS) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

function viewToState(v: Awaited<ReturnType<Store['getToken']>> & object): TokenWithState {
  return { ...v, priceUpdatedAt: v.price_updated_at, schedule: null };
}
