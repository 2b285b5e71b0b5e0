/**
 * The HTTP half shared by the Jupiter sources: one GET with the ids, the API key header only when
 * a key is set, rate-limit headers read on every answer, and every failure mapped to a typed error.
 * The body is always read to the end so Node's fetch can reuse the keep-alive connection.
 *
 * Secrets: the API key only ever goes into the `x-api-key` header. Error messages name the status,
 * the byte count or the network error code, never the key (and the key never appears in the URL).
 */
import { systemClock, type Clock } from '../core/clock.js';
import { MAX_HINT_WAIT_MS } from '../core/rate-limiter.js';
import {
  MalformedResponseError,
  RateLimitedError,
  SourceTimeoutError,
  UpstreamStatusError,
  UpstreamUnreachableError,
  type FetchOptions,
  type FetchPricesResult,
  type PriceSource,
  type RateLimitHint,
} from './types.js';
import { checkMints } from './validate.js';

export type FetchFn = (input: string, init: RequestInit) => Promise<Response>;

export interface HttpSourceOptions {
  /** Full endpoint URL, e.g. `https://api.jup.ag/price/v3`. */
  url?: string;
  /** Sent as `x-api-key` when non-empty; never logged. */
  apiKey?: string;
  /** Injectable fetch (tests, custom agents). Default: Node's global fetch (keep-alive). */
  fetch?: FetchFn;
  /** Source-level timeout in ms (PriceClient has its own); unset = none. */
  timeoutMs?: number;
  /** Used to turn a `Retry-After` duration into an absolute reset time. Default: system clock. */
  clock?: Clock;
}

export interface ResolvedHttpOptions {
  url: string;
  apiKey: string | null;
  fetch: FetchFn;
  timeoutMs: number | null;
  clock: Clock;
}

