/**
 * TokenRefreshScheduler: tokens from the store, due tokens from the queue, batches through the
 * single price client, results written in one transaction, tokens re-queued, events out.
 *
 * Ordering guarantee: nothing is re-queued, emitted or counted before the batch's transaction has
 * committed. If the write fails (after the store's own transient retries and one more here), the
 * batch's tokens go back into the queue as due and their in-memory state is left untouched.
 */
import type { Clock } from '../core/clock.js';
import type { PolicyContext, RefreshPolicy } from '../core/policy.js';
import type { ScheduleState, TierDef, TokenWithState } from '../core/types.js';
import { MetricsCollector } from '../core/metrics-collector.js';
import { DEFAULT_TIERS, calculatePriorityScore } from '../core/tiers.js';
import type { RateLimiter } from '../core/rate-limiter.js';
import { partitionOf } from '../store/partition.js';
import type { CircuitBreaker } from '../core/circuit-breaker.js';
import type { PriceClient } from '../sources/price-client.js';
import type { Store } from '../store/types.js';
import { TypedEmitter } from '../core/emitter.js';
import { TokenBook } from './token-book.js';
import type { SchedulerEvents, SchedulerStatus } from './types.js';
import { type SchedToken, toSchedToken, applyRowEdits, DEFAULT_DEACTIVATION } from './token-state.js';
import { BatchProcessor, type BatchOutcome, type TokenResult } from './batch-processor.js';
import { SchedulerStats } from './stats.js';
import { ManualRequests } from './manual-requests.js';
import { StoreGate } from './store-gate.js';
import { TokenAdmission } from './admission.js';
import { groupOf, RequestBatcher, SPREAD_REQUESTS } from './request-batcher.js';
import {
  PartitionControl,
  PartitionNotHeldError,
  registerSendCheck,
  type PartitionAuthority,
} from './partitions.js';
import { FencedWriteError } from '../cluster/fencing.js';
import { PartitionMoves } from './partition-moves.js';

export interface Logger {
  debug(obj: object | string, msg?: string): void;
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
}
const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };

export interface SchedulerOptions {
  store: Store;
  client: PriceClient;
  limiter: SchedulerLimiter;
  breaker: CircuitBreaker;
  clock: Clock;
  policy: RefreshPolicy;
  requestsPerMinute: number;
  maxBatchSize: number;
  /** Recorded as token_prices.source. */
  sourceName: string;
  minIntervalSeconds?: number;
  maxIntervalSeconds?: number;
  /** Share of the plan the planner may spend (the rest absorbs retries and manual refreshes). */
  utilisation?: number;
  /** Deviation X for the staleness estimate. */
  deviation?: number;
  /** Batches in flight at once (default: as many as the price client sends at once). */
  maxInFlight?: number;
  deltaLoadIntervalMs?: number;
  replanIntervalMs?: number;
  tiers?: readonly TierDef[];
  partitions?: readonly number[];
  /**
   * Several instances: the lease manager that says which partitions this scheduler may send and
   * write for. The scheduler then starts with `partitions` (default none) and follows
   * gainPartitions / losePartitions; every batch write is fenced. Unset: one process, all 64.
   */
  authority?: PartitionAuthority;
  deactivation?: typeof DEFAULT_DEACTIVATION;
  logger?: Logger;
}

/** The part of a limiter the scheduler reads (RateLimiter, or the cluster's share of a budget). */
export type SchedulerLimiter = Pick<RateLimiter, 'effectiveMaxRequests' | 'nextAvailableAt' | 'spacingMs'> & {
  /**
   * A limiter that reserves slots ahead (the cluster's shared budget): true when a reserved slot
   * is due now; false starts the reservation, and the batch is formed when its slot is due.
   */
  slotReady?(): boolean;
  /**
   * Share of effectiveMaxRequests the plan is made for, when the limiter knows better than the
   * scheduler's own `utilisation` (default 0.95).
   */
  readonly planUtilisation?: number;
};

