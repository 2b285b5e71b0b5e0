/**
 * End to end: `token-refresh tokens import` and `token-refresh start` as child processes against
 * the market simulator (rpm limited) and a fresh PostgreSQL database. Runs on real time (a few
 * seconds of service), asserting outcomes, never timings.
 */
import { once } from 'node:events';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import type { MarketServer } from '../../src/market/index.js';
import { runCli, spawnCli, waitForOutput } from '../fixtures/child.js';
import { requirePostgres, useMarketAndDatabase } from './pg-env.js';

const RPM = 40;

const hasPg = await requirePostgres();

describe.runIf(hasPg)('token-refresh start (child process) against the simulator and PostgreSQL', () => {
  let market: MarketServer;
  let db: { url: string; drop(): Promise<void> };
  let client: pg.Client;
  const env = (): NodeJS.ProcessEnv => ({
    PATH: process.env.PATH,
    DATABASE_URL: db.url,
    PRICE_API_URL: market.priceUrlV3,
    TOKEN_REFRESH_REQUESTS_PER_MINUTE: String(RPM),
    PORT: '0',
    LOG_LEVEL: 'info',
    CI: 'true',
  });

  useMarketAndDatabase(
    { port: 0, tokens: 200, rpm: RPM, seed: 11, faults: { latencyMs: { min: 500, max: 1000 } } },
    'trs_e2e',
    (e) => void ({ market, db, client } = e),
  );

  it('imports, refreshes only served prices, honours tiers and the limit, and stops cleanly on SIGTERM', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'trs-e2e-'));
    const csv = ['address,symbol,rank,volume_24h,in_contest,extra_col'];
    market.tokens.forEach((t, i) =>
      csv.push(`${t.address},${t.symbol},${i + 1},${1e6 / (i + 1)},${i % 50 === 7},x`),
    );
    const file = join(dir, 'tokens.csv');
    await writeFile(file, csv.join('\n') + '\n');
    const imp = await runCli(['tokens', 'import', file], env());
    expect(imp.stdout).toMatch(/imported 200 tokens: 200 new, 0 changed, 0 unchanged/);
    expect(imp.stderr).toMatch(/ignored unknown columns: extra_col/);
    // The same file again: nothing is rewritten, and the summary says so.
    const again = await runCli(['tokens', 'import', file], env());
    expect(again.stdout).toMatch(/imported 200 tokens: 0 new, 0 changed, 200 unchanged, 0 rank history rows/);

    const { child, out } = spawnCli(['start'], env());
    await waitForOutput(child, out, /service running/, 20_000);
    expect(out()).toMatch(/service running/);
    // let it refresh for a while (real time; assertions are on outcomes)
    await new Promise((r) => setTimeout(r, 12_000));

    const exited = once(child, 'exit');
    const sentAt = Date.now();
    child.kill('SIGTERM');
    const [code] = (await exited) as [number | null];
    expect(code).toBe(0);
    expect(Date.now() - sentAt).toBeLessThan(10_000);
    expect(out()).not.toMatch(/"level":50/); // no error logs

    // every stored price is one the simulator actually served for that mint
    const prices = await client.query<{ address: string; price: number }>(
      'select t.address, p.price from token_prices p join tokens t on t.id = p.token_id',
    );
    expect(prices.rows.length).toBeGreaterThan(50);
    for (const r of prices.rows) expect(market.servedPrices(r.address)).toContain(Number(r.price));

    // history rows exist where prices changed
    const hist = await client.query<{ n: string }>(
      'select count(*) n from token_price_history h join token_prices p using (token_id)',
    );
    expect(Number(hist.rows[0].n)).toBeGreaterThanOrEqual(prices.rows.length);

    // CRITICAL (ranks 1-50) refreshed at least as often as lower tiers, per token
    const log = market.requestLog().filter((r) => r.path.startsWith('/price/v3') && r.status === 200);
    const perToken = new Map<string, number>();
    for (const t of market.tokens) perToken.set(t.address, market.servedPrices(t.address).length);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
    const crit = mean(market.tokens.slice(0, 50).map((t) => perToken.get(t.address)!));
    const lower = mean(market.tokens.slice(50).map((t) => perToken.get(t.address)!));
    expect(crit).toBeGreaterThanOrEqual(lower);

    // no 60 s window above the limit; no 429 at all in this short run
    const all = market.requestLog().filter((r) => r.path.startsWith('/price/'));
    for (let i = 0; i < all.length; i++) {
      const inWindow = all.filter((r) => r.t > all[i].t - 60_000 && r.t <= all[i].t).length;
      expect(inWindow).toBeLessThanOrEqual(RPM);
    }
    expect(all.filter((r) => r.status === 429)).toHaveLength(0);

    // the in-flight batch was committed: the last answered request's mints are stored at or after it
    const last = log.at(-1)!;
    const committed = await client.query<{ n: string }>(
      'select count(*) n from token_prices where updated_at >= to_timestamp($1 / 1000.0)',
      [last.t],
    );
    expect(Number(committed.rows[0].n)).toBeGreaterThanOrEqual(last.ids);

    // the schedule was persisted for a restart
    const sched = await client.query<{ n: string }>('select count(*) n from token_schedule');
    expect(Number(sched.rows[0].n)).toBe(200);
  }, 60_000);
});
