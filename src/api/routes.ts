/**
 * REST routes. Every handler validates its input first (so a bad address, query or body never
 * reaches the store or the scheduler) and answers JSON; errors are thrown as ApiError and turned
 * into `{ error, message }` by the server's error handler.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { CircuitOpenError, PriceSourceError, RateLimitedError } from '../sources/types.js';
import { ApiError, BadRequestError, NotFoundError } from './errors.js';
import type { SchedulerStatus } from '../scheduler/types.js';
import type { TtlCache } from './ttl-cache.js';
import type { ApiService } from './types.js';
import { calculatePriorityScore, effectiveTier } from '../core/tiers.js';
import { registerInsightRoutes } from './insight-routes.js';
import type { InsightOptions } from './insight.js';
import { emptyQuerySchema, parseAddress, parseListQuery, parseOrThrow, parseSettings } from './validation.js';

type Guard = (req: FastifyRequest, reply: FastifyReply) => Promise<void>;

const READINESS_TIMEOUT_MS = 3000;

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
    timer.unref();
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Admin routes take no query string and at most an empty JSON object as body. */
function rejectQueryAndBody(req: FastifyRequest): void {
  parseOrThrow(emptyQuerySchema, req.query, 'query');
  const body = req.body;
  if (body === undefined || body === null) return;
  if (typeof body === 'object' && !Array.isArray(body) && Object.keys(body).length === 0) return;
  throw new BadRequestError('body', 'this route takes no body');
}

function retryAfterSeconds(atMs: number | null, now: number): Record<string, string> {
  if (atMs === null) return {};
  return { 'retry-after': String(Math.max(1, Math.ceil((atMs - now) / 1000))) };
}

/** Maps price-client failures of a manual refresh to HTTP answers. */
function refreshFailure(err: unknown, now: number): unknown {
  if (err instanceof CircuitOpenError) {
    return new ApiError(503, 'circuit_open', err.message, retryAfterSeconds(err.retryAtMs, now));
  }
  if (err instanceof RateLimitedError) {
    return new ApiError(429, 'rate_limited', err.message, retryAfterSeconds(err.resetAtMs, now));
  }
  if (err instanceof PriceSourceError) return new ApiError(502, 'upstream_error', err.message);
  return err;
}

export interface RouteDeps {
  admin: Guard;
  openapi: Record<string, unknown>;
  /** Status snapshot, recomputed at most every few hundred ms. */
  status: TtlCache<SchedulerStatus>;
  /** Prometheus exposition text, recomputed at most once a second. */
  metricsText: TtlCache<string>;
  metricsContentType: string;
  /** Timers of the dashboard's insight (tests shorten them). */
  insight?: InsightOptions;
}

export function registerRoutes(app: FastifyInstance, service: ApiService, deps: RouteDeps): void {
  const { admin, openapi } = deps;

  app.get('/healthz', async () => ({ status: 'ok', now: service.clock.now() }));

  app.get('/readyz', async (req, reply) => {
    let checks = { db: false, migrations: false, scheduler: false };
    try {
      checks = await withTimeout(service.readiness(), READINESS_TIMEOUT_MS, 'readiness check');
    } catch (err) {
      req.log.warn({ err }, 'readiness check failed');
    }
    const ready = checks.db && checks.migrations && checks.scheduler;
    if (ready) return { status: 'ready', checks };
    const failing = Object.entries(checks)
      .filter(([, ok]) => !ok)
      .map(([k]) => k);
    return reply.code(503).send({
      error: 'not_ready',
      message: `not ready: ${failing.join(', ')} not ok`,
      checks,
    });
  });

  app.get('/metrics', async (_req, reply) => {
    const body = await deps.metricsText.get();
    return reply.header('content-type', deps.metricsContentType).send(body);
  });

  app.get('/api/v1/openapi.json', async () => openapi);

  app.get('/api/v1/status', async () => deps.status.get());

  app.get('/api/v1/recommendations', async () => service.recommendations());

  app.get('/api/v1/tokens', async (req) => {
    const q = parseListQuery(req.query);
    const page = await service.store.listTokens(q);
    // score: the seed's priority score (the token's weight); the stored priority_score is only the
    // manual boost inside it. The planned interval is the running policy's, when it is scheduled.
    const tokens = page.tokens.map((t) => ({
      ...t,
      tier: effectiveTier(t).name,
      score: calculatePriorityScore(t),
      planned_interval_seconds: service.tokenSchedule?.(t.address)?.plannedIntervalSeconds ?? null,
    }));
    return { total: page.total, limit: q.limit, offset: q.offset, tokens };
  });

  app.get('/api/v1/tokens/:address', async (req) => {
    const address = parseAddress(req.params);
    const token = await service.store.getToken(address);
    if (!token) throw new NotFoundError(`no token with address ${address}`);
    return token;
  });

  app.patch('/api/v1/tokens/:address/settings', { onRequest: admin }, async (req) => {
    const address = parseAddress(req.params);
    parseOrThrow(emptyQuerySchema, req.query, 'query');
    const settings = parseSettings(req.body);
    const token = await service.updateTokenSettings(address, settings);
    if (!token) throw new NotFoundError(`no token with address ${address}`);
    req.log.info(
      { event: 'token_settings_updated', address, fields: Object.keys(settings) },
      'settings updated',
    );
    return token;
  });

  app.post('/api/v1/tokens/:address/refresh', { onRequest: admin }, async (req) => {
    const address = parseAddress(req.params);
    rejectQueryAndBody(req);
    try {
      return await service.refreshToken(address);
    } catch (err) {
      throw refreshFailure(err, service.clock.now());
    }
  });

  registerInsightRoutes(app, service, deps.insight);

  app.get('/api/v1/cluster', { onRequest: admin }, async (req) => {
    rejectQueryAndBody(req);
    if (!service.clusterStatus) throw new NotFoundError('this service does not report a cluster');
    return service.clusterStatus();
  });

  app.post('/api/v1/scheduler/pause', { onRequest: admin }, async (req) => {
    rejectQueryAndBody(req);
    service.pause();
    req.log.info({ event: 'scheduler_paused' }, 'scheduler paused by admin');
    deps.status.invalidate();
    const status = service.status();
    return { paused: status.paused, status };
  });

  app.post('/api/v1/scheduler/resume', { onRequest: admin }, async (req) => {
    rejectQueryAndBody(req);
    service.resume();
    req.log.info({ event: 'scheduler_resumed' }, 'scheduler resumed by admin');
    deps.status.invalidate();
    const status = service.status();
    return { paused: status.paused, status };
  });
}
