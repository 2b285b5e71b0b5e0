export { startMarket, type MarketOptions, type MarketServer } from './server.js';
export { buildTokens, MAX_MARKET_TOKENS, type MarketToken, type MarketTokenSpec } from './tokens.js';
export { BAD_PRICE_KINDS, NO_FAULTS, mergeFaults, type BadPriceKind, type Faults } from './faults.js';
export { WINDOW_MS } from './rate-window.js';
export type { MarketRequestRecord } from './request-log.js';
