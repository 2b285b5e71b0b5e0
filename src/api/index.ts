export { buildServer, startApiServer, DEFAULT_BODY_LIMIT } from './server.js';
export type { ApiServerConfig, StartApiServerOptions, RunningApiServer } from './server.js';
export { assertSafeBinding, isLoopbackHost, UnsafeBindingError } from './auth.js';
export { ApiError, TokenNotFoundError } from './errors.js';
export { ApiMetrics } from './metrics.js';
export { StreamHub } from './stream.js';
export type { StreamOptions, StreamSocket } from './stream.js';
export type { ApiService, RefreshOutcome } from './types.js';
