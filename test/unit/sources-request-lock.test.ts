import { describe, expect, it } from 'vitest';
import { flushMicrotasks } from '../../src/core/clock.js';
import { RequestLock } from '../../src/sources/request-lock.js';
import { TypedEmitter } from '../../src/core/emitter.js';

describe('RequestLock', () => {
  it('grants one slot at a time, FIFO, with high priority ahead of queued normal callers', async () => {
    const lock = new RequestLock(1);
    const order: string[] = [];
    const first = await lock.acquire('normal');
    const waits = [
      lock.acquire('normal').then((r) => (order.push('n1'), r)),
      lock.acquire('normal').then((r) => (order.push('n2'), r)),
      lock.acquire('high').then((r) => (order.push('h1'), r)),
      lock.acquire('high').then((r) => (order.push('h2'), r)),
    ];
    expect(lock.queued).toBe(4);
    await flushMicrotasks();
    expect(order).toEqual([]);
    // Grant order: h1, h2, n1, n2 (indices 2, 3, 0, 1 of `waits`); each waits for the previous release.
    let release = first;
    for (const i of [2, 3, 0, 1]) {
      release();
      await flushMicrotasks();
      expect(lock.running).toBe(1);
      expect(order).toHaveLength([2, 3, 0, 1].indexOf(i) + 1);
      release = await waits[i]!;
    }
    release();
    expect(order).toEqual(['h1', 'h2', 'n1', 'n2']);
    expect(lock.running).toBe(0);
  });

  it('allows maxConcurrent holders and ignores a double release', async () => {
    const lock = new RequestLock(2);
    const a = await lock.acquire();
    const b = await lock.acquire();
    let third = false;
    const c = lock.acquire().then((r) => ((third = true), r));
    await flushMicrotasks();
    expect(third).toBe(false);
    a();
    a();
    await flushMicrotasks();
    expect(third).toBe(true);
    expect(lock.running).toBe(2);
    b();
    (await c)();
    expect(lock.running).toBe(0);
  });

  it('an aborted waiter leaves the queue with the abort reason', async () => {
    const lock = new RequestLock(1);
    const held = await lock.acquire();
    const ctrl = new AbortController();
    const p = lock.acquire('normal', ctrl.signal);
    const reason = new Error('gave up');
    ctrl.abort(reason);
    await expect(p).rejects.toBe(reason);
    expect(lock.queued).toBe(0);
    held();
    expect(lock.running).toBe(0);
  });

  it('rejects bad settings', async () => {
    expect(() => new RequestLock(0)).toThrow(/maxConcurrent/);
    await expect(new RequestLock().acquire('urgent' as 'high')).rejects.toThrow(/priority/);
  });
});

describe('TypedEmitter', () => {
  it('delivers to listeners until unsubscribed, isolating a throwing listener', () => {
    const errors: unknown[] = [];
    const em = new TypedEmitter<{ ping: { n: number } }>((e) => errors.push(e));
    const got: number[] = [];
    em.on('ping', () => {
      throw new Error('bad listener');
    });
    const off = em.on('ping', (p) => got.push(p.n));
    em.emit('ping', { n: 1 });
    off();
    em.emit('ping', { n: 2 });
    expect(got).toEqual([1]);
    expect(errors).toHaveLength(2);
    expect(em.listenerCount('ping')).toBe(1);
  });
});
