/**
 * Row → domain mapping. Both drivers return float8/int4/bool/jsonb as JS values; int8 comes back
 * as a string from `pg` and a number from PGlite, so ids go through num(). Timestamps were turned
 * into epoch-ms float8 in SQL (see sql.ts).
 */
import type { ScheduleState, TierDef, TierName, Token, TokenWithState } from '../core/types.js';
import type { Row } from './executor.js';
import type { TokenView } from './types.js';

export function num(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' || typeof v === 'bigint') return Number(v);
  throw new TypeError(`expected a number from the database, got ${typeof v}`);
}

export function numOrNull(v: unknown): number | null {
  return v === null || v === undefined ? null : num(v);
}

function strOrNull(v: unknown): string | null {
  return v === null || v === undefined ? null : String(v);
}

function metadata(v: unknown): Record<string, unknown> {
  if (typeof v === 'string') return JSON.parse(v) as Record<string, unknown>;
  if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  return {};
}

export function toToken(r: Row): Token {
  return {
    id: num(r.id),
    address: String(r.address),
    symbol: strOrNull(r.symbol),
    name: strOrNull(r.name),
    decimals: numOrNull(r.decimals),
    rank: numOrNull(r.rank),
    volume_24h: numOrNull(r.volume_24h),
    in_contest: r.in_contest === true,
    priority_score: num(r.priority_score),
    refresh_interval_seconds: numOrNull(r.refresh_interval_seconds),
    is_active: r.is_active === true,
    last_refresh_attempt: numOrNull(r.last_refresh_attempt),
    last_refresh_success: numOrNull(r.last_refresh_success),
    last_price_change: numOrNull(r.last_price_change),
    refresh_metadata: metadata(r.refresh_metadata),
    created_at: num(r.created_at),
    updated_at: num(r.updated_at),
  };
}

function toSchedule(r: Row): ScheduleState | null {
  if (r.s_token_id === null || r.s_token_id === undefined) return null;
  return {
    tokenId: num(r.s_token_id),
    nextDueAt: num(r.s_next_due_at),
    consecutiveFailures: num(r.s_consecutive_failures),
    failingSince: numOrNull(r.s_failing_since),
    sigma: numOrNull(r.s_sigma),
    sigmaSamples: num(r.s_sigma_samples),
  };
}

export function toTokenWithState(r: Row): TokenWithState {
  const t = toToken(r) as TokenWithState;
  t.price = numOrNull(r.price);
  t.priceUpdatedAt = numOrNull(r.price_updated_at);
  t.schedule = toSchedule(r);
  return t;
}

export function toTokenView(r: Row): TokenView {
  const t = toToken(r) as TokenView;
  t.price = numOrNull(r.price);
  t.change_24h = numOrNull(r.change_24h);
  t.price_updated_at = numOrNull(r.price_updated_at);
  t.block_id = numOrNull(r.block_id);
  t.source = strOrNull(r.source);
  return t;
}

export function toTier(r: Row): TierDef {
  return {
    name: String(r.name) as TierName,
    minRank: num(r.min_rank),
    maxRank: numOrNull(r.max_rank),
    score: num(r.score),
    baseIntervalSeconds: num(r.base_interval_seconds),
    tierFactor: num(r.tier_factor),
  };
}