export function resolveHttpOptions(
  name: string,
  defaultUrl: string,
  o: HttpSourceOptions,
): ResolvedHttpOptions {
  const url = o.url ?? defaultUrl;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TypeError(`${name}: url ${JSON.stringify(url)} is not a valid URL; give e.g. ${defaultUrl}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new TypeError(`${name}: url must be http(s), got ${parsed.protocol}`);
  }
  if (parsed.username || parsed.password) {
    throw new TypeError(`${name}: url must not carry credentials; pass the API key as apiKey`);
  }
  let apiKey: string | null = null;
  if (o.apiKey !== undefined && o.apiKey !== null) {
    if (typeof o.apiKey !== 'string') throw new TypeError(`${name}: apiKey must be a string`);
    const k = o.apiKey.trim();
    if (k !== '') {
      // Checked here so fetch never builds an error message around the value.
      if (!/^[\x21-\x7e]+$/.test(k)) {
        throw new TypeError(`${name}: apiKey contains characters not allowed in an HTTP header`);
      }
      apiKey = k;
    }
  }
  let timeoutMs: number | null = null;
  if (o.timeoutMs !== undefined) {
    if (!Number.isFinite(o.timeoutMs) || o.timeoutMs <= 0) {
      throw new RangeError(`${name}: timeoutMs must be a positive number of ms, got ${o.timeoutMs}`);
    }
    timeoutMs = o.timeoutMs;
  }
  const f = o.fetch ?? ((input: string, init: RequestInit) => globalThis.fetch(input, init));
  if (typeof f !== 'function') throw new TypeError(`${name}: fetch must be a function`);
  return { url, apiKey, fetch: f, timeoutMs, clock: o.clock ?? systemClock };
}

function headerInt(h: Headers, name: string): number | null {
  const v = h.get(name);
  if (v === null || v.trim() === '') return null;
  const n = Number(v.trim());
  return Number.isFinite(n) && n >= 0 ? n : null;
}

/** Retry-After is either delta-seconds or an HTTP date. */
function retryAfterMs(h: Headers, nowMs: number): number | null {
  const v = h.get('retry-after');
  if (v === null || v.trim() === '') return null;
  const s = v.trim();
  if (/^\d+(\.\d+)?$/.test(s)) return Math.round(Number(s) * 1000);
  const at = Date.parse(s);
  return Number.isFinite(at) ? Math.max(0, at - nowMs) : null;
}

/**
 * Reads `x-ratelimit-remaining`, `x-ratelimit-limit`, `x-ratelimit-reset` (unix seconds, as
 * Jupiter documents it) and `Retry-After`. Null when the answer carried none of them.
 */
export function parseRateLimitHeaders(h: Headers, nowMs: number): RateLimitHint | null {
  const remaining = headerInt(h, 'x-ratelimit-remaining');
  const limit = headerInt(h, 'x-ratelimit-limit');
  const reset = headerInt(h, 'x-ratelimit-reset');
  const retry = retryAfterMs(h, nowMs);
  if (remaining === null && limit === null && reset === null && retry === null) return null;
  return { remaining, limit, resetAtMs: reset === null ? null : reset * 1000, retryAfterMs: retry };
}

export interface HttpAnswer {
  body: unknown;
  rateLimit: RateLimitHint | null;
}

function networkDetail(err: unknown): string {
  const cause = (err as { cause?: { code?: unknown; message?: unknown } } | null)?.cause;
  if (cause && typeof cause.code === 'string') return cause.code;
  if (cause && typeof cause.message === 'string') return cause.message.slice(0, 80);
  return err instanceof Error ? err.message.slice(0, 80) : 'network error';
}

/**
 * GET `<url>?ids=a,b,…` and return the parsed JSON body. Throws RateLimitedError (429),
 * UpstreamStatusError (other non-2xx), MalformedResponseError (not JSON), SourceTimeoutError (own
 * timeout), UpstreamUnreachableError (no answer), or the caller's abort reason.
 */
export async function getJson(
  o: ResolvedHttpOptions,
  ids: readonly string[],
  signal?: AbortSignal,
): Promise<HttpAnswer> {
  signal?.throwIfAborted();
  const sep = o.url.includes('?') ? '&' : '?';
  // Base58 ids need no escaping; commas are kept literal as Jupiter documents `ids=a,b`.
  const target = `${o.url}${sep}ids=${ids.join(',')}`;
  const headers: Record<string, string> = { accept: 'application/json' };
  if (o.apiKey !== null) headers['x-api-key'] = o.apiKey;

  const own = o.timeoutMs === null ? null : new AbortController();
  const timer =
    own === null
      ? null
      : o.clock.setTimeout(() => own.abort(new SourceTimeoutError(o.timeoutMs!)), o.timeoutMs!);
  const signals = [signal, own?.signal].filter((s): s is AbortSignal => s !== undefined);
  const combined =
    signals.length === 0 ? undefined : signals.length === 1 ? signals[0] : AbortSignal.any(signals);

  const fail = (err: unknown): never => {
    if (combined?.aborted) throw combined.reason;
    throw new UpstreamUnreachableError(networkDetail(err), { cause: err });
  };

  try {
    let res: Response;
    try {
      res = await o.fetch(target, { method: 'GET', headers, signal: combined });
    } catch (err) {
      return fail(err);
    }
    let text: string;
    try {
      text = await res.text();
    } catch (err) {
      return fail(err);
    }
    const rateLimit = parseRateLimitHeaders(res.headers, o.clock.now());
    if (res.status === 429) {
      const now = o.clock.now();
      const resetAtMs =
        rateLimit?.resetAtMs ?? (rateLimit?.retryAfterMs != null ? now + rateLimit.retryAfterMs : null);
      // The raw hint goes on to the limiter, which caps and reports it; the error's reset time
      // (shown to API callers as Retry-After) gets the same cap.
      throw new RateLimitedError(
        resetAtMs === null ? null : Math.min(resetAtMs, now + MAX_HINT_WAIT_MS),
        rateLimit,
      );
    }
    if (res.status < 200 || res.status > 299) throw new UpstreamStatusError(res.status);
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      throw new MalformedResponseError(`body is not valid JSON (${text.length} characters)`);
    }
    return { body, rateLimit };
  } finally {
    if (timer !== null) o.clock.clearTimeout(timer);
  }
}

/**
 * A price source over one JSON GET: checks the ids, sends the request, and leaves reading the
 * answer to the subclass (the wire formats differ, nothing else does).
 */
export abstract class HttpPriceSource implements PriceSource {
  abstract readonly name: string;
  abstract readonly maxIdsPerRequest: number;
  private readonly http: ResolvedHttpOptions;

  constructor(label: string, defaultUrl: string, options: HttpSourceOptions) {
    this.http = resolveHttpOptions(label, defaultUrl, options);
  }

  /** The endpoint URL (never includes the key). */
  get url(): string {
    return this.http.url;
  }

  async fetchPrices(mints: readonly string[], opts: FetchOptions = {}): Promise<FetchPricesResult> {
    const ids = checkMints(mints, this.maxIdsPerRequest, this.name);
    if (ids.length === 0) return { quotes: new Map(), missing: [], invalid: [], rateLimit: null };
    const { body, rateLimit } = await getJson(this.http, ids, opts.signal);
    return this.parse(body, ids, rateLimit);
  }

  /** The answer to `ids` as quotes, missing and invalid mints; MalformedResponseError if unreadable. */
  protected abstract parse(body: unknown, ids: string[], rateLimit: RateLimitHint | null): FetchPricesResult;
}
