/**
 * Routes behind the dashboard's charts and token view:
 *
 * - GET /api/v1/insight                      what the policy buys (J per policy, live and per
 *                                            plan) and where the budget goes (interval vs weight/σ)
 * - GET /api/v1/insight/history?since=MS     the last hour of chart samples (a reload loads it)
 * - GET /api/v1/tokens/:address/history      price history, newest first, paged by `to`
 * - GET /api/v1/tokens/:address/schedule     the scheduler's facts for one token + last error
 * - GET /api/v1/insight/cluster              the instances, their partitions and the budget use:
 *                                            /api/v1/cluster without admin auth, cached 2 s
 *
 * Everything heavy is computed on Insight's timers; these handlers read caches, one indexed
 * range scan (history) or one map lookup (schedule).
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { MAX_HISTORY_LIMIT } from '../store/types.js';
import { ApiError, NotFoundError } from './errors.js';
import { Insight, type InsightOptions } from './insight.js';
import { TtlCache } from './ttl-cache.js';
import type { ApiService, ClusterStatusView } from './types.js';
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

/**
 * How long the public cluster view is reused. A cluster member's view is two queries
 * (cluster_instances, partition leases); the dashboard polls every 5 s, so with 2 s a page full
 * of open dashboards costs the database at most one view per 2 s, and the page never sees one
 * older than its own heartbeat period (leases renew every lease / 3 = 3.3 s by default).
 */
export const CLUSTER_VIEW_CACHE_MS = 2_000;

/** The view and the service-clock time it was read (heartbeat ages are taken against it). */
export type PublicClusterView = ClusterStatusView & { at: number };

type ClusterRead = { ok: true; view: PublicClusterView } | { ok: false };

/**
 * The read-only cluster view behind the dashboard's Instances panel. It holds no secret
 * (instance ids, partition numbers, rates), so it needs no admin token, unlike
 * /api/v1/cluster. A failed read is cached like a good one: a database that does not answer
 * is asked again after 2 s, not once per request.
 */
function registerPublicCluster(app: FastifyInstance, service: ApiService): void {
  const clusterStatus = service.clusterStatus?.bind(service);
  if (!clusterStatus) {
    app.get('/api/v1/insight/cluster', async () => {
      throw new NotFoundError('this service does not report a cluster');
    });
    return;
  }
  const cache = new TtlCache<ClusterRead>(service.clock, CLUSTER_VIEW_CACHE_MS, async () => {
    const at = service.clock.now();
    try {
      return { ok: true, view: { ...(await clusterStatus()), at } };
    } catch (err) {
      app.log.warn({ err }, 'dashboard cluster view: reading the cluster failed; retrying in 2 s');
      return { ok: false };
    }
  });
  app.get('/api/v1/insight/cluster', async (req) => {
    parseOrThrow(z.strictObject({}), req.query, 'query');
    const read = await cache.get();
    if (read.ok) return read.view;
    throw new ApiError(503, 'service_unavailable', 'the cluster view could not be read; retry shortly', {
      'retry-after': String(CLUSTER_VIEW_CACHE_MS / 1000),
    });
  });
}

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

  registerPublicCluster(app, service);

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
