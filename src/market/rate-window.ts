/**
 * The simulator's rate limit: at most `rpm` admitted requests in any 60 s sliding window, by
 * arrival time on the market's clock (the way Jupiter documents its limits). A refused request
 * (429) does not take a slot, so a client that waits for the reset gets in.
 */
export const WINDOW_MS = 60_000;

export interface WindowVerdict {
  allowed: boolean;
  limit: number;
  /** Admitted requests in the window, counting this one when allowed. */
  current: number;
  remaining: number;
  /** Epoch ms when the oldest admitted request leaves the window (a slot frees). */
  resetAtMs: number;
}

export class SlidingWindow {
  private times: number[] = [];
  private head = 0;

  constructor(public rpm: number) {}

  private prune(now: number): void {
    while (this.head < this.times.length && this.times[this.head]! <= now - WINDOW_MS) this.head++;
    if (this.head > 1024 && this.head * 2 > this.times.length) {
      this.times = this.times.slice(this.head);
      this.head = 0;
    }
  }

  count(now: number): number {
    this.prune(now);
    return this.times.length - this.head;
  }

  /** Admits the request at `now` when a slot is free. */
  check(now: number): WindowVerdict {
    this.prune(now);
    const inWindow = this.times.length - this.head;
    const allowed = inWindow < this.rpm;
    if (allowed) this.times.push(now);
    const current = this.times.length - this.head;
    const oldest = current > 0 ? this.times[this.head]! : now;
    return {
      allowed,
      limit: this.rpm,
      current,
      remaining: Math.max(0, this.rpm - current),
      resetAtMs: oldest + WINDOW_MS,
    };
  }
}
