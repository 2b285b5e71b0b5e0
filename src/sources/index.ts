/**
 * Entry point of the price sources: pick a source by kind (PRICE_SOURCE), and re-export the
 * contract, the sources and the client.
 */
import type { Clock } from '../core/clock.js';
import type { FetchFn } from './http.js';
import { JupiterV2Source } from './jupiter-v2.js';
import { JupiterV3Source } from './jupiter-v3.js';
import type { PriceSource } from './types.js';

export type PriceSourceKind = 'jupiter-v3' | 'jupiter-v2';
export const PRICE_SOURCE_KINDS: readonly PriceSourceKind[] = ['jupiter-v3', 'jupiter-v2'];

export interface CreatePriceSourceOptions {
  kind: PriceSourceKind;
  /** Full endpoint URL (PRICE_API_URL); default: Jupiter's for the kind. */
  url?: string;
  /** JUPITER_API_KEY; empty or unset = keyless (no header sent). */
  apiKey?: string;
  timeoutMs?: number;
  fetch?: FetchFn;
  clock?: Clock;
}

export function createPriceSource(options: CreatePriceSourceOptions): PriceSource {
  const { kind, ...rest } = options;
  switch (kind) {
    case 'jupiter-v3':
      return new JupiterV3Source(rest);
    case 'jupiter-v2':
      return new JupiterV2Source(rest);
    default:
      throw new TypeError(
        `createPriceSource: unknown kind ${JSON.stringify(kind)}; use one of ${PRICE_SOURCE_KINDS.join(', ')}`,
      );
  }
}

export * from './types.js';
export { JupiterV3Source, JUPITER_V3_URL, JUPITER_V3_MAX_IDS, parseV3Body } from './jupiter-v3.js';
export { JupiterV2Source, JUPITER_V2_URL, JUPITER_V2_MAX_IDS, parseV2Body } from './jupiter-v2.js';
export { parseRateLimitHeaders, type FetchFn, type HttpSourceOptions } from './http.js';
export { isMintAddress, MAX_PRICE } from './validate.js';
export {
  PriceClient,
  type BreakerPort,
  type FetchPricesOptions,
  type LimiterPort,
  type PriceClientEvents,
  type PriceClientOptions,
  type PriceClientStats,
  type RequestOutcome,
} from './price-client.js';
export { RequestLock, type RequestPriority } from './request-lock.js';
