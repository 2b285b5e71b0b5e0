/**
 * The offline demo: the local Jupiter-compatible market, an embedded database, N seeded tokens
 * with a realistic spread of ranks, volumes and contest use, the scheduler and the API/dashboard.
 * Used by `token-refresh demo`, the browser test and the API load benchmark.
 */
import { startMarket, type MarketServer, type MarketTokenSpec } from './market/index.js';
import { Rng } from './core/rng.js';
import { openStore } from './store/index.js';
import type { Store, TokenInput } from './store/types.js';
import { initializeTokenRefresh, type TokenRefreshIntegration } from './integration.js';
import { startApiServer } from './api/server.js';
import type { Logger } from './scheduler/scheduler.js';
import type { PolicyName } from './core/policy.js';

export interface DemoOptions {
  tokens?: number;
  apiPort?: number;
  host?: string;
  /** Embedded database directory; 'memory://' keeps it in memory. */
  dataDir?: string;
  marketPort?: number;
  marketRpm?: number;
  policy?: PolicyName;
  seed?: number;
  logger?: Logger;
}

export interface DemoHandle {
  apiUrl: string;
  marketUrl: string;
  integration: TokenRefreshIntegration;
  market: MarketServer;
  stop(): Promise<void>;
}

/**
 * Ranks follow market order with ~10 % rankless tokens; 24 h volume falls off with rank
 * (log-normal around a power law: top tokens trade $100M+, the tail a few hundred dollars);
 * ~3 % are in a contest, biased towards mid ranks.
 */
export function demoTokenRows(
  market: { address: string; symbol: string; decimals: number }[],
  seed = 7,
): TokenInput[] {
  const rng = new Rng(seed);
  const rnd = () => rng.next();
  let rank = 0;
  return market.map((t) => {
    const rankless = rnd() < 0.1;
    const r = rankless ? null : ++rank;
    const base = r === null ? 500 : 2e8 / Math.pow(r, 1.3);
    const volume = Math.round(base * Math.exp((rnd() - 0.5) * 2));
    const inContest = r !== null && r > 20 && r < 1500 && rnd() < 0.05;
    return {
      address: t.address,
      symbol: t.symbol,
      name: `${t.symbol} (demo)`,
      decimals: t.decimals,
      rank: r,
      volume_24h: volume,
      in_contest: inContest,
    };
  });
}

/**
 * The demo's default budget is scarce, like real life: Jupiter's keyless plan (30 requests/min ×
 * 50 ids = 1,500 token refreshes/min, 1,425 at the scheduler's 95 % utilisation) over 5,000
 * tokens, so a full round-robin pass takes 3.5 min and the policy has to choose: the top tiers
 * every 15–60 s, the tail far less often. (With the old 300 rpm over 2,000 tokens every token fit
 * at the 15 s minimum and every policy looked the same.)
 */
export const DEMO_DEFAULT_TOKENS = 5000;
export const DEMO_DEFAULT_RPM = 30;

/**
 * Volatility like a real token list: majors move ~3 %/day, the long tail of small caps 50 %–
 * 150 %/day (daily σ's median rises log-linearly with market-cap position from 3 % to 90 %, with
 * a log-normal scatter of ×/÷ 1.6 per token), and every token has a few jumps a day at most. At
 * X = 1 % a tail token is stale within minutes of a refresh, a major within hours, which is what
 * makes the spending choice matter.
 */
export function demoMarketSpecs(n: number, seed = 42): MarketTokenSpec[] {
  const rng = new Rng(seed ^ 0xd3e0);
  return Array.from({ length: n }, (_, i) => {
    const q = n > 1 ? i / (n - 1) : 0;
    const median = 0.03 * Math.pow(30, q);
    // Box–Muller normal for the scatter
    const z = Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
    const sigmaDaily = Math.min(3, median * Math.exp(0.47 * z));
    return { sigmaDaily, jumpRateDaily: rng.next() * 0.5 * (0.2 + q) };
  });
}

/**
 * The demo starts as a service that has already been running for a while: every token has a
 * stored price (the market's at start-up) and a volatility estimate as if learned from
 * SEED_RETURNS returns, i.e. the market's true σ times the noise of that estimate
 * (√(χ²ₙ/n), ±20 % at n = 12). Started cold, every token begins at the 5 %/day prior and the
 * dashboard needs ten minutes or more before the tail's volatility shows in the plan; seeded,
 * the steady state (different intervals per tier, a real staleness, the gap between policies)
 * shows within the first minute. The policy keeps learning from there like any other run. The
 * seeded due times are long past, so the scheduler spreads the first refreshes (no herd).
 */
const SEED_RETURNS = 12;

async function seedState(store: Store, market: MarketServer, seed: number): Promise<void> {
  const truth = market.truth();
  const sigmaOf = new Map(market.tokens.map((t) => [t.address, t.sigmaDaily / Math.sqrt(86_400)]));
  const rng = new Rng(seed ^ 0x5eed);
  const now = Date.now();
  for await (const page of store.loadActiveTokens({ pageSize: 1000 })) {
    const successes = [];
    const schedules = [];
    for (const t of page) {
      const price = truth.get(t.address);
      if (price === undefined) continue;
      successes.push({
        tokenId: t.id,
        price,
        change24h: null,
        liquidity: null,
        blockId: null,
        source: 'demo-seed',
      });
      let chi2 = 0;
      for (let k = 0; k < SEED_RETURNS; k++) chi2 += rng.normal() ** 2;
      const sigma = (sigmaOf.get(t.address) ?? 0) * Math.sqrt(chi2 / SEED_RETURNS);
      schedules.push({
        tokenId: t.id,
        nextDueAt: now - 86_400_000,
        consecutiveFailures: 0,
        failingSince: null,
        sigma: sigma > 0 ? sigma : null,
        sigmaSamples: sigma > 0 ? SEED_RETURNS : 0,
      });
    }
    await store.writeRefreshResults({ now, successes, misses: [], schedules, deactivate: [] });
  }
}

export async function startDemo(opts: DemoOptions = {}): Promise<DemoHandle> {
  const tokens = opts.tokens ?? DEMO_DEFAULT_TOKENS;
  const rpm = opts.marketRpm ?? DEMO_DEFAULT_RPM;
  const market = await startMarket({
    port: opts.marketPort ?? 0,
    tokens: demoMarketSpecs(tokens, opts.seed ?? 42),
    rpm,
    seed: opts.seed ?? 42,
  });
  let integration: TokenRefreshIntegration | null = null;
  try {
    const store = await openStore({ dataDir: opts.dataDir ?? 'memory://' });
    await store.migrate();
    await store.upsertTokens(demoTokenRows(market.tokens, opts.seed ?? 7), Date.now());
    await seedState(store, market, opts.seed ?? 42);
    integration = await initializeTokenRefresh({
      store,
      priceApiUrl: market.priceUrlV3,
      requestsPerMinute: rpm,
      policy: opts.policy ?? 'optimal',
      logger: opts.logger,
      env: {},
    });
    const api = await startApiServer(integration, {
      host: opts.host ?? '127.0.0.1',
      port: opts.apiPort ?? 0,
      adminToken: undefined,
      logger: false,
    });
    const handle: DemoHandle = {
      apiUrl: api.url,
      marketUrl: market.url,
      integration,
      market,
      async stop() {
        await api.close();
        await integration!.shutdown();
        await store.close();
        await market.close();
      },
    };
    return handle;
  } catch (err) {
    await integration?.shutdown().catch(() => {});
    await market.close().catch(() => {});
    throw err;
  }
}
