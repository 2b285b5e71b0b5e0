/**
 * The Jupiter-compatible market simulator as a library: `startMarket()` serves `/price/v3` and
 * `/price/v2` over node:http for a synthetic universe, enforces a requests-per-minute limit over a
 * 60 s sliding window, optionally checks an API key, injects faults, and exposes the truth and its
 * request log (`/__market/truth`, `/__market/requests`, `/__market/tokens`) for tests and demos.
 *
 * Time: prices and the rate window follow the injected clock (real or ManualClock). Latency and
 * hangs are wall-clock, because the HTTP round trip they stand for is real.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import { systemClock, type Clock } from '../core/clock.js';
import { mergeFaults, NO_FAULTS, type Faults } from './faults.js';
import { PriceBook } from './price-model.js';
import { RequestLog, type MarketRequestRecord } from './request-log.js';
import { Rng } from '../core/rng.js';
import { SlidingWindow } from './rate-window.js';
import { buildTokens, type MarketToken, type MarketTokenSpec } from './tokens.js';
import { buildAnswer, malformedBody, type WireVersion } from './wire.js';

export interface MarketOptions {
  /** 0 (default) picks a free port. */
  port?: number;
  host?: string;
  /** A count of synthetic tokens (default 100) or explicit specs. */
  tokens?: number | readonly MarketTokenSpec[];
  /** Requests per minute over a 60 s sliding window; unset = unlimited. */
  rpm?: number | null;
  /** When set, requests need `x-api-key: <apiKey>` (401 otherwise). */
  apiKey?: string;
  clock?: Clock;
  seed?: number;
  faults?: Partial<Faults>;
  /** Request-log entries kept (default 100 000). */
  logCapacity?: number;
  /**
   * Ids accepted per request, below the API's own limit (50 on v3): a larger request is answered
   * 414 URI Too Long, as a proxy with a short URL limit would. Default: the API's limit.
   */
  maxIdsPerRequest?: number;
}

/** Valid prices remembered per mint for servedPrices() (oldest dropped beyond this). */
const SERVED_PER_MINT = 1000;

export interface MarketServer {
  /** Base URL, e.g. http://127.0.0.1:54321 */
  readonly url: string;
  readonly priceUrlV3: string;
  readonly priceUrlV2: string;
  readonly port: number;
  readonly tokens: MarketToken[];
  /** Changes some fault knobs (the rest stay); returns the faults now in force. */
  setFaults(partial: Partial<Faults>): Faults;
  /** Back to no faults at all. */
  clearFaults(): void;
  faults(): Faults;
  /** Changes the rate limit (null = unlimited). */
  setRpm(rpm: number | null): void;
  /** True current prices by mint (all tokens, or the given ones that exist). */
  truth(ids?: readonly string[]): Map<string, number>;
  /** Moves a token's true price by `factor` at once (a real jump, for tests); false if unknown. */
  movePrice(mint: string, factor: number): boolean;
  /**
   * Every valid price this market served for `mint` (oldest first, last 1000): lets tests check
   * that a stored price really came from the market and never from a faulty answer.
   */
  servedPrices(mint: string): number[];
  /** Request log, oldest first (only records after `sinceSeq` when given). */
  requestLog(sinceSeq?: number): MarketRequestRecord[];
  close(): Promise<void>;
}

const MAX_IDS: Record<WireVersion, number> = { v3: 50, v2: 100 };

function checkRpm(rpm: number | null | undefined): number | null {
  if (rpm === undefined || rpm === null) return null;
  if (!Number.isInteger(rpm) || rpm < 1)
    throw new RangeError(`market rpm must be a positive integer, got ${rpm}`);
  return rpm;
}

function sameKey(given: string | string[] | undefined, expected: Buffer): boolean {
  if (typeof given !== 'string') return false;
  const g = Buffer.from(given);
  return g.length === expected.length && timingSafeEqual(g, expected);
}

function parseIds(raw: string | null): string[] {
  if (raw === null) return [];
  return [
    ...new Set(
      raw
        .split(',')
        .map((s) => s.trim())
        .filter((s) => s !== ''),
    ),
  ];
}

