/**
 * The contract between the API layer and whatever runs the scheduler. The integration facade
 * hands `buildServer` an object implementing `ApiService`; the API never reaches into the
 * scheduler, the price client or the store by any other path.
 */
import type { Clock } from '../core/clock.js';
import type { Token } from '../core/types.js';
import type { Store, TokenSettings } from '../store/types.js';
import type { SchedulerEventName, SchedulerEvents, SchedulerStatus } from '../scheduler/types.js';

export interface RefreshOutcome {
  address: string;
  refreshed: boolean;
  price: number | null;
  changed: boolean;
  reason?: string;
}

export interface ApiService {
  readonly store: Store;
  readonly clock: Clock;
  status(): SchedulerStatus;
  pause(): void;
  resume(): void;
  /**
   * Goes through the price client's limiter (first in line), never around it. Throws
   * TokenNotFoundError (src/api/errors.ts) for unknown addresses.
   */
  refreshToken(address: string): Promise<RefreshOutcome>;
  updateTokenSettings(addressOrId: string | number, settings: TokenSettings): Promise<Token | null>;
  /** JSON-able: distribution + per-tier recommendations + plan projections. */
  recommendations(): Promise<unknown>;
  on<E extends SchedulerEventName>(event: E, fn: (payload: SchedulerEvents[E]) => void): () => void;
  readiness(): Promise<{ db: boolean; migrations: boolean; scheduler: boolean }>;
}

/**
 * Optional status fields the API reads when the scheduler provides them (additive to
 * SchedulerStatus; absent fields are simply not exported).
 */
export interface OptionalStatusExtras {
  /** Total seconds batches spent waiting on the rate limiter since start (a counter). */
  limiterWaitSecondsTotal?: number;
}
