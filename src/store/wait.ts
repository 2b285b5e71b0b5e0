/**
 * waitForDatabase: at start-up, a database that is not up yet (a container still starting, a
 * failover in progress) is waited for, not a reason to exit: ping it, and on failure log and
 * retry after 1 s, doubling to every 30 s, until it answers or `signal` aborts (SIGTERM).
 */
import type { Clock } from '../core/clock.js';

export interface WaitLogger {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

export interface WaitForDatabaseOptions {
  clock: Clock;
  logger?: WaitLogger;
  signal?: AbortSignal;
  /** First retry delay, ms (default 1 000). */
  initialDelayMs?: number;
  /** Longest delay between attempts, ms (default 30 000). */
  maxDelayMs?: number;
}

/** Resolves once `ping` succeeds; rejects only with the signal's reason. Returns the attempts made. */
export async function waitForDatabase(ping: () => Promise<void>, o: WaitForDatabaseOptions): Promise<number> {
  let delay = o.initialDelayMs ?? 1_000;
  const max = o.maxDelayMs ?? 30_000;
  const since = o.clock.now();
  for (let attempt = 1; ; attempt++) {
    if (o.signal?.aborted) throw o.signal.reason ?? new Error('aborted');
    try {
      await ping();
      if (attempt > 1)
        o.logger?.info({ attempts: attempt, waitedMs: o.clock.now() - since }, 'database reachable');
      return attempt;
    } catch (err) {
      o.logger?.warn(
        { attempt, retryInMs: delay, err: err instanceof Error ? err.message : String(err) },
        'database unreachable at start; waiting for it',
      );
    }
    await o.clock.sleep(delay, o.signal);
    delay = Math.min(max, delay * 2);
  }
}
