/**
 * The OpenAPI 3.1 document served at /api/v1/openapi.json. Hand-written for the routes and
 * responses; the settings body schema is generated from the same zod schema that validates it,
 * so the document cannot drift from what the server accepts.
 */
import { z } from 'zod';
import { LIMITS, TOKEN_SORT_FIELDS, settingsBodySchema } from './validation.js';
import { MAX_HISTORY_LIMIT } from '../store/types.js';
import { HISTORY_DEFAULT_LIMIT } from './insight-routes.js';

const json = (schema: Record<string, unknown>, description: string) => ({
  description,
  content: { 'application/json': { schema } },
});
const errorRef = { $ref: '#/components/schemas/Error' };
const err = (description: string) => json(errorRef, description);
const anyObject = { type: 'object', additionalProperties: true };

const addressParam = {
  name: 'address',
  in: 'path',
  required: true,
  description: 'Base58 Solana mint address (32–44 characters)',
  schema: { type: 'string', pattern: '^[1-9A-HJ-NP-Za-km-z]{32,44}$' },
};

const msParam = (name: string, description: string) => ({
  name,
  in: 'query',
  description,
  schema: { type: 'integer', minimum: 0 },
});

const clusterSchema = {
  type: 'object',
  required: ['instanceId', 'partitionCount', 'instances', 'budget'],
  properties: {
    instanceId: { type: 'string' },
    partitionCount: { type: 'integer' },
    instances: {
      type: 'array',
      items: {
        type: 'object',
        required: ['id', 'partitions', 'heartbeatAt', 'requestsPerMinute', 'mu'],
        properties: {
          id: { type: 'string' },
          partitions: { type: 'array', items: { type: 'integer', minimum: 0, maximum: 63 } },
          heartbeatAt: { type: 'number', description: 'epoch ms' },
          requestsPerMinute: { type: ['number', 'null'], description: 'requests started in the last 60 s' },
          mu: { type: ['number', 'null'] },
        },
      },
    },
    budget: {
      type: 'object',
      required: ['requestsPerMinute', 'usedLastMinute'],
      properties: { requestsPerMinute: { type: 'number' }, usedLastMinute: { type: 'number' } },
    },
  },
};

const publicClusterSchema = {
  ...clusterSchema,
  required: [...clusterSchema.required, 'at'],
  properties: {
    ...clusterSchema.properties,
    at: { type: 'number', description: 'epoch ms the view was read (it is reused for 2 s)' },
  },
};

const adminErrors = {
  '401': err('No `Authorization: Bearer` admin token was sent'),
  '403': err('Wrong admin token, cross-origin request, or admin routes disabled'),
};

