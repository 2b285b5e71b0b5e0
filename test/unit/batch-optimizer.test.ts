import { describe, expect, it } from 'vitest';
import { BatchSizeController, createBatches, getOptimalBatchSize } from '../../src/core/batch-optimizer.js';

interface T {
  id: number;
  priority: number;
  group: string | null;
}

function toks(n: number, group: (i: number) => string | null = () => null): T[] {
  return Array.from({ length: n }, (_, i) => ({ id: i, priority: (i * 7919) % 1000, group: group(i) }));
}

describe('createBatches', () => {
  it('fills batches by priority up to the maximum, using ceil(n / max) requests', () => {
    const tokens = toks(120);
    const batches = createBatches(tokens, { maxBatchSize: 50 });
    expect(batches.map((b) => b.length)).toEqual([50, 50, 20]);
    for (let i = 0; i + 1 < batches.length; i++) {
      const minHere = Math.min(...batches[i]!.map((t) => t.priority));
      const maxNext = Math.max(...batches[i + 1]!.map((t) => t.priority));
      expect(minHere).toBeGreaterThanOrEqual(maxNext);
    }
    expect(new Set(batches.flat().map((t) => t.id)).size).toBe(120);
    expect(createBatches([], { maxBatchSize: 50 })).toEqual([]);
  });

  it('spreads tokens sharing a group key across batches so one failed request never takes a whole group', () => {
    // 10 contest tokens with the highest priorities would all land in batch 1 without spreading.
    const tokens = toks(100).map((t, i) => (i < 10 ? { ...t, priority: 5000 + i, group: 'contest-A' } : t));
    const batches = createBatches(tokens, { maxBatchSize: 50, groupKey: (t) => t.group });
    expect(batches.map((b) => b.length)).toEqual([50, 50]);
    const perBatch = batches.map((b) => b.filter((t) => t.group === 'contest-A').length);
    expect(perBatch).toEqual([5, 5]);
    // the most important member still goes first
    expect(batches[0]![0]!.priority).toBe(5009);
  });

  it('spreads a low-priority group even when higher-priority ungrouped tokens fill the first batch', () => {
    const tokens: T[] = [
      ...[100, 99, 98, 97, 96, 95].map((p, i) => ({ id: i, priority: p, group: null })),
      ...[4, 3, 2, 1].map((p, i) => ({ id: 10 + i, priority: p, group: 'pool-X' })),
    ];
    const batches = createBatches(tokens, { maxBatchSize: 5, groupKey: (t) => t.group });
    expect(batches.map((b) => b.length)).toEqual([5, 5]);
    expect(batches.map((b) => b.filter((t) => t.group === 'pool-X').length)).toEqual([2, 2]);
    expect(batches[0]![0]!.priority).toBe(100);
    for (const b of batches)
      expect(b.map((t) => t.priority)).toEqual([...b.map((t) => t.priority)].sort((x, y) => y - x));
  });

  it('a group of m tokens has at most ceil(m / B) members in any batch (random groups)', () => {
    let seed = 99;
    const rnd = (): number => (seed = (seed * 16807) % 2147483647) / 2147483647;
    for (let round = 0; round < 20; round++) {
      const n = 50 + Math.floor(rnd() * 950);
      const tokens = Array.from({ length: n }, (_, i) => ({
        id: i,
        priority: Math.floor(rnd() * 100),
        group: rnd() < 0.3 ? `g${Math.floor(rnd() * 8)}` : null,
      }));
      const batches = createBatches(tokens, { maxBatchSize: 50, groupKey: (t) => t.group });
      const B = Math.ceil(n / 50);
      expect(batches).toHaveLength(B);
      expect(batches.flat()).toHaveLength(n);
      for (const b of batches) expect(b.length).toBeLessThanOrEqual(50);
      const sizes = new Map<string, number>();
      for (const t of tokens) if (t.group) sizes.set(t.group, (sizes.get(t.group) ?? 0) + 1);
      for (const [g, m] of sizes) {
        for (const b of batches) {
          expect(b.filter((t) => t.group === g).length).toBeLessThanOrEqual(Math.ceil(m / B));
        }
      }
    }
  });

  it('rejects a bad batch size or priority, naming the field', () => {
    expect(() => createBatches(toks(3), { maxBatchSize: 0 })).toThrow(/maxBatchSize/);
    expect(() => createBatches(toks(3), { maxBatchSize: Number.NaN })).toThrow(/maxBatchSize/);
    expect(() => createBatches(toks(3), { maxBatchSize: 2.5 })).toThrow(/maxBatchSize/);
    expect(() => createBatches([{ id: 1, priority: Number.NaN }], { maxBatchSize: 5 })).toThrow(/priority/);
  });
});

describe('BatchSizeController', () => {
  it('shrinks after oversize/timeout errors and never below 1', () => {
    const c = new BatchSizeController({ sourceMax: 50 });
    expect(c.size).toBe(50);
    c.recordFailure('timeout');
    expect(c.size).toBe(25);
    c.recordFailure('oversize');
    expect(c.size).toBe(12);
    for (let i = 0; i < 10; i++) c.recordFailure('timeout');
    expect(c.size).toBe(1);
    c.recordFailure('other'); // not the size's fault
    expect(c.size).toBe(1);
  });

  it('grows back after successes, never above the source maximum', () => {
    const c = new BatchSizeController({ sourceMax: 50, growAfterSuccesses: 3 });
    c.recordFailure('timeout'); // 25
    c.recordSuccess();
    c.recordSuccess();
    expect(c.size).toBe(25);
    c.recordSuccess();
    expect(c.size).toBe(38);
    for (let i = 0; i < 30; i++) c.recordSuccess();
    expect(c.size).toBe(50);
  });

  it('does not grow back into a size rejected as oversize until a long run of successes', () => {
    const c = new BatchSizeController({ sourceMax: 50, growAfterSuccesses: 1, forgetOversizeAfter: 20 });
    c.recordFailure('oversize'); // 50 rejected -> 25, ceiling 49
    for (let i = 0; i < 10; i++) c.recordSuccess();
    expect(c.size).toBe(49);
    for (let i = 0; i < 10; i++) c.recordSuccess();
    expect(c.size).toBe(50);
  });

  it('getOptimalBatchSize never exceeds what is pending', () => {
    const c = new BatchSizeController({ sourceMax: 50 });
    expect(c.getOptimalBatchSize()).toBe(50);
    expect(c.getOptimalBatchSize(7)).toBe(7);
    expect(() => c.getOptimalBatchSize(-1)).toThrow(/pending/);
    expect(getOptimalBatchSize(50, 50, 'oversize')).toBe(25);
    expect(getOptimalBatchSize(25, 50, 'success')).toBe(38);
    expect(getOptimalBatchSize(40, 50, 'success')).toBe(50);
    expect(getOptimalBatchSize(1, 50, 'timeout')).toBe(1);
  });

  it('rejects bad sizes, naming the field', () => {
    expect(() => new BatchSizeController({ sourceMax: 0 })).toThrow(/sourceMax/);
    expect(() => new BatchSizeController({ sourceMax: 50, initial: Number.NaN })).toThrow(/initial/);
    expect(() => getOptimalBatchSize(-2, 50, 'success')).toThrow(/current/);
  });
});
