/**
 * Jupiter Price API v3 (the default source). Wire format, from Jupiter's OpenAPI spec
 * (`openapi-spec/price/v3/price.yaml`) and its published example:
 *
 *   GET https://api.jup.ag/price/v3?ids=<mint>,<mint>   (x-api-key header; keyless plans omit it)
 *   200 { "<mint>": { "usdPrice": 147.48, "blockId": 348004023, "decimals": 9,
 *                     "priceChange24h": 1.29, "liquidity": 621679197.67, "createdAt": "…" } }
 *
 * Tokens without a reliable price are left out of the answer; at most 50 ids per request.
 * lite-api.jup.ag (the old keyless host) was retired on 2026-01-31: keyless plans now call
 * api.jup.ag without the header, so one default URL serves both.
 */
import { HttpPriceSource, type HttpSourceOptions } from './http.js';
import { MalformedResponseError, type FetchPricesResult, type RateLimitHint } from './types.js';
import { checkNumberPrice, classifyEntries, finiteOrNull, intOrNull, isPlainObject } from './validate.js';

export const JUPITER_V3_URL = 'https://api.jup.ag/price/v3';
export const JUPITER_V3_MAX_IDS = 50;

export type JupiterV3Options = HttpSourceOptions;

/**
 * Turns a parsed v3 body into quotes / missing / invalid for the asked mints. Exported for the
 * fixture test and for anyone holding a v3 body from elsewhere.
 */
export function parseV3Body(
  body: unknown,
  asked: readonly string[],
  rateLimit: RateLimitHint | null = null,
): FetchPricesResult {
  if (!isPlainObject(body)) {
    throw new MalformedResponseError(
      `expected a JSON object keyed by mint, got ${body === null ? 'null' : Array.isArray(body) ? 'an array' : typeof body}`,
    );
  }
  const { quotes, missing, invalid } = classifyEntries(body, asked, 'usdPrice', checkNumberPrice, (e) => ({
    blockId: intOrNull(e.blockId),
    decimals: intOrNull(e.decimals),
    change24h: finiteOrNull(e.priceChange24h),
    liquidity: finiteOrNull(e.liquidity),
  }));
  return { quotes, missing, invalid, rateLimit };
}

export class JupiterV3Source extends HttpPriceSource {
  readonly name = 'jupiter-v3';
  readonly maxIdsPerRequest = JUPITER_V3_MAX_IDS;

  constructor(options: JupiterV3Options = {}) {
    super('JupiterV3Source', JUPITER_V3_URL, options);
  }

  protected parse(body: unknown, ids: string[], rateLimit: RateLimitHint | null): FetchPricesResult {
    return parseV3Body(body, ids, rateLimit);
  }
}