export class TokenRefreshScheduler {
  readonly events: TypedEmitter<SchedulerEvents>;
  readonly metrics: MetricsCollector;
  readonly book: TokenBook;
  /** Every scheduled token by id (read-only view of the book). */
  get tokens(): ReadonlyMap<number, SchedToken> {
    return this.book.tokens;
  }
  private readonly manual = new ManualRequests();
  /** Ids of the tokens in requests now (a token is never in two at once). */
  private readonly inFlightIds = new Set<number>();
  private readonly gate: StoreGate;
  private readonly admission: TokenAdmission;
  private readonly batcher: RequestBatcher;
  /** Tokens whose schedule moved in memory since their last committed batch (settings edits). */
  private readonly unsaved = new Set<number>();
  private readonly stats: SchedulerStats;
  private readonly processor: BatchProcessor;
  private readonly log: Logger;
  private readonly o: Required<
    Omit<SchedulerOptions, 'partitions' | 'authority' | 'logger' | 'tiers' | 'deactivation' | 'sourceName'>
  >;
  /** Partitions served (all without a cluster), in-flight counts per partition, fences. */
  readonly partitions: PartitionControl;
  /** Gains, losses and fencing of partitions (cluster), serialised with delta loads. */
  private readonly moves: PartitionMoves;
  private tiers: readonly TierDef[];
  private running = false;
  private paused = false;
  private loopPromise: Promise<void> | null = null;
  private wake: AbortController = new AbortController();
  /** Aborted when stop() gives up waiting: requests not yet sent are abandoned. */
  private readonly stopping = new AbortController();
  private inFlight = new Set<Promise<void>>();
  /** The store's change feed position (loadTokensChanged). */
  private lastChangeSeq = 0;
  private nextDeltaAt = 0;
  private nextReplanAt = 0;
  private plannedCapacity = 0;
  private plannedPartitionCount = 0;
  /** Partitions this instance served at its last re-plan (all 64 without a cluster). */
  get plannedPartitions(): number {
    return this.plannedPartitionCount;
  }
  private lastReplanMs: number | null = null;
  private startedAt: number | null = null;
  private initialized = false;

  constructor(private readonly opts: SchedulerOptions) {
    this.log = opts.logger ?? silentLogger;
    this.tiers = opts.tiers ?? DEFAULT_TIERS;
    this.o = {
      store: opts.store,
      client: opts.client,
      limiter: opts.limiter,
      breaker: opts.breaker,
      clock: opts.clock,
      policy: opts.policy,
      requestsPerMinute: opts.requestsPerMinute,
      maxBatchSize: opts.maxBatchSize,
      minIntervalSeconds: opts.minIntervalSeconds ?? 15,
      maxIntervalSeconds: opts.maxIntervalSeconds ?? 3600,
      utilisation: opts.utilisation ?? 0.95,
      deviation: opts.deviation ?? 0.01,
      maxInFlight: opts.maxInFlight ?? opts.client.maxConcurrent,
      deltaLoadIntervalMs: opts.deltaLoadIntervalMs ?? 5_000,
      replanIntervalMs: opts.replanIntervalMs ?? 60_000,
    };
    this.batcher = new RequestBatcher(opts.maxBatchSize);
    this.partitions = new PartitionControl(opts.partitions, opts.authority ?? null);
    this.events = new TypedEmitter<SchedulerEvents>((err, ev) =>
      this.log.error({ err, event: ev }, 'event listener threw'),
    );
    this.metrics = new MetricsCollector({ clock: opts.clock });
    this.book = new TokenBook({
      priorityOf: (t) => this.calculateTokenPriority(t),
      intervalOf: (t, now) => this.o.policy.intervalSeconds(t, now),
      capacityPerSecond: () => this.capacityPerSecond(),
      minIntervalSeconds: this.o.minIntervalSeconds,
    });
    this.stats = new SchedulerStats(opts.clock, this.tiers);
    this.gate = new StoreGate({ ping: () => opts.store.ping(), clock: opts.clock, logger: this.log });
    this.admission = new TokenAdmission({
      clock: opts.clock,
      logger: this.log,
      // Weight and queue priority must be computable (the seed's score validates every field).
      probe: (t) => {
        const w = this.importance(t);
        const p = this.o.policy.priority(t);
        if (!Number.isFinite(w) || !Number.isFinite(p)) throw new RangeError(`weight ${w}, priority ${p}`);
      },
      onSkip: (s) => this.events.emit('token:skipped', s),
    });
    this.moves = new PartitionMoves({
      store: opts.store,
      book: this.book,
      partitions: this.partitions,
      log: this.log,
      admit: (t) => this.admission.admit(t),
      track: (t) => this.stats.track(t),
      forget: (t, reason) => this.forget(t, reason),
      dropManual: (id, reason) => this.manual.drop(id, { status: 'skipped', reason }),
      replan: (now) => this.replan(now),
      now: () => this.now(),
      wake: () => this.wake.abort(),
    });
    this.processor = new BatchProcessor({
      store: opts.store,
      client: opts.client,
      clock: opts.clock,
      policy: opts.policy,
      sourceName: opts.sourceName,
      minIntervalSeconds: this.o.minIntervalSeconds,
      deactivation: opts.deactivation ?? DEFAULT_DEACTIVATION,
      logger: this.log,
    });
    opts.client.on('circuit:open', (p) =>
      this.events.emit('circuit:open', { at: this.now(), retryAt: p.retryAt }),
    );
    opts.client.on('circuit:closed', () => this.events.emit('circuit:closed', { at: this.now() }));
    opts.client.on('rate-limited', (p) =>
      this.events.emit('rate-limited', { at: this.now(), resetAt: p.resetAt }),
    );
  }

