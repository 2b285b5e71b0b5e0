import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';

describe('ManualClock', () => {
  it('fires timers in due order while advancing, including timers set by timers', () => {
    const clock = new ManualClock(1000);
    const fired: string[] = [];
    clock.setTimeout(() => fired.push('b@300'), 300);
    clock.setTimeout(() => {
      fired.push('a@100');
      clock.setTimeout(() => fired.push('c@150'), 50);
    }, 100);
    clock.advance(200);
    expect(fired).toEqual(['a@100', 'c@150']);
    expect(clock.now()).toBe(1200);
    clock.advance(100);
    expect(fired).toEqual(['a@100', 'c@150', 'b@300']);
  });

  it('cleared timers never fire', () => {
    const clock = new ManualClock();
    let n = 0;
    const h = clock.setTimeout(() => n++, 10);
    clock.clearTimeout(h);
    clock.advance(100);
    expect(n).toBe(0);
  });

  it('sleep resolves on advanceAsync and rejects on abort', async () => {
    const clock = new ManualClock();
    let done = false;
    const p = clock.sleep(5000).then(() => (done = true));
    await clock.advanceAsync(4999);
    expect(done).toBe(false);
    await clock.advanceAsync(1);
    await p;
    expect(done).toBe(true);
    const ac = new AbortController();
    const q = clock.sleep(1000, ac.signal);
    ac.abort(new Error('stop'));
    await expect(q).rejects.toThrow('stop');
    expect(clock.pendingTimers).toBe(0);
  });

  it('rejects going backwards', () => {
    expect(() => new ManualClock().advance(-1)).toThrow(/ms must be >= 0/);
  });
});
