/**
 * Routes behind the dashboard's charts and token view:
 *
 * - GET /api/v1/insight                      what the policy buys (J per policy, live and per
 *                                            plan) and where the budget goes (interval vs weight/σ)
 * - GET /api/v1/insight/history?since=MS     the last hour of chart samples (a reload loads it)
 * - GET /api/v1/tokens/:address/history      price history, newest first, paged by `to`
 * - GET /api/v1/tokens/:address/schedule     the scheduler's facts for one token + last error
 *
 * Everything heavy is computed on Insight's timers; these handlers read caches, one indexed
 * range scan (history) or one map lookup (schedule).
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { MAX_HISTORY_LIMIT } from '../store/types.js';
import { NotFoundError } from './errors.js';
import { Insight, type InsightOptions } from './insight.js';
import type { ApiService } from './types.js';
import { parseAddress, parseOrThrow } from './validation.js';

export const HISTORY_DEFAULT_LIMIT = 200;

/** Epoch milliseconds in a query string: digits only, up to year 2286 (13 digits). */
const epochMs = z
  .string()
  .regex(/^\d{1,13}$/, 'must be epoch milliseconds (a non-negative integer)')
  .transform(Number);

export const historyQuerySchema = z.strictObject({
  from: epochMs.optional(),
  to: epochMs.optional(),
  limit: z
    .string()
    .regex(/^\d{1,4}$/, `must be an integer from 1 to ${MAX_HISTORY_LIMIT}`)
    .transform(Number)
    .pipe(
      z.number().min(1, 'must be at least 1').max(MAX_HISTORY_LIMIT, `must be at most ${MAX_HISTORY_LIMIT}`),
    )
    .optional(),
});

const sinceQuerySchema = z.strictObject({ since: epochMs.optional() });

export function registerInsightRoutes(
  app: FastifyInstance,
  service: ApiService,
  opts: InsightOptions = {},
): Insight {
  const insight = new Insight(service, {
    onError: (err) => app.log.warn({ err }, 'dashboard insight: a projection or sample failed; will retry'),
    ...opts,
  });
  insight.start();
  app.addHook('onClose', async () => insight.stop());

  app.get('/api/v1/insight', async () => ({ ...insight.current(), supported: insight.supported }));

  app.get('/api/v1/insight/history', async (req) => {
    const q = parseOrThrow(sinceQuerySchema, req.query, 'query');
    return { resolutionMs: opts.sampleEveryMs ?? 5_000, samples: insight.history.since(q.since) };
  });

  app.get('/api/v1/tokens/:address/history', async (req) => {
    const address = parseAddress(req.params);
    const q = parseOrThrow(historyQuerySchema, req.query, 'query');
    const token = await service.store.getToken(address);
    if (!token) throw new NotFoundError(`no token with address ${address}`);
    const limit = q.limit ?? HISTORY_DEFAULT_LIMIT;
    const points = await service.store.getPriceHistory(token.id, { from: q.from, to: q.to, limit });
    // A full page may have older rows: `next` is the `to` of the next (older) page.
    const next = points.length === limit ? points[points.length - 1]!.t : null;
    return { address, points, next };
  });

  app.get('/api/v1/tokens/:address/schedule', async (req) => {
    const address = parseAddress(req.params);
    parseOrThrow(z.strictObject({}), req.query, 'query');
    const facts = service.tokenSchedule?.(address) ?? null;
    if (facts === null && !(await service.store.getToken(address))) {
      throw new NotFoundError(`no token with address ${address}`);
    }
    return { address, scheduled: facts !== null, schedule: facts, lastError: insight.lastError(address) };
  });

  return insight;
}
