/**
 * Transient-failure classification and bounded retry.
 *
 * Retried (the whole transaction is re-run): connection loss (ECONNRESET, EPIPE, "Connection
 * terminated", SQLSTATE class 08), admin/crash shutdown (57P01, 57P02, 57P03), serialization
 * failure (40001) and deadlock (40P01). Everything else surfaces at once.
 *
 * Backoff 50 / 200 / 800 ms (4 attempts, ~1 s worst case): long enough for a pool to replace a
 * killed connection or a failover to finish, short enough that a scheduler batch is not held up
 * past one pacing slot. Real timers: this runs in the I/O layer, not in core/.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { errorCode } from './errors.js';

export const RETRY_DELAYS_MS: readonly number[] = [50, 200, 800];

const TRANSIENT_SQLSTATES = new Set(['57P01', '57P02', '57P03', '40001', '40P01', '53300']);
const TRANSIENT_SOCKET_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED']);
const TRANSIENT_MESSAGE =
  /connection terminated|terminating connection|server closed the connection|connection (?:was )?(?:reset|lost)|client has encountered a connection error|timeout exceeded when trying to connect/i;

export function isTransientError(err: unknown): boolean {
  const code = errorCode(err);
  if (code !== undefined) {
    if (TRANSIENT_SQLSTATES.has(code) || TRANSIENT_SOCKET_CODES.has(code)) return true;
    if (/^08[0-9A-Z]{3}$/.test(code)) return true;
  }
  const message = err instanceof Error ? err.message : typeof err === 'string' ? err : '';
  return TRANSIENT_MESSAGE.test(message);
}

/**
 * Run `attempt` until it succeeds, fails with a non-transient error, or the delays run out.
 * `onFinalError` builds the error to throw (given the last error, attempts made, transient?).
 */
export async function withRetry<T>(
  attempt: () => Promise<T>,
  onFinalError: (err: unknown, attempts: number, transient: boolean) => unknown,
  opts: {
    delaysMs?: readonly number[];
    shouldStop?: () => boolean;
    isRetryable?: (err: unknown) => boolean;
  } = {},
): Promise<T> {
  const delays = opts.delaysMs ?? RETRY_DELAYS_MS;
  const retryable = opts.isRetryable ?? isTransientError;
  for (let n = 1; ; n++) {
    try {
      return await attempt();
    } catch (err) {
      const transient = retryable(err);
      if (!transient || n > delays.length || opts.shouldStop?.()) throw onFinalError(err, n, transient);
      await sleep(delays[n - 1]);
    }
  }
}
