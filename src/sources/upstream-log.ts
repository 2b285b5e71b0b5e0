/**
 * Upstream trouble in the logs: the circuit opening and closing, 429s, back-off steps, malformed
 * answers and clamped server hints, each as one `warn` line with the figures an operator needs.
 *
 * Rate-limited per kind: at most one line per kind every 10 s; the next line that gets through
 * says how many were held back (`suppressed`). At 9,000 rpm a dead upstream fails 150 requests a
 * second, which would otherwise be 150 identical lines a second; one line per 10 s per kind is at
 * most 6 kinds × 6 = 36 lines a minute however bad it gets.
 *
 * Secrets: the lines carry outcomes, counts, times and the typed errors' own messages, which
 * never contain the API key (see http.ts); no URL, header or body is logged.
 */
import type { Clock } from '../core/clock.js';
import type { PriceClient } from './price-client.js';

export interface WarnLogger {
  warn(obj: object, msg?: string): void;
}

export type UpstreamLogKind =
  'circuit-open' | 'circuit-closed' | 'rate-limited' | 'backoff' | 'malformed' | 'hint-clamped';

/** One line per kind per this many ms. */
export const UPSTREAM_LOG_INTERVAL_MS = 10_000;

/** Lets one line per kind through every `intervalMs` and counts the rest. */
export class LogThrottle {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly clock: Clock,
    private readonly intervalMs = UPSTREAM_LOG_INTERVAL_MS,
  ) {}

  /** Null when the line should be dropped; else how many were dropped since the last one. */
  admit(kind: string): number | null {
    const now = this.clock.now();
    const s = this.last.get(kind);
    if (s !== undefined && now - s.at < this.intervalMs) {
      s.suppressed++;
      return null;
    }
    const suppressed = s?.suppressed ?? 0;
    this.last.set(kind, { at: now, suppressed: 0 });
    return suppressed;
  }
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** Logs the client's upstream events on `logger`; returns a function that stops it. */
export function attachUpstreamLogging(
  client: Pick<PriceClient, 'on' | 'stats'>,
  logger: WarnLogger,
  clock: Clock,
  intervalMs = UPSTREAM_LOG_INTERVAL_MS,
): () => void {
  const throttle = new LogThrottle(clock, intervalMs);
  const warn = (kind: UpstreamLogKind, fields: object, msg: string): void => {
    const suppressed = throttle.admit(kind);
    if (suppressed === null) return;
    const since = client.stats().upstreamFailingSince;
    logger.warn(
      {
        upstream: kind,
        ...fields,
        upstreamFailingSince: iso(since),
        ...(suppressed > 0 ? { suppressed } : {}),
      },
      msg,
    );
  };
  const offs = [
    client.on('circuit:open', (e) =>
      warn(
        'circuit-open',
        { retryAt: iso(e.retryAt) },
        'price API circuit opened after repeated failures; requests pause until the probe',
      ),
    ),
    client.on('circuit:closed', () =>
      warn('circuit-closed', {}, 'price API circuit closed: the probe request succeeded'),
    ),
    client.on('rate-limited', (e) =>
      warn(
        'rate-limited',
        { resetAt: iso(e.resetAt) },
        'price API answered 429 (rate limited); check the plan (TOKEN_REFRESH_PLAN) against the key',
      ),
    ),
    client.on('backoff', (e) =>
      warn(
        'backoff',
        { outcome: e.outcome, consecutiveFailures: e.consecutiveFailures, backoffMs: e.delayMs },
        `price API failing (${e.outcome}); next request in ${Math.round(e.delayMs / 1000)} s`,
      ),
    ),
    client.on('request', (e) => {
      if (e.outcome === 'malformed')
        warn('malformed', { error: e.error ?? null, ids: e.ids }, 'price API sent a malformed answer');
    }),
    client.on('hint:clamped', (e) =>
      warn(
        'hint-clamped',
        { header: e.header, requestedMs: e.requestedMs, appliedMs: e.appliedMs },
        `price API asked to wait ${Math.round(e.requestedMs / 1000)} s (${e.header}); ` +
          `waiting ${Math.round(e.appliedMs / 1000)} s, the cap`,
      ),
    ),
  ];
  return () => {
    for (const off of offs) off();
  };
}