  private now(): number {
    return this.o.clock.now();
  }

  /** Capacity in token refreshes per second the policy plans for (at the current batch size). */
  capacityPerSecond(): number {
    return this.capacityAt(this.o.limiter.effectiveMaxRequests);
  }

  /** Token refreshes per second `requestsPerMinute` buy (at the current batch size and utilisation). */
  capacityAt(requestsPerMinute: number): number {
    const utilisation = this.o.limiter.planUtilisation ?? this.o.utilisation;
    return (requestsPerMinute / 60) * this.batcher.size * utilisation;
  }

  private policyContext(): PolicyContext {
    return {
      capacityPerSecond: this.capacityPerSecond(),
      minIntervalSeconds: this.o.minIntervalSeconds,
      maxIntervalSeconds: this.o.maxIntervalSeconds,
    };
  }

  calculateTokenPriority(token: SchedToken): number {
    return this.o.policy.priority(token);
  }

  /** Seed score (for display and weights), independent of the policy. */
  importance(token: SchedToken): number {
    return calculatePriorityScore(token, this.tiers);
  }

  async initialize(): Promise<void> {
    if (this.initialized) return;
    this.tiers = await this.o.store.getTiers().catch(() => this.tiers);
    this.stats.setTiers(this.tiers);
    await this.loadActiveTokens();
    this.initialized = true;
  }

  /**
   * Fill the queue from the store with the persisted schedule, page by page. Tokens without a
   * schedule (new) or overdue by more than one full pass are spread evenly from now.
   */
  async loadActiveTokens(): Promise<number> {
    const now = this.now();
    // Taken before the load: a change committed after it is read again by the delta load.
    const horizon = await this.o.store.changeHorizon();
    for await (const page of this.o.store.loadActiveTokens({ partitions: this.partitions.loadPartitions })) {
      for (const row of page) {
        const t = toSchedToken(row);
        if (this.admission.admit(t)) this.book.add(t);
      }
    }
    this.lastChangeSeq = Math.max(this.lastChangeSeq, horizon);
    this.replan(now);
    this.book.place([...this.book.values()], now);
    this.stats.recountTiers(this.book.values());
    this.log.info({ tokens: this.book.size }, 'tokens loaded');
    return this.book.size;
  }

  /** Incremental pick-up of new, edited and deactivated tokens (never rebuilds the queue). */
  loadChangedTokens(): Promise<number> {
    return this.moves.serially(() => this.loadChangedNow());
  }

