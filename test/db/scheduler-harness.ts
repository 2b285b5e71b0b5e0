/**
 * Test harness for the scheduler: a real in-memory PGlite store, a scripted price source, the
 * real price client, limiter and breaker, all on a ManualClock. Cycles are driven explicitly
 * (runSchedulerCycle) so every step is deterministic.
 */
import { ManualClock } from '../../src/core/clock.js';
import { CircuitBreaker } from '../../src/core/circuit-breaker.js';
import { RateLimiter } from '../../src/core/rate-limiter.js';
import { createPolicy } from '../../src/core/policies.js';
import type { PolicyName } from '../../src/core/policy.js';
import { PriceClient } from '../../src/sources/price-client.js';
import type { FetchPricesResult, PriceQuote, PriceSource } from '../../src/sources/types.js';
import { UpstreamStatusError } from '../../src/sources/types.js';
import { openStore } from '../../src/store/index.js';
import type { Store, TokenInput } from '../../src/store/types.js';
import type { SchedulerEvents } from '../../src/scheduler/types.js';
import type { PgliteStore } from '../../src/store/pglite-store.js';
import { TokenRefreshScheduler } from '../../src/scheduler/scheduler.js';
import type { PartitionAuthority } from '../../src/scheduler/partitions.js';

export const T0 = Date.UTC(2026, 0, 1);

/** Deterministic valid base58 addresses: 'So1' + index padded with base58 digits. */
export function addr(i: number): string {
  const digits = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';
  let s = '';
  let n = i;
  for (let k = 0; k < 8; k++) {
    s = digits[n % 58] + s;
    n = Math.floor(n / 58);
  }
  return ('Tok' + 'z'.repeat(33) + s).slice(0, 44);
}

/** n token rows ranked 1..n at addr(0..n-1), each adjusted by `f`. */
export function tokens(n: number, f: (i: number) => Partial<TokenInput> = () => ({})): TokenInput[] {
  return Array.from({ length: n }, (_, i) => ({ address: addr(i), symbol: `T${i}`, rank: i + 1, ...f(i) }));
}

/** Every payload of scheduler event `ev` from now on. */
export function record<E extends keyof SchedulerEvents>(h: Harness, ev: E): SchedulerEvents[E][] {
  const out: SchedulerEvents[E][] = [];
  h.scheduler.events.on(ev, (p) => out.push(p));
  return out;
}

export type SourceMode = 'ok' | 'error';

/** A price source whose answers the test scripts. */
export class ScriptedSource implements PriceSource {
  readonly name = 'scripted';
  readonly maxIdsPerRequest = 50;
  prices = new Map<string, number>();
  /** Mints answered with an invalid price. */
  invalid = new Set<string>();
  /** Mints left out of the answer. */
  omit = new Set<string>();
  mode: SourceMode = 'ok';
  calls: string[][] = [];
  /** Clock time of each call, when a clock is attached. */
  callTimes: number[] = [];
  clock: { now(): number; sleep(ms: number): Promise<void> } | null = null;
  /** Round trip on the attached clock (0 = answers at once). */
  latencyMs = 0;
  /** Calls answering right now, and the most seen at once; mints of the calls in flight. */
  active = 0;
  maxActive = 0;
  readonly inFlightMints = new Set<string>();
  /** A mint asked for while a call already carrying it was in flight (must never happen). */
  overlaps: string[] = [];

  async fetchPrices(mints: readonly string[]): Promise<FetchPricesResult> {
    this.calls.push([...mints]);
    if (this.clock) this.callTimes.push(this.clock.now());
    if (this.mode === 'error') throw new UpstreamStatusError(503);
    if (this.latencyMs > 0 && this.clock) {
      for (const m of mints) {
        if (this.inFlightMints.has(m)) this.overlaps.push(m);
        this.inFlightMints.add(m);
      }
      this.active++;
      this.maxActive = Math.max(this.maxActive, this.active);
      try {
        await this.clock.sleep(this.latencyMs);
      } finally {
        this.active--;
        for (const m of mints) this.inFlightMints.delete(m);
      }
    }
    const quotes = new Map<string, PriceQuote>();
    const missing: string[] = [];
    const invalid: { mint: string; reason: string }[] = [];
    for (const m of mints) {
      const p = this.prices.get(m);
      if (this.omit.has(m) || p === undefined) missing.push(m);
      else if (this.invalid.has(m)) invalid.push({ mint: m, reason: 'negative price' });
      else quotes.set(m, { mint: m, price: p, blockId: 1, decimals: 6, change24h: null, liquidity: null });
    }
    return { quotes, missing, invalid, rateLimit: null };
  }
}

