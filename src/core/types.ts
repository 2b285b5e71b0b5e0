/**
 * Domain types shared by every layer. core/ owns them (core imports nothing from other folders);
 * store/, sources/, scheduler/, api/ and simulate/ import from here.
 *
 * Times are epoch milliseconds from the injected Clock; the store converts to timestamptz.
 * Field names of token rows follow the `tokens` table (snake_case) because they are also the
 * public import format and the settings API.
 */

export type TierName = 'CRITICAL' | 'HIGH' | 'MEDIUM' | 'LOW' | 'MINIMAL' | 'INACTIVE';

/** One row of the editable tier table. */
export interface TierDef {
  name: TierName;
  /** Inclusive rank bounds; maxRank null = unbounded. INACTIVE also takes rankless tokens. */
  minRank: number;
  maxRank: number | null;
  score: number;
  baseIntervalSeconds: number;
  tierFactor: number;
}

/** The importance-relevant fields of a token (what the seed's rules read). */
export interface TokenAttributes {
  rank: number | null;
  volume_24h: number | null;
  in_contest: boolean;
  priority_score: number;
  refresh_interval_seconds: number | null;
}

/** A token row as the scheduler and API see it. */
export interface Token extends TokenAttributes {
  id: number;
  address: string;
  symbol: string | null;
  name: string | null;
  decimals: number | null;
  is_active: boolean;
  last_refresh_attempt: number | null;
  last_refresh_success: number | null;
  last_price_change: number | null;
  refresh_metadata: Record<string, unknown>;
  created_at: number;
  updated_at: number;
}

/**
 * Persisted per-token scheduling state: a restart resumes from it (no thundering herd), and the
 * volatility estimate survives.
 */
export interface ScheduleState {
  tokenId: number;
  /** When the token is next due (epoch ms). */
  nextDueAt: number;
  /** Consecutive token-level misses (quote missing/invalid while the source was healthy). */
  consecutiveFailures: number;
  /** Epoch ms of the first miss in the current streak, null when not failing. */
  failingSince: number | null;
  /** Volatility estimate: sigma per sqrt(second) of log-price, null = unknown (use prior). */
  sigma: number | null;
  /** Number of return observations behind `sigma`. */
  sigmaSamples: number;
}

/** A token as loaded for scheduling: the row, its current stored price and its schedule. */
export interface TokenWithState extends Token {
  price: number | null;
  priceUpdatedAt: number | null;
  schedule: ScheduleState | null;
}

/** A price observed for one token, ready to write. */
export interface PriceObservation {
  tokenId: number;
  price: number;
  change24h: number | null;
  liquidity: number | null;
  blockId: number | null;
  source: string;
}

/** A token-level miss (quote missing or invalid while the source answered). */
export interface TokenMiss {
  tokenId: number;
  reason: string;
}

/** One batch of refresh results, written in ONE transaction. */
export interface RefreshBatchWrite {
  /** Clock time of the write (used for every timestamp). */
  now: number;
  successes: PriceObservation[];
  misses: TokenMiss[];
  /** Every token of the batch has its schedule persisted (successes and misses). */
  schedules: ScheduleState[];
  /** Tokens to deactivate (persistent misses while the source is healthy). */
  deactivate: number[];
  /**
   * Several instances (src/cluster): the writer and the lease epochs of the batch's partitions,
   * checked in the same statement; a lease that moved on refuses the whole write.
   */
  fence?: BatchFence;
}

/** Who writes a batch and the lease epoch it started under for each of its partitions. */
export interface BatchFence {
  instanceId: string;
  leases: readonly { partition: number; epoch: number }[];
}

/** What the write did, per token whose price changed (for events). */
export interface PriceChange {
  tokenId: number;
  oldPrice: number | null;
  newPrice: number;
}

export interface RefreshBatchWriteResult {
  changed: PriceChange[];
  written: number;
}

/** Plans of the Jupiter Price API (requests per minute). */
export const PLANS = {
  keyless: 30,
  free: 60,
  developer: 600,
  launch: 3000,
  pro: 9000,
} as const;
export type PlanName = keyof typeof PLANS;
