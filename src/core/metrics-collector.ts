/**
 * MetricsCollector: batch and API-call statistics in fixed clock-aligned windows (default 60 s),
 * the current one plus the last `keepWindows` (default 60, i.e. an hour), and lifetime totals.
 *
 * Rates are honest about time: "batches per minute" divides by the span actually observed
 * (a window the collector saw for 10 s is 10 s, not 60), and token-level success counts every
 * token of a failed batch as failed. Durations keep count/sum/min/max for the lifetime and the
 * raw samples per kept window, so p95 covers the kept horizon exactly.
 */
import type { Clock } from './clock.js';

export type ApiCallOutcome =
  'success' | 'rate-limited' | 'server-error' | 'timeout' | 'malformed' | 'network-error';
const API_OUTCOMES: readonly ApiCallOutcome[] = [
  'success',
  'rate-limited',
  'server-error',
  'timeout',
  'malformed',
  'network-error',
];

export interface DurationStats {
  count: number;
  avgMs: number | null;
  minMs: number | null;
  maxMs: number | null;
  p95Ms: number | null;
}

export interface WindowMetrics {
  start: number;
  end: number;
  /** How long this window was actually observed (ms). */
  observedMs: number;
  batches: number;
  batchesSucceeded: number;
  batchesFailed: number;
  tokens: number;
  tokensUpdated: number;
  tokensFailed: number;
  /** Successful batches / batches; null with no batches. */
  batchSuccessRate: number | null;
  /** Updated tokens / tokens attempted (failed batches count all their tokens as failed). */
  tokenSuccessRate: number | null;
  batchesPerMinute: number;
  tokensPerMinute: number;
  duration: DurationStats;
  apiCalls: Record<ApiCallOutcome, number> & { total: number };
  /** Failed batches by error class name. */
  errors: Record<string, number>;
}

export interface Metrics {
  now: number;
  windowMs: number;
  current: WindowMetrics;
  /** Kept completed windows, oldest first (windows with no activity are omitted). */
  windows: WindowMetrics[];
  /** The current window and the kept ones together (the last keepWindows+1 windows). */
  recent: Omit<WindowMetrics, 'start' | 'end'> & { since: number };
  lifetime: Omit<WindowMetrics, 'start' | 'end' | 'duration'> & {
    since: number;
    duration: Omit<DurationStats, 'p95Ms'>;
  };
}

class Bucket {
  batches = 0;
  batchesFailed = 0;
  tokens = 0;
  tokensUpdated = 0;
  tokensFailed = 0;
  durations: number[] = [];
  durCount = 0;
  durSum = 0;
  durMin = Infinity;
  durMax = -Infinity;
  api: Record<ApiCallOutcome, number> = {
    success: 0,
    'rate-limited': 0,
    'server-error': 0,
    timeout: 0,
    malformed: 0,
    'network-error': 0,
  };
  errors: Record<string, number> = {};

  constructor(
    readonly start: number,
    private readonly keepSamples: boolean,
  ) {}

  duration(ms: number): void {
    this.durCount++;
    this.durSum += ms;
    if (ms < this.durMin) this.durMin = ms;
    if (ms > this.durMax) this.durMax = ms;
    if (this.keepSamples) this.durations.push(ms);
  }

  merge(o: Bucket): void {
    this.batches += o.batches;
    this.batchesFailed += o.batchesFailed;
    this.tokens += o.tokens;
    this.tokensUpdated += o.tokensUpdated;
    this.tokensFailed += o.tokensFailed;
    for (const d of o.durations) this.durations.push(d);
    this.durCount += o.durCount;
    this.durSum += o.durSum;
    this.durMin = Math.min(this.durMin, o.durMin);
    this.durMax = Math.max(this.durMax, o.durMax);
    for (const k of API_OUTCOMES) this.api[k] += o.api[k];
    for (const [k, v] of Object.entries(o.errors)) this.errors[k] = (this.errors[k] ?? 0) + v;
  }

  get empty(): boolean {
    return this.batches === 0 && API_OUTCOMES.every((k) => this.api[k] === 0);
  }
}

function percentile(samples: number[], p: number): number | null {
  if (samples.length === 0) return null;
  const sorted = Float64Array.from(samples).sort();
  // nearest-rank: the smallest sample with at least p of the samples at or below it
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]!;
}

function summarise(b: Bucket, observedMs: number, withP95: boolean) {
  const minutes = Math.max(observedMs, 1000) / 60_000;
  const apiTotal = API_OUTCOMES.reduce((s, k) => s + b.api[k], 0);
  return {
    observedMs,
    batches: b.batches,
    batchesSucceeded: b.batches - b.batchesFailed,
    batchesFailed: b.batchesFailed,
    tokens: b.tokens,
    tokensUpdated: b.tokensUpdated,
    tokensFailed: b.tokensFailed,
    batchSuccessRate: b.batches > 0 ? (b.batches - b.batchesFailed) / b.batches : null,
    tokenSuccessRate: b.tokens > 0 ? b.tokensUpdated / b.tokens : null,
    batchesPerMinute: b.batches / minutes,
    tokensPerMinute: b.tokens / minutes,
    duration: {
      count: b.durCount,
      avgMs: b.durCount > 0 ? b.durSum / b.durCount : null,
      minMs: b.durCount > 0 ? b.durMin : null,
      maxMs: b.durCount > 0 ? b.durMax : null,
      ...(withP95 ? { p95Ms: percentile(b.durations, 0.95) } : {}),
    } as DurationStats,
    apiCalls: { ...b.api, total: apiTotal },
    errors: { ...b.errors },
  };
}

