/**
 * The dashboard's slow-moving figures, computed on timers and cached so no request ever pays
 * for them:
 *
 * - every 5 s a HistorySample from the status snapshot (the chart history a reload loads);
 * - every 15 s the projected J of the optimal, tiered and uniform policies on the live budget,
 *   the live tokens and their learned σ ("what the policy buys"), plus a sample of tokens'
 *   planned interval against weight and σ ("where the budget goes");
 * - every 60 s the same comparison for every Jupiter plan.
 *
 * Cost: one comparison is three plans over the tokens, ~200 ms for 5,000 tokens on the 2-core
 * development machine, so above 5,000 tokens the projection runs on an even stride sample of
 * 5,000 (J is a weighted mean: a stride sample of a rank-ordered universe keeps every tier's
 * share), and the per-plan run does one plan per tick instead of five in a row.
 *
 * Token failures (`token:failed`) are kept per address, the last 5,000 addresses, so the token
 * view can show the last error without the scheduler keeping strings per token.
 */
import { comparePolicies, type PolicyComparison } from '../core/policies.js';
import { PLANS, type PlanName } from '../core/types.js';
import { HistoryBuffer, type HistorySample } from './history-buffer.js';
import type { ApiService, LiveToken } from './types.js';

export interface InsightOptions {
  sampleEveryMs?: number;
  projectEveryMs?: number;
  plansEveryMs?: number;
  /** Tokens projected at most (even stride sample above). */
  maxProjectedTokens?: number;
  /** Points in the budget map at most. */
  maxMapPoints?: number;
  historyCapacity?: number;
  /** Called with an error a timer's work threw (logged by the server); the timer keeps going. */
  onError?: (err: unknown) => void;
}

export interface PlanComparison extends PolicyComparison {
  plan: PlanName;
  requestsPerMinute: number;
}

export interface BudgetMapPoint {
  tier: string;
  weight: number;
  intervalSeconds: number;
  sigmaDaily: number | null;
}

export interface InsightSnapshot {
  /** When the projection was computed (epoch ms), null before the first. */
  at: number | null;
  tokens: number;
  budget: { requestsPerMinute: number; capacityPerSecond: number } | null;
  /** J of each policy on the live budget. */
  live: PolicyComparison | null;
  plans: PlanComparison[];
  map: BudgetMapPoint[];
}

export interface TokenErrorRecord {
  reason: string;
  at: number;
  consecutiveFailures: number;
}

const MAX_ERROR_ENTRIES = 5_000;

function stride<T>(all: readonly T[], max: number): T[] {
  if (all.length <= max) return [...all];
  const step = all.length / max;
  const out: T[] = [];
  for (let i = 0; i < max; i++) out.push(all[Math.floor(i * step)]!);
  return out;
}

export class Insight {
  readonly history: HistoryBuffer;
  private snapshot: InsightSnapshot = { at: null, tokens: 0, budget: null, live: null, plans: [], map: [] };
  private readonly errors = new Map<string, TokenErrorRecord>();
  private readonly timers: NodeJS.Timeout[] = [];
  private unsubscribe: (() => void) | null = null;
  private planCursor = 0;
  private readonly o: Required<InsightOptions>;

  constructor(
    private readonly service: ApiService,
    opts: InsightOptions = {},
  ) {
    this.o = {
      sampleEveryMs: opts.sampleEveryMs ?? 5_000,
      projectEveryMs: opts.projectEveryMs ?? 15_000,
      plansEveryMs: opts.plansEveryMs ?? 60_000,
      maxProjectedTokens: opts.maxProjectedTokens ?? 5_000,
      maxMapPoints: opts.maxMapPoints ?? 1_500,
      historyCapacity: opts.historyCapacity ?? 720,
      onError: opts.onError ?? (() => {}),
    };
    this.history = new HistoryBuffer(this.o.historyCapacity);
  }

  /** Whether the service exposes what the projection needs. */
  get supported(): boolean {
    return typeof this.service.liveTokens === 'function' && typeof this.service.budget === 'function';
  }

