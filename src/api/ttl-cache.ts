/**
 * A value recomputed at most once per `ttlMs` of the service clock, with concurrent loads
 * coalesced into one. The status snapshot and the /metrics text go through it: under a flood of
 * requests the scheduler computes its status a few times per second, not once per request.
 */
import type { Clock } from '../core/clock.js';

export class TtlCache<T> {
  private value: T | undefined;
  private at = Number.NEGATIVE_INFINITY;
  private pending: Promise<T> | null = null;

  constructor(
    private readonly clock: Clock,
    private readonly ttlMs: number,
    private readonly load: () => T | Promise<T>,
  ) {}

  private fresh(): boolean {
    const age = this.clock.now() - this.at;
    return this.value !== undefined && age >= 0 && age < this.ttlMs;
  }

  /** The cached value, or a new one when it is older than the TTL. */
  async get(): Promise<T> {
    if (this.fresh()) return this.value as T;
    if (this.pending) return this.pending;
    const started = this.clock.now();
    this.pending = Promise.resolve()
      .then(this.load)
      .then(
        (v) => {
          this.value = v;
          this.at = started;
          this.pending = null;
          return v;
        },
        (err: unknown) => {
          this.pending = null;
          throw err;
        },
      );
    return this.pending;
  }

  /** Synchronous variant for synchronous loaders. */
  getSync(): T {
    if (this.fresh()) return this.value as T;
    const v = this.load() as T;
    this.value = v;
    this.at = this.clock.now();
    return v;
  }

  invalidate(): void {
    this.value = undefined;
    this.at = Number.NEGATIVE_INFINITY;
  }
}