export async function startMarket(options: MarketOptions = {}): Promise<MarketServer> {
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RangeError(`market port must be an integer 0..65535, got ${port}`);
  }
  const host = options.host ?? '127.0.0.1';
  const seed = options.seed ?? 1;
  if (!Number.isInteger(seed)) throw new RangeError(`market seed must be an integer, got ${seed}`);
  let rpm = checkRpm(options.rpm);
  if (options.apiKey !== undefined && (typeof options.apiKey !== 'string' || options.apiKey.trim() === '')) {
    throw new TypeError('market apiKey must be a non-empty string when given');
  }
  const apiKey = options.apiKey === undefined ? null : Buffer.from(options.apiKey.trim());
  const clock = options.clock ?? systemClock;
  let faults = mergeFaults(NO_FAULTS, options.faults);

  const startMs = clock.now();
  const tokens = buildTokens(options.tokens ?? 100, seed, startMs);
  const book = new PriceBook(tokens, startMs, seed);
  const window = new SlidingWindow(rpm ?? Number.MAX_SAFE_INTEGER);
  const log = new RequestLog(options.logCapacity ?? 100_000);
  const rng = new Rng(seed ^ 0xfa17);
  const timers = new Set<NodeJS.Timeout>();
  const served = new Map<string, number[]>();
  const recordServed = (mint: string, price: number): void => {
    let list = served.get(mint);
    if (!list) served.set(mint, (list = []));
    list.push(price);
    if (list.length > SERVED_PER_MINT) list.splice(0, list.length - SERVED_PER_MINT);
  };
  let inFlight = 0;

  const sendJson = (
    res: ServerResponse,
    status: number,
    body: unknown,
    headers: Record<string, string> = {},
  ) => {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', ...headers });
    res.end(text);
  };

  function handleInternal(url: URL, res: ServerResponse): void {
    if (url.pathname === '/__market/truth') {
      const ids = parseIds(url.searchParams.get('ids'));
      const prices = Object.fromEntries(server_.truth(ids.length > 0 ? ids : undefined));
      sendJson(res, 200, { t: clock.now(), prices });
    } else if (url.pathname === '/__market/requests') {
      const since = Number(url.searchParams.get('since') ?? 0);
      sendJson(res, 200, { total: log.total, requests: log.list(Number.isFinite(since) ? since : 0) });
    } else {
      sendJson(res, 200, { tokens });
    }
  }

  function handlePrice(version: WireVersion, url: URL, req: IncomingMessage, res: ServerResponse): void {
    const ids = parseIds(url.searchParams.get('ids'));
    const rec = log.add({
      t: clock.now(),
      tEnd: null,
      path: url.pathname,
      ids: ids.length,
      status: 0,
      concurrent: inFlight,
      fault: null,
    });
    inFlight++;
    let finished = false;
    const onDone = (): void => {
      if (finished) return;
      finished = true;
      inFlight--;
    };
    res.once('finish', onDone);
    res.once('close', onDone);
    const reply = (
      status: number,
      body: unknown,
      headers: Record<string, string> = {},
      fault: string | null = null,
    ) => {
      rec.status = status;
      rec.fault = fault ?? rec.fault;
      rec.tEnd = clock.now();
      sendJson(res, status, body, headers);
    };

    if (req.method !== 'GET')
      return reply(405, { error: 'Method Not Allowed', message: 'use GET' }, { allow: 'GET' });
    if (apiKey !== null && !sameKey(req.headers['x-api-key'], apiKey)) {
      return reply(
        401,
        { error: 'Unauthorized', message: 'missing or invalid x-api-key header' },
        {},
        'auth',
      );
    }
    const headers: Record<string, string> = {};
    if (rpm !== null) {
      const now = clock.now();
      const v = window.check(now);
      headers['x-ratelimit-limit'] = String(v.limit);
      headers['x-ratelimit-remaining'] = String(v.remaining);
      headers['x-ratelimit-current'] = String(v.current);
      headers['x-ratelimit-reset'] = String(Math.ceil(v.resetAtMs / 1000));
      if (!v.allowed) {
        headers['retry-after'] = String(Math.max(1, Math.ceil((v.resetAtMs - now) / 1000)));
        return reply(
          429,
          { error: 'Too Many Requests', message: `rate limit of ${rpm} requests per minute exceeded` },
          headers,
          'rate-limited',
        );
      }
    }
    if (ids.length === 0)
      return reply(400, { error: 'Bad Request', message: 'query parameter ids is required' }, headers);
    if (options.maxIdsPerRequest !== undefined && ids.length > options.maxIdsPerRequest) {
      return reply(
        414,
        { error: 'URI Too Long', message: `at most ${options.maxIdsPerRequest} ids` },
        headers,
      );
    }
    if (ids.length > MAX_IDS[version]) {
      return reply(
        400,
        { error: 'Bad Request', message: `at most ${MAX_IDS[version]} ids per request` },
        headers,
      );
    }

    const f = faults;
    if (f.hangRate > 0 && rng.next() < f.hangRate) {
      rec.fault = 'hang';
      return; // never answered; closed with the server
    }
    const answer = (): void => {
      if (res.destroyed) return;
      if (f.errorRate > 0 && rng.next() < f.errorRate) {
        const status = rng.pick([500, 502, 503]);
        return reply(
          status,
          { error: 'Upstream Error', message: `simulated HTTP ${status}` },
          headers,
          'error',
        );
      }
      if (f.malformedRate > 0 && rng.next() < f.malformedRate)
        return reply(200, malformedBody(rng), headers, 'malformed');
      const built = buildAnswer(version, ids, book, clock.now(), f, rng, recordServed);
      reply(200, built.body, headers, built.partial ? 'partial' : null);
    };
    const delay = f.latencyMs.max > 0 ? rng.uniform(f.latencyMs.min, f.latencyMs.max) : 0;
    if (delay <= 0) return answer();
    const timer = setTimeout(() => {
      timers.delete(timer);
      answer();
    }, delay);
    timers.add(timer);
  }

  const http: Server = createServer((req, res) => {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://market.local');
    } catch {
      return sendJson(res, 400, { error: 'Bad Request', message: 'unparseable URL' });
    }
    const path = url.pathname.replace(/\/+$/, '') || '/';
    if (path === '/price/v3') return handlePrice('v3', url, req, res);
    if (path === '/price/v2') return handlePrice('v2', url, req, res);
    if (path === '/__market/truth' || path === '/__market/requests' || path === '/__market/tokens') {
      url.pathname = path;
      return handleInternal(url, res);
    }
    sendJson(res, 404, { error: 'Not Found', message: `no route ${path}; try /price/v3?ids=<mint>` });
  });

  await new Promise<void>((resolve, reject) => {
    http.once('error', reject);
    http.listen(port, host, () => {
      http.off('error', reject);
      resolve();
    });
  });
  const addr = http.address() as AddressInfo;
  const hostForUrl = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const base = `http://${hostForUrl}:${addr.port}`;
  let closed: Promise<void> | null = null;

  const server_: MarketServer = {
    url: base,
    priceUrlV3: `${base}/price/v3`,
    priceUrlV2: `${base}/price/v2`,
    port: addr.port,
    tokens,
    setFaults(partial) {
      faults = mergeFaults(faults, partial);
      return mergeFaults(faults, undefined);
    },
    clearFaults() {
      faults = mergeFaults(NO_FAULTS, undefined);
    },
    faults: () => mergeFaults(faults, undefined),
    setRpm(next) {
      rpm = checkRpm(next);
      window.rpm = rpm ?? Number.MAX_SAFE_INTEGER;
    },
    truth(ids) {
      const now = clock.now();
      if (ids === undefined) return book.all(now);
      const out = new Map<string, number>();
      for (const id of ids) {
        const p = book.priceAt(id, now);
        if (p !== null) out.set(id, p);
      }
      return out;
    },
    movePrice: (mint, factor) => book.move(mint, factor, clock.now()),
    servedPrices: (mint) => [...(served.get(mint) ?? [])],
    requestLog: (sinceSeq) => log.list(sinceSeq),
    close() {
      closed ??= new Promise<void>((resolve) => {
        for (const t of timers) clearTimeout(t);
        timers.clear();
        http.close(() => resolve());
        http.closeAllConnections();
      });
      return closed;
    },
  };
  return server_;
}