export interface Harness {
  clock: ManualClock;
  store: Store;
  source: ScriptedSource;
  scheduler: TokenRefreshScheduler;
  limiter: RateLimiter;
  breaker: CircuitBreaker;
  close(): Promise<void>;
}

/**
 * One embedded database per test file (PGlite start-up costs seconds on a loaded machine);
 * each harness starts from empty tables.
 */
let shared: PgliteStore | null = null;
export async function warmSharedStore(): Promise<void> {
  if (!shared) {
    shared = (await openStore({ dataDir: 'memory://' })) as PgliteStore;
    await shared.migrate();
  }
}
async function freshStore(): Promise<Store> {
  await warmSharedStore();
  if (!shared) throw new Error('shared store did not open');
  await shared.executor.query(
    'TRUNCATE tokens, token_prices, token_price_history, token_rank_history, token_schedule RESTART IDENTITY CASCADE',
  );
  return shared;
}
export async function closeSharedStore(): Promise<void> {
  await shared?.close();
  shared = null;
}

export async function makeHarness(opts: {
  tokens: TokenInput[];
  policy?: PolicyName;
  rpm?: number;
  store?: Store;
  /** Requests in flight at once (client) and batches (scheduler); default 1. */
  concurrency?: number;
  maxBatchSize?: number;
  minIntervalSeconds?: number;
  deltaLoadIntervalMs?: number;
  /** Several instances: the lease authority, and the partitions served from the start. */
  authority?: PartitionAuthority;
  partitions?: number[];
  /** Start time (default T0). */
  start?: number;
}): Promise<Harness> {
  const clock = new ManualClock(opts.start ?? T0);
  const store = opts.store ?? (await freshStore());
  if (opts.tokens.length > 0) await store.upsertTokens(opts.tokens, clock.now());
  const source = new ScriptedSource();
  source.clock = clock;
  opts.tokens.forEach((t, i) => source.prices.set(t.address, 1 + i));
  const rpm = opts.rpm ?? 600;
  const limiter = new RateLimiter({ clock, maxRequests: rpm });
  const breaker = new CircuitBreaker({ clock, failureThreshold: 3, cooldownMs: 30_000 });
  const client = new PriceClient({
    source,
    clock,
    limiter,
    breaker,
    timeoutMs: 5_000,
    maxConcurrent: opts.concurrency ?? 1,
  });
  const scheduler = new TokenRefreshScheduler({
    store,
    client,
    limiter,
    breaker,
    clock,
    policy: createPolicy(opts.policy ?? 'tiered', {}),
    requestsPerMinute: rpm,
    maxBatchSize: opts.maxBatchSize ?? 50,
    minIntervalSeconds: opts.minIntervalSeconds,
    deltaLoadIntervalMs: opts.deltaLoadIntervalMs,
    sourceName: source.name,
    authority: opts.authority,
    partitions: opts.partitions,
  });
  await scheduler.initialize();
  return {
    clock,
    store,
    source,
    scheduler,
    limiter,
    breaker,
    async close() {},
  };
}

/** Advance time to when the limiter allows the next request, then run one cycle. */
export async function step(h: Harness, extraMs = 0): Promise<number> {
  const wait = Math.max(0, h.limiter.nextAvailableAt() - h.clock.now()) + extraMs;
  h.clock.advance(wait);
  return h.scheduler.runSchedulerCycle();
}

/**
 * Run the scheduler's own loop on the ManualClock for `ms` of virtual time. Time moves only when
 * no refresh is being written (database I/O is real), so the clock never outruns a commit.
 */
export async function runLoop(h: Harness, ms: number): Promise<void> {
  let writing = 0;
  const realWrite = h.store.writeRefreshResults.bind(h.store);
  h.store.writeRefreshResults = async (b) => {
    writing++;
    try {
      return await realWrite(b);
    } finally {
      writing--;
    }
  };
  const end = h.clock.now() + ms;
  h.scheduler.start();
  const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
  while (h.clock.now() < end) {
    await tick();
    if (writing > 0) continue;
    const next = h.clock.nextTimerAt();
    await h.clock.advanceTo(Math.min(end, next ?? end));
  }
  const stopped = h.scheduler.stop(0);
  while (writing > 0 || h.clock.pendingTimers > 0) {
    await tick();
    const next = h.clock.nextTimerAt();
    if (writing === 0 && next !== null) await h.clock.advanceTo(next);
  }
  await stopped;
}