  private async loadChangedNow(): Promise<number> {
    const { rows, lastSeq } = await this.o.store
      .loadTokensChanged(this.lastChangeSeq, { partitions: this.partitions.loadPartitions })
      .catch((err: unknown) => {
        this.gate.fail(err);
        throw err;
      });
    this.lastChangeSeq = lastSeq;
    this.applyRows(rows);
    return rows.length;
  }

  /**
   * Apply new/edited/deactivated rows to the running schedule: an edit re-queues that token only;
   * new tokens get evenly spread slots; a deactivated token leaves the queue.
   */
  applyRows(rows: readonly TokenWithState[]): void {
    const now = this.now();
    const fresh: SchedToken[] = [];
    for (const row of rows) {
      const existing = this.book.get(row.id);
      if (!row.is_active) {
        if (existing) this.forget(existing, 'token is inactive');
        this.admission.skipped.delete(row.id);
        continue;
      }
      if (existing) {
        const intervalBefore = existing.refresh_interval_seconds;
        applyRowEdits(existing, row);
        if (!this.admission.admit(existing)) {
          this.forget(existing, 'token skipped: its values cannot be planned');
          continue;
        }
        if (intervalBefore !== existing.refresh_interval_seconds && existing.lastRefreshSuccess !== null) {
          const next = existing.lastRefreshSuccess + this.o.policy.intervalSeconds(existing, now) * 1000;
          existing.schedule.nextDueAt = Math.max(now, next);
          this.unsaved.add(existing.id);
        }
        this.stats.track(existing);
        if (this.book.isQueued(existing.id)) this.book.enqueue(existing);
      } else {
        const t = toSchedToken(row);
        // Cluster: a token of a partition another instance serves is that instance's to schedule.
        if (!this.servesToken(t)) continue;
        if (!this.admission.admit(t)) continue;
        this.book.add(t);
        this.stats.track(t);
        fresh.push(t);
      }
    }
    if (fresh.length) {
      this.planOrSkip(now);
      this.book.place(fresh, now);
    }
  }

  /**
   * Re-plan rates (timer, capacity change, token set change). The next re-plan is scheduled
   * first, so a plan that throws can never stop the loop; a token the plan cannot take is
   * skipped (planOrSkip).
   */
  replan(now = this.now()): void {
    this.nextReplanAt = now + this.o.replanIntervalMs;
    // A measurement of CPU work for status and /metrics, not a scheduling input: wall time.
    const started = performance.now();
    try {
      this.replanNow(now);
    } finally {
      this.lastReplanMs = performance.now() - started;
    }
  }

  private replanNow(now: number): void {
    const ctx = this.planOrSkip(now);
    if (!ctx) return;
    this.plannedCapacity = ctx.capacityPerSecond;
    this.plannedPartitionCount = this.partitions.servedPartitions().length;
    try {
      this.stats.updatePlan(this.book.values(), this.book.size, this.o.policy, now, this.o.deviation, (t) =>
        this.importance(t),
      );
    } catch (err) {
      this.log.error({ err }, 'plan statistics failed; the plan itself stands');
    }
  }

  /**
   * policy.replan over the book; if it throws, find the tokens it cannot plan (cheap probes
   * first, then a one-token plan each), skip them and plan the rest. Returns the context planned
   * with, or null if even that failed (the previous plan stays; logged).
   */
  private planOrSkip(now: number): PolicyContext | null {
    const ctx = this.policyContext();
    try {
      this.o.policy.replan(this.book.values(), ctx, now);
      return ctx;
    } catch (err) {
      this.log.warn({ err }, 're-plan failed; looking for tokens that cannot be planned');
    }
    for (const t of [...this.book.values()]) {
      if (!this.admission.admit(t)) this.forget(t, 'token skipped: its values cannot be planned');
    }
    try {
      this.o.policy.replan(this.book.values(), ctx, now);
      return ctx;
    } catch {
      // Still failing: a value the probes do not read. Plan each token alone to find it.
    }
    for (const t of [...this.book.values()]) {
      try {
        this.o.policy.replan([t], ctx, now);
        this.o.policy.intervalSeconds(t, now);
      } catch (err) {
        this.admission.skip(t, err);
        this.forget(t, 'token skipped: its values cannot be planned');
      }
    }
    try {
      this.o.policy.replan(this.book.values(), ctx, now);
      return ctx;
    } catch (err) {
      this.log.error({ err }, 're-plan failed; keeping the previous plan');
      return null;
    }
  }

