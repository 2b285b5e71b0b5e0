/**
 * The dashboard's data routes and caches: the bounded chart history, the policy comparison on the
 * live budget, the price-history and schedule routes (200/400/404), and the token list's seed
 * score. Insight's timers are never waited on: the tests call sample()/project() directly.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../../src/api/server.js';
import { HistoryBuffer } from '../../src/api/history-buffer.js';
import { Insight } from '../../src/api/insight.js';
import type { LiveBudget, LiveToken, TokenScheduleFacts } from '../../src/api/types.js';
import { sigmaFromDaily } from '../../src/core/volatility.js';
import { strided } from '../../src/core/stride.js';
import { ADDRESSES, FakeService, FakeStore, T0, sampleTokens } from './api-helpers.js';

const sample = (t: number) => ({
  t,
  staleness: 0.1,
  refreshesPerMinute: 1,
  requestsPerMinute: 1,
  due: 0,
  tiers: {},
  projected: null,
});

describe('HistoryBuffer', () => {
  it('keeps the newest `capacity` samples, oldest first, and filters by time', () => {
    const ring = new HistoryBuffer(720);
    for (let i = 0; i < 800; i++) ring.push(sample(i * 5000));
    const all = ring.since();
    expect(all).toHaveLength(720);
    expect(all[0]!.t).toBe(80 * 5000);
    expect(all[719]!.t).toBe(799 * 5000);
    expect(ring.since(795 * 5000).map((s) => s.t)).toEqual([795, 796, 797, 798, 799].map((i) => i * 5000));
    expect(() => new HistoryBuffer(0)).toThrow(RangeError);
  });
});

/** A service with a scheduler side: 3,000 live tokens with learned σ on a keyless budget. */
class PlanningService extends FakeService {
  facts: TokenScheduleFacts = {
    tier: 'CRITICAL',
    weight: 1200,
    plannedIntervalSeconds: 15,
    sigmaDaily: 0.4,
    sigmaSamples: 12,
    nextDueAt: T0 + 15_000,
    consecutiveFailures: 0,
    failingSince: null,
    lastRefreshSuccess: T0,
    lastPriceChangeAt: T0,
  };
  tokenSchedule(address: string): TokenScheduleFacts | null {
    return address === ADDRESSES[0] ? this.facts : null;
  }
  /** The largest sample the insight asked for (it must never ask for every token). */
  askedFor: number[] = [];
  liveTokens(max: number): { tokens: LiveToken[]; total: number } {
    this.askedFor.push(max);
    const all = Array.from({ length: 3000 }, (_, i): LiveToken => ({
      rank: i + 1,
      volume_24h: 1e8 / (i + 1),
      in_contest: false,
      priority_score: 0,
      refresh_interval_seconds: null,
      tier: 'LOW',
      weight: 100,
      intervalSeconds: 100,
      sigma: sigmaFromDaily(0.05 + (i % 9) / 8),
      sigmaSamples: 50,
      planSigmaDaily: 0.05 + (i % 9) / 8,
      lastPriceChangeAt: T0,
    }));
    return { tokens: [...strided(all, all.length, max)], total: all.length };
  }
  budget(): LiveBudget {
    return {
      requestsPerMinute: 30,
      maxBatchSize: 50,
      capacityPerSecond: 23.75,
      minIntervalSeconds: 15,
      maxIntervalSeconds: 3600,
      deviation: 0.01,
    };
  }
}

