/** `tokens history`: parsing its time bounds and printing a page of price history. */
import type { PricePoint } from '../store/types.js';
import { UsageError } from './util.js';

/** A --from/--to value: epoch milliseconds, or an ISO 8601 date/time (e.g. 2026-01-31T12:00Z). */
export function parseTimeBound(value: string, flag: string): number {
  const v = value.trim();
  if (/^\d{1,13}$/.test(v)) return Number(v);
  const ms = /^\d{4}-\d{2}-\d{2}/.test(v) ? Date.parse(v) : Number.NaN;
  if (!Number.isFinite(ms) || ms < 0) {
    throw new UsageError(
      `${flag}: expected epoch milliseconds or an ISO date/time such as 2026-01-31T12:00:00Z, got ${JSON.stringify(value)}`,
    );
  }
  return ms;
}

/** Price with 8 significant digits; tiny prices in exponent form. */
function price(p: number): string {
  return p >= 1e-4 && p < 1e9 ? String(Number(p.toPrecision(8))) : p.toPrecision(8);
}

export function formatHistory(address: string, points: readonly PricePoint[], next: number | null): string {
  if (points.length === 0) return `${address}: no price history in that range`;
  const rows = points.map((p) => [new Date(p.t).toISOString(), price(p.price), p.source]);
  const header = ['time (UTC)', 'price (USD)', 'source'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (r: string[]) =>
    r.map((c, i) => (i === 1 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ');
  const lines = [`${address}: ${points.length} prices, newest first`, fmt(header), ...rows.map(fmt)];
  if (next !== null) lines.push(`older prices: add --to ${next}`);
  return lines.join('\n');
}
