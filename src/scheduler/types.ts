/**
 * Public shapes of the scheduler: its typed events and its status snapshot. The API layer, the
 * WebSocket stream, the dashboard and library users consume exactly these.
 */
import type { PolicyName } from '../core/policy.js';
import type { TierName } from '../core/types.js';

export interface PriceUpdatedEvent {
  address: string;
  tokenId: number;
  oldPrice: number | null;
  newPrice: number;
  source: string;
  /** Epoch ms of the commit. */
  at: number;
}

export interface BatchCompletedEvent {
  size: number;
  updated: number;
  changed: number;
  failed: number;
  durationMs: number;
  at: number;
}

export interface BatchFailedEvent {
  size: number;
  /** Error class name, e.g. RateLimitedError, UpstreamStatusError, StoreWriteError. */
  errorType: string;
  message: string;
  durationMs: number;
  at: number;
}

export interface TokenFailedEvent {
  address: string;
  tokenId: number;
  reason: string;
  consecutiveFailures: number;
  /** Epoch ms of the token's next attempt. */
  retryAt: number;
  at: number;
}

/**
 * The plausibility guard: a quote whose move from the stored price is far outside what the
 * token's learned volatility and jumps allow was held back, unwritten, for the next quote to
 * confirm (price:confirmed, then written and announced by price:updated as usual) or refute
 * (price:dropped).
 */
export interface PriceHeldEvent {
  address: string;
  tokenId: number;
  storedPrice: number;
  heldPrice: number;
  /** |ln(held / stored)| and the largest |log-move| accepted without confirmation. */
  logMove: number;
  allowedLogMove: number;
  /** Agreeing quotes needed before it is written (1; 2 beyond ×1000). */
  confirmationsNeeded: number;
  at: number;
}

export interface PriceConfirmedEvent {
  address: string;
  tokenId: number;
  storedPrice: number;
  heldPrice: number;
  /** The confirming quote: the price written. */
  newPrice: number;
  /** Epoch ms of the first hold. */
  heldSince: number;
  at: number;
}

export interface PriceDroppedEvent {
  address: string;
  tokenId: number;
  storedPrice: number;
  heldPrice: number;
  /** The quote that refuted it (null when it expired unconfirmed). */
  newPrice: number | null;
  /**
   * 'stored-price-confirmed': the next quote agreed with the stored price (and was written);
   * 'not-confirmed': it agreed with neither (and is held in its place); 'expired': too old.
   */
  reason: 'stored-price-confirmed' | 'not-confirmed' | 'expired';
  at: number;
}

export interface SchedulerEvents {
  started: { at: number; tokens: number; policy: PolicyName };
  stopped: { at: number };
  cycle: { at: number; due: number; taken: number; batches: number };
  'batch:completed': BatchCompletedEvent;
  'batch:failed': BatchFailedEvent;
  'price:updated': PriceUpdatedEvent;
  'price:held': PriceHeldEvent;
  'price:confirmed': PriceConfirmedEvent;
  'price:dropped': PriceDroppedEvent;
  'token:failed': TokenFailedEvent;
  'token:deactivated': { address: string; tokenId: number; reason: string; at: number };
  /** A token whose values cannot be planned was taken out of the schedule (re-admitted when edited). */
  'token:skipped': { address: string; tokenId: number; reason: string; at: number };
  'circuit:open': { at: number; retryAt: number };
  'circuit:closed': { at: number };
  'rate-limited': { at: number; resetAt: number | null };
}
export type SchedulerEventName = keyof SchedulerEvents;

export interface TierStatus {
  tier: TierName;
  tokens: number;
  /** Refreshes committed over the last minute. */
  refreshesPerMinute: number;
  /** Mean planned interval, seconds. */
  avgIntervalSeconds: number;
}

export interface SchedulerStatus {
  running: boolean;
  paused: boolean;
  policy: PolicyName;
  startedAt: number | null;
  now: number;
  /** skipped: tokens out of the schedule because their values cannot be planned. */
  tokens: { active: number; queued: number; due: number; skipped: number };
  plan: {
    requestsPerMinute: number;
    effectiveRequestsPerMinute: number;
    maxBatchSize: number;
    capacityPerSecond: number;
    /** Wall milliseconds the last re-plan took (policy plan and plan statistics); null before one. */
    lastReplanMs: number | null;
  };
  rates: {
    requestsLastMinute: number;
    refreshesLastMinute: number;
    rateLimitedLastMinute: number;
    errorsLastMinute: number;
  };
  circuit: { state: 'closed' | 'open' | 'half-open'; retryAt: number | null };
  /** Epoch ms since when the database has been unreachable (no requests are sent), or null. */
  databaseDownSince: number | null;
  /** Priority-weighted fraction of tokens estimated more than X off their true price (0..1). */
  estimatedStaleness: number | null;
  tiers: TierStatus[];
  lastBatchAt: number | null;
  lastError: { message: string; at: number } | null;
  /** Total seconds requests spent waiting on the rate limiter since start (a counter). */
  limiterWaitSecondsTotal?: number;
  /**
   * The plausibility guard since start: quotes held back as implausible, held quotes confirmed
   * (and written) and dropped (never written) — counters — and quotes held right now.
   */
  implausiblePrices?: { held: number; confirmed: number; dropped: number; holding: number };
  /**
   * Epoch ms of the first price API failure of the current streak (429, 5xx, timeout, malformed,
   * unreachable); null while requests succeed. Filled in from the price client by the facade.
   */
  upstreamFailingSince?: number | null;
}