export function buildOpenApiDocument(version = '0.1.0'): Record<string, unknown> {
  const settingsSchema = z.toJSONSchema(settingsBodySchema, { io: 'input', unrepresentable: 'any' });
  delete (settingsSchema as Record<string, unknown>)['$schema'];
  return {
    openapi: '3.1.0',
    info: {
      title: 'token-refresh-scheduler admin API',
      version,
      description:
        'Monitoring and control of the token price refresh scheduler. Mutating routes need ' +
        '`Authorization: Bearer $TOKEN_REFRESH_ADMIN_TOKEN`. Errors are `{ error, message }`. ' +
        'Over the request-rate limit (default 200/s) a request waits its turn or, if that would ' +
        'take too long, gets 503 `overloaded` with Retry-After (probes are exempt).',
    },
    components: {
      securitySchemes: { adminToken: { type: 'http', scheme: 'bearer' } },
      schemas: {
        Error: {
          type: 'object',
          required: ['error', 'message'],
          properties: {
            error: { type: 'string', description: 'Short code, e.g. bad_request, not_found' },
            message: { type: 'string' },
          },
        },
        Token: anyObject,
        Status: anyObject,
        Settings: settingsSchema,
        RefreshOutcome: {
          type: 'object',
          required: ['address', 'refreshed', 'price', 'changed'],
          properties: {
            address: { type: 'string' },
            refreshed: { type: 'boolean' },
            price: { type: ['number', 'null'] },
            changed: { type: 'boolean' },
            reason: { type: 'string' },
          },
        },
      },
    },
    paths: {
      '/healthz': {
        get: { summary: 'Liveness', responses: { '200': json(anyObject, 'The process is up') } },
      },
      '/readyz': {
        get: {
          summary: 'Readiness: database reachable, migrations applied, scheduler running',
          responses: {
            '200': json(anyObject, 'Ready'),
            '503': json(anyObject, 'Not ready; `checks` says which part failed'),
          },
        },
      },
      '/metrics': {
        get: {
          summary: 'Prometheus metrics',
          responses: { '200': { description: 'Text exposition format', content: { 'text/plain': {} } } },
        },
      },
      '/': {
        get: {
          summary: 'Live dashboard (HTML)',
          responses: { '200': { description: 'The dashboard page', content: { 'text/html': {} } } },
        },
      },
      '/api/v1/status': {
        get: {
          summary: 'Scheduler status snapshot',
          responses: { '200': json({ $ref: '#/components/schemas/Status' }, 'Status') },
        },
      },
      '/api/v1/recommendations': {
        get: {
          summary: 'Tier distribution, per-tier recommendations and plan projections',
          responses: { '200': json(anyObject, 'Recommendations') },
        },
      },
      '/api/v1/tokens': {
        get: {
          summary: 'List tokens with their stored price',
          parameters: [
            {
              name: 'limit',
              in: 'query',
              schema: {
                type: 'integer',
                minimum: 1,
                maximum: LIMITS.listLimitMax,
                default: LIMITS.listLimitDefault,
              },
            },
            { name: 'offset', in: 'query', schema: { type: 'integer', minimum: 0, default: 0 } },
            { name: 'sort', in: 'query', schema: { type: 'string', enum: TOKEN_SORT_FIELDS, default: 'id' } },
            { name: 'order', in: 'query', schema: { type: 'string', enum: ['asc', 'desc'], default: 'asc' } },
            {
              name: 'search',
              in: 'query',
              description: 'Case-insensitive substring of address, symbol or name',
              schema: { type: 'string', maxLength: LIMITS.searchMaxLength },
            },
          ],
          responses: {
            '200': json(
              {
                type: 'object',
                properties: {
                  total: { type: 'integer' },
                  limit: { type: 'integer' },
                  offset: { type: 'integer' },
                  tokens: { type: 'array', items: { $ref: '#/components/schemas/Token' } },
                },
              },
              'A page of tokens',
            ),
            '400': err('Bad query parameter'),
          },
        },
      },
      '/api/v1/tokens/{address}': {
        get: {
          summary: 'One token with its stored price',
          parameters: [addressParam],
          responses: {
            '200': json({ $ref: '#/components/schemas/Token' }, 'The token'),
            '400': err('Malformed address'),
            '404': err('No such token'),
          },
        },
      },
      '/api/v1/tokens/{address}/history': {
        get: {
          summary: "A token's price history, newest first (a row whenever the price changed), paged",
          parameters: [
            addressParam,
            msParam('from', 'Inclusive lower bound, epoch ms'),
            msParam('to', 'Exclusive upper bound, epoch ms: pass `next` of the previous page'),
            {
              name: 'limit',
              in: 'query',
              description: `Points per page, 1..${MAX_HISTORY_LIMIT} (default ${HISTORY_DEFAULT_LIMIT})`,
              schema: { type: 'integer', minimum: 1, maximum: MAX_HISTORY_LIMIT },
            },
          ],
          responses: {
            '200': json(
              {
                type: 'object',
                required: ['address', 'points', 'next'],
                properties: {
                  address: { type: 'string' },
                  points: {
                    type: 'array',
                    items: {
                      type: 'object',
                      required: ['t', 'price', 'source'],
                      properties: {
                        t: { type: 'integer', description: 'epoch ms' },
                        price: { type: 'number' },
                        source: { type: 'string' },
                      },
                    },
                  },
                  next: {
                    type: ['integer', 'null'],
                    description: '`to` of the next older page; null on the last',
                  },
                },
              },
              'Newest first',
            ),
            '400': err('Malformed address, bound or limit, or an unknown parameter'),
            '404': err('No such token'),
          },
        },
      },
      '/api/v1/tokens/{address}/schedule': {
        get: {
          summary:
            "The scheduler's facts for one token: tier, weight, planned interval, learned volatility, failures, last error",
          parameters: [addressParam],
          responses: {
            '200': json(
              anyObject,
              '`scheduled: false` with `schedule: null` when the token is not scheduled',
            ),
            '400': err('Malformed address'),
            '404': err('No such token'),
          },
        },
      },
      '/api/v1/insight': {
        get: {
          summary:
            'What the policy buys: projected staleness J of the optimal, tiered and uniform policies on the live budget and on every plan; planned interval against weight and volatility for a sample of tokens',
          responses: { '200': json(anyObject, 'Recomputed every 15 s (plans every 60 s)') },
        },
      },
      '/api/v1/insight/history': {
        get: {
          summary: "The dashboard charts' last hour (one sample per 5 s, kept in memory)",
          parameters: [msParam('since', 'Only samples at or after this epoch ms')],
          responses: {
            '200': json(anyObject, '`{ resolutionMs, samples }`, oldest first'),
            '400': err('Malformed `since` or an unknown parameter'),
          },
        },
      },
      '/api/v1/insight/cluster': {
        get: {
          summary:
            "The dashboard's read-only copy of GET /api/v1/cluster (no admin token: it holds no " +
            'secret), read at most once per 2 s whatever the number of callers, with `at`, the epoch ' +
            'ms it was read',
          responses: {
            '200': json(publicClusterSchema, 'The cluster, as read at `at`'),
            '400': err('An unknown query parameter'),
            '404': err('This service does not report a cluster'),
            '503': err('The cluster could not be read (database); retried after 2 s'),
          },
        },
      },
      '/api/v1/tokens/{address}/settings': {
        patch: {
          summary: "Change a token's refresh settings",
          security: [{ adminToken: [] }],
          parameters: [addressParam],
          requestBody: {
            required: true,
            content: { 'application/json': { schema: { $ref: '#/components/schemas/Settings' } } },
          },
          responses: {
            '200': json({ $ref: '#/components/schemas/Token' }, 'The updated token'),
            '400': err('Malformed address or body (unknown field, out of range, empty)'),
            ...adminErrors,
            '404': err('No such token'),
            '413': err('Body larger than the limit'),
            '415': err('Content-Type is not application/json'),
          },
        },
      },
      '/api/v1/tokens/{address}/refresh': {
        post: {
          summary: "Refresh one token's price now (through the rate limiter, first in line)",
          security: [{ adminToken: [] }],
          parameters: [addressParam],
          responses: {
            '200': json({ $ref: '#/components/schemas/RefreshOutcome' }, 'What the refresh did'),
            '400': err('Malformed address'),
            ...adminErrors,
            '404': err('No such token'),
            '429': err('The price API rate limit is exhausted; see Retry-After'),
            '502': err('The price API failed'),
            '503': err('The price API circuit is open; see Retry-After'),
          },
        },
      },
      '/api/v1/scheduler/pause': {
        post: {
          summary: 'Pause scheduling (in-flight batch completes)',
          security: [{ adminToken: [] }],
          responses: { '200': json(anyObject, 'Paused'), ...adminErrors },
        },
      },
      '/api/v1/scheduler/resume': {
        post: {
          summary: 'Resume scheduling',
          security: [{ adminToken: [] }],
          responses: { '200': json(anyObject, 'Resumed'), ...adminErrors },
        },
      },
      '/api/v1/cluster': {
        get: {
          summary:
            'The instances sharing this database: which partitions (of 64) each holds, its last ' +
            'heartbeat, requests per minute and planner multiplier mu, and the shared request budget. ' +
            'A single process (or the embedded database) answers a cluster of one.',
          security: [{ adminToken: [] }],
          responses: { '200': json(clusterSchema, 'The cluster'), ...adminErrors },
        },
      },
      '/api/v1/stream': {
        get: {
          summary:
            'WebSocket: JSON messages {type, ts, ...}; type is status (every second), batch, price, ' +
            'circuit, rate-limited, token:failed or token:deactivated. Slow clients are closed with 1013.',
          responses: { '101': { description: 'Switching protocols' }, '403': err('Cross-origin') },
        },
      },
      '/api/v1/openapi.json': {
        get: { summary: 'This document', responses: { '200': json(anyObject, 'OpenAPI 3.1 document') } },
      },
    },
  };
}
