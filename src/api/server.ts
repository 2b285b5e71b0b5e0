/**
 * The HTTP server: fastify 5 with the REST admin API, the WebSocket stream, /metrics, health
 * probes, the OpenAPI document and the dashboard.
 *
 * Hardening, in one place:
 * - body limit 64 KiB; only application/json bodies (text/plain parser removed → 415);
 *   prototype/constructor poisoning in JSON → 400;
 * - every error (ours, fastify's validation/404/413/415, unexpected) answers `{ error, message }`;
 *   5xx messages are generic (details go to the log, never to the client);
 * - no CORS headers; nosniff / no-referrer / DENY framing on every response;
 * - the Authorization header is never logged (fastify's request serializer omits headers, and the
 *   logger redacts it anyway should a header object be logged).
 */
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import fastifyWebsocket from '@fastify/websocket';
import { assertSafeBinding, createAdminGuard, isCrossOrigin, normaliseAdminToken } from './auth.js';
import { AdmissionGate, type AdmissionOptions } from './admission.js';
import { systemClock } from '../core/clock.js';
import { ApiError, codeForStatus, toApiError } from './errors.js';
import { ApiMetrics } from './metrics.js';
import { buildOpenApiDocument } from './openapi.js';
import { registerRoutes } from './routes.js';
import { registerDashboard } from './static.js';
import { CLOSE_GOING_AWAY, StreamHub, type StreamOptions, type StreamSocket } from './stream.js';
import { TtlCache } from './ttl-cache.js';
import type { ApiService } from './types.js';

export const DEFAULT_BODY_LIMIT = 64 * 1024;

export const REDACT_PATHS = [
  'req.headers.authorization',
  'request.headers.authorization',
  'headers.authorization',
  'authorization',
  'adminToken',
  'config.adminToken',
];

export interface ApiServerConfig {
  /** Bearer token for mutating routes; without one they only work on a loopback binding. */
  adminToken?: string;
  /** The host the server is (or will be) bound to; decides the no-token policy. */
  host: string;
  /** Max request body, bytes. Default 64 KiB. */
  bodyLimit?: number;
  /** CORS is off; `false` is the only accepted value (kept for explicitness). */
  cors?: false;
  /** A pino(-compatible) logger, or false for none. Default: pino at LOG_LEVEL or info. */
  logger?: FastifyBaseLogger | false;
  /** WebSocket stream tuning (tests shorten intervals / thresholds). */
  stream?: StreamOptions;
  /** Where the dashboard files are (default: the package's public/). */
  publicDir?: string;
  /** Export Node process metrics too. Default true. */
  defaultMetrics?: boolean;
  /**
   * Request-rate admission control (token bucket, real time) so an HTTP flood cannot take the
   * event loop from the scheduler; false disables it. Default 200 req/s, burst 100.
   */
  admission?: AdmissionOptions | false;
  /** Real-time TTL of the cached status snapshot, ms. Default 250. */
  statusCacheMs?: number;
  /** Real-time TTL of the cached /metrics text, ms. Default 1000. */
  metricsCacheMs?: number;
}

/** Probes and WebSocket upgrades bypass admission (the stream has its own client cap). */
function bypassesAdmission(url: string, upgrade: string | undefined): boolean {
  if (url === '/healthz' || url === '/readyz') return true;
  return url === '/api/v1/stream' && upgrade?.toLowerCase() === 'websocket';
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The stream hub (exposed for tests and graceful shutdown). */
    streamHub: StreamHub;
    apiMetrics: ApiMetrics;
  }
}

function loggerOptions(logger: ApiServerConfig['logger']): Record<string, unknown> {
  if (logger === false) return { logger: false };
  if (logger === undefined) {
    return {
      logger: {
        level: process.env['LOG_LEVEL'] ?? 'info',
        redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      },
    };
  }
  // A given pino instance: add redaction on a child (pino supports per-child redact).
  const child = logger.child({ component: 'api' }, {
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
  } as never);
  return { loggerInstance: child };
}

/** An error to log with every occurrence of the admin token blanked out of message and stack. */
function scrubSecret(err: Error, secret: string | undefined): Error {
  if (!secret || !`${err.message}\n${err.stack ?? ''}`.includes(secret)) return err;
  const copy = new Error(err.message.split(secret).join('[redacted]'));
  copy.name = err.name;
  copy.stack = (err.stack ?? '').split(secret).join('[redacted]');
  return copy;
}

const SECURITY_HEADERS: Record<string, string> = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