describe('Insight', () => {
  it('projects what the optimal policy buys over tiered and uniform on the live budget, and per plan', () => {
    const service = new PlanningService(new FakeStore());
    const insight = new Insight(service);
    expect(insight.current().live).toBeNull();
    insight.project();
    const snap = insight.current();
    expect(snap.tokens).toBe(3000);
    expect(snap.live!.optimal).toBeGreaterThan(0);
    expect(snap.live!.optimal).toBeLessThan(snap.live!.tiered);
    expect(snap.live!.optimal).toBeLessThan(snap.live!.uniform);
    expect(snap.map.length).toBeGreaterThan(100);
    expect(snap.map.length).toBeLessThanOrEqual(1500);
    for (let i = 0; i < 5; i++) insight.projectNextPlan();
    expect(insight.current().plans.map((p) => p.plan)).toEqual([
      'keyless',
      'free',
      'developer',
      'launch',
      'pro',
    ]);
    // the history sample carries the latest projection
    insight.sample();
    expect(insight.history.since()[0]!.projected).toEqual(snap.live);
  });

  it('asks the service for a sample of the tokens, never for every token', () => {
    const service = new PlanningService(new FakeStore());
    const insight = new Insight(service, { maxProjectedTokens: 1000 });
    insight.project();
    insight.projectNextPlan();
    expect(service.askedFor).toEqual([1000, 1000]);
    // 3,000 scheduled, 1,000 projected: the count shown is the whole set.
    expect(insight.current().tokens).toBe(3000);
  });

  it('strided() takes every ⌈count/max⌉-th item, in order, and nothing for max < 1', () => {
    expect([...strided([0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 10, 3)]).toEqual([0, 4, 8]);
    expect([...strided([0, 1, 2], 3, 10)]).toEqual([0, 1, 2]);
    expect([...strided([0, 1, 2], 3, 0)]).toEqual([]);
  });

  it('a failing projection is reported and never escapes its timer', async () => {
    const service = new PlanningService(new FakeStore());
    service.budget = () => {
      throw new Error('budget unavailable');
    };
    const errors: unknown[] = [];
    const insight = new Insight(service, {
      sampleEveryMs: 10,
      projectEveryMs: 10,
      plansEveryMs: 50,
      onError: (e) => errors.push(e),
    });
    insight.start();
    await expect.poll(() => errors.length).toBeGreaterThan(1);
    insight.stop();
    expect(String(errors[0])).toContain('budget unavailable');
    expect(insight.history.size).toBeGreaterThan(0); // sampling kept going
  });

  it('keeps the last error per token, bounded', () => {
    const insight = new Insight(new FakeService(new FakeStore()));
    for (let i = 0; i < 5001; i++)
      insight.recordError(`a${i}`, { reason: 'missing', at: i, consecutiveFailures: 1 });
    expect(insight.lastError('a0')).toBeNull();
    expect(insight.lastError('a5000')).toEqual({ reason: 'missing', at: 5000, consecutiveFailures: 1 });
  });
});

describe('dashboard data routes', () => {
  let store: FakeStore;
  let service: PlanningService;
  let app: FastifyInstance;

  beforeEach(async () => {
    store = new FakeStore();
    await store.upsertTokens(sampleTokens, T0);
    store.history.set(1, [
      { t: T0 + 1000, price: 1, source: 'jupiter-v3' },
      { t: T0 + 2000, price: 1.1, source: 'jupiter-v3' },
      { t: T0 + 3000, price: 1.2, source: 'jupiter-v3' },
    ]);
    service = new PlanningService(store);
    app = await buildServer(service, { host: '127.0.0.1', logger: false });
  });
  afterEach(async () => {
    await app.close();
  });

  it('GET /api/v1/tokens/:address/history pages newest first with a next cursor', async () => {
    const first = await app.inject({ url: `/api/v1/tokens/${ADDRESSES[0]}/history?limit=2` });
    expect(first.statusCode).toBe(200);
    expect(first.json()).toEqual({
      address: ADDRESSES[0],
      points: [
        { t: T0 + 3000, price: 1.2, source: 'jupiter-v3' },
        { t: T0 + 2000, price: 1.1, source: 'jupiter-v3' },
      ],
      next: T0 + 2000,
    });
    const second = await app.inject({
      url: `/api/v1/tokens/${ADDRESSES[0]}/history?limit=2&to=${T0 + 2000}`,
    });
    expect(second.json()).toMatchObject({ points: [{ t: T0 + 1000 }], next: null });
  });

  it('history answers 404 for an unknown token and 400 for bad parameters', async () => {
    const unknown = await app.inject({ url: `/api/v1/tokens/${'1'.repeat(40)}/history` });
    expect(unknown.statusCode).toBe(404);
    for (const qs of ['limit=0', 'limit=1001', 'limit=ten', 'from=-5', 'to=1e12', 'cursor=3']) {
      const res = await app.inject({ url: `/api/v1/tokens/${ADDRESSES[0]}/history?${qs}` });
      expect(res.statusCode, qs).toBe(400);
      expect(res.json().error).toBe('bad_request');
    }
    expect((await app.inject({ url: '/api/v1/tokens/not-an-address/history' })).statusCode).toBe(400);
  });

  it('GET /api/v1/tokens/:address/schedule shows the plan and the last error; 404 when unknown', async () => {
    service.emit('token:failed', {
      address: ADDRESSES[0]!,
      tokenId: 1,
      reason: 'quote missing',
      consecutiveFailures: 2,
      retryAt: T0 + 4000,
      at: T0,
    });
    const res = await app.inject({ url: `/api/v1/tokens/${ADDRESSES[0]}/schedule` });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({
      address: ADDRESSES[0],
      scheduled: true,
      schedule: service.facts,
      lastError: { reason: 'quote missing', at: T0, consecutiveFailures: 2 },
    });
    const unscheduled = await app.inject({ url: `/api/v1/tokens/${ADDRESSES[1]}/schedule` });
    expect(unscheduled.json()).toMatchObject({ scheduled: false, schedule: null, lastError: null });
    expect((await app.inject({ url: `/api/v1/tokens/${'1'.repeat(40)}/schedule` })).statusCode).toBe(404);
  });

  it('GET /api/v1/tokens shows the seed score and tier beside the manual boost', async () => {
    const res = await app.inject({ url: '/api/v1/tokens?sort=rank&order=asc&limit=5' });
    const sol = res.json().tokens.find((t: { symbol: string }) => t.symbol === 'SOL');
    // rank 1 (CRITICAL 1000) + volume > $1M (+200); manual boost 0
    expect(sol).toMatchObject({
      tier: 'CRITICAL',
      score: 1200,
      priority_score: 0,
      planned_interval_seconds: 15,
    });
  });

  it('the OpenAPI document lists the dashboard data routes', async () => {
    const paths = Object.keys((await app.inject({ url: '/api/v1/openapi.json' })).json().paths);
    for (const p of [
      '/api/v1/tokens/{address}/history',
      '/api/v1/tokens/{address}/schedule',
      '/api/v1/insight',
      '/api/v1/insight/history',
    ]) {
      expect(paths).toContain(p);
    }
  });

  it('GET /api/v1/insight and /insight/history answer before the first projection', async () => {
    const res = await app.inject({ url: '/api/v1/insight' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ supported: true, plans: [] });
    const hist = await app.inject({ url: '/api/v1/insight/history?since=0' });
    expect(hist.json()).toMatchObject({ resolutionMs: 5000, samples: [] });
    expect((await app.inject({ url: '/api/v1/insight/history?since=x' })).statusCode).toBe(400);
  });
});
