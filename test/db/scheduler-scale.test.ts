/**
 * Work that must not grow with the number of tokens: counted, not timed.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  addr,
  tokens,
  closeSharedStore,
  makeHarness,
  step,
  warmSharedStore,
  type Harness,
} from './scheduler-harness.js';
import { SchedulerStats } from '../../src/scheduler/stats.js';

let h: Harness | null = null;
afterEach(async () => {
  vi.restoreAllMocks();
  await h?.close();
  h = null;
});
beforeAll(warmSharedStore);
afterAll(closeSharedStore);

describe('scheduler work that does not grow with the token count', () => {
  it('stop() persists only schedules no batch has written (settings edits), not every token', async () => {
    h = await makeHarness({ tokens: tokens(2000) });
    await step(h, 1000);
    await step(h);
    h.clock.advance(1000);
    await h.store.updateTokenSettings(addr(10), { refresh_interval_seconds: 120 }, h.clock.now());
    await h.scheduler.loadChangedTokens();
    const saved: number[] = [];
    const real = h.store.saveSchedules.bind(h.store);
    h.store.saveSchedules = (states, now) => {
      saved.push(...states.map((s) => s.tokenId));
      return real(states, now);
    };
    await h.scheduler.persistSchedule();
    // 2,000 tokens, 100 refreshed by two batches (their schedules were written with them), one
    // edited: the edit is the only unsaved schedule (the old save wrote all 2,000).
    expect(saved).toEqual([h.scheduler.idForAddress(addr(10))]);
  });

  it('a delta load recounts nothing: tier counts move by the changed tokens only', async () => {
    h = await makeHarness({ tokens: tokens(300) });
    const recount = vi.spyOn(SchedulerStats.prototype, 'recountTiers');
    const tiers = () => Object.fromEntries(h!.scheduler.status().tiers.map((t) => [t.tier, t.tokens]));
    expect(tiers()).toMatchObject({ CRITICAL: 50, HIGH: 150, MEDIUM: 100 });
    h.clock.advance(1000);
    await h.store.upsertTokens([{ address: addr(1000), rank: 5 }], h.clock.now());
    await h.store.updateTokenSettings(addr(250), { is_active: false }, h.clock.now());
    await h.store.upsertTokens([{ address: addr(10), rank: 120 }], h.clock.now());
    await h.scheduler.loadChangedTokens();
    expect(tiers()).toMatchObject({ CRITICAL: 50, HIGH: 151, MEDIUM: 99 });
    expect(recount).not.toHaveBeenCalled();
  });
});