  start(): void {
    this.unsubscribe = this.service.on('token:failed', (e) => this.recordError(e.address, e));
    const every = (ms: number, fn: () => void) => {
      const t = setInterval(() => this.guard(fn), ms);
      t.unref();
      this.timers.push(t);
    };
    every(this.o.sampleEveryMs, () => this.sample());
    if (this.supported) {
      // the first projection soon after start, once the first plan exists
      const first = setTimeout(
        () => this.guard(() => this.project()),
        Math.min(2_000, this.o.projectEveryMs),
      );
      first.unref();
      this.timers.push(first);
      every(this.o.projectEveryMs, () => this.project());
      every(Math.max(1, Math.floor(this.o.plansEveryMs / 5)), () => this.projectNextPlan());
    }
  }

  /** A timer's work must never throw out of the timer: that would end the process. */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.o.onError(err);
    }
  }

  stop(): void {
    for (const t of this.timers.splice(0)) clearInterval(t);
    this.unsubscribe?.();
    this.unsubscribe = null;
  }

  current(): InsightSnapshot {
    return this.snapshot;
  }

  lastError(address: string): TokenErrorRecord | null {
    return this.errors.get(address) ?? null;
  }

  recordError(address: string, e: { reason: string; at: number; consecutiveFailures: number }): void {
    this.errors.delete(address); // re-insert: the Map's order is recency
    this.errors.set(address, { reason: e.reason, at: e.at, consecutiveFailures: e.consecutiveFailures });
    if (this.errors.size > MAX_ERROR_ENTRIES) this.errors.delete(this.errors.keys().next().value!);
  }

  /** Takes one history sample from the status snapshot now. */
  sample(): void {
    const s = this.service.status();
    const tiers: HistorySample['tiers'] = {};
    for (const t of s.tiers) tiers[t.tier] = t.refreshesPerMinute;
    this.history.push({
      t: s.now,
      staleness: s.estimatedStaleness,
      refreshesPerMinute: s.rates.refreshesLastMinute,
      requestsPerMinute: s.rates.requestsLastMinute,
      due: s.tokens.due,
      tiers,
      projected: this.snapshot.live,
    });
  }

  private projectable(): { tokens: LiveToken[]; all: number } {
    const { tokens, total } = this.service.liveTokens!(this.o.maxProjectedTokens);
    return { tokens, all: total };
  }

  /** Projects the three policies on the live budget and refreshes the budget map. */
  project(): void {
    const budget = this.service.budget!();
    const { tokens, all } = this.projectable();
    const now = this.service.clock.now();
    const opts = {
      deviation: budget.deviation,
      minIntervalSeconds: budget.minIntervalSeconds,
      maxIntervalSeconds: budget.maxIntervalSeconds,
      now,
    };
    // capacity given directly: the scheduler's own figure (rate × ids × utilisation)
    const rpmEquivalent = (budget.capacityPerSecond * 60) / budget.maxBatchSize;
    const live =
      tokens.length === 0
        ? null
        : comparePolicies(
            tokens,
            { requestsPerMinute: rpmEquivalent, maxBatchSize: budget.maxBatchSize },
            opts,
          );
    this.snapshot = {
      ...this.snapshot,
      at: now,
      tokens: all,
      budget: { requestsPerMinute: budget.requestsPerMinute, capacityPerSecond: budget.capacityPerSecond },
      live,
      map: stride(tokens, this.o.maxMapPoints).map((t) => ({
        tier: t.tier,
        weight: t.weight,
        intervalSeconds: t.intervalSeconds,
        sigmaDaily: t.planSigmaDaily,
      })),
    };
  }

  /** Projects the next Jupiter plan in turn (one per tick keeps each tick short). */
  projectNextPlan(): void {
    const names = Object.keys(PLANS) as PlanName[];
    const plan = names[this.planCursor % names.length]!;
    this.planCursor++;
    const budget = this.service.budget!();
    const { tokens } = this.projectable();
    if (tokens.length === 0) return;
    const j = comparePolicies(
      tokens,
      { requestsPerMinute: PLANS[plan], maxBatchSize: budget.maxBatchSize },
      {
        deviation: budget.deviation,
        minIntervalSeconds: budget.minIntervalSeconds,
        maxIntervalSeconds: budget.maxIntervalSeconds,
        now: this.service.clock.now(),
      },
    );
    const plans = this.snapshot.plans.filter((p) => p.plan !== plan);
    plans.push({ plan, requestsPerMinute: PLANS[plan], ...j });
    plans.sort((a, b) => a.requestsPerMinute - b.requestsPerMinute);
    this.snapshot = { ...this.snapshot, plans };
  }
}