export async function buildServer(service: ApiService, config: ApiServerConfig): Promise<FastifyInstance> {
  if (config.cors !== undefined && config.cors !== false) {
    throw new TypeError('buildServer: cors must be false or omitted (CORS is not supported)');
  }
  const bodyLimit = config.bodyLimit ?? DEFAULT_BODY_LIMIT;
  if (!Number.isInteger(bodyLimit) || bodyLimit < 1024) {
    throw new RangeError(`buildServer: bodyLimit must be an integer >= 1024 bytes, got ${bodyLimit}`);
  }
  const adminToken = normaliseAdminToken(config.adminToken);

  const app = Fastify({
    ...loggerOptions(config.logger),
    bodyLimit,
    routerOptions: { maxParamLength: 1024 },
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    return503OnClosing: true,
    requestIdHeader: false,
    trustProxy: false,
  }) as unknown as FastifyInstance;

  app.removeContentTypeParser('text/plain');

  app.addHook('onSend', async (_req, reply, payload) => {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) reply.header(k, v);
    if (!reply.hasHeader('cache-control')) reply.header('cache-control', 'no-store');
    return payload;
  });

  app.setErrorHandler((err: FastifyError, req, reply) => {
    const apiError = toApiError(err);
    if (apiError) {
      return reply.code(apiError.statusCode).headers(apiError.headers).send(apiError.toBody());
    }
    if (err.validation) {
      return reply.code(400).send({ error: 'bad_request', message: err.message });
    }
    const status = typeof err.statusCode === 'number' && err.statusCode >= 400 ? err.statusCode : 500;
    if (status >= 500) {
      req.log.error({ err: scrubSecret(err, adminToken) }, 'request failed');
      return reply.code(status).send({ error: 'internal', message: 'internal error; see the server log' });
    }
    let message = err.message;
    if (status === 413) message = `request body is larger than the ${bodyLimit}-byte limit`;
    if (status === 415) message = 'unsupported Content-Type: send application/json';
    return reply.code(status).send({ error: codeForStatus(status), message });
  });

  app.setNotFoundHandler(async (req, reply) => {
    const url = req.url.length > 200 ? `${req.url.slice(0, 200)}…` : req.url;
    return reply.code(404).send({ error: 'not_found', message: `no route ${req.method} ${url}` });
  });

  const metrics = new ApiMetrics(service, { defaultMetrics: config.defaultMetrics });
  const hub = new StreamHub(service, config.stream, app.log);
  app.decorate('streamHub', hub);
  app.decorate('apiMetrics', metrics);

  await app.register(fastifyWebsocket, {
    options: { maxPayload: 4096 },
    // Replaces the plugin's default: the hub says goodbye (1001) to its clients, anything left is
    // closed too, and a client that does not answer the close frame is cut after a second.
    preClose: async function (this: FastifyInstance) {
      hub.close();
      for (const client of this.websocketServer.clients) {
        client.close(CLOSE_GOING_AWAY, 'server shutting down');
        setTimeout(() => client.terminate(), 1000).unref();
      }
      this.websocketServer.close();
    },
  });

  app.route({
    method: 'GET',
    url: '/api/v1/stream',
    onRequest: async (req) => {
      if (isCrossOrigin(req)) {
        throw new ApiError(403, 'forbidden', 'cross-origin WebSocket connections are refused');
      }
    },
    handler: async () => {
      throw new ApiError(426, 'upgrade_required', 'this is a WebSocket endpoint: connect with ws://', {
        upgrade: 'websocket',
      });
    },
    wsHandler: (socket: StreamSocket) => {
      hub.add(socket);
    },
  });

  // Real time on purpose: these protect CPU, which is spent in real time whatever the service
  // clock says (tests drive the service on a ManualClock).
  const gate = config.admission === false ? null : new AdmissionGate(systemClock, config.admission);
  if (gate) {
    metrics.attachAdmission(gate);
    app.addHook('onRequest', async (req) => {
      if (bypassesAdmission(req.url, req.headers.upgrade)) return;
      const wait = gate.acquire();
      if (wait) await wait;
    });
  }
  const statusCache = new TtlCache(systemClock, config.statusCacheMs ?? 250, () => service.status());
  const metricsCache = new TtlCache(systemClock, config.metricsCacheMs ?? 1000, () => metrics.scrape());

  registerRoutes(app, service, {
    admin: createAdminGuard({ adminToken, host: config.host }),
    openapi: buildOpenApiDocument(),
    status: statusCache,
    metricsText: metricsCache,
    metricsContentType: metrics.contentType,
  });
  await registerDashboard(app, config.publicDir);

  app.addHook('onClose', async () => {
    gate?.close();
    hub.close();
    metrics.dispose();
  });

  return app;
}

export interface StartApiServerOptions {
  host: string;
  port: number;
  adminToken?: string;
  logger?: FastifyBaseLogger | false;
  stream?: StreamOptions;
  bodyLimit?: number;
  publicDir?: string;
  admission?: AdmissionOptions | false;
}

export interface RunningApiServer {
  /** Base URL, e.g. http://127.0.0.1:8080 */
  url: string;
  app: FastifyInstance;
  close(): Promise<void>;
}

/** Builds and listens; refuses a non-loopback host without an admin token (UnsafeBindingError). */
export async function startApiServer(
  service: ApiService,
  opts: StartApiServerOptions,
): Promise<RunningApiServer> {
  assertSafeBinding(opts.host, opts.adminToken);
  if (!Number.isInteger(opts.port) || opts.port < 0 || opts.port > 65535) {
    throw new RangeError(`startApiServer: port must be an integer 0..65535, got ${opts.port}`);
  }
  const app = await buildServer(service, {
    host: opts.host,
    adminToken: opts.adminToken,
    logger: opts.logger,
    stream: opts.stream,
    bodyLimit: opts.bodyLimit,
    publicDir: opts.publicDir,
    admission: opts.admission,
  });
  await app.listen({ host: opts.host, port: opts.port });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  const hostForUrl = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  let closed: Promise<void> | null = null;
  return {
    url: `http://${hostForUrl}:${port}`,
    app,
    close: () => (closed ??= app.close()),
  };
}
