/**
 * The in-process lock in front of the price API: at most `maxConcurrent` requests at once (1 by
 * default, the seed's "no two price calls overlap"), granted first come first served, except that
 * a 'high' caller (a manual refresh) goes ahead of every queued 'normal' one. Waiting is abortable.
 */
export type RequestPriority = 'high' | 'normal';

interface Waiter {
  priority: RequestPriority;
  grant: () => void;
}

export class RequestLock {
  private active = 0;
  private readonly waiters: Waiter[] = [];

  constructor(readonly maxConcurrent = 1) {
    if (!Number.isInteger(maxConcurrent) || maxConcurrent < 1) {
      throw new RangeError(`maxConcurrent must be a positive integer, got ${maxConcurrent}`);
    }
  }

  get running(): number {
    return this.active;
  }

  get queued(): number {
    return this.waiters.length;
  }

  /** Resolves with a release function once a slot is held. Call release exactly once. */
  acquire(priority: RequestPriority = 'normal', signal?: AbortSignal): Promise<() => void> {
    if (priority !== 'high' && priority !== 'normal') {
      return Promise.reject(new TypeError(`priority must be 'high' or 'normal', got ${String(priority)}`));
    }
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.active < this.maxConcurrent && this.waiters.length === 0) {
      this.active++;
      return Promise.resolve(this.releaser());
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        priority,
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve(this.releaser());
        },
      };
      const onAbort = (): void => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      if (priority === 'high') {
        const firstNormal = this.waiters.findIndex((w) => w.priority === 'normal');
        this.waiters.splice(firstNormal < 0 ? this.waiters.length : firstNormal, 0, waiter);
      } else {
        this.waiters.push(waiter);
      }
    });
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiters.shift();
      if (next) next.grant();
      else this.active--;
    };
  }
}
