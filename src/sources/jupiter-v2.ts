/**
 * Jupiter Price API v2 (deprecated, kept for setups still on it). Wire format, from Jupiter's
 * OpenAPI spec (`openapi-spec/price/v2/price.yaml`):
 *
 *   GET https://api.jup.ag/price/v2?ids=<mint>,<mint>
 *   200 { "data": { "<mint>": { "id": "<mint>", "type": "derivedPrice", "price": "147.48" } | null },
 *         "timeTaken": 0.003 }
 *
 * Prices are decimal strings; at most 100 ids per request. No block, decimals, change or
 * liquidity fields: those quote fields are null.
 */
import { HttpPriceSource, type HttpSourceOptions } from './http.js';
import { MalformedResponseError, type FetchPricesResult, type RateLimitHint } from './types.js';
import { checkDecimalPrice, classifyEntries, isPlainObject } from './validate.js';

export const JUPITER_V2_URL = 'https://api.jup.ag/price/v2';
export const JUPITER_V2_MAX_IDS = 100;

export type JupiterV2Options = HttpSourceOptions;

export function parseV2Body(
  body: unknown,
  asked: readonly string[],
  rateLimit: RateLimitHint | null = null,
): FetchPricesResult {
  if (!isPlainObject(body)) throw new MalformedResponseError('expected a JSON object with a `data` field');
  const data = body.data;
  if (!isPlainObject(data)) throw new MalformedResponseError('`data` is missing or not an object');
  const { quotes, missing, invalid } = classifyEntries(data, asked, 'price', checkDecimalPrice, () => ({
    blockId: null,
    decimals: null,
    change24h: null,
    liquidity: null,
  }));
  return { quotes, missing, invalid, rateLimit };
}

export class JupiterV2Source extends HttpPriceSource {
  readonly name = 'jupiter-v2';
  readonly maxIdsPerRequest = JUPITER_V2_MAX_IDS;

  constructor(options: JupiterV2Options = {}) {
    super('JupiterV2Source', JUPITER_V2_URL, options);
  }

  protected parse(body: unknown, ids: string[], rateLimit: RateLimitHint | null): FetchPricesResult {
    return parseV2Body(body, ids, rateLimit);
  }
}
