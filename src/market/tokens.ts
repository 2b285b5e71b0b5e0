/**
 * The synthetic token universe: valid-looking Solana mint addresses (base58 of 32 seeded bytes),
 * symbols, starting prices and the hidden truth of each token's price process (daily volatility,
 * jump rate and size). Volatility is spread log-uniformly over 1 %…30 % a day so tests and
 * benchmarks see both sleepy stablecoin-like tokens and wild memecoins.
 */
import { isMintAddress } from '../sources/validate.js';
import { Rng } from '../core/rng.js';
import { base58 } from './base58.js';

export interface MarketTokenSpec {
  /** Base58 mint address (32–44 chars). Generated from the seed when absent. */
  address?: string;
  symbol?: string;
  /** Starting USD price (> 0 and < 1e12). */
  initialPrice?: number;
  /** Daily volatility of log-price (e.g. 0.05 = 5 %/day). */
  sigmaDaily?: number;
  /** Expected jumps per day. */
  jumpRateDaily?: number;
  /** Standard deviation of a jump's log-size. */
  jumpSize?: number;
  decimals?: number;
  /** USD liquidity reported in answers. */
  liquidity?: number;
}

export interface MarketToken {
  address: string;
  symbol: string;
  initialPrice: number;
  sigmaDaily: number;
  jumpRateDaily: number;
  jumpSize: number;
  decimals: number;
  liquidity: number;
  /** ISO time the token "was created" (reported as createdAt). */
  createdAt: string;
}

export const MAX_MARKET_TOKENS = 1_000_000;

function symbolFor(i: number): string {
  let s = '';
  let n = i;
  do {
    s = String.fromCharCode(65 + (n % 26)) + s;
    n = Math.floor(n / 26) - 1;
  } while (n >= 0);
  return `SYN${s}`;
}

function checkPositive(
  i: number,
  field: string,
  v: number | undefined,
  max = Infinity,
  allowZero = false,
): void {
  if (v === undefined) return;
  const ok = typeof v === 'number' && Number.isFinite(v) && (allowZero ? v >= 0 : v > 0) && v < max;
  if (!ok)
    throw new RangeError(
      `market tokens[${i}].${field} must be a finite number ${allowZero ? '>=' : '>'} 0, got ${v}`,
    );
}

/** Builds the universe from a count or explicit specs; missing fields are drawn from the seed. */
export function buildTokens(
  tokens: number | readonly MarketTokenSpec[],
  seed: number,
  startMs: number,
): MarketToken[] {
  const rng = new Rng(seed ^ 0x5eed);
  let specs: readonly MarketTokenSpec[];
  if (typeof tokens === 'number') {
    if (!Number.isInteger(tokens) || tokens < 1 || tokens > MAX_MARKET_TOKENS) {
      throw new RangeError(`market tokens must be an integer from 1 to ${MAX_MARKET_TOKENS}, got ${tokens}`);
    }
    specs = Array.from({ length: tokens }, () => ({}));
  } else {
    if (!Array.isArray(tokens) || tokens.length === 0) {
      throw new RangeError('market tokens must be a positive count or a non-empty list of token specs');
    }
    specs = tokens;
  }
  const seen = new Set<string>();
  return specs.map((spec, i) => {
    if (spec.address !== undefined && !isMintAddress(spec.address)) {
      throw new TypeError(`market tokens[${i}].address must be a base58 address of 32-44 characters`);
    }
    checkPositive(i, 'initialPrice', spec.initialPrice, 1e12);
    checkPositive(i, 'sigmaDaily', spec.sigmaDaily, 10, true);
    checkPositive(i, 'jumpRateDaily', spec.jumpRateDaily, 1000, true);
    checkPositive(i, 'jumpSize', spec.jumpSize, 10, true);
    checkPositive(i, 'liquidity', spec.liquidity, Infinity, true);
    if (
      spec.decimals !== undefined &&
      !(Number.isInteger(spec.decimals) && spec.decimals >= 0 && spec.decimals <= 18)
    ) {
      throw new RangeError(`market tokens[${i}].decimals must be an integer 0..18, got ${spec.decimals}`);
    }
    // Draw every random field even when given, so token i's defaults do not depend on others' specs.
    let generated = base58(rng.bytes(32));
    while (seen.has(generated)) generated = base58(rng.bytes(32));
    const drawn = {
      initialPrice: rng.logUniform(1e-6, 1e3),
      sigmaDaily: rng.logUniform(0.01, 0.3),
      jumpRateDaily: rng.uniform(0, 0.5),
      jumpSize: rng.uniform(0.02, 0.15),
      decimals: rng.pick([6, 6, 8, 9, 9]),
      liquidity: rng.logUniform(1e3, 1e9),
      ageDays: rng.uniform(1, 1000),
    };
    const address = spec.address ?? generated;
    if (seen.has(address)) throw new RangeError(`market tokens[${i}].address is a duplicate`);
    seen.add(address);
    return {
      address,
      symbol: spec.symbol ?? symbolFor(i),
      initialPrice: spec.initialPrice ?? drawn.initialPrice,
      sigmaDaily: spec.sigmaDaily ?? drawn.sigmaDaily,
      jumpRateDaily: spec.jumpRateDaily ?? drawn.jumpRateDaily,
      jumpSize: spec.jumpSize ?? drawn.jumpSize,
      decimals: spec.decimals ?? drawn.decimals,
      liquidity: spec.liquidity ?? Math.round(drawn.liquidity * 100) / 100,
      createdAt: new Date(Math.floor(startMs - drawn.ageDays * 86_400_000)).toISOString(),
    };
  });
}
