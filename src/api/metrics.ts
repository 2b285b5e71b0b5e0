/**
 * Prometheus metrics. One private Registry per server (never prom-client's global one, so two
 * servers in one process — tests, library users — do not collide). Counters and the duration
 * histogram are fed by scheduler events as they happen; gauges are read from `status()` at scrape
 * time, so a scrape costs one status snapshot and no store query.
 *
 * Labels are closed sets (outcome, result, tier): no address, URL, key or token ever becomes a
 * label value.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { BatchFailedEvent, SchedulerStatus } from '../scheduler/types.js';
import type { AdmissionGate } from './admission.js';
import type { ApiService, OptionalStatusExtras } from './types.js';

export type UpstreamOutcome =
  'success' | 'rate_limited' | 'timeout' | 'http_error' | 'unreachable' | 'malformed' | 'error';

/**
 * The upstream outcome of a failed batch, from its error class name; null when no request was
 * sent (the circuit was open).
 */
export function upstreamOutcomeOf(errorType: string): UpstreamOutcome | null {
  switch (errorType) {
    case 'CircuitOpenError':
      return null;
    case 'RateLimitedError':
      return 'rate_limited';
    case 'SourceTimeoutError':
      return 'timeout';
    case 'UpstreamStatusError':
      return 'http_error';
    case 'MalformedResponseError':
      return 'malformed';
    case 'UpstreamUnreachableError':
      return 'unreachable';
    // The price API answered; the batch failed afterwards while writing.
    case 'StoreWriteError':
      return 'success';
    default:
      return 'error';
  }
}

const CIRCUIT_STATE_VALUE = { closed: 0, 'half-open': 1, open: 2 } as const;

export interface ApiMetricsOptions {
  /** Also export Node process metrics (CPU, memory, event loop lag). Default true. */
  defaultMetrics?: boolean;
}

export class ApiMetrics {
  readonly registry = new Registry();
  private readonly unsubscribers: Array<() => void> = [];
  private lastLimiterWait = 0;

