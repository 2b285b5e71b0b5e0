/**
 * What the dashboard's Instances panel shows (public/cluster-rows.js, a browser module loaded here
 * as is) for a cluster of three: rows ordered by id with this instance marked, each instance's
 * partitions as a count and compact ranges, requests/min as a share of the plan, μ, heartbeat age
 * against the server's time; the header counts partitions held by anyone (a partition between
 * owners is unserved) and the budget use. The browser test covers a cluster of one in the demo.
 */
import { describe, expect, it } from 'vitest';

interface Row {
  id: string;
  self: boolean;
  partitions: string;
  ranges: string;
  allRanges: string;
  rpm: string;
  share: number | null;
  shareText: string;
  mu: string;
  heartbeat: string;
}
const path = '../../public/cluster-rows.js';
const m = (await import(path)) as {
  clusterSummary(view: unknown): { text: string; unserved: number; budget: string; usage: number | null };
  instanceRows(view: unknown, now: number): Row[];
};

const T = Date.UTC(2025, 0, 1);
const range = (a: number, b: number) => Array.from({ length: b - a + 1 }, (_, i) => a + i);

const VIEW = {
  instanceId: 'i-b',
  partitionCount: 64,
  instances: [
    { id: 'i-c', partitions: range(43, 63), heartbeatAt: T - 3_000, requestsPerMinute: 40, mu: 2.5e-6 },
    { id: 'i-a', partitions: range(0, 20), heartbeatAt: T - 12_000, requestsPerMinute: 38, mu: 2.49e-6 },
    {
      id: 'i-b',
      partitions: [...range(21, 40), 42, 21],
      heartbeatAt: T - 500,
      requestsPerMinute: null,
      mu: null,
    },
  ],
  budget: { requestsPerMinute: 120, usedLastMinute: 117 },
};

describe('the Instances panel of the dashboard', () => {
  it('heads with the instances, the partitions anyone holds and the budget use', () => {
    expect(m.clusterSummary(VIEW)).toEqual({
      text: '3 instances · 63 of 64 partitions',
      unserved: 1,
      budget: '117 / 120 requests/min (97.5 %)',
      usage: 117 / 120,
    });
    const one = { ...VIEW, instances: [{ ...VIEW.instances[2]!, partitions: range(0, 63) }] };
    expect(m.clusterSummary(one).text).toBe('1 instance · 64 of 64 partitions');
    expect(m.clusterSummary(one).unserved).toBe(0);
  });

  it('shows one row per instance by id: partitions, requests as a share of the plan, μ, heartbeat age', () => {
    const rows = m.instanceRows(VIEW, T);
    expect(rows.map((r) => [r.id, r.self])).toEqual([
      ['i-a', false],
      ['i-b', true],
      ['i-c', false],
    ]);
    const [a, b, c] = rows as [Row, Row, Row];
    expect([a.partitions, a.ranges, a.rpm, a.shareText, a.mu, a.heartbeat]).toEqual([
      '21',
      '0–20',
      '38',
      '31.7 %',
      '2.49×10⁻⁶',
      '12s ago',
    ]);
    expect(a.share).toBeCloseTo(38 / 120, 12);
    // a partition listed twice counts once; an instance with no rate yet shows dashes
    expect([b.partitions, b.ranges, b.rpm, b.share, b.shareText, b.mu, b.heartbeat]).toEqual([
      '21',
      '21–40, 42',
      '–',
      null,
      '–',
      '–',
      '1s ago',
    ]);
    expect([c.ranges, c.heartbeat, c.share]).toEqual(['43–63', '3s ago', 40 / 120]);
  });

  it('lists the first six ranges of a scattered holding and keeps all of them for the tooltip', () => {
    const scattered = {
      ...VIEW,
      instances: [{ ...VIEW.instances[0]!, partitions: range(0, 9).map((i) => 3 * i) }],
    };
    const [row] = m.instanceRows(scattered, T) as [Row];
    expect(row.partitions).toBe('10');
    expect(row.ranges).toBe('0, 3, 6, 9, 12, 15, … 4 more');
    expect(row.allRanges).toBe('0, 3, 6, 9, 12, 15, 18, 21, 24, 27');
  });
});