function checkCount(field: string, v: number): void {
  if (!Number.isSafeInteger(v) || v < 0)
    throw new RangeError(`${field} must be an integer >= 0, got ${String(v)}`);
}
function checkDuration(v: number): void {
  if (!Number.isFinite(v) || v < 0)
    throw new RangeError(`durationMs must be a finite number >= 0, got ${String(v)}`);
}

export class MetricsCollector {
  private readonly clock: Clock;
  private readonly windowMs: number;
  private readonly keepWindows: number;
  private readonly createdAt: number;
  private current: Bucket;
  /** Completed non-empty windows, oldest first, within the kept horizon. */
  private kept: Bucket[] = [];
  private readonly lifetime: Bucket;

  constructor(opts: { clock: Clock; windowMs?: number; keepWindows?: number }) {
    this.clock = opts.clock;
    this.windowMs = opts.windowMs ?? 60_000;
    this.keepWindows = opts.keepWindows ?? 60;
    if (!Number.isFinite(this.windowMs) || this.windowMs <= 0) {
      throw new RangeError(`windowMs must be a finite number > 0, got ${String(this.windowMs)}`);
    }
    checkCount('keepWindows', this.keepWindows);
    this.createdAt = this.clock.now();
    this.current = new Bucket(this.windowStart(this.createdAt), true);
    this.lifetime = new Bucket(this.createdAt, false);
  }

  private windowStart(t: number): number {
    return Math.floor(t / this.windowMs) * this.windowMs;
  }

  /** Close the current window if the clock has left it; drop windows beyond the horizon. */
  private rotate(now: number): void {
    const start = this.windowStart(now);
    if (start > this.current.start) {
      if (!this.current.empty) this.kept.push(this.current);
      this.current = new Bucket(start, true);
    }
    const horizon = start - this.keepWindows * this.windowMs;
    let drop = 0;
    while (drop < this.kept.length && this.kept[drop]!.start < horizon) drop++;
    if (drop > 0) this.kept.splice(0, drop);
  }

  private bucket(): Bucket {
    this.rotate(this.clock.now());
    return this.current;
  }

  /** A batch that got an answer: `updated` tokens got a price, `failed` did not. */
  recordBatchCompletion(
    tokenCount: number,
    durationMs: number,
    r: { updated: number; failed: number },
  ): void {
    checkCount('tokenCount', tokenCount);
    checkDuration(durationMs);
    checkCount('updated', r.updated);
    checkCount('failed', r.failed);
    if (r.updated + r.failed > tokenCount) {
      throw new RangeError(
        `updated + failed (${r.updated} + ${r.failed}) must not exceed tokenCount ${tokenCount}`,
      );
    }
    for (const b of [this.bucket(), this.lifetime]) {
      b.batches++;
      b.tokens += tokenCount;
      b.tokensUpdated += r.updated;
      b.tokensFailed += r.failed;
      b.duration(durationMs);
    }
  }

  /** A batch whose request failed: every token in it counts as failed. */
  recordBatchFailure(tokenCount: number, durationMs: number, error: unknown): void {
    checkCount('tokenCount', tokenCount);
    checkDuration(durationMs);
    const name =
      error instanceof Error
        ? error.name
        : typeof error === 'string' && error.length > 0
          ? error
          : 'UnknownError';
    for (const b of [this.bucket(), this.lifetime]) {
      b.batches++;
      b.batchesFailed++;
      b.tokens += tokenCount;
      b.tokensFailed += tokenCount;
      b.duration(durationMs);
      b.errors[name] = (b.errors[name] ?? 0) + 1;
    }
  }

  recordApiCall(outcome: ApiCallOutcome): void {
    if (!API_OUTCOMES.includes(outcome)) {
      throw new RangeError(`outcome must be one of ${API_OUTCOMES.join(', ')}, got ${String(outcome)}`);
    }
    this.bucket().api[outcome]++;
    this.lifetime.api[outcome]++;
  }

  getMetrics(): Metrics {
    const now = this.clock.now();
    this.rotate(now);
    const w = this.windowMs;
    const observed = (start: number, end: number): number =>
      Math.max(0, Math.min(end, now) - Math.max(start, this.createdAt));
    const view = (b: Bucket): WindowMetrics => ({
      start: b.start,
      end: b.start + w,
      ...summarise(b, observed(b.start, b.start + w), true),
    });
    const recentBucket = new Bucket(0, true);
    for (const b of this.kept) recentBucket.merge(b);
    recentBucket.merge(this.current);
    const recentSince = Math.max(this.createdAt, this.current.start - this.keepWindows * w);
    return {
      now,
      windowMs: w,
      current: view(this.current),
      windows: this.kept.map(view),
      recent: { since: recentSince, ...summarise(recentBucket, observed(recentSince, now), true) },
      lifetime: { since: this.createdAt, ...summarise(this.lifetime, now - this.createdAt, false) },
    };
  }
}
