import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import type { Store } from '../../src/store/types.js';
import { TOKEN_LIMITS } from '../../src/core/limits.js';
import { StoreInputError, TokenValidationError } from '../../src/store/errors.js';
import { ADDRESSES, ADMIN_TOKEN, FakeService, openAdminApp, snapshotStore } from './api-helpers.js';

const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
const GOOD = ADDRESSES[0]!;

/** Malformed `:address` values, URL-encoded as a client would send them. */
const BAD_ADDRESSES: Array<[string, string]> = [
  ['path traversal', '..%2F..%2F..%2Fetc%2Fpasswd'],
  ['encoded dot-dot', '%2E%2E%2F%2E%2E'],
  ['backslash traversal', '..%5C..%5Cwindows'],
  ['SQL injection', encodeURIComponent("1' OR '1'='1")],
  ['SQL drop', encodeURIComponent('So111; DROP TABLE tokens;--')],
  ['SQL comment', encodeURIComponent(`${GOOD}'--`)],
  ['too long (45)', '1'.repeat(45)],
  ['far too long (600)', 'A'.repeat(600)],
  ['too short (31)', '1'.repeat(31)],
  ['non-base58 0', `0${GOOD.slice(1)}`],
  ['non-base58 O I l', 'OIl' + GOOD.slice(3)],
  ['NUL byte', `${GOOD.slice(0, 40)}%00`],
  ['unicode', encodeURIComponent('Ѕо1111111111111111111111111111111111')],
  ['whitespace', encodeURIComponent(` ${GOOD}`)],
];

