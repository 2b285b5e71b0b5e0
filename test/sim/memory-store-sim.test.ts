/**
 * The MemoryStore settings the simulator uses: history rows not kept (keepHistory = false) must
 * not change what the store decides, only what it retains.
 */
import { describe, expect, it } from 'vitest';
import type { RefreshBatchWrite } from '../../src/core/types.js';
import { MemoryStore } from '../../src/store/memory-store.js';
const ADDRESS = 'So11111111111111111111111111111111111111112';

const T0 = 1_700_000_000_000;

function write(now: number, tokenId: number, price: number): RefreshBatchWrite {
  return {
    now,
    successes: [{ tokenId, price, change24h: null, liquidity: null, blockId: null, source: 's' }],
    misses: [],
    schedules: [],
    deactivate: [],
  };
}

describe('MemoryStore without history rows (the simulator)', () => {
  it('applies the history rule (counted, base moved) but keeps no rows; prices and changes are unaffected', async () => {
    const kept = new MemoryStore({ historyMinChange: 0.01 });
    const counted = new MemoryStore({ historyMinChange: 0.01 });
    counted.db.keepHistory = false;
    const prices = [100, 100.6, 101.2, 101.5, 99.9, 100.3];
    for (const store of [kept, counted]) {
      await store.upsertTokens([{ address: ADDRESS }], T0);
      for (const [i, p] of prices.entries()) await store.writeRefreshResults(write(T0 + i * 1000, 1, p));
    }
    // 100, 101.2 and 99.9 move >= 1 % from the last recorded price (see history-retention.test.ts).
    expect(kept.db.historyCount()).toBe(3);
    expect(kept.db.historyWritten).toBe(3);
    expect(counted.db.historyWritten).toBe(3);
    expect(counted.db.historyCount()).toBe(0);
    expect(await counted.getPriceHistory(1, { limit: 10 })).toEqual([]);
    expect(await counted.getToken(1)).toEqual(await kept.getToken(1));
    const next = await counted.writeRefreshResults(write(T0 + 9000, 1, 100.3));
    expect(next.changed).toEqual([]);
  });
});
