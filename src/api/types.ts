/**
 * The contract between the API layer and whatever runs the scheduler. The integration facade
 * hands `buildServer` an object implementing `ApiService`; the API never reaches into the
 * scheduler, the price client or the store by any other path.
 */
import type { Clock } from '../core/clock.js';
import type { TierName, Token, TokenAttributes } from '../core/types.js';
import type { Store, TokenSettings } from '../store/types.js';
import type { SchedulerEventName, SchedulerEvents, SchedulerStatus } from '../scheduler/types.js';

export interface RefreshOutcome {
  address: string;
  refreshed: boolean;
  price: number | null;
  changed: boolean;
  reason?: string;
}

/** What the scheduler knows and plans for one token (the dashboard's token view). */
export interface TokenScheduleFacts {
  tier: TierName;
  /** The seed's priority score: the token's weight in J. */
  weight: number;
  /** The running policy's interval for the token, seconds. */
  plannedIntervalSeconds: number;
  /** The volatility the plan uses (learned estimate shrunk to its cohort prior), per day; null if the policy does not model σ. */
  sigmaDaily: number | null;
  /** Returns observed so far (0 = the plan uses the cohort prior only). */
  sigmaSamples: number;
  /** Epoch ms of the next planned refresh (NaN-free; null before the first placement). */
  nextDueAt: number | null;
  consecutiveFailures: number;
  failingSince: number | null;
  lastRefreshSuccess: number | null;
  lastPriceChangeAt: number | null;
}

/** One scheduled token as the projection and the "where the budget goes" chart need it. */
export interface LiveToken extends TokenAttributes {
  tier: TierName;
  weight: number;
  intervalSeconds: number;
  /** Learned sample estimate (per √second) and its sample count, as the policy persists them. */
  sigma: number | null;
  sigmaSamples: number;
  /** The σ the plan uses, per day (null when the policy does not model σ). */
  planSigmaDaily: number | null;
  lastPriceChangeAt: number | null;
}

/** The budget the scheduler plans against. */
export interface LiveBudget {
  requestsPerMinute: number;
  maxBatchSize: number;
  /** Token refreshes per second the policy plans for (after utilisation). */
  capacityPerSecond: number;
  minIntervalSeconds: number;
  maxIntervalSeconds: number;
  deviation: number;
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
  /** Optional: the scheduler's facts for one token (null when it is not scheduled). */
  tokenSchedule?(address: string): TokenScheduleFacts | null;
  /**
   * Optional: an even stride sample of at most `max` scheduled tokens with their plan, and how
   * many are scheduled. Only the sample is built: at a million tokens a full list was 1M objects
   * (and ~1 GB of garbage a minute) for a projection that reads 5,000 of them.
   */
  liveTokens?(max: number): { tokens: LiveToken[]; total: number };
  /** Optional: the budget the scheduler plans against. */
  budget?(): LiveBudget;
  /** Optional: GET /api/v1/cluster (instances, their partitions, the shared budget). */
  clusterStatus?(): Promise<ClusterStatusView>;
}

/** GET /api/v1/cluster (a single process answers a cluster of one). */
export interface ClusterStatusView {
  instanceId: string;
  partitionCount: number;
  instances: {
    id: string;
    partitions: number[];
    heartbeatAt: number;
    requestsPerMinute: number | null;
    mu: number | null;
  }[];
  budget: { requestsPerMinute: number; usedLastMinute: number };
}

/**
 * Optional status fields the API reads when the scheduler provides them (additive to
 * SchedulerStatus; absent fields are simply not exported).
 */
export interface OptionalStatusExtras {
  /** Total seconds batches spent waiting on the rate limiter since start (a counter). */
  limiterWaitSecondsTotal?: number;
  /** Partitions served (leases held), lease changes and fenced writes since start. */
  cluster?: {
    leasesHeld: number;
    leaseChanges: number;
    fencedWrites: number;
    /** Fraction of the plan this instance plans with (1 alone). */
    budgetShare?: number;
    /** How the share was found: equal μ across instances, or by partition count until it can be. */
    budgetSplit?: 'mu' | 'partitions';
    /** Shared-budget slots this instance reserved, used as request starts, and dropped unused (running totals). */
    budgetSlots?: { reserved: number; used: number; dropped: number };
  };
}