describe('input validation: every bad input is a 4xx that changes nothing', () => {
  let store: Store;
  let service: FakeService;
  let app: FastifyInstance;
  let before: string;

  beforeAll(async () => {
    ({ store, service, app, before } = await openAdminApp());
  });
  afterAll(async () => {
    await app.close();
    await store.close();
  });
  afterEach(async () => {
    expect(service.calls).toEqual([]);
    expect(await snapshotStore(store)).toBe(before);
  });

  const expectError = (
    res: { statusCode: number; json(): unknown },
    status: number,
    error: string,
  ): { message: string } => {
    expect(res.statusCode).toBe(status);
    const body = res.json() as { error: string; message: string };
    expect(body.error).toBe(error);
    expect(typeof body.message).toBe('string');
    expect(body.message.length).toBeGreaterThan(0);
    return body;
  };

  describe(':address', () => {
    for (const [name, addr] of BAD_ADDRESSES) {
      it(`${name}: 400 on GET, PATCH settings and POST refresh, before the store is touched`, async () => {
        const get = await app.inject({ method: 'GET', url: `/api/v1/tokens/${addr}` });
        expect(expectError(get, 400, 'bad_request').message).toContain('params.address');
        const patch = await app.inject({
          method: 'PATCH',
          url: `/api/v1/tokens/${addr}/settings`,
          headers: auth,
          payload: { priority_score: 1 },
        });
        expectError(patch, 400, 'bad_request');
        const refresh = await app.inject({
          method: 'POST',
          url: `/api/v1/tokens/${addr}/refresh`,
          headers: auth,
        });
        expectError(refresh, 400, 'bad_request');
      });
    }

    it('a raw ../ path never reaches a handler (404)', async () => {
      const res = await app.inject({ method: 'GET', url: '/api/v1/tokens/../../etc/passwd' });
      expect(res.statusCode).toBeGreaterThanOrEqual(400);
      expect(res.statusCode).toBeLessThan(500);
      expect(res.json()).toHaveProperty('error');
    });
  });

  describe('PATCH settings body', () => {
    const url = `/api/v1/tokens/${GOOD}/settings`;
    const bodies: Array<[string, unknown, string]> = [
      ['unknown field', { priority_score: 1, rank: 1 }, 'rank'],
      ['only unknown field', { is_admin: true }, 'is_admin'],
      ['empty object', {}, 'at least one'],
      ['interval below 15', { refresh_interval_seconds: 14 }, 'refresh_interval_seconds'],
      ['interval above 3600', { refresh_interval_seconds: 3601 }, 'refresh_interval_seconds'],
      ['fractional interval', { refresh_interval_seconds: 15.5 }, 'refresh_interval_seconds'],
      ['interval as string', { refresh_interval_seconds: '60' }, 'refresh_interval_seconds'],
      ['interval as bool', { refresh_interval_seconds: true }, 'refresh_interval_seconds'],
      ['negative interval', { refresh_interval_seconds: -60 }, 'refresh_interval_seconds'],
      ['priority fractional (issue 11.6: was a 500)', { priority_score: 1.5 }, 'priority_score'],
      [
        'priority one above the maximum',
        { priority_score: TOKEN_LIMITS.priority_score.max + 1 },
        'priority_score',
      ],
      [
        'priority one below the minimum',
        { priority_score: TOKEN_LIMITS.priority_score.min - 1 },
        'priority_score',
      ],
      ['priority too big', { priority_score: 1e9 }, 'priority_score'],
      ['priority too small', { priority_score: -1e9 }, 'priority_score'],
      ['priority overflow to Infinity', '{"priority_score": 1e400}', 'priority_score'],
      ['priority as string', { priority_score: '5' }, 'priority_score'],
      ['priority null', { priority_score: null }, 'priority_score'],
      ['is_active as string', { is_active: 'true' }, 'is_active'],
      ['is_active as number', { is_active: 1 }, 'is_active'],
      ['metadata array', { metadata: [1, 2] }, 'metadata'],
      ['metadata string', { metadata: 'x' }, 'metadata'],
      ['metadata null', { metadata: null }, 'metadata'],
      [
        'metadata too many keys',
        { metadata: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, i])) },
        'metadata',
      ],
      ['body array', [{ priority_score: 1 }], 'body'],
      ['body number', 42, 'body'],
      ['body string', '"hello"', 'body'],
      ['body null', 'null', 'body'],
    ];
    for (const [name, payload, mention] of bodies) {
      it(`${name} → 400 naming ${mention}`, async () => {
        const res = await app.inject({
          method: 'PATCH',
          url,
          headers: { ...auth, 'content-type': 'application/json' },
          payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
        });
        expect(expectError(res, 400, 'bad_request').message).toContain(mention);
      });
    }

    it('invalid JSON → 400', async () => {
      const res = await app.inject({
        method: 'PATCH',
        url,
        headers: { ...auth, 'content-type': 'application/json' },
        payload: '{"priority_score": ',
      });
      expectError(res, 400, 'bad_request');
    });

    it('prototype poisoning → 400', async () => {
      const res = await app.inject({
        method: 'PATCH',
        url,
        headers: { ...auth, 'content-type': 'application/json' },
        payload: '{"priority_score": 1, "__proto__": {"is_admin": true}}',
      });
      expectError(res, 400, 'bad_request');
      const ctor = await app.inject({
        method: 'PATCH',
        url,
        headers: { ...auth, 'content-type': 'application/json' },
        payload: '{"priority_score": 1, "constructor": {"prototype": {"x": 1}}}',
      });
      expectError(ctor, 400, 'bad_request');
    });

    it('no body → 400', async () => {
      const res = await app.inject({ method: 'PATCH', url, headers: auth });
      expect(expectError(res, 400, 'bad_request').message).toContain('body');
    });

    it('empty body with a JSON content type → 400', async () => {
      const res = await app.inject({
        method: 'PATCH',
        url,
        headers: { ...auth, 'content-type': 'application/json' },
        payload: '',
      });
      expectError(res, 400, 'bad_request');
    });

    it('oversized body (over 64 KiB) → 413', async () => {
      const res = await app.inject({
        method: 'PATCH',
        url,
        headers: { ...auth, 'content-type': 'application/json' },
        payload: JSON.stringify({ metadata: { blob: 'x'.repeat(70 * 1024) } }),
      });
      expect(expectError(res, 413, 'payload_too_large').message).toContain('65536');
    });

    for (const type of [
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/xml',
    ]) {
      it(`Content-Type ${type} → 415`, async () => {
        const res = await app.inject({
          method: 'PATCH',
          url,
          headers: { ...auth, 'content-type': type },
          payload: 'priority_score=5',
        });
        expectError(res, 415, 'unsupported_media_type');
      });
    }

    it('a query string on PATCH → 400', async () => {
      const res = await app.inject({
        method: 'PATCH',
        url: `${url}?priority_score=5`,
        headers: auth,
        payload: { is_active: true },
      });
      expectError(res, 400, 'bad_request');
    });
  });

  describe('other admin routes take no body and no query', () => {
    it('POST refresh with a body → 400', async () => {
      const res = await app.inject({
        method: 'POST',
        url: `/api/v1/tokens/${GOOD}/refresh`,
        headers: auth,
        payload: { force: true },
      });
      expectError(res, 400, 'bad_request');
    });
    it('POST pause with a query → 400', async () => {
      const res = await app.inject({ method: 'POST', url: '/api/v1/scheduler/pause?now=1', headers: auth });
      expectError(res, 400, 'bad_request');
    });
    it('POST resume with text/plain → 415', async () => {
      const res = await app.inject({
        method: 'POST',
        url: '/api/v1/scheduler/resume',
        headers: { ...auth, 'content-type': 'text/plain' },
        payload: 'go',
      });
      expectError(res, 415, 'unsupported_media_type');
    });
  });

  describe('GET /api/v1/tokens query', () => {
    const queries: Array<[string, string]> = [
      ['limit=0', 'limit'],
      ['limit=501', 'limit'],
      ['limit=-1', 'limit'],
      ['limit=abc', 'limit'],
      ['limit=1.5', 'limit'],
      ['limit=', 'limit'],
      ['limit=1&limit=2', 'limit'],
      ['offset=-1', 'offset'],
      ['offset=1e3', 'offset'],
      ['sort=password', 'sort'],
      [`sort=${encodeURIComponent('id; DROP TABLE tokens')}`, 'sort'],
      [`sort=${encodeURIComponent('rank desc, (select 1)')}`, 'sort'],
      ['order=up', 'order'],
      [`order=${encodeURIComponent('asc; --')}`, 'order'],
      [`search=${'a'.repeat(65)}`, 'search'],
      [`search=${encodeURIComponent('a\u0000b')}`, 'search'],
      ['unknown=1', 'unknown'],
    ];
    for (const [q, mention] of queries) {
      it(`?${q.slice(0, 40)} → 400 naming ${mention}`, async () => {
        const res = await app.inject({ method: 'GET', url: `/api/v1/tokens?${q}` });
        expect(expectError(res, 400, 'bad_request').message).toContain(mention);
      });
    }

    it('SQL-looking search text is just text (no match, no error)', async () => {
      const res = await app.inject({
        method: 'GET',
        url: `/api/v1/tokens?search=${encodeURIComponent("%' OR 1=1 --")}`,
      });
      expect(res.statusCode).toBe(200);
      expect(res.json().total).toBe(0);
    });
  });

  describe('a value the store refuses is a 400, never a 500', () => {
    const url = `/api/v1/tokens/${GOOD}/settings`;
    const patch = (payload: unknown) =>
      app.inject({
        method: 'PATCH',
        url,
        headers: { ...auth, 'content-type': 'application/json' },
        payload: JSON.stringify(payload),
      });

    it('the limits at both ends are accepted (200) and stored', async () => {
      const store2 = await openAdminApp();
      try {
        for (const v of [TOKEN_LIMITS.priority_score.min, TOKEN_LIMITS.priority_score.max]) {
          const res = await store2.app.inject({
            method: 'PATCH',
            url,
            headers: { ...auth, 'content-type': 'application/json' },
            payload: JSON.stringify({ priority_score: v }),
          });
          expect(res.statusCode).toBe(200);
          expect(res.json().priority_score).toBe(v);
        }
      } finally {
        await store2.app.close();
        await store2.store.close();
      }
    });

    for (const err of [
      new TokenValidationError(null, 'priority_score', 'must be an integer from -100000 to 100000', 1.5),
      new StoreInputError('limit', 'limit must be an integer from 1 to 1000'),
    ]) {
      it(`${err.name} from the store → 400 with the store's message`, async () => {
        const original = service.updateTokenSettings.bind(service);
        service.updateTokenSettings = async () => {
          throw err;
        };
        try {
          const res = await patch({ is_active: true });
          expect(expectError(res, 400, 'bad_request').message).toBe(err.message);
        } finally {
          service.updateTokenSettings = original;
        }
      });
    }
  });
});
