/**
 * Batching end to end: the service against the local market (real HTTP, real time) behind a
 * "proxy" that refuses requests of more than 20 ids (414). The service finds a size that passes
 * and refreshes every token; a contest that comes due all at once is dealt across the requests.
 * Outcomes only, no timings asserted.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { sleep } from '../fixtures/child.js';
import { startLocalService, type LocalService } from '../fixtures/local-service.js';

describe('batching in the running service', () => {
  let local: LocalService | undefined;
  afterAll(async () => {
    await local?.close();
  });

  it('shrinks requests the upstream refuses as too large, refreshes everything, and spreads a contest', async () => {
    local = await startLocalService({
      market: { tokens: 200, rpm: 600, seed: 11, maxIdsPerRequest: 20 },
      service: { requestsPerMinute: 600 },
      // the top 40 by rank are in the contest: in priority order they would share requests
      rows: (rows) => rows.map((r) => ({ ...r, in_contest: r.rank != null && r.rank <= 40 })),
    });
    const { market, trs, store } = local;
    // Watch which mints ride each request (the request itself still goes over HTTP).
    const contest = new Set(
      (await store.listTokens({ limit: 500, offset: 0, sort: 'id', order: 'asc' })).tokens
        .filter((t) => t.in_contest)
        .map((t) => t.address),
    );
    const sent: string[][] = [];
    const source = trs.client.source;
    const fetch = source.fetchPrices.bind(source);
    source.fetchPrices = (mints, o) => {
      sent.push([...mints]);
      return fetch(mints, o);
    };
    const deadline = Date.now() + 25_000;
    for (;;) {
      await sleep(250);
      const priced = (
        await store.listTokens({ limit: 500, offset: 0, sort: 'id', order: 'asc' })
      ).tokens.filter((t) => t.price !== null).length;
      if (priced === 200 || Date.now() > deadline) break;
    }
    const list = await store.listTokens({ limit: 500, offset: 0, sort: 'id', order: 'asc' });
    expect(list.tokens.filter((t) => t.price !== null)).toHaveLength(200);
    const log = market.requestLog().filter((r) => r.path.startsWith('/price'));
    const refused = log.filter((r) => r.status === 414).length;
    const ok = log.filter((r) => r.status === 200).length;
    // Start-up costs a few refusals (four 50-id requests are in flight before the first answer).
    expect(ok).toBeGreaterThanOrEqual(refused);
    expect(Math.max(...log.filter((r) => r.status === 200).map((r) => r.ids))).toBeLessThanOrEqual(20);
    expect(trs.status().plan.maxBatchSize).toBeLessThan(25);
    // 40 contest tokens and 200 tokens due at start: no request carries a whole contest. The deal
    // spreads a contest over the requests its due tokens fill: four at start (at most 10 each,
    // test/db/scheduler-hardening.test.ts pins that), but after the refusals the re-queued due
    // tokens may fill only two requests of 25 (14 of 40 seen in CI). At most half, then.
    expect(contest.size).toBe(40);
    const perRequest = sent.map((m) => m.filter((x) => contest.has(x)).length);
    expect(Math.max(...perRequest)).toBeLessThanOrEqual(20);
  }, 60_000);
});
