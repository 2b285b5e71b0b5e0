/** The dashboard's number formatting (public/format.js, a browser module loaded here as is). */
import { describe, expect, it } from 'vitest';

const path = '../../public/format.js';
const f = (await import(path)) as {
  fmtDuration(s: number): string;
  fmtPct(x: number | null): string;
  fmtRate(r: number): string;
  smoother(tauMs: number): (key: string, v: number, t: number) => number;
  fmtRanges(nums: number[], maxRanges?: number): string;
  fmtSci(x: number | null): string;
};

const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

describe('dashboard formatting', () => {
  it('prints durations in units a person reads', () => {
    expect([15, 59.4, 60, 259, 600, 3599, 3600, 4800, 7200, 50_000, 400_000].map(f.fmtDuration)).toEqual([
      '15s',
      '59s',
      '1m',
      '4m 19s',
      '10m',
      '1h',
      '1h',
      '1h 20m',
      '2h',
      '14h',
      '5d',
    ]);
  });

  it('prints percentages with sensible precision, never in exponent form', () => {
    expect([0, 4.1e-54, 0.00029708, 0.0123, 0.05, 0.4567].map(f.fmtPct)).toEqual([
      '0 %',
      '< 0.0001 %',
      '0.03 %',
      '1.2 %',
      '5 %',
      '45.7 %',
    ]);
    expect(f.fmtPct(null)).toBe('–');
  });

  it('smooths a jumpy per-second rate: a one-second spike of a whole batch moves it by ~3 %', () => {
    const s = f.smoother(30_000);
    expect(s('HIGH', 100, 0)).toBe(100);
    const after = s('HIGH', 150, 1000);
    expect(after).toBeGreaterThan(100);
    expect(after).toBeLessThan(102);
    expect(f.fmtRate(after)).toBe('102');
    expect(f.fmtRate(3.14)).toBe('3.1');
  });

  it('prints partitions as compact ranges, in order, each number once', () => {
    expect(f.fmtRanges([...range(0, 20), 63])).toBe('0–20, 63');
    expect(f.fmtRanges(range(0, 63))).toBe('0–63');
    expect(f.fmtRanges([63, 5, 4, 3, 4, 9, 0])).toBe('0, 3–5, 9, 63');
    expect(f.fmtRanges([7])).toBe('7');
    expect(f.fmtRanges([])).toBe('none');
  });

  it('counts the ranges past the limit instead of listing them', () => {
    const everyOther = range(0, 31).map((i) => 2 * i);
    expect(f.fmtRanges(everyOther, 6)).toBe('0, 2, 4, 6, 8, 10, … 26 more');
    expect(f.fmtRanges([...range(0, 9), 12, ...range(14, 20)], 3)).toBe('0–9, 12, 14–20');
  });

  it('prints a multiplier that spans decades with three significant digits, never as 2.4e-7', () => {
    expect([2.4123e-7, 0.5, 1234.56, 12_345, 0, -3e-5, 1.5e12].map(f.fmtSci)).toEqual([
      '2.41×10⁻⁷',
      '0.5',
      '1230',
      '1.23×10⁴',
      '0',
      '-3×10⁻⁵',
      '1.5×10¹²',
    ]);
    expect(f.fmtSci(null)).toBe('–');
  });
});
