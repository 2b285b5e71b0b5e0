/**
 * The library facade end to end: TokenRefreshIntegration over the embedded store and the market
 * simulator (real HTTP, real time, a few seconds).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TokenRefreshIntegration } from '../../src/index.js';
import type { MarketServer } from '../../src/market/index.js';
import type { Store } from '../../src/store/types.js';
import { startLocalService, type LocalService } from '../fixtures/local-service.js';
import { TokenNotFoundError } from '../../src/api/errors.js';

describe('TokenRefreshIntegration (library API)', () => {
  let market: MarketServer;
  let store: Store;
  let trs: TokenRefreshIntegration;

  let local: LocalService | undefined;

  beforeAll(async () => {
    local = await startLocalService({
      market: { tokens: 120, rpm: 600, seed: 9 },
      service: { requestsPerMinute: 600 },
    });
    ({ market, store, trs } = local);
  });
  afterAll(async () => {
    await local?.close();
  });

  it('refreshToken goes through the limiter, writes the served price and reports it', async () => {
    const address = market.tokens[77].address;
    const before = trs.client.stats().requests;
    const r = await trs.refreshToken(address);
    expect(r.refreshed).toBe(true);
    expect(market.servedPrices(address)).toContain(r.price);
    expect((await store.getToken(address))?.price).toBe(r.price);
    expect(trs.client.stats().requests).toBeGreaterThan(before);
  });

  it('sizes request concurrency to the plan: 600 rpm allows 4 overlapping 400 ms round trips', () => {
    expect(trs.client.maxConcurrent).toBe(4);
    expect(trs.scheduler.maxInFlight).toBe(4);
    expect(trs.getSchedulerMetrics().client.maxConcurrent).toBe(4);
  });

  it('refreshToken rejects unknown and malformed addresses', async () => {
    await expect(trs.refreshToken('1'.repeat(40))).rejects.toBeInstanceOf(TokenNotFoundError);
    await expect(trs.refreshToken('../../etc/passwd')).rejects.toThrow(/address/);
  });

  it('updateTokenRefreshSettings stores the settings and re-queues that token only', async () => {
    const address = market.tokens[5].address;
    const row = await trs.updateTokenRefreshSettings(address, {
      refresh_interval_seconds: 120,
      priority_score: 250,
      metadata: { note: 'watch' },
    });
    expect(row).toMatchObject({ address, refresh_interval_seconds: 120, priority_score: 250 });
    const t = trs.scheduler.tokens.get(row!.id)!;
    expect(t.refresh_interval_seconds).toBe(120);
    expect(t.priority_score).toBe(250);
    expect(await trs.updateTokenRefreshSettings('1'.repeat(40), { priority_score: 1 })).toBeNull();
    const off = await trs.updateTokenRefreshSettings(address, { is_active: false });
    expect(off?.is_active).toBe(false);
    expect(trs.scheduler.idForAddress(address)).toBeUndefined();
    await expect(trs.updateTokenRefreshSettings(address, { refresh_interval_seconds: 5 })).rejects.toThrow(
      /refresh_interval_seconds/,
    );
  });

  it('exposes metrics, recommendations and events', async () => {
    const events: string[] = [];
    const off = trs.on('batch:completed', () => events.push('batch'));
    // every token sits at the 15 s minimum interval here, so batches come every ~15 s
    const deadline = Date.now() + 40_000;
    while (events.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    off();
    expect(events.length).toBeGreaterThanOrEqual(2);
    const m = trs.getSchedulerMetrics();
    expect(m.status.running).toBe(true);
    expect(m.client.requests).toBeGreaterThan(0);
    const rec = await trs.getRefreshRecommendations();
    expect(rec.projections.map((p) => p.plan)).toEqual(['keyless', 'free', 'developer', 'launch', 'pro']);
    expect(rec.distribution).toBeTruthy();
    expect(await trs.readiness()).toEqual({ db: true, migrations: true, scheduler: true });
  }, 60_000);
});
