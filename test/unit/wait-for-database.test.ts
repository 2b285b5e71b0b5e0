import { describe, expect, it } from 'vitest';
import { ManualClock, flushMicrotasks } from '../../src/core/clock.js';
import { waitForDatabase } from '../../src/store/wait.js';

describe('waitForDatabase', () => {
  it('retries with backoff 1, 2, 4 … 30 s, logging each failure, until the database answers', async () => {
    const clock = new ManualClock(0);
    const attempts: number[] = [];
    let upAt = 70_000;
    const ping = async () => {
      attempts.push(clock.now());
      if (clock.now() < upAt) throw new Error('connect ECONNREFUSED');
    };
    const warns: object[] = [];
    const p = waitForDatabase(ping, { clock, logger: { warn: (o) => warns.push(o), info: () => {} } });
    for (let i = 0; i < 200; i++) await clock.advanceAsync(1_000);
    await expect(p).resolves.toBe(8);
    expect(attempts).toEqual([0, 1_000, 3_000, 7_000, 15_000, 31_000, 61_000, 91_000]);
    expect(warns).toHaveLength(7);
    upAt = 0;
  });

  it('stops waiting when aborted (SIGTERM during start-up)', async () => {
    const clock = new ManualClock(0);
    const ac = new AbortController();
    const p = waitForDatabase(() => Promise.reject(new Error('down')), { clock, signal: ac.signal });
    await clock.advanceAsync(5_000);
    ac.abort(new Error('stopping'));
    await flushMicrotasks();
    await expect(p).rejects.toThrow('stopping');
  });
});
