/**
 * Admission: the scheduler never stops because of one token's data.
 *
 * Every entrance (the store's schema, the API, the import) refuses values the policies cannot
 * plan, but a row edited by hand in the database, or a tier table changed under a running
 * service, can still carry one. Such a token is probed before it joins the schedule (its weight
 * and queue priority must be computable) and, if a re-plan throws anyway, each token is probed
 * with a one-token plan. A token that fails is taken out of the schedule, reported (event,
 * warn log, the status's `tokens.skipped`) and re-admitted when its row is edited.
 */
import type { Clock } from '../core/clock.js';
import type { Logger } from './scheduler.js';
import type { SchedToken } from './token-state.js';

export interface SkippedToken {
  tokenId: number;
  address: string;
  reason: string;
  at: number;
}

export interface AdmissionOptions {
  /** Throws when the token cannot be planned. */
  probe(t: SchedToken): void;
  clock: Clock;
  logger: Logger;
  onSkip(s: SkippedToken): void;
}

/** Warn lines per minute before skips are only counted (a bad import could hold thousands). */
const WARN_PER_MINUTE = 10;

export class TokenAdmission {
  readonly skipped = new Map<number, SkippedToken>();
  private windowStart = -Infinity;
  private warned = 0;
  private suppressed = 0;

  constructor(private readonly o: AdmissionOptions) {}

  /** True when the token can be planned; otherwise it is recorded as skipped. */
  admit(t: SchedToken): boolean {
    try {
      this.o.probe(t);
    } catch (err) {
      this.skip(t, err);
      return false;
    }
    this.skipped.delete(t.id);
    return true;
  }

  skip(t: SchedToken, err: unknown): void {
    const at = this.o.clock.now();
    const reason = err instanceof Error ? err.message : String(err);
    const s: SkippedToken = { tokenId: t.id, address: t.address, reason, at };
    this.skipped.set(t.id, s);
    if (at - this.windowStart >= 60_000) {
      if (this.suppressed > 0)
        this.o.logger.warn({ suppressed: this.suppressed }, 'more tokens skipped (not logged one by one)');
      this.windowStart = at;
      this.warned = 0;
      this.suppressed = 0;
    }
    if (this.warned < WARN_PER_MINUTE) {
      this.warned++;
      this.o.logger.warn(
        { address: t.address, tokenId: t.id, reason },
        'token skipped: its values cannot be planned (fix the row; it is re-admitted when edited)',
      );
    } else this.suppressed++;
    this.o.onSkip(s);
  }
}
