import { describe, expect, it } from 'vitest';
import { PriceBook } from '../../src/market/price-model.js';
import { Rng } from '../../src/core/rng.js';
import { base58 } from '../../src/market/base58.js';
import { buildTokens } from '../../src/market/tokens.js';
import { isMintAddress } from '../../src/sources/validate.js';

const START = Date.UTC(2026, 0, 1);
const DAY = 86_400_000;

function std(xs: number[]): number {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  return Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / (xs.length - 1));
}

describe('synthetic tokens', () => {
  it('are valid, distinct base58 addresses, the same for the same seed', () => {
    const a = buildTokens(500, 42, START);
    const b = buildTokens(500, 42, START);
    const c = buildTokens(500, 43, START);
    expect(a.map((t) => t.address)).toEqual(b.map((t) => t.address));
    expect(a[0]!.address).not.toBe(c[0]!.address);
    expect(new Set(a.map((t) => t.address)).size).toBe(500);
    for (const t of a) {
      expect(isMintAddress(t.address)).toBe(true);
      expect(t.address.length).toBeGreaterThanOrEqual(32);
      expect(t.address.length).toBeLessThanOrEqual(44);
    }
  });

  it('spread daily volatility over 1 %..30 %', () => {
    const sig = buildTokens(2000, 1, START).map((t) => t.sigmaDaily);
    expect(Math.min(...sig)).toBeGreaterThanOrEqual(0.01);
    expect(Math.max(...sig)).toBeLessThanOrEqual(0.3);
    expect(sig.filter((s) => s < 0.03).length).toBeGreaterThan(200);
    expect(sig.filter((s) => s > 0.15).length).toBeGreaterThan(200);
  });

  it('keep given spec fields and reject bad ones with the field named', () => {
    const [t] = buildTokens([{ symbol: 'SOL', initialPrice: 150, sigmaDaily: 0.04, decimals: 9 }], 1, START);
    expect(t).toMatchObject({ symbol: 'SOL', initialPrice: 150, sigmaDaily: 0.04, decimals: 9 });
    expect(() => buildTokens([{ initialPrice: -1 }], 1, START)).toThrow(/tokens\[0\]\.initialPrice/);
    expect(() => buildTokens([{ address: 'bad' }], 1, START)).toThrow(/address/);
    expect(() => buildTokens(0, 1, START)).toThrow(/tokens/);
    expect(() => buildTokens(2.5, 1, START)).toThrow(/tokens/);
  });

  it('base58 keeps leading zero bytes as 1s', () => {
    expect(base58(new Uint8Array([0, 0, 1]))).toBe('112');
    expect(base58(new Uint8Array(32))).toBe('1'.repeat(32));
  });
});

describe('PriceBook (lazy GBM)', () => {
  it('log-returns over a day have the token volatility (jumps off)', () => {
    const tokens = buildTokens(
      Array.from({ length: 3000 }, () => ({ sigmaDaily: 0.1, jumpRateDaily: 0, initialPrice: 2 })),
      5,
      START,
    );
    const book = new PriceBook(tokens, START, 5);
    const r = tokens.map((t) => Math.log(book.priceAt(t.address, START + DAY)! / 2));
    expect(std(r)).toBeGreaterThan(0.09);
    expect(std(r)).toBeLessThan(0.11);
    // Martingale in price: mean of P1/P0 stays ~1 (drift −σ²/2 in log).
    const mean = r.reduce((a, x) => a + Math.exp(x), 0) / r.length;
    expect(Math.abs(mean - 1)).toBeLessThan(0.01);
  });

  it('many small steps and one big step have the same law', () => {
    const specs = Array.from({ length: 2000 }, () => ({
      sigmaDaily: 0.2,
      jumpRateDaily: 0,
      initialPrice: 1,
    }));
    const tokens = buildTokens(specs, 9, START);
    const book = new PriceBook(tokens, START, 9);
    const steps: number[] = [];
    for (const t of tokens.slice(0, 1000)) {
      for (let h = 1; h <= 24; h++) book.priceAt(t.address, START + h * 3_600_000);
      steps.push(Math.log(book.priceAt(t.address, START + DAY)!));
    }
    const jumps = tokens.slice(1000).map((t) => Math.log(book.priceAt(t.address, START + DAY)!));
    expect(std(steps)).toBeGreaterThan(0.18);
    expect(std(steps)).toBeLessThan(0.22);
    expect(std(jumps)).toBeGreaterThan(0.18);
    expect(std(jumps)).toBeLessThan(0.22);
  });

  it('jumps add variance on top of the diffusion', () => {
    const specs = Array.from({ length: 3000 }, () => ({
      sigmaDaily: 0.01,
      jumpRateDaily: 4,
      jumpSize: 0.1,
      initialPrice: 1,
    }));
    const tokens = buildTokens(specs, 3, START);
    const book = new PriceBook(tokens, START, 3);
    const r = tokens.map((t) => Math.log(book.priceAt(t.address, START + DAY)!));
    // Var = σ² + λ·J² = 0.0001 + 0.04 → std ≈ 0.2
    expect(std(r)).toBeGreaterThan(0.17);
    expect(std(r)).toBeLessThan(0.23);
  });

  it('is stable for a fixed time, ignores time going backwards, and reports a 24 h change', () => {
    const tokens = buildTokens([{ initialPrice: 10, sigmaDaily: 0.3 }], 1, START);
    const book = new PriceBook(tokens, START, 1);
    const a = tokens[0]!.address;
    const p1 = book.priceAt(a, START + 2 * DAY)!;
    expect(book.priceAt(a, START + 2 * DAY)).toBe(p1);
    expect(book.priceAt(a, START + DAY)).toBe(p1);
    const ch = book.change24h(a, START + 2 * DAY)!;
    expect(Number.isFinite(ch)).toBe(true);
    expect(book.priceAt('unknown', START)).toBeNull();
    expect(book.blockId(START + 4000)).toBe(book.blockId(START) + 10);
  });

  it('Rng is reproducible', () => {
    const a = new Rng(7);
    const b = new Rng(7);
    expect([a.next(), a.normal(), a.poisson(2)]).toEqual([b.next(), b.normal(), b.poisson(2)]);
  });
});
