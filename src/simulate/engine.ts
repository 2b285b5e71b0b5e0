/**
 * runSimulation: a discrete-event simulation on virtual time driving the real core — the policy
 * (planner, volatility estimator, tiers), the IndexedPriorityQueue and the RateLimiter — against
 * the synthetic market (market.ts).
 *
 * Time jumps from event to event (next request slot, next due token, re-plan, measurement
 * boundary); nothing waits on timers, so 6 h of 10k tokens takes seconds. A request is sent when
 * a token is due and the limiter allows one; it carries the due tokens earliest-deadline-first
 * (the policy's priority first, then earliest due, as the queue orders them) and, when
 * `fillBatches` is on, tops the batch up with tokens due before the next request slot (never
 * with one refreshed less than the minimum interval ago): a request costs the same with 3 ids
 * or 50, and the plans assume full batches.
 *
 * Invariants, checked on every request and refresh (SimInvariantError if broken): no 60 s window
 * of virtual time holds more than `requestsPerMinute` requests; no token is refreshed sooner than
 * `minIntervalSeconds` after its previous refresh (t = 0, when every stored price is exact,
 * counts as a refresh).
 */
import type { Clock, TimerHandle } from '../core/clock.js';
import { planRefreshIntervals } from '../core/planner.js';
import { createPolicy, OptimalPolicy } from '../core/policies.js';
import type { PolicyContext, PolicyName, PolicyToken, RefreshPolicy } from '../core/policy.js';
import { createBatches } from '../core/batch-optimizer.js';
import { IndexedPriorityQueue } from '../core/priority-queue.js';
import { RateLimiter } from '../core/rate-limiter.js';
import { calculatePriorityScore, DEFAULT_TIERS } from '../core/tiers.js';
import type { TierDef } from '../core/types.js';
import { VolatilityEstimator } from '../core/volatility.js';
import { HeldTokens } from './held.js';
import { Market } from './market.js';
import {
  type SimOptions,
  type SimResult,
  resolveOptions,
  SimInvariantError,
  SimOptionsError,
} from './options.js';

/** The simulator's Clock: virtual milliseconds, moved only by the engine. */
class SimClock implements Clock {
  ms = 0;
  now(): number {
    return this.ms;
  }
  setTimeout(_fn: () => void, _ms: number): TimerHandle {
    throw new Error('SimClock: timers are not used in the simulator (time is driven by events)');
  }
  clearTimeout(_h: TimerHandle): void {}
  sleep(_ms: number): Promise<void> {
    return Promise.reject(new Error('SimClock: sleep is not used in the simulator'));
  }
}

const GOLDEN = 0.6180339887498949;

