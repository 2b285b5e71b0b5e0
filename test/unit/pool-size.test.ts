import { describe, expect, it } from 'vitest';
import { poolSizeFor } from '../../src/integration.js';
import { PLANS } from '../../src/core/types.js';
import { requestConcurrency } from '../../src/core/rate-limiter.js';

describe('poolSizeFor', () => {
  it('gives each plan one connection per request in flight, between 10 and 40', () => {
    const pools = Object.fromEntries(
      Object.entries(PLANS).map(([name, rpm]) => [name, poolSizeFor(requestConcurrency(rpm))]),
    );
    expect(pools).toEqual({ keyless: 10, free: 10, developer: 10, launch: 20, pro: 40 });
    expect(poolSizeFor(33)).toBe(33);
  });
});
