import { describe, expect, it } from 'vitest';
import { ByteIdMap } from '../../src/core/id-map.js';

describe('ByteIdMap', () => {
  it('stores, replaces and deletes codes for dense and sparse ids, counting entries once', () => {
    const m = new ByteIdMap();
    const ids = [0, 1, 5000, 2 ** 24 - 1, 2 ** 24, 2 ** 40, -3, 1.5];
    ids.forEach((id, i) => m.set(id, i + 1));
    expect(m.size).toBe(ids.length);
    ids.forEach((id, i) => expect(m.get(id)).toBe(i + 1));
    expect(m.get(7)).toBe(0);
    m.set(5000, 200); // replace: still one entry
    expect(m.size).toBe(ids.length);
    expect(m.get(5000)).toBe(200);
    m.delete(5000);
    m.delete(2 ** 40);
    m.delete(5000); // absent: no change
    expect(m.size).toBe(ids.length - 2);
    expect(m.get(5000)).toBe(0);
    expect(m.get(2 ** 40)).toBe(0);
    m.clear();
    expect(m.size).toBe(0);
    expect(ids.map((id) => m.get(id))).toEqual(ids.map(() => 0));
  });

  it('refuses a code outside 1..255 (0 means "none")', () => {
    const m = new ByteIdMap();
    for (const bad of [0, 256, -1, 1.5, Number.NaN]) expect(() => m.set(1, bad)).toThrow(RangeError);
    expect(m.size).toBe(0);
  });
});
