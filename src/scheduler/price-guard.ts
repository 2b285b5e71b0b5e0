/**
 * The plausibility guard's memory: quotes held back because their move from the stored price was
 * implausible (core/plausibility.ts), waiting for the next observation of the same token.
 *
 * decide() is pure: it says what to do with a new quote (write it, or hold it and re-fetch) and
 * what the held state would become. commit() applies that after the batch's write committed, so
 * a failed write leaves the held state exactly as it was (the token is fetched again and judged
 * again from the same state).
 *
 * At the next observation of a token with a held quote:
 *  - close to the held quote (within the allowance from it over the time since the hold):
 *    confirmed, the new quote is written (extreme moves need a second agreeing quote first);
 *  - else consistent with the stored price: the held quote is dropped, the new one written;
 *  - else: the held quote is dropped and the new one held in its place.
 * A held quote older than `maxHoldAgeMs` (10 min: a prompt re-fetch comes within seconds, so a
 * hold that old was abandoned, e.g. the token was deactivated or the source stopped answering
 * for it) is dropped and the next quote judged afresh against the stored price.
 *
 * Re-fetch: the first hold makes the token due at once (its old due time is kept when earlier);
 * the scheduler puts such a token first in line, like a manual refresh, and like one it is not
 * held to the minimum interval: the interval counts from the last written price, and the quote
 * being held may itself have come from a manual refresh seconds after that write. Holds in a
 * chain (a replacement, or the first of two confirmations) back off like misses, 2 s doubling,
 * and wait their turn in the queue, so a source that keeps sending implausible quotes for a token
 * cannot fill every request with it.
 */
import {
  judgeMove,
  type MoveVerdict,
  type PlausibilityOptions,
  resolvePlausibility,
} from '../core/plausibility.js';
import { missBackoffMs } from './token-state.js';

export interface HeldPrice {
  /** The quote held back (the latest agreeing one, once a confirmation is counted). */
  price: number;
  /** When it was observed (epoch ms). */
  at: number;
  /** The stored price it was judged against. */
  storedPrice: number;
  /** Agreeing observations so far, and how many are needed. */
  confirmations: number;
  needed: number;
  /** Consecutive hold decisions for this token (1 = the first hold). */
  holds: number;
  /** When it was first held (epoch ms). */
  since: number;
}

export type DropReason = 'stored-price-confirmed' | 'not-confirmed' | 'expired';

export type GuardDecision =
  | { kind: 'write'; dropped?: { held: HeldPrice; reason: DropReason } }
  | { kind: 'confirmed'; held: HeldPrice }
  | {
      kind: 'hold';
      next: HeldPrice;
      verdict: MoveVerdict;
      /** True when this quote starts a hold (counted as held and announced). */
      fresh: boolean;
      dropped?: { held: HeldPrice; reason: DropReason };
      /** When the token should be fetched again (epoch ms). */
      refetchAt: number;
    };

export interface GuardToken {
  id: number;
  price: number | null;
  lastRefreshSuccess: number | null;
  schedule: { nextDueAt: number };
}

export interface GuardCounts {
  /** Quotes held back (each hold decision that started a hold). */
  held: number;
  /** Held quotes confirmed and written. */
  confirmed: number;
  /** Held quotes dropped unwritten. */
  dropped: number;
}

export interface PriceGuardOptions extends PlausibilityOptions {
  /** A held quote older than this is dropped unconfirmed (default 600 000 ms). */
  maxHoldAgeMs?: number;
}

export class PriceGuard {
  private readonly held = new Map<number, HeldPrice>();
  private readonly maxHoldAgeMs: number;
  private readonly rule: Readonly<Required<PlausibilityOptions>>;
  readonly counts: GuardCounts = { held: 0, confirmed: 0, dropped: 0 };

  constructor(opts: PriceGuardOptions = {}) {
    this.maxHoldAgeMs = opts.maxHoldAgeMs ?? 600_000;
    const { maxHoldAgeMs: _ignored, ...rule } = opts;
    this.rule = resolvePlausibility(rule);
  }

  /** Quotes held right now. */
  get holding(): number {
    return this.held.size;
  }

  /** The held quote of a token, if any. */
  get(tokenId: number): HeldPrice | undefined {
    return this.held.get(tokenId);
  }

  /**
   * What to do with a valid quote `price` for `t` observed at `now`, given the σ (per √s) and
   * jump rate (per s) the policy plans the token with. Pure: commit() applies it.
   */
  decide(t: GuardToken, price: number, now: number, sigma: number, jumpRate: number): GuardDecision {
    const stored = t.price;
    let h = this.held.get(t.id);
    let dropped: { held: HeldPrice; reason: DropReason } | undefined;
    if (h && (now - h.at > this.maxHoldAgeMs || h.storedPrice !== stored)) {
      dropped = { held: h, reason: 'expired' };
      h = undefined;
    }
    // The first price of a token is always accepted: there is nothing to judge it against.
    if (stored === null || !(stored > 0)) return { kind: 'write', dropped };
    if (h) {
      const fromHeld = judgeMove(
        { fromPrice: h.price, toPrice: price, dtSeconds: (now - h.at) / 1000, sigma, jumpRate },
        this.rule,
      );
      if (fromHeld.verdict === 'accept') {
        const confirmations = h.confirmations + 1;
        if (confirmations >= h.needed) return { kind: 'confirmed', held: h };
        const next: HeldPrice = { ...h, price, at: now, confirmations, holds: h.holds + 1 };
        return {
          kind: 'hold',
          next,
          verdict: fromHeld,
          fresh: false,
          refetchAt: this.refetchAt(t, next, now),
        };
      }
    }
    const dtStored = t.lastRefreshSuccess !== null ? Math.max(0, now - t.lastRefreshSuccess) / 1000 : 0;
    const fromStored = judgeMove(
      { fromPrice: stored, toPrice: price, dtSeconds: dtStored, sigma, jumpRate },
      this.rule,
    );
    if (fromStored.verdict === 'accept') {
      return { kind: 'write', dropped: h ? { held: h, reason: 'stored-price-confirmed' } : dropped };
    }
    const next: HeldPrice = {
      price,
      at: now,
      storedPrice: stored,
      confirmations: 0,
      needed: fromStored.confirmationsNeeded,
      holds: h ? h.holds + 1 : 1,
      since: now,
    };
    return {
      kind: 'hold',
      next,
      verdict: fromStored,
      fresh: true,
      dropped: h ? { held: h, reason: 'not-confirmed' } : dropped,
      refetchAt: this.refetchAt(t, next, now),
    };
  }

  /** Apply a decision for token `tokenId` (after the batch's write committed). */
  commit(tokenId: number, d: GuardDecision): void {
    if (d.kind === 'hold') {
      this.held.set(tokenId, d.next);
      if (d.fresh) this.counts.held++;
    } else {
      this.held.delete(tokenId);
      if (d.kind === 'confirmed') this.counts.confirmed++;
    }
    if (d.kind !== 'confirmed' && d.dropped) this.counts.dropped++;
  }

  /** Forget a token's held quote (deleted or deactivated token). */
  forget(tokenId: number): void {
    this.held.delete(tokenId);
  }

  private refetchAt(t: GuardToken, next: HeldPrice, now: number): number {
    if (next.holds <= 1) {
      const due = t.schedule.nextDueAt;
      return Number.isFinite(due) ? Math.min(now, due) : now;
    }
    return now + missBackoffMs(next.holds - 1);
  }
}
