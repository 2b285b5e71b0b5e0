/**
 * The market simulator in its own process, and the service in this one against it.
 *
 * An in-process market shares the event loop with the service it measures: every answer it
 * builds (and every 429 it refuses) is time the scheduler does not get, so a benchmark would
 * understate the service. Here the market runs as `token-refresh market` in a child Node process
 * (started through tsx from the sources), and everything the benchmarks read — the request log,
 * the tokens, the prices it served — comes over its `/__market/*` endpoints.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { TokenRefreshIntegration } from '../src/index.js';
import type { MarketRequestRecord } from '../src/market/request-log.js';
import type { MarketToken } from '../src/market/tokens.js';
import type { Store } from '../src/store/types.js';
import { serviceOnMarket, type ServiceOptions } from '../test/fixtures/local-service.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

export interface MarketProcessOptions {
  tokens: number;
  rpm?: number;
  seed?: number;
  latencyMs?: { min: number; max: number };
  errorRate?: number;
  hangRate?: number;
  malformedRate?: number;
  partialRate?: number;
  omitRate?: number;
  badPriceRate?: number;
}

export interface MarketProcess {
  readonly url: string;
  readonly priceUrlV3: string;
  readonly pid: number;
  tokens(): Promise<MarketToken[]>;
  /** Request log records after `sinceSeq` (oldest first). */
  requests(sinceSeq?: number): Promise<MarketRequestRecord[]>;
  /** Every valid price the market served, per mint. */
  served(ids: readonly string[]): Promise<Map<string, number[]>>;
  close(): Promise<void>;
}

const FLAG: Record<Exclude<keyof MarketProcessOptions, 'latencyMs'>, string> = {
  tokens: '--tokens',
  rpm: '--rpm',
  seed: '--seed',
  errorRate: '--error-rate',
  hangRate: '--hang-rate',
  malformedRate: '--malformed-rate',
  partialRate: '--partial-rate',
  omitRate: '--omit-rate',
  badPriceRate: '--bad-price-rate',
};

async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`market: GET ${url} answered ${res.status}`);
  return (await res.json()) as T;
}

export async function startMarketProcess(o: MarketProcessOptions): Promise<MarketProcess> {
  const args = ['--import', 'tsx', 'src/cli/main.ts', 'market', '--port', '0'];
  for (const [key, flag] of Object.entries(FLAG)) {
    const v = o[key as keyof typeof FLAG];
    if (v !== undefined) args.push(flag, String(v));
  }
  if (o.latencyMs) args.push('--latency-ms', `${o.latencyMs.min}-${o.latencyMs.max}`);
  const child: ChildProcess = spawn(process.execPath, args, {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /listening on (http:\/\/[^\s]+) /.exec(out);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) =>
      reject(new Error(`market process exited (${code}) before listening: ${out}`)),
    );
  });
  child.stdout!.resume();
  let tokens: MarketToken[] | null = null;
  return {
    url,
    priceUrlV3: `${url}/price/v3`,
    pid: child.pid!,
    async tokens() {
      tokens ??= (await getJson<{ tokens: MarketToken[] }>(`${url}/__market/tokens`)).tokens;
      return tokens;
    },
    async requests(sinceSeq = 0) {
      return (
        await getJson<{ requests: MarketRequestRecord[] }>(`${url}/__market/requests?since=${sinceSeq}`)
      ).requests;
    },
    async served(ids) {
      const out = new Map<string, number[]>();
      for (let i = 0; i < ids.length; i += 100) {
        const part = ids.slice(i, i + 100);
        const r = await getJson<{ served: Record<string, number[]> }>(
          `${url}/__market/served?ids=${part.join(',')}`,
        );
        for (const [k, v] of Object.entries(r.served)) out.set(k, v);
      }
      return out;
    },
    async close() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

export interface ServiceAgainstMarket {
  market: MarketProcess;
  store: Store;
  trs: TokenRefreshIntegration;
  close(): Promise<void>;
}

/**
 * The market in a child process; in this one a migrated store seeded with the demo's rows for the
 * market's tokens, and the service on top (real HTTP, real time).
 */
export async function startServiceWithMarketProcess(
  o: ServiceOptions & { market: MarketProcessOptions },
): Promise<ServiceAgainstMarket> {
  const market = await startMarketProcess(o.market);
  return serviceOnMarket(market, () => market.tokens(), o);
}
