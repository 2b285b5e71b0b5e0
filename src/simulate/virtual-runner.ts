/**
 * runSimulation: the service's own scheduler on virtual time against the synthetic market.
 *
 * What runs is what `token-refresh start` runs: TokenRefreshScheduler with its BatchProcessor,
 * the PriceClient (request lock, timeouts), the RateLimiter and the CircuitBreaker, wired as
 * src/integration.ts wires them, with the policy under test. Only three things are swapped:
 *  - the clock: a ManualClock that the loop below moves to the next pending timer whenever every
 *    task is idle, so nothing ever waits on the wall clock (6 h of 10k tokens take seconds);
 *  - the price source: MarketPriceSource, quotes from the in-process market after a seeded
 *    latency (market-source.ts);
 *  - the store: MemoryStore (store/memory-store.ts), held to the same test suite as the SQL
 *    backends; its committed writes move the market's "stored" price, which is what J measures
 *    (measure.ts).
 * Faults are for later wrappers around the source and the store; nothing here has a fault flag.
 *
 * Invariants (SimInvariantError): no 60 s window holds more than the plan's requests (checked at
 * the source); no token's price is written sooner than the minimum interval after its previous
 * write (t = 0, when every stored price is exact, counts as a write); the scheduler never goes
 * idle with no timer pending.
 */
import { ManualClock } from '../core/clock.js';
import { createPolicy, OptimalPolicy } from '../core/policies.js';
import type { PolicyName, RefreshPolicy } from '../core/policy.js';
import { RateLimiter } from '../core/rate-limiter.js';
import { DEFAULT_TIERS } from '../core/tiers.js';
import type { TierDef } from '../core/types.js';
import { DiagnosticOptimalPolicy, ORACLE_SAMPLES } from './diagnostic-policy.js';
import { Market } from './market.js';
import { MarketPriceSource } from './market-source.js';
import { Measurement } from './measure.js';
import {
  buildInstance,
  type CommitLog,
  driveVirtualTime,
  observeCommits,
  seededStore,
  SIM_T0,
} from './sim-stack.js';
import { type SimOptions, type SimResult, resolveOptions, SimOptionsError } from './options.js';

export { SIM_T0 };

export function buildPolicy(
  o: ReturnType<typeof resolveOptions>,
  tiers: readonly TierDef[],
  market: Market,
): RefreshPolicy {
  if (o.oracleSigma || o.extraReturns > 0) {
    if (o.policy !== 'optimal' || o.policyFactory) {
      throw new SimOptionsError('oracleSigma', 'and extraReturns diagnose the built-in optimal policy only');
    }
    return new DiagnosticOptimalPolicy(
      { deviation: o.deviation, tiers },
      o.oracleSigma
        ? { trueSigma: (id) => market.sigma[id - 1]! }
        : { extraReturns: { k: o.extraReturns, draw: (id, dt) => market.extraReturn(id - 1, dt) } },
    );
  }
  const policy = o.policyFactory
    ? o.policyFactory({ deviation: o.deviation, tiers })
    : createPolicy(o.policy, { deviation: o.deviation, tiers });
  if (policy.name !== o.policy) {
    throw new SimOptionsError('policyFactory', `built a ${policy.name} policy, expected ${o.policy}`);
  }
  return policy;
}

export async function runSimulation(options: SimOptions): Promise<SimResult> {
  const wallStart = performance.now();
  const cpuStart = process.cpuUsage();
  const o = resolveOptions(options);
  const n = o.universe.length;
  const tiers = o.tiers ?? DEFAULT_TIERS;
  const market = new Market(o.universe, o.seed, o.deviation);
  const policy = buildPolicy(o, tiers, market);
  const measure = new Measurement(o, market, tiers);
  const clock = new ManualClock(SIM_T0);
  const seconds = (): number => (clock.now() - SIM_T0) / 1000;

  // The store: the universe, in order (token i has id i + 1), with exact prices at t = 0.
  // oracleSigma: σ known from the start. Due long ago, so the start-up spread places them as it
  // places new tokens.
  const store = await seededStore(
    o,
    market,
    tiers,
    o.universe.map((_, i) => i),
    o.oracleSigma
      ? o.universe.map((_, i) => ({
          tokenId: i + 1,
          nextDueAt: 0,
          consecutiveFailures: 0,
          failingSince: null,
          sigma: market.sigma[i]!,
          sigmaSamples: ORACLE_SAMPLES,
        }))
      : [],
  );

  // Committed writes: the market's stored price follows, the invariants are checked.
  const commits: CommitLog = { refreshes: 0, minGap: Infinity, violation: null };
  observeCommits({
    store,
    o,
    market,
    measure,
    seconds,
    universeIndex: (id) => id - 1,
    lastWrite: new Float64Array(n),
    log: commits,
  });

  // The service's wiring (src/integration.ts), on the virtual clock.
  const rpm = o.requestsPerMinute;
  const source = new MarketPriceSource(
    market,
    o.universe.map((r) => r.address),
    clock,
    SIM_T0,
    o.maxBatchSize,
    rpm,
    o.seed,
  );
  const limiter = new RateLimiter({ clock, maxRequests: rpm, minSpacingMs: 60_000 / rpm });
  const scheduler = buildInstance({ o, clock, store, source, limiter, policy, tiers });
  await scheduler.initialize();
  scheduler.start();

  // The event loop of virtual time (sim-stack.ts): run everything runnable, then jump to the next
  // timer or measurement boundary.
  await driveVirtualTime(clock, measure, () => (commits.violation ??= source.violation));

  const learned = Array.from({ length: n }, (_, i) => scheduler.tokens.get(i + 1)?.sigma ?? null);
  const guard = scheduler.status().implausiblePrices;
  return measure.result(
    learned,
    {
      requests: source.requests,
      refreshes: commits.refreshes,
      predicted_J: policy instanceof OptimalPolicy ? (policy.plan?.J ?? null) : null,
      min_refresh_gap_seconds: Number.isFinite(commits.minGap) ? commits.minGap : null,
      min_window_span_seconds: Number.isFinite(source.minWindowSpan) ? source.minWindowSpan : null,
      wallMs: performance.now() - wallStart,
      cpuMs: ((cpu) => (cpu.user + cpu.system) / 1000)(process.cpuUsage(cpuStart)),
      capacityPerSecond: (rpm / 60) * o.maxBatchSize,
      implausible: { held: guard?.held ?? 0, confirmed: guard?.confirmed ?? 0, dropped: guard?.dropped ?? 0 },
    },
    scheduler.capacityPerSecond(),
  );
}

export type { PolicyName };