export function runSimulation(options: SimOptions): SimResult {
  const wallStart = performance.now();
  const o = resolveOptions(options);
  const n = o.universe.length;
  const tiers: readonly TierDef[] = o.tiers ?? DEFAULT_TIERS;
  const policy: RefreshPolicy = o.policyFactory
    ? o.policyFactory({ deviation: o.deviation, tiers })
    : createPolicy(o.policy, { deviation: o.deviation, tiers });
  if (policy.name !== o.policy) {
    throw new SimOptionsError('policyFactory', `built a ${policy.name} policy, expected ${o.policy}`);
  }
  const optimal = policy instanceof OptimalPolicy ? policy : null;
  const estimator = optimal?.estimator ?? new VolatilityEstimator();
  const market = new Market(o.universe, o.seed, o.deviation);

  const tokens: PolicyToken[] = o.universe.map((r, i) => ({
    id: i,
    rank: r.rank,
    volume_24h: r.volume_24h,
    in_contest: r.in_contest,
    priority_score: 0,
    refresh_interval_seconds: null,
    lastPriceChangeAt: null,
    sigma: null,
    sigmaSamples: 0,
  }));
  if (o.oracleSigma) {
    tokens.forEach((t, i) => {
      t.sigma = market.sigma[i]!;
      t.sigmaSamples = Number.MAX_SAFE_INTEGER;
    });
  }
  const weights = new Float64Array(n);
  let weightSum = 0;
  tokens.forEach((t, i) => {
    weights[i] = calculatePriorityScore(t, tiers);
    weightSum += weights[i]!;
  });

  const capacityPerSecond = (o.requestsPerMinute / 60) * o.maxBatchSize;
  const ctx: PolicyContext = {
    capacityPerSecond,
    minIntervalSeconds: o.minIntervalSeconds,
    maxIntervalSeconds: o.maxIntervalSeconds,
  };
  const clock = new SimClock();
  const limiter = new RateLimiter({
    clock,
    maxRequests: o.requestsPerMinute,
    windowMs: 60_000,
    adaptive: false,
    safetyMarginMs: 0,
  });
  const queue = new IndexedPriorityQueue({ initialCapacity: Math.max(16, n) });
  const lastRefresh = new Float64Array(n); // t = 0: every stored price is exact
  const refreshCount = new Uint32Array(n); // refreshes inside the measurement window

  // Measurement: per-block weighted stale seconds for the standard error (batch means).
  const measured = o.durationSeconds - o.warmupSeconds;
  const blockLen = measured / o.blocks;
  const blockStale = new Float64Array(o.blocks);
  let block = 0;
  market.onMeasured = (i, stale) => {
    blockStale[block]! += weights[i]! * stale;
  };
  const boundaries: number[] = [];
  for (let b = 0; b <= o.blocks; b++) boundaries.push(o.warmupSeconds + b * blockLen);
  boundaries[o.blocks] = o.durationSeconds;
  let nextBoundary = 0;

  // Invariant bookkeeping: the last `rpm` request times (ring), the tightest gaps seen.
  const recent = new Float64Array(o.requestsPerMinute).fill(-Infinity);
  let recentHead = 0;
  let minWindowSpan = Infinity;
  let minGap = Infinity;
  let requests = 0;
  let refreshes = 0;

  const replan = (t: number): void => {
    clock.ms = t * 1000;
    policy.replan(tokens, ctx, clock.ms);
    if (o.rescheduleOnReplan) {
      for (let i = 0; i < n; i++) {
        const item = queue.get(i);
        if (!item) continue;
        const T = policy.intervalSeconds(tokens[i]!, clock.ms);
        const due = Math.max(t, lastRefresh[i]! + T);
        queue.enqueue({ id: i, priority: policy.priority(tokens[i]!), dueAt: due * 1000 });
      }
    }
  };

  replan(0);
  for (let i = 0; i < n; i++) {
    const T = policy.intervalSeconds(tokens[i]!, 0);
    // Even spacing of first refreshes: golden-ratio phases, never sooner than the minimum.
    const phase = (i * GOLDEN) % 1;
    const due = Math.max(o.minIntervalSeconds, phase * T);
    queue.enqueue({ id: i, priority: policy.priority(tokens[i]!), dueAt: due * 1000 });
  }
  let nextReplan = o.replanIntervalSeconds;

  const refresh = (i: number, t: number): void => {
    const gap = t - lastRefresh[i]!;
    if (gap < o.minIntervalSeconds - 1e-6) {
      throw new SimInvariantError(
        `token ${o.universe[i]!.address} refreshed ${gap.toFixed(3)} s after its previous refresh (min ${o.minIntervalSeconds} s)`,
      );
    }
    if (gap < minGap) minGap = gap;
    const tok = tokens[i]!;
    const r = market.refresh(i, t);
    if (o.oracleSigma) {
      // σ is given, but jumps are still learned from what the refresh shows (the estimate the
      // jump filter compares against is the true σ).
      optimal?.observe(tok, r, gap);
    } else {
      for (let k = 0; k <= o.extraReturns; k++) {
        const x = k === 0 ? r : market.extraReturn(i, gap);
        const next = optimal ? optimal.observe(tok, x, gap) : estimator.observeReturn(tok, x, gap);
        tok.sigma = next.sigma;
        tok.sigmaSamples = next.sigmaSamples;
      }
    }
    if (r !== 0) tok.lastPriceChangeAt = t * 1000;
    lastRefresh[i] = t;
    refreshes++;
    if (t >= o.warmupSeconds) refreshCount[i]!++;
    const T = policy.intervalSeconds(tok, t * 1000);
    if (!(T >= o.minIntervalSeconds - 1e-9)) {
      throw new SimInvariantError(
        `policy ${policy.name} planned ${T} s for a token (min ${o.minIntervalSeconds} s)`,
      );
    }
    queue.enqueue({ id: i, priority: policy.priority(tok), dueAt: (t + T) * 1000 });
    if (o.trace) o.trace(t, o.universe[i]!.address);
  };

  const crossBoundaries = (upTo: number): void => {
    while (nextBoundary < boundaries.length && boundaries[nextBoundary]! <= upTo) {
      const tb = boundaries[nextBoundary]!;
      market.advanceAll(tb);
      if (nextBoundary === 0) market.measuring = true;
      else block = Math.min(o.blocks - 1, nextBoundary);
      nextBoundary++;
    }
  };

  const batch: number[] = [];
  const held = new HeldTokens();
  const leadMs = o.fillBatches ? o.fillHorizonSeconds * 1000 : 0;
  const phases = o.fillBatches ? 2 : 1;
  for (;;) {
    if (queue.size === 0 && held.size === 0) break;
    // Work in the clock's milliseconds so the limiter sees exactly the time it allowed. The next
    // request goes at the next free slot if a token is due by then (+ the fill horizon) or a held
    // token is released, else when the earliest token comes due or is released. (hasDue is O(1);
    // peekNextDueAt is only needed when nothing is ready, where it is O(1) too.)
    const slotMs = Math.max(limiter.nextAvailableAt(), clock.ms);
    const tMs =
      queue.hasDue(slotMs + leadMs) || held.peek() <= slotMs
        ? slotMs
        : Math.max(slotMs, Math.min((queue.peekNextDueAt() ?? Infinity) - leadMs, held.peek()));
    const t = tMs / 1000;
    if (nextReplan <= t && nextReplan < o.durationSeconds) {
      crossBoundaries(nextReplan);
      replan(nextReplan);
      nextReplan += o.replanIntervalSeconds;
      continue;
    }
    if (t > o.durationSeconds) break;
    crossBoundaries(t);
    clock.ms = tMs;
    batch.length = 0;
    // Take due tokens, then (fill) tokens due before the horizon, earliest first; a token
    // refreshed less than the minimum interval ago is held aside and put back afterwards. (Once
    // a fill has moved the queue's watermark, "due" means due by the horizon, so the
    // eligibility check applies to every candidate.)
    // Tokens held back at an earlier slot that are now allowed go back into the queue first.
    while (held.peek() <= tMs) queue.enqueue(held.pop()!);
    for (let phase = 0; phase < phases; phase++) {
      const limitMs = phase === 0 ? tMs : tMs + leadMs;
      while (batch.length < o.maxBatchSize) {
        const items = queue.getDueItems(limitMs, o.maxBatchSize - batch.length);
        if (items.length === 0) break;
        for (const item of items) {
          const eligibleMs = (lastRefresh[item.id]! + o.minIntervalSeconds) * 1000;
          if (eligibleMs > tMs + 1e-6) held.push(eligibleMs, item);
          else batch.push(item.id);
        }
      }
    }
    if (batch.length > 0) {
      // The same batching as the service (one request here: the batch is at most maxBatchSize).
      const batches = createBatches(
        batch.map((id) => ({ id, priority: policy.priority(tokens[id]!) })),
        { maxBatchSize: o.maxBatchSize },
      );
      if (batches.length !== 1) throw new SimInvariantError(`a request split into ${batches.length} batches`);
    }
    if (batch.length === 0) {
      // Only tokens not yet allowed were found (now held): move on to the next event.
      clock.ms = tMs;
      continue;
    }
    if (!limiter.tryAcquire()) throw new SimInvariantError(`rate limiter refused a request at t=${t}`);
    limiter.recordSuccess();
    const oldest = recent[recentHead]!;
    if (t - oldest < 60 - 1e-9) {
      throw new SimInvariantError(
        `${o.requestsPerMinute + 1} requests within ${(t - oldest).toFixed(3)} s (limit ${o.requestsPerMinute}/min)`,
      );
    }
    if (t - oldest < minWindowSpan) minWindowSpan = t - oldest;
    recent[recentHead] = t;
    recentHead = (recentHead + 1) % recent.length;
    requests++;
    for (const id of batch) refresh(id, t);
  }
  crossBoundaries(o.durationSeconds);

  // Results.
  let staleW = 0;
  let errW = 0;
  for (let i = 0; i < n; i++) {
    staleW += weights[i]! * market.staleSeconds[i]!;
    errW += weights[i]! * market.errSeconds[i]!;
  }
  const J = weightSum > 0 ? staleW / (weightSum * measured) : 0;
  const blockJ = Array.from(blockStale, (s) => (weightSum > 0 ? s / (weightSum * blockLen) : 0));
  const mean = blockJ.reduce((a, b) => a + b, 0) / blockJ.length;
  const variance = blockJ.reduce((a, b) => a + (b - mean) ** 2, 0) / Math.max(1, blockJ.length - 1);
  // J*: the planner's optimum with the true σ and, when the market has jumps, the true rate of
  // jumps larger than X (κ = ρ·P(|N(0, η)| > X)); J*_diffusive ignores the jumps (no policy can
  // reach it when jumps exist).
  const plan = (jumpRates?: Float64Array) =>
    planRefreshIntervals(
      { weights, sigmas: market.sigma, jumpRates },
      {
        deviation: o.deviation,
        capacityPerSecond,
        minIntervalSeconds: o.minIntervalSeconds,
        maxIntervalSeconds: o.maxIntervalSeconds,
      },
    );
  const diffusive = plan();
  const kappas = market.staleJumpRates();
  const star = kappas ? plan(kappas) : diffusive;
  const relErrors: number[] = [];
  for (let i = 0; i < n; i++) {
    const s = market.sigma[i]!;
    if (s > 0 && tokens[i]!.sigma !== null) relErrors.push(Math.abs(tokens[i]!.sigma! / s - 1));
  }
  relErrors.sort((a, b) => a - b);
  return {
    policy: o.policy,
    J,
    J_star: star.J,
    J_star_diffusive: diffusive.J,
    ratio: star.J > 0 ? J / star.J : NaN,
    J_stderr: Math.sqrt(variance / blockJ.length),
    J_blocks: blockJ,
    weighted_mae: weightSum > 0 ? errW / (weightSum * measured) : 0,
    requests,
    refreshes,
    tokens: n,
    durationSeconds: o.durationSeconds,
    warmupSeconds: o.warmupSeconds,
    requestsPerMinute: o.requestsPerMinute,
    capacityPerSecond,
    predicted_J: optimal?.plan?.J ?? null,
    sigma_median_rel_error: relErrors.length ? relErrors[relErrors.length >> 1]! : null,
    min_refresh_gap_seconds: Number.isFinite(minGap) ? minGap : null,
    min_window_span_seconds: Number.isFinite(minWindowSpan) ? minWindowSpan : null,
    wallMs: performance.now() - wallStart,
    perToken: o.details
      ? {
          weight: weights,
          sigmaTrue: market.sigma,
          sigmaEstimate: Float64Array.from(tokens, (t) => t.sigma ?? NaN),
          staleFraction: market.staleSeconds.map((x) => x / measured),
          refreshes: refreshCount,
          intervalStar: star.intervals,
        }
      : undefined,
  };
}

export type { PolicyName };
