/**
 * Manual refresh requests ("refresh this token now"): first in line, through the limiter, and
 * never a second request for a token that is already in one.
 *
 * A request for a token whose batch is in flight waits for that batch to finish and is then
 * served by the next request: the answer already on its way was asked for before the user
 * asked, so it does not count, and sending the token again at once would put it in two requests
 * at the same time. Waiters are claimed when a batch starts, so a batch resolves only the
 * waiters that were registered before it was sent.
 */
import type { TokenResult } from './batch-processor.js';

type Resolve = (r: TokenResult) => void;

export class ManualRequests {
  /** Token ids in the order they were asked for (each at most once). */
  private readonly order: number[] = [];
  private readonly waiters = new Map<number, Resolve[]>();

  get size(): number {
    return this.order.length;
  }

  /** Register a request; resolves with the token's result in the first batch sent after now. */
  add(id: number): Promise<TokenResult> {
    return new Promise((resolve) => {
      const ws = this.waiters.get(id);
      if (ws) ws.push(resolve);
      else this.waiters.set(id, [resolve]);
      if (!this.order.includes(id)) this.order.push(id);
    });
  }

  /** True when some requested token could go now (it is not in flight). */
  hasReady(inFlight: ReadonlySet<number>): boolean {
    for (const id of this.order) if (!inFlight.has(id)) return true;
    return false;
  }

  /**
   * Up to `max` requested ids that are not in flight, in request order, removed from the list.
   * Ids in flight stay, in order, for a later batch.
   */
  take(max: number, inFlight: ReadonlySet<number>): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.order.length && out.length < max;) {
      const id = this.order[i]!;
      if (inFlight.has(id)) i++;
      else {
        out.push(id);
        this.order.splice(i, 1);
      }
    }
    return out;
  }

  /** Put ids back at the front (taken but not sent). */
  restore(ids: readonly number[]): void {
    const missing = ids.filter((id) => !this.order.includes(id));
    this.order.unshift(...missing);
  }

  /**
   * Claim the waiters of a batch's tokens as it is sent: they are answered by this batch.
   * Requests registered later wait for the next one.
   */
  claim(ids: readonly number[]): Map<number, Resolve[]> {
    const claimed = new Map<number, Resolve[]>();
    for (const id of ids) {
      const ws = this.waiters.get(id);
      if (!ws) continue;
      // Only a token no longer listed is served by this batch (a listed one was asked for again
      // while this batch was being assembled; it stays for the next).
      if (this.order.includes(id)) continue;
      claimed.set(id, ws);
      this.waiters.delete(id);
    }
    return claimed;
  }

  /** Forget a token (deactivated, skipped): its waiters get `result`. */
  drop(id: number, result: TokenResult): void {
    const i = this.order.indexOf(id);
    if (i >= 0) this.order.splice(i, 1);
    const ws = this.waiters.get(id);
    this.waiters.delete(id);
    for (const w of ws ?? []) w(result);
  }

  /** Answer every waiter (the scheduler is stopping). */
  resolveAll(result: TokenResult): void {
    for (const ws of this.waiters.values()) for (const w of ws) w(result);
    this.waiters.clear();
    this.order.length = 0;
  }
}
