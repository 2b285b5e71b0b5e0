/**
 * Answer bodies in Jupiter's wire formats, with the token-level faults applied:
 *   v3: { "<mint>": { usdPrice, blockId, decimals, priceChange24h, liquidity, createdAt } }
 *   v2: { data: { "<mint>": { id, type: "derivedPrice", price: "<decimal>" } }, timeTaken }
 * Unknown mints are left out, as Jupiter does for tokens it has no reliable price for.
 */
import { badPriceValue, INFINITY_MARKER, type Faults } from './faults.js';
import type { PriceBook } from './price-model.js';
import type { Rng } from '../core/rng.js';

export type WireVersion = 'v3' | 'v2';

export interface BuiltAnswer {
  body: string;
  partial: boolean;
}

function serialise(value: unknown): string {
  return JSON.stringify(value).replaceAll(`"${INFINITY_MARKER}"`, '1e999');
}

/** Picks which asked ids get an answer: all, or (partial fault) a random strict subset. */
function answeredIds(ids: readonly string[], faults: Faults, rng: Rng): { ids: string[]; partial: boolean } {
  if (ids.length > 0 && faults.partialRate > 0 && rng.next() < faults.partialRate) {
    const keep = rng.int(0, ids.length - 1);
    return { ids: ids.slice(0, keep), partial: true };
  }
  return { ids: [...ids], partial: false };
}

export function buildAnswer(
  version: WireVersion,
  ids: readonly string[],
  book: PriceBook,
  now: number,
  faults: Faults,
  rng: Rng,
  onServed?: (mint: string, price: number) => void,
): BuiltAnswer {
  const { ids: answer, partial } = answeredIds(ids, faults, rng);
  const blockId = book.blockId(now);
  const entries: Record<string, unknown> = {};
  for (const mint of answer) {
    const price = book.priceAt(mint, now);
    if (price === null) continue;
    if (faults.omitRate > 0 && rng.next() < faults.omitRate) continue;
    let value: unknown = price;
    if (faults.badPriceRate > 0 && rng.next() < faults.badPriceRate) {
      value = badPriceValue(rng.pick(faults.badPriceKinds), price);
    } else if (faults.scaleRate > 0 && rng.next() < faults.scaleRate) {
      value = price * faults.scaleFactor;
    } else {
      onServed?.(mint, price);
    }
    if (version === 'v3') {
      const meta = book.meta(mint)!;
      entries[mint] = {
        usdPrice: value,
        blockId,
        decimals: meta.decimals,
        priceChange24h: book.change24h(mint, now),
        liquidity: meta.liquidity,
        createdAt: meta.createdAt,
      };
    } else {
      // v2 sends prices as decimal strings; a "string" fault becomes a non-numeric one.
      let v2: unknown = value;
      if (typeof value === 'number') v2 = String(value);
      else if (typeof value === 'string' && value !== INFINITY_MARKER && value !== 'NaN') v2 = 'n/a';
      entries[mint] = { id: mint, type: 'derivedPrice', price: v2 };
    }
  }
  const body =
    version === 'v3' ? entries : { data: entries, timeTaken: Math.round(rng.uniform(1, 5)) / 1000 };
  return { body: serialise(body), partial };
}

/** A body that is not JSON, in the shapes broken proxies and truncated answers produce. */
export function malformedBody(rng: Rng): string {
  return rng.pick([
    '{"So11111111111111111111111111111111111111112": {"usdPrice": 1',
    '<html>502 Bad Gateway</html>',
    '',
  ]);
}
