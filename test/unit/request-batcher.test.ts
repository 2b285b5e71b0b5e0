import { describe, expect, it } from 'vitest';
import { RequestBatcher, batchErrorKind } from '../../src/scheduler/request-batcher.js';
import { SourceTimeoutError, UpstreamStatusError } from '../../src/sources/types.js';
import type { SchedToken } from '../../src/scheduler/token-state.js';

const tok = (id: number, inContest = false) => ({ id, in_contest: inContest }) as unknown as SchedToken;

describe('RequestBatcher', () => {
  it('reads oversize (413/414, or a 400 to a multi-id request) and timeouts; anything else is not the size', () => {
    expect(batchErrorKind(new UpstreamStatusError(414), 50)).toBe('oversize');
    expect(batchErrorKind(new UpstreamStatusError(413), 50)).toBe('oversize');
    expect(batchErrorKind(new UpstreamStatusError(400), 50)).toBe('oversize');
    expect(batchErrorKind(new UpstreamStatusError(400), 1)).toBe('other');
    expect(batchErrorKind(new UpstreamStatusError(503), 50)).toBe('other');
    expect(batchErrorKind(new SourceTimeoutError(1000), 50)).toBe('timeout');
  });

  it('failures of requests sent before the size was cut do not cut it again', () => {
    const b = new RequestBatcher(50);
    // four 50-id requests in flight all come back 414
    for (let i = 0; i < 4; i++) b.recordFailure(new UpstreamStatusError(414), 50);
    expect(b.size).toBe(25);
    b.recordFailure(new UpstreamStatusError(414), 25);
    expect(b.size).toBe(12);
  });

  it('keeps queue order and sends one request; a contest is capped per request', () => {
    const b = new RequestBatcher(5);
    const plain = Array.from({ length: 4 }, (_, i) => tok(i));
    expect(b.pick(plain).send.map((t) => t.id)).toEqual([0, 1, 2, 3]);
    const many = Array.from({ length: 12 }, (_, i) => tok(i));
    const r = b.pick(many);
    expect(r.send.map((t) => t.id)).toEqual([0, 1, 2, 3, 4]);
    expect(r.rest).toHaveLength(7);
    // 15 candidates (3 requests), the first 6 in one contest: at most 2 per request
    const mixed = Array.from({ length: 15 }, (_, i) => tok(i, i < 6));
    const m = b.pick(mixed);
    expect(m.send).toHaveLength(5);
    expect(m.send.filter((t) => t.in_contest)).toHaveLength(2);
    expect(m.send[0]!.id).toBe(0);
  });
});
