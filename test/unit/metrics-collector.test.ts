import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { MetricsCollector } from '../../src/core/metrics-collector.js';

class UpstreamStatusError extends Error {
  override name = 'UpstreamStatusError';
}

describe('MetricsCollector', () => {
  it('batch- and token-level success rates: tokens of a failed batch count as failed', () => {
    const clock = new ManualClock(0);
    const m = new MetricsCollector({ clock });
    m.recordBatchCompletion(10, 100, { updated: 8, failed: 2 });
    m.recordBatchFailure(5, 300, new UpstreamStatusError('HTTP 500'));
    const { current, lifetime } = m.getMetrics();
    expect(current.batches).toBe(2);
    expect(current.batchSuccessRate).toBe(0.5);
    expect(current.tokens).toBe(15);
    expect(current.tokensFailed).toBe(7);
    expect(current.tokenSuccessRate).toBeCloseTo(8 / 15, 12);
    expect(current.errors).toEqual({ UpstreamStatusError: 1 });
    expect(lifetime.batchSuccessRate).toBe(0.5);
    expect(lifetime.tokenSuccessRate).toBeCloseTo(8 / 15, 12);
  });

  it('duration avg/min/max/p95', () => {
    const clock = new ManualClock(0);
    const m = new MetricsCollector({ clock });
    for (let d = 1; d <= 20; d++) m.recordBatchCompletion(1, d * 10, { updated: 1, failed: 0 });
    const { duration } = m.getMetrics().current;
    expect(duration).toEqual({ count: 20, avgMs: 105, minMs: 10, maxMs: 200, p95Ms: 190 });
  });

  it('batches per minute over the span actually observed, not a full window', () => {
    const clock = new ManualClock(0);
    const m = new MetricsCollector({ clock });
    for (let i = 0; i < 5; i++) {
      clock.advance(2000);
      m.recordBatchCompletion(50, 100, { updated: 50, failed: 0 });
    }
    const metrics = m.getMetrics(); // 10 s observed, 5 batches
    expect(metrics.current.observedMs).toBe(10_000);
    expect(metrics.current.batchesPerMinute).toBe(30);
    expect(metrics.current.tokensPerMinute).toBe(1500);
    expect(metrics.lifetime.batchesPerMinute).toBe(30);
  });

  it('a collector created mid-window counts the window from its creation', () => {
    const clock = new ManualClock(45_000);
    const m = new MetricsCollector({ clock });
    clock.advance(5000);
    m.recordBatchCompletion(1, 1, { updated: 1, failed: 0 });
    const { current } = m.getMetrics();
    expect(current.start).toBe(0);
    expect(current.observedMs).toBe(5000);
    expect(current.batchesPerMinute).toBe(12);
  });

  it('keeps the current window plus the last 60 windows; lifetime keeps everything', () => {
    const clock = new ManualClock(0);
    const m = new MetricsCollector({ clock, windowMs: 60_000, keepWindows: 60 });
    for (let minute = 0; minute < 90; minute++) {
      m.recordBatchCompletion(2, 50, { updated: 2, failed: 0 });
      clock.advance(60_000);
    }
    m.recordBatchCompletion(2, 50, { updated: 2, failed: 0 });
    const metrics = m.getMetrics();
    expect(metrics.windows).toHaveLength(60);
    expect(metrics.windows[0]!.start).toBe(30 * 60_000);
    expect(metrics.windows.at(-1)!.start).toBe(89 * 60_000);
    expect(metrics.current.start).toBe(90 * 60_000);
    expect(metrics.current.batches).toBe(1);
    expect(metrics.recent.batches).toBe(61);
    expect(metrics.lifetime.batches).toBe(91);
    expect(metrics.lifetime.tokens).toBe(182);
    for (const w of metrics.windows) expect(w.batchesPerMinute).toBe(1);
  });

  it('counts API calls by outcome', () => {
    const clock = new ManualClock(0);
    const m = new MetricsCollector({ clock });
    m.recordApiCall('success');
    m.recordApiCall('success');
    m.recordApiCall('rate-limited');
    const { current, lifetime } = m.getMetrics();
    expect(current.apiCalls).toMatchObject({ success: 2, 'rate-limited': 1, total: 3 });
    expect(lifetime.apiCalls.total).toBe(3);
  });

  it('rejects bad counts and durations, naming the field', () => {
    const clock = new ManualClock(0);
    const m = new MetricsCollector({ clock });
    expect(() => m.recordBatchCompletion(-1, 1, { updated: 0, failed: 0 })).toThrow(/tokenCount/);
    expect(() => m.recordBatchCompletion(1, Number.NaN, { updated: 0, failed: 0 })).toThrow(/durationMs/);
    expect(() => m.recordBatchCompletion(1, 1, { updated: 2, failed: 0 })).toThrow(/updated \+ failed/);
    expect(() => m.recordBatchFailure(1, -5, new Error('x'))).toThrow(/durationMs/);
    // @ts-expect-error untyped caller
    expect(() => m.recordApiCall('weird')).toThrow(/outcome/);
    expect(() => new MetricsCollector({ clock, windowMs: 0 })).toThrow(/windowMs/);
    expect(m.getMetrics().lifetime.batches).toBe(0);
  });
});