  /** Take a token out of the schedule; its manual waiters are answered. */
  private forget(t: SchedToken, reason: string): void {
    this.book.forget(t);
    this.stats.untrack(t.id);
    this.unsaved.delete(t.id);
    this.manual.drop(t.id, { status: 'skipped', reason });
  }

  start(): void {
    if (this.running) return;
    if (!this.initialized) throw new Error('TokenRefreshScheduler.start(): call initialize() first');
    this.running = true;
    this.startedAt = this.now();
    this.nextDeltaAt = this.now() + this.o.deltaLoadIntervalMs;
    this.events.emit('started', { at: this.now(), tokens: this.book.size, policy: this.o.policy.name });
    this.loopPromise = this.loop();
  }

  /** Stop taking batches, let the in-flight ones commit, persist the schedule. */
  /**
   * Stop taking batches, let the in-flight ones commit, persist the schedule. A batch still
   * waiting for its request after `graceMs` (e.g. behind a 30 s backoff) is abandoned unsent:
   * nothing of it is written and its tokens stay due in the persisted schedule.
   */
  async stop(graceMs = 5_000): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.wake.abort();
    const settled = Promise.allSettled([this.loopPromise, ...this.inFlight]);
    await Promise.race([settled, this.o.clock.sleep(graceMs).catch(() => {})]);
    this.stopping.abort(new Error('scheduler stopping'));
    await settled;
    await Promise.allSettled([...this.inFlight]);
    // Schedules are written with every batch; what is persisted here is only what moved since.
    // A database that is down must not turn a clean stop into a failure.
    await this.persistSchedule().catch((err: unknown) =>
      this.log.warn({ err }, 'could not persist the schedule on stop; the last committed batch stands'),
    );
    this.manual.resolveAll({ status: 'skipped', reason: 'scheduler stopped' });
    this.events.emit('stopped', { at: this.now() });
  }

  /**
   * Persist the schedule changes no batch has written: due times moved by a settings edit. Every
   * batch writes its tokens' schedules when it commits, and a token placed by the start-up spread
   * is placed the same way again after a restart, so this is a handful of rows, not every token
   * (at 1M tokens the old full save took longer than the 10 s a SIGTERM allows).
   */
  async persistSchedule(): Promise<void> {
    const states: ScheduleState[] = [];
    for (const id of this.unsaved) {
      const t = this.book.get(id);
      if (t && Number.isFinite(t.schedule.nextDueAt)) states.push(t.schedule);
    }
    for (let i = 0; i < states.length; i += 5_000) {
      await this.o.store.saveSchedules(states.slice(i, i + 5_000), this.now());
    }
    this.unsaved.clear();
  }

  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
    this.wake.abort();
  }
  /** Batches allowed in flight at once. */
  get maxInFlight(): number {
    return this.o.maxInFlight;
  }
  get isRunning(): boolean {
    return this.running;
  }
  get isPaused(): boolean {
    return this.paused;
  }

  private async loop(): Promise<void> {
    while (this.running) {
      try {
        const waitMs = this.msUntilNextWork();
        if (waitMs > 0) await this.sleep(Math.min(waitMs, 1_000));
        if (!this.running) break;
        await this.maintenance();
        if (this.inFlight.size < this.o.maxInFlight) {
          const p = this.runSchedulerCycle();
          if (this.o.maxInFlight <= 1) await p;
          else {
            // Several batches in flight (large plans): the limiter paces them.
            p.catch((err: unknown) => this.log.error({ err }, 'scheduler cycle failed'));
            await this.sleep(0);
          }
        } else {
          await Promise.race(this.inFlight);
        }
      } catch (err) {
        this.log.error({ err }, 'scheduler cycle failed');
        await this.sleep(1_000);
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    if (this.wake.signal.aborted) this.wake = new AbortController();
    return this.o.clock.sleep(ms, this.wake.signal).catch(() => {
      this.wake = new AbortController();
    });
  }

  private msUntilNextWork(): number {
    const now = this.now();
    const limiterAt = this.o.limiter.nextAvailableAt();
    const circuitAt = this.o.breaker.state === 'open' ? (this.o.breaker.retryAt() ?? now) : now;
    const dueAt = this.manual.hasReady(this.inFlightIds)
      ? now
      : this.paused
        ? Infinity
        : (this.book.peekNextDueAt() ?? Infinity);
    const gateAt = this.gate.nextProbeAt() ?? now;
    const workAt = Math.max(limiterAt, circuitAt, dueAt, gateAt);
    return Math.min(workAt, this.nextDeltaAt, this.nextReplanAt) - now;
  }

  private async maintenance(): Promise<void> {
    const now = this.now();
    if (now >= this.nextDeltaAt) {
      this.nextDeltaAt = now + this.o.deltaLoadIntervalMs;
      await this.loadChangedTokens().catch((err: unknown) => this.log.warn({ err }, 'delta load failed'));
    }
    const cap = this.capacityPerSecond();
    const capChanged = Math.abs(cap - this.plannedCapacity) > 0.02 * Math.max(cap, this.plannedCapacity);
    if (now >= this.nextReplanAt || capChanged) this.replan(now);
  }

  /**
   * Take due tokens (manual requests first) up to one batch, if the limiter and breaker allow a
   * request now, and process them. Returns the number of tokens taken.
   */
  async runSchedulerCycle(): Promise<number> {
    const now = this.now();
    if (this.o.limiter.nextAvailableAt() > now) return 0;
    if (this.o.breaker.state === 'open' && (this.o.breaker.retryAt() ?? 0) > now) return 0;
    // A limiter that reserves ahead reserves only when something is due: a cycle run for a delta
    // load or a re-plan would otherwise reserve a slot nothing rides, lost to the whole cluster.
    if (this.o.limiter.slotReady) {
      const due =
        this.manual.hasReady(this.inFlightIds) ||
        (!this.paused && (this.book.peekNextDueAt() ?? Infinity) <= now);
      if (!due || !this.o.limiter.slotReady()) return 0;
    }
    if (!(await this.gate.allow())) return 0;
    const size = this.batcher.size;
    const window = size * SPREAD_REQUESTS;
    const candidates: SchedToken[] = [];
    const manualIds = new Set<number>();
    for (const id of this.manual.take(size, this.inFlightIds)) {
      const t = this.book.get(id);
      if (t) {
        this.book.unqueue(t.id);
        candidates.push(t);
        manualIds.add(id);
      }
    }
    if (!this.paused) this.book.takeDue(candidates, now, window, now);
    if (this.partitions.clustered) this.moves.holdBack(candidates, manualIds, now);
    // Batch fill: a request costs the same with 1 id or 50, so when fewer than a full batch are
    // due, top it up with the tokens due within the next two request slots (they would ride the
    // next request anyway).
    if (!this.paused && candidates.length > 0 && candidates.length < size) {
      const soon = now + 2 * this.o.limiter.spacingMs;
      this.book.takeDue(candidates, soon, size, now);
      // A full top-up with a contest in it: take the deal's window (the tokens due within the
      // next SPREAD_REQUESTS + 1 slots), so the contest is dealt over the requests instead of
      // riding this one. Right after start, new tokens are spread in priority order, a contest
      // first, 2 ms apart at 600 rpm: a first request 100 ms in took all 40 of a contest.
      if (candidates.length >= size && candidates.some((t) => groupOf(t) !== null)) {
        this.book.takeDue(candidates, now + (SPREAD_REQUESTS + 1) * this.o.limiter.spacingMs, window, now);
      }
      if (this.partitions.clustered) this.moves.holdBack(candidates, manualIds, now);
    }
    // More than one request's worth due: deal them so a contest is spread over the requests;
    // send the first, put the rest back as they were.
    const { send: batch, rest } = this.batcher.pick(candidates);
    for (const t of rest) {
      if (manualIds.has(t.id)) this.manual.restore([t.id]);
      this.book.enqueue(t);
    }
    const hasManual = batch.some((t) => manualIds.has(t.id));
    this.events.emit('cycle', {
      at: now,
      due: candidates.length,
      taken: batch.length,
      batches: batch.length ? 1 : 0,
    });
    if (!batch.length) return 0;
    const p = this.processBatch(batch, hasManual);
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
    await p;
    return batch.length;
  }

  /** Fetch, write in one transaction, then (only after commit) update memory, re-queue, emit. */
  async processBatch(batch: SchedToken[], highPriority = false): Promise<void> {
    const ids = batch.map((t) => t.id);
    for (const id of ids) this.inFlightIds.add(id);
    const waiters = this.manual.claim(ids);
    const parts = this.partitions.clustered ? [...new Set(batch.map((t) => partitionOf(t.address)))] : [];
    const fence = this.partitions.beginBatch(parts);
    let signal = this.stopping.signal;
    if (this.partitions.clustered) {
      signal = AbortSignal.any([this.stopping.signal]);
      registerSendCheck(signal, () => parts.filter((p) => !this.partitions.canSend(p)));
    }
    let outcome: BatchOutcome;
    try {
      outcome = await this.processor.process(batch, highPriority, signal, fence);
    } catch (err) {
      // A bug or a token the policy cannot plan: the batch fails as a whole, nothing is lost.
      outcome = this.unexpectedFailure(batch, err);
    } finally {
      for (const id of ids) this.inFlightIds.delete(id);
      this.partitions.endBatch(parts);
    }
    this.settle(batch, outcome);
    for (const [id, ws] of waiters) {
      const r = outcome.perToken.get(id) ?? { status: 'failed' as const, reason: 'not processed' };
      for (const w of ws) w(r);
    }
  }

  private unexpectedFailure(batch: SchedToken[], err: unknown): BatchOutcome {
    const error = err instanceof Error ? err : new Error(String(err));
    this.log.error({ err: error, size: batch.length }, 'batch failed unexpectedly; tokens re-queued as due');
    const perToken = new Map<number, TokenResult>(
      batch.map((t) => [t.id, { status: 'failed', reason: error.message }]),
    );
    return { kind: 'write-failed', error, durationMs: 0, perToken };
  }

  /** Apply a batch's outcome: re-queue, forget deactivated tokens, count, emit. */
  private settle(batch: SchedToken[], outcome: BatchOutcome): void {
    const now = this.now();
    if (outcome.kind === 'upstream-failed' && outcome.error instanceof PartitionNotHeldError) {
      // Self-fenced at the send: nothing went out; the tokens wait (or leave with the partition).
      for (const t of batch) if (this.book.has(t.id) && this.servesToken(t)) this.book.enqueue(t);
      this.log.warn({ partitions: outcome.error.partitions }, outcome.error.message);
      return;
    }
    if (outcome.kind === 'write-failed') {
      if (outcome.error instanceof FencedWriteError) this.moves.fenced(outcome.error);
      else this.gate.fail(outcome.error);
    }
    if (outcome.kind === 'upstream-failed') this.batcher.recordFailure(outcome.error, batch.length);
    else if (outcome.kind === 'ok') this.batcher.recordSuccess();
    if (outcome.kind !== 'ok') {
      // Source-level or store-level failure: no token is blamed; all go back as due (keeping
      // their original due time, so they lead when the source recovers).
      for (const t of batch) if (this.book.has(t.id) && this.servesToken(t)) this.book.enqueue(t);
      this.metrics.recordBatchFailure(batch.length, outcome.durationMs, outcome.error);
      this.stats.recordBatchFailure(outcome.error, now);
      this.events.emit('batch:failed', {
        size: batch.length,
        errorType: outcome.error.name,
        message: outcome.error.message,
        durationMs: outcome.durationMs,
        at: now,
      });
    } else {
      for (const t of batch) {
        if (!this.book.has(t.id) || outcome.deactivated.has(t.id) || !this.servesToken(t)) continue;
        // A quote held as implausible is confirmed by a prompt re-fetch: first in line, like a
        // manual refresh (and like one, not held to the minimum interval).
        const held = outcome.perToken.get(t.id)?.status === 'held' && t.schedule.nextDueAt <= now;
        if (held && !this.paused) {
          this.manual.restore([t.id]);
          this.wake.abort();
        } else this.book.enqueue(t);
      }
      for (const id of outcome.deactivated) {
        const t = this.book.get(id);
        if (t) this.forget(t, 'token deactivated');
      }
      this.metrics.recordBatchCompletion(batch.length, outcome.durationMs, {
        updated: outcome.updated,
        failed: outcome.failed,
      });
      this.stats.recordBatch(batch, outcome, now);
      for (const e of outcome.events) {
        if (e.type === 'price') this.events.emit('price:updated', e.payload);
        else if (e.type === 'failed') this.events.emit('token:failed', e.payload);
        else if (e.type === 'held') this.events.emit('price:held', e.payload);
        else if (e.type === 'confirmed') this.events.emit('price:confirmed', e.payload);
        else if (e.type === 'dropped') this.events.emit('price:dropped', e.payload);
        else this.events.emit('token:deactivated', e.payload);
      }
      this.events.emit('batch:completed', {
        size: batch.length,
        updated: outcome.updated,
        changed: outcome.changed,
        failed: outcome.failed,
        durationMs: outcome.durationMs,
        at: now,
      });
    }
  }

  /** Cluster: start serving leased partitions (partition-moves.ts). */
  gainPartitions(partitions: readonly number[]): Promise<number> {
    return this.moves.gain(partitions);
  }

  /** Cluster: stop serving partitions; resolves once their tokens are gone (partition-moves.ts). */
  losePartitions(partitions: readonly number[]): Promise<void> {
    return this.moves.lose(partitions);
  }

  /** Batch writes refused by fencing (another instance took a partition over). */
  get fencedWrites(): number {
    return this.moves.fencedWrites;
  }

  private servesToken(t: SchedToken): boolean {
    return this.moves.serves(t);
  }

  /** Refresh one token first in line, through the limiter; resolves after its batch commits. */
  requestRefresh(tokenId: number): Promise<TokenResult> {
    if (!this.book.has(tokenId)) throw new Error(`token ${tokenId} is not scheduled (inactive or unknown)`);
    const p = this.manual.add(tokenId);
    this.wake.abort();
    return p;
  }

  idForAddress(address: string): number | undefined {
    return this.book.idFor(address);
  }

  status(): SchedulerStatus {
    const now = this.now();
    const bs = this.o.breaker;
    const snapshot = this.stats.snapshot({
      running: this.running,
      paused: this.paused,
      policy: this.o.policy.name,
      startedAt: this.startedAt,
      now,
      tokens: {
        active: this.book.size,
        queued: this.book.queued,
        due: this.book.countDue(now),
        skipped: this.admission.skipped.size,
      },
      plan: {
        requestsPerMinute: this.o.requestsPerMinute,
        effectiveRequestsPerMinute: this.o.limiter.effectiveMaxRequests,
        maxBatchSize: this.batcher.size,
        capacityPerSecond: this.capacityPerSecond(),
        lastReplanMs: this.lastReplanMs,
      },
      circuit: { state: bs.state, retryAt: bs.retryAt() },
      databaseDownSince: this.gate.downSince,
    });
    snapshot.limiterWaitSecondsTotal = this.o.client.stats().totalLimiterWaitMs / 1000;
    snapshot.implausiblePrices = { ...this.processor.guard.counts, holding: this.processor.guard.holding };
    return snapshot;
  }
}
