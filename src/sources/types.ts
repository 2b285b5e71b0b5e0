/**
 * The price-source contract. Every source (Jupiter v3, v2, anything later) answers with the
 * quotes it found, the mints it did not, the quotes it rejected, and whatever rate-limit hint
 * the upstream gave. Upstream-level failures are thrown as the typed errors below; token-level
 * problems (a mint missing, a bad number) are never errors.
 */

export interface PriceQuote {
  mint: string;
  /** USD price; always finite, > 0 and < 1e12 (sources reject anything else). */
  price: number;
  blockId: number | null;
  decimals: number | null;
  change24h: number | null;
  liquidity: number | null;
}

export interface RateLimitHint {
  /** Requests left in the current window, when the server said. */
  remaining: number | null;
  /** Window limit, when the server said. */
  limit: number | null;
  /** Epoch ms when the window resets (x-ratelimit-reset is unix seconds). */
  resetAtMs: number | null;
  /** Retry-After, converted to ms, when present. */
  retryAfterMs: number | null;
}

export interface InvalidQuote {
  mint: string;
  reason: string;
}

export interface FetchPricesResult {
  quotes: Map<string, PriceQuote>;
  /** Asked for, left out of the answer or with a null price. */
  missing: string[];
  /** Present but not a usable price (NaN, negative, string, >= 1e12 …): never passed on. */
  invalid: InvalidQuote[];
  rateLimit: RateLimitHint | null;
}

export interface FetchOptions {
  signal?: AbortSignal;
}

export interface PriceSource {
  readonly name: string;
  readonly maxIdsPerRequest: number;
  fetchPrices(mints: readonly string[], opts?: FetchOptions): Promise<FetchPricesResult>;
}

/** Base of every source/client failure. `retryable` tells the caller whether to try later. */
export class PriceSourceError extends Error {
  readonly retryable: boolean = true;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** 429. `resetAtMs` is when the caller may try again (from headers, or a default). */
export class RateLimitedError extends PriceSourceError {
  constructor(
    readonly resetAtMs: number | null,
    readonly hint: RateLimitHint | null,
    message = 'price API rate limit exceeded (HTTP 429); the limiter will wait for the window to reset',
  ) {
    super(message);
  }
}

/** Non-2xx other than 429. 401/403 are not retryable (fix the API key). */
export class UpstreamStatusError extends PriceSourceError {
  override readonly retryable: boolean;
  constructor(
    readonly status: number,
    message?: string,
  ) {
    super(
      message ??
        (status === 401 || status === 403
          ? `price API refused the API key (HTTP ${status}); check JUPITER_API_KEY`
          : `price API answered HTTP ${status}`),
    );
    this.retryable = !(status === 401 || status === 403 || status === 400 || status === 404);
  }
}

export class SourceTimeoutError extends PriceSourceError {
  constructor(readonly timeoutMs: number) {
    super(`price API did not answer within ${timeoutMs} ms`);
  }
}

export class MalformedResponseError extends PriceSourceError {
  constructor(detail: string) {
    super(`price API sent a malformed response: ${detail}`);
  }
}

/** Thrown by the price client while its circuit breaker is open. */
export class CircuitOpenError extends PriceSourceError {
  constructor(readonly retryAtMs: number) {
    super('price API circuit is open after repeated failures; requests resume after the cool-down');
  }
}

/**
 * The request never got an HTTP answer (connection refused or reset, DNS failure …). Added by the
 * sources issue (additive): the client counts it like a 5xx.
 */
export class UpstreamUnreachableError extends PriceSourceError {
  constructor(detail: string, options?: { cause?: unknown }) {
    super(`price API could not be reached (${detail}); check PRICE_API_URL and the network`, options);
  }
}
