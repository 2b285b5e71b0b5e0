/**
 * The offline demo: the local Jupiter-compatible market, an embedded database, N seeded tokens
 * with a realistic spread of ranks, volumes and contest use, the scheduler and the API/dashboard.
 * Used by `token-refresh demo`, the browser test and the API load benchmark.
 */
import { startMarket, type MarketServer } from './market/index.js';
import { Rng } from './core/rng.js';
import { openStore } from './store/index.js';
import type { TokenInput } from './store/types.js';
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

export async function startDemo(opts: DemoOptions = {}): Promise<DemoHandle> {
  const tokens = opts.tokens ?? 2000;
  const rpm = opts.marketRpm ?? 300;
  const market = await startMarket({ port: opts.marketPort ?? 0, tokens, rpm, seed: opts.seed ?? 42 });
  let integration: TokenRefreshIntegration | null = null;
  try {
    const store = await openStore({ dataDir: opts.dataDir ?? 'memory://' });
    await store.migrate();
    await store.upsertTokens(demoTokenRows(market.tokens, opts.seed ?? 7), Date.now());
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
