import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { CircuitBreaker, type CircuitState } from '../../src/core/circuit-breaker.js';

function setup(threshold = 3, cooldownMs = 30_000) {
  const clock = new ManualClock(0);
  const changes: { state: CircuitState; at: number; retryAt: number | null }[] = [];
  const breaker = new CircuitBreaker({
    clock,
    failureThreshold: threshold,
    cooldownMs,
    onStateChange: (state, info) => changes.push({ state, at: info.at, retryAt: info.retryAt }),
  });
  return { clock, breaker, changes };
}

describe('CircuitBreaker', () => {
  it('opens after failureThreshold consecutive failures', () => {
    const { breaker, changes } = setup(3);
    breaker.recordFailure();
    breaker.recordFailure();
    expect(breaker.state).toBe('closed');
    expect(breaker.canRequest()).toBe(true);
    breaker.recordFailure();
    expect(breaker.state).toBe('open');
    expect(breaker.canRequest()).toBe(false);
    expect(breaker.retryAt()).toBe(30_000);
    expect(changes).toEqual([{ state: 'open', at: 0, retryAt: 30_000 }]);
  });

  it('a success in between resets the consecutive count', () => {
    const { breaker } = setup(3);
    breaker.recordFailure();
    breaker.recordFailure();
    breaker.recordSuccess();
    breaker.recordFailure();
    breaker.recordFailure();
    expect(breaker.state).toBe('closed');
  });

  it('half-open after the cool-down lets exactly one probe through', () => {
    const { clock, breaker, changes } = setup(1, 10_000);
    breaker.recordFailure();
    clock.advance(9_999);
    expect(breaker.canRequest()).toBe(false);
    clock.advance(1);
    expect(breaker.canRequest()).toBe(true);
    expect(breaker.state).toBe('half-open');
    expect(breaker.canRequest()).toBe(false);
    expect(breaker.canRequest()).toBe(false);
    expect(changes.map((c) => c.state)).toEqual(['open', 'half-open']);
  });

  it('a successful probe closes the circuit', () => {
    const { clock, breaker, changes } = setup(1, 10_000);
    breaker.recordFailure();
    clock.advance(10_000);
    expect(breaker.canRequest()).toBe(true);
    breaker.recordSuccess();
    expect(breaker.state).toBe('closed');
    expect(breaker.retryAt()).toBeNull();
    expect(breaker.canRequest()).toBe(true);
    expect(changes.map((c) => c.state)).toEqual(['open', 'half-open', 'closed']);
  });

  it('a failed probe re-opens the circuit for a fresh cool-down', () => {
    const { clock, breaker, changes } = setup(2, 10_000);
    breaker.recordFailure();
    breaker.recordFailure();
    clock.advance(15_000);
    expect(breaker.canRequest()).toBe(true);
    breaker.recordFailure();
    expect(breaker.state).toBe('open');
    expect(breaker.retryAt()).toBe(25_000);
    expect(breaker.canRequest()).toBe(false);
    expect(changes.map((c) => c.state)).toEqual(['open', 'half-open', 'open']);
    expect(breaker.snapshot().timesOpened).toBe(2);
  });

  it('a late success while open does not close it; only a probe does', () => {
    const { breaker } = setup(1);
    breaker.recordFailure();
    breaker.recordSuccess();
    expect(breaker.state).toBe('open');
    expect(breaker.canRequest()).toBe(false);
  });

  it('a probe whose result never comes back frees its slot after another cool-down', () => {
    const { clock, breaker } = setup(1, 10_000);
    breaker.recordFailure();
    clock.advance(10_000);
    expect(breaker.canRequest()).toBe(true);
    clock.advance(9_999);
    expect(breaker.canRequest()).toBe(false);
    clock.advance(1);
    expect(breaker.canRequest()).toBe(true);
  });

  it('rejects bad options, naming the field', () => {
    const clock = new ManualClock(0);
    expect(() => new CircuitBreaker({ clock, failureThreshold: 0 })).toThrow(/failureThreshold/);
    expect(() => new CircuitBreaker({ clock, cooldownMs: Number.NaN })).toThrow(/cooldownMs/);
  });
});