  private readonly upstreamRequests = new Counter({
    name: 'token_refresh_upstream_requests_total',
    help: 'Requests sent to the price API, by outcome',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  private readonly upstreamDuration = new Histogram({
    name: 'token_refresh_upstream_request_duration_seconds',
    help: 'Duration of a refresh batch (price API request and write), seconds',
    buckets: [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  private readonly tokensRefreshed = new Counter({
    name: 'token_refresh_tokens_refreshed_total',
    help: 'Token prices refreshed and written',
    registers: [this.registry],
  });
  private readonly priceChanges = new Counter({
    name: 'token_refresh_price_changes_total',
    help: 'Refreshes whose price differed from the stored one',
    registers: [this.registry],
  });
  private readonly rateLimited = new Counter({
    name: 'token_refresh_rate_limited_total',
    help: 'HTTP 429 answers from the price API',
    registers: [this.registry],
  });
  private readonly batches = new Counter({
    name: 'token_refresh_batches_total',
    help: 'Refresh batches by result (success, partial = some tokens missing, failed, circuit_open)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  private readonly tokenFailures = new Counter({
    name: 'token_refresh_token_failures_total',
    help: 'Token-level misses (quote missing or invalid while the price API answered)',
    registers: [this.registry],
  });
  private readonly heldPrices = new Counter({
    name: 'token_refresh_prices_held_total',
    help: 'Implausible quotes held back unwritten (held), then confirmed and written, or dropped',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });
  private readonly limiterWait = new Counter({
    name: 'token_refresh_limiter_wait_seconds_total',
    help: 'Seconds refresh batches spent waiting on the rate limiter (when the scheduler reports it)',
    registers: [this.registry],
  });
  private readonly queueSize = this.gauge('token_refresh_queue_size', 'Tokens in the schedule queue');
  private readonly dueBacklog = this.gauge(
    'token_refresh_due_backlog',
    'Tokens whose refresh is due or overdue right now',
  );
  private readonly activeTokens = this.gauge('token_refresh_active_tokens', 'Active tokens scheduled');
  private readonly circuitState = this.gauge(
    'token_refresh_circuit_state',
    'Price API circuit breaker: 0 closed, 1 half-open, 2 open',
  );
  private readonly staleness = this.gauge(
    'token_refresh_estimated_staleness',
    'Priority-weighted estimated fraction of stored prices more than the deviation off (0..1)',
  );
  private readonly tierRate = new Gauge({
    name: 'token_refresh_refresh_rate_per_tier',
    help: 'Refreshes per second committed over the last minute, by tier',
    labelNames: ['tier'] as const,
    registers: [this.registry],
  });
  private readonly planRpm = this.gauge(
    'token_refresh_plan_requests_per_minute',
    'Requests per minute the configured plan allows',
  );
  private readonly replanSeconds = this.gauge(
    'token_refresh_replan_seconds',
    'Wall time the last re-plan of every token took',
  );
  private readonly effectiveRpm = this.gauge(
    'token_refresh_effective_requests_per_minute',
    'Requests per minute the adaptive limiter currently allows',
  );
  private readonly requestsLastMinute = this.gauge(
    'token_refresh_requests_last_minute',
    'Price API requests sent over the last minute',
  );
  private readonly failingSince = this.gauge(
    'token_refresh_upstream_failing_since_seconds',
    'Unix time of the first price API failure of the current streak; 0 while requests succeed',
  );
  private readonly failingFor = this.gauge(
    'token_refresh_upstream_failing_seconds',
    'Seconds the price API has been failing without a success in between; 0 while requests succeed',
  );
  private readonly paused = this.gauge('token_refresh_paused', '1 when the scheduler is paused');
  private readonly leasesHeld = this.gauge(
    'token_refresh_leases_held',
    'Token partitions (of 64) this instance serves; 64 for a single instance',
  );
  private readonly budgetShare = new Gauge({
    name: 'token_refresh_budget_share',
    help: 'Fraction of the plan this instance plans with; split="mu" (equal marginal value across instances) or "partitions" (by partition count, until every instance published its demand)',
    labelNames: ['split'],
    registers: [this.registry],
  });
  private readonly leaseChanges = new Counter({
    name: 'token_refresh_lease_changes_total',
    help: 'Partition leases this instance gained, lost or released',
    registers: [this.registry],
  });
  private readonly fencedWrites = new Counter({
    name: 'token_refresh_fenced_writes_total',
    help: 'Batch writes refused because another instance took over a partition (nothing written)',
    registers: [this.registry],
  });
  private readonly budgetSlots = new Counter({
    name: 'token_refresh_budget_slots_total',
    help: 'Shared request-budget slots this instance reserved, by outcome: used (a request started on it) or dropped (nothing was due when it came, or it was too late to use)',
    labelNames: ['outcome'],
    registers: [this.registry],
  });
  private lastBudgetSlots = { used: 0, dropped: 0 };
  private lastLeaseChanges = 0;
  private lastFencedWrites = 0;
  private readonly running = this.gauge('token_refresh_running', '1 when the scheduler is running');

  constructor(
    private readonly service: ApiService,
    opts: ApiMetricsOptions = {},
  ) {
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
    this.subscribe();
  }

  private gauge(name: string, help: string): Gauge {
    return new Gauge({ name, help, registers: [this.registry] });
  }

  private subscribe(): void {
    const s = this.service;
    this.unsubscribers.push(
      s.on('batch:completed', (e) => {
        this.upstreamRequests.inc({ outcome: 'success' });
        this.upstreamDuration.observe(Math.max(0, e.durationMs) / 1000);
        this.tokensRefreshed.inc(Math.max(0, e.updated));
        this.priceChanges.inc(Math.max(0, e.changed));
        this.batches.inc({ result: e.failed > 0 ? 'partial' : 'success' });
      }),
      s.on('batch:failed', (e) => this.onBatchFailed(e)),
      s.on('rate-limited', () => this.rateLimited.inc()),
      s.on('token:failed', () => this.tokenFailures.inc()),
      s.on('price:held', () => this.heldPrices.inc({ outcome: 'held' })),
      s.on('price:confirmed', () => this.heldPrices.inc({ outcome: 'confirmed' })),
      s.on('price:dropped', () => this.heldPrices.inc({ outcome: 'dropped' })),
    );
  }

  private onBatchFailed(e: BatchFailedEvent): void {
    const outcome = upstreamOutcomeOf(e.errorType);
    if (outcome === null) {
      this.batches.inc({ result: 'circuit_open' });
      return;
    }
    this.upstreamRequests.inc({ outcome });
    this.upstreamDuration.observe(Math.max(0, e.durationMs) / 1000);
    this.batches.inc({ result: 'failed' });
  }

  /** Copies the status snapshot into the gauges. */
  updateFromStatus(status: SchedulerStatus & OptionalStatusExtras): void {
    this.queueSize.set(status.tokens.queued);
    this.dueBacklog.set(status.tokens.due);
    this.activeTokens.set(status.tokens.active);
    this.circuitState.set(CIRCUIT_STATE_VALUE[status.circuit.state] ?? 2);
    this.staleness.set(status.estimatedStaleness ?? Number.NaN);
    this.planRpm.set(status.plan.requestsPerMinute);
    this.effectiveRpm.set(status.plan.effectiveRequestsPerMinute);
    this.replanSeconds.set((status.plan.lastReplanMs ?? Number.NaN) / 1000);
    this.requestsLastMinute.set(status.rates.requestsLastMinute);
    this.paused.set(status.paused ? 1 : 0);
    this.running.set(status.running ? 1 : 0);
    const since = status.upstreamFailingSince ?? null;
    this.failingSince.set(since === null ? 0 : since / 1000);
    this.failingFor.set(since === null ? 0 : Math.max(0, status.now - since) / 1000);
    this.tierRate.reset();
    for (const t of status.tiers) this.tierRate.set({ tier: t.tier }, t.refreshesPerMinute / 60);
    if (status.cluster) {
      this.leasesHeld.set(status.cluster.leasesHeld);
      this.budgetShare.reset();
      if (status.cluster.budgetShare !== undefined) {
        this.budgetShare.set(
          { split: status.cluster.budgetSplit ?? 'partitions' },
          status.cluster.budgetShare,
        );
      }
      // Running totals from the service: counters only move forward.
      const slots = status.cluster.budgetSlots;
      if (slots) {
        for (const outcome of ['used', 'dropped'] as const) {
          if (slots[outcome] > this.lastBudgetSlots[outcome])
            this.budgetSlots.inc({ outcome }, slots[outcome] - this.lastBudgetSlots[outcome]);
          this.lastBudgetSlots[outcome] = slots[outcome];
        }
      }
      const { leaseChanges, fencedWrites } = status.cluster;
      if (leaseChanges > this.lastLeaseChanges) this.leaseChanges.inc(leaseChanges - this.lastLeaseChanges);
      if (fencedWrites > this.lastFencedWrites) this.fencedWrites.inc(fencedWrites - this.lastFencedWrites);
      this.lastLeaseChanges = leaseChanges;
      this.lastFencedWrites = fencedWrites;
    }
    const wait = status.limiterWaitSecondsTotal;
    if (typeof wait === 'number' && Number.isFinite(wait)) {
      // The scheduler reports a running total; a counter only moves forward (a restart resets
      // the scheduler's total, so re-base on a decrease).
      if (wait > this.lastLimiterWait) this.limiterWait.inc(wait - this.lastLimiterWait);
      this.lastLimiterWait = wait;
    }
  }

  /** Exports the API's own admission counters (requests delayed / refused under a flood). */
  attachAdmission(gate: AdmissionGate): void {
    const counter = (name: string, help: string, read: () => number): void => {
      let seen = 0;
      new Counter({
        name,
        help,
        registers: [this.registry],
        collect() {
          const v = read();
          if (v > seen) this.inc(v - seen);
          seen = v;
        },
      });
    };
    counter(
      'token_refresh_api_requests_delayed_total',
      'API requests that waited for their turn under the request-rate limit',
      () => gate.stats.delayed,
    );
    counter(
      'token_refresh_api_requests_rejected_total',
      'API requests answered 503 overloaded by the request-rate limit',
      () => gate.stats.rejected,
    );
  }

  /** The exposition text for a scrape. */
  async scrape(): Promise<string> {
    this.updateFromStatus(this.service.status());
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** Stops listening to scheduler events. */
  dispose(): void {
    for (const off of this.unsubscribers.splice(0)) off();
    this.registry.clear();
  }
}
