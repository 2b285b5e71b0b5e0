/**
 * Package entry: the library facade first, then the building blocks for callers who compose
 * their own service (custom store, source or clock).
 */
export { TokenRefreshIntegration, initializeTokenRefresh, type TokenRefreshOptions } from './integration.js';
export { loadConfig, ConfigError, type Config } from './config.js';
export { TokenRefreshScheduler, type SchedulerOptions, type Logger } from './scheduler/scheduler.js';
export type * from './scheduler/types.js';
export type { RefreshOutcome, ApiService } from './api/types.js';
export { startApiServer, buildServer } from './api/server.js';
export { startDemo, type DemoOptions, type DemoHandle } from './demo.js';

export { openStore, type OpenStoreOptions } from './store/index.js';
export type * from './store/types.js';
export { createPriceSource, JupiterV3Source, JupiterV2Source } from './sources/index.js';
export { PriceClient } from './sources/price-client.js';
export * from './sources/types.js';
export { startMarket, type MarketServer, type MarketOptions } from './market/index.js';

export { SystemClock, ManualClock, systemClock, type Clock } from './core/clock.js';
export type * from './core/types.js';
export { PLANS } from './core/types.js';
export type { RefreshPolicy, PolicyName, PolicyToken, PolicyContext } from './core/policy.js';
export { createPolicy } from './core/policies.js';
export { planRefreshIntervals, staleness } from './core/planner.js';
export {
  DEFAULT_TIERS,
  calculatePriorityScore,
  calculateIntervalSeconds,
  volatilityFactor,
} from './core/tiers.js';
export { IndexedPriorityQueue } from './core/priority-queue.js';
export { RateLimiter } from './core/rate-limiter.js';
export { CircuitBreaker } from './core/circuit-breaker.js';
export { analyzeTokenDistribution, getRefreshRecommendations } from './core/rank-analyzer.js';
export { runSimulation, simulateAll } from './simulate/index.js';
export * from './cluster/index.js';
