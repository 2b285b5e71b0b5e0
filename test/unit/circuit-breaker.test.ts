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
    expect(breaker.canRequest()).not.toBeNull();
    breaker.recordFailure();
    expect(breaker.state).toBe('open');
    expect(breaker.canRequest()).toBeNull();
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
    expect(breaker.canRequest()).toBeNull();
    clock.advance(1);
    expect(breaker.canRequest()).not.toBeNull();
    expect(breaker.state).toBe('half-open');
    expect(breaker.canRequest()).toBeNull();
    expect(breaker.canRequest()).toBeNull();
    expect(changes.map((c) => c.state)).toEqual(['open', 'half-open']);
  });

  it('a successful probe closes the circuit', () => {
    const { clock, breaker, changes } = setup(1, 10_000);
    breaker.recordFailure();
    clock.advance(10_000);
    const probe = breaker.canRequest();
    expect(probe?.probe).toBe(true);
    breaker.recordSuccess(probe!);
    expect(breaker.state).toBe('closed');
    expect(breaker.retryAt()).toBeNull();
    expect(breaker.canRequest()).not.toBeNull();
    expect(changes.map((c) => c.state)).toEqual(['open', 'half-open', 'closed']);
  });

  it('a failed probe re-opens the circuit for a fresh cool-down', () => {
    const { clock, breaker, changes } = setup(2, 10_000);
    breaker.recordFailure();
    breaker.recordFailure();
    clock.advance(15_000);
    const probe = breaker.canRequest();
    expect(probe).not.toBeNull();
    breaker.recordFailure(probe!);
    expect(breaker.state).toBe('open');
    expect(breaker.retryAt()).toBe(25_000);
    expect(breaker.canRequest()).toBeNull();
    expect(changes.map((c) => c.state)).toEqual(['open', 'half-open', 'open']);
    expect(breaker.snapshot().timesOpened).toBe(2);
  });

  it('a late success while open does not close it; only a probe does', () => {
    const { breaker } = setup(1);
    breaker.recordFailure();
    breaker.recordSuccess();
    expect(breaker.state).toBe('open');
    expect(breaker.canRequest()).toBeNull();
  });

  it('a probe whose result never comes back frees its slot after another cool-down', () => {
    const { clock, breaker } = setup(1, 10_000);
    breaker.recordFailure();
    clock.advance(10_000);
    expect(breaker.canRequest()).not.toBeNull();
    clock.advance(9_999);
    expect(breaker.canRequest()).toBeNull();
    clock.advance(1);
    expect(breaker.canRequest()).not.toBeNull();
  });

  it('half-open: a success of a request sent before the circuit opened does not close it', () => {
    const { clock, breaker, changes } = setup(1, 10_000);
    const early = breaker.canRequest(); // sent while closed, answers late
    expect(early).not.toBeNull();
    breaker.recordFailure(breaker.canRequest()!); // another request fails: open
    clock.advance(10_000);
    const probe = breaker.canRequest();
    expect(probe?.probe).toBe(true);
    expect(breaker.state).toBe('half-open');
    breaker.recordSuccess(early!);
    expect(breaker.state).toBe('half-open');
    expect(breaker.canRequest()).toBeNull(); // the probe is still out
    breaker.recordSuccess(probe!);
    expect(breaker.state).toBe('closed');
    expect(changes.map((c) => c.state)).toEqual(['open', 'half-open', 'closed']);
  });

  it('half-open: a late failure of a pre-open request does not re-open it; the probe decides', () => {
    const { clock, breaker } = setup(1, 10_000);
    const early = breaker.canRequest()!;
    breaker.recordFailure(breaker.canRequest()!);
    clock.advance(10_000);
    const probe = breaker.canRequest()!;
    breaker.recordFailure(early);
    expect(breaker.state).toBe('half-open');
    breaker.recordFailure(probe);
    expect(breaker.state).toBe('open');
    expect(breaker.retryAt()).toBe(20_000);
  });

  it('an outcome reported without a ticket never closes a half-open circuit', () => {
    const { clock, breaker } = setup(1, 10_000);
    breaker.recordFailure();
    clock.advance(10_000);
    expect(breaker.canRequest()).not.toBeNull();
    breaker.recordSuccess();
    expect(breaker.state).toBe('half-open');
  });

  it('rejects bad options, naming the field', () => {
    const clock = new ManualClock(0);
    expect(() => new CircuitBreaker({ clock, failureThreshold: 0 })).toThrow(/failureThreshold/);
    expect(() => new CircuitBreaker({ clock, cooldownMs: Number.NaN })).toThrow(/cooldownMs/);
  });
});
