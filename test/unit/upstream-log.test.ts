import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.js';
import { TypedEmitter } from '../../src/core/emitter.js';
import type { PriceClientEvents, PriceClientStats } from '../../src/sources/price-client.js';
import { attachUpstreamLogging } from '../../src/sources/upstream-log.js';

function setup() {
  const clock = new ManualClock(Date.UTC(2026, 0, 1));
  const events = new TypedEmitter<PriceClientEvents>();
  let failingSince: number | null = null;
  const client = {
    on: events.on.bind(events),
    stats: () => ({ upstreamFailingSince: failingSince }) as PriceClientStats,
  };
  const lines: Array<{ obj: Record<string, unknown>; msg: string }> = [];
  const logger = { warn: (obj: object, msg?: string) => lines.push({ obj: obj as never, msg: msg ?? '' }) };
  const detach = attachUpstreamLogging(client, logger, clock);
  return {
    clock,
    events,
    lines,
    detach,
    failing: (t: number | null) => (failingSince = t),
  };
}

describe('upstream warn logging', () => {
  it('logs circuit open/close, 429, back-off steps, malformed answers and clamped hints at warn', () => {
    const s = setup();
    s.failing(s.clock.now() - 5_000);
    s.events.emit('circuit:open', { retryAt: s.clock.now() + 30_000 });
    s.events.emit('rate-limited', { resetAt: null });
    s.events.emit('backoff', { outcome: 'server-error', consecutiveFailures: 3, delayMs: 8_000 });
    s.events.emit('request', { outcome: 'malformed', durationMs: 5, ids: 50, error: 'body is not JSON' });
    s.events.emit('request', { outcome: 'ok', durationMs: 5, ids: 50 });
    s.events.emit('hint:clamped', { header: 'retry-after', requestedMs: 86_400_000, appliedMs: 300_000 });
    s.events.emit('circuit:closed', {});
    expect(s.lines.map((l) => l.obj.upstream)).toEqual([
      'circuit-open',
      'rate-limited',
      'backoff',
      'malformed',
      'hint-clamped',
      'circuit-closed',
    ]);
    expect(s.lines[0]!.obj).toMatchObject({
      retryAt: new Date(s.clock.now() + 30_000).toISOString(),
      upstreamFailingSince: new Date(s.clock.now() - 5_000).toISOString(),
    });
    expect(s.lines[2]!.obj).toMatchObject({ consecutiveFailures: 3, backoffMs: 8_000 });
    expect(s.lines[4]!.msg).toContain('86400 s');
  });

  it('at most one line per kind per 10 s; the next says how many were suppressed', () => {
    const s = setup();
    for (let i = 0; i < 150; i++) s.events.emit('rate-limited', { resetAt: null });
    s.events.emit('backoff', { outcome: 'rate-limited', consecutiveFailures: 1, delayMs: 2_000 });
    expect(s.lines.map((l) => l.obj.upstream)).toEqual(['rate-limited', 'backoff']);
    s.clock.advance(9_999);
    s.events.emit('rate-limited', { resetAt: null });
    expect(s.lines).toHaveLength(2);
    s.clock.advance(1);
    s.events.emit('rate-limited', { resetAt: null });
    expect(s.lines).toHaveLength(3);
    expect(s.lines[2]!.obj).toMatchObject({ upstream: 'rate-limited', suppressed: 150 });
  });

  it('logs the event fields only, and stops when detached', () => {
    const s = setup();
    // pins what is logged: fixed fields only, never the stats object, a URL, a header or a body
    s.events.emit('request', { outcome: 'malformed', durationMs: 1, ids: 1, error: 'body is not JSON' });
    expect(Object.keys(s.lines[0]!.obj).sort()).toEqual(['error', 'ids', 'upstream', 'upstreamFailingSince']);
    s.detach();
    s.clock.advance(60_000);
    s.events.emit('circuit:open', { retryAt: 0 });
    expect(s.lines).toHaveLength(1);
  });
});
