import { describe, expect, it } from 'vitest';
import { formatAnalysis, formatCell, formatDuration, renderTable } from '../../src/cli/analyze-format.js';

const report = {
  plan: { name: 'developer', requestsPerMinute: 600, maxBatchSize: 50 },
  distribution: [
    { tier: 'CRITICAL', count: 50, share: 0.025 },
    { tier: 'HIGH', count: 150, share: 0.075 },
    { tier: 'INACTIVE', count: 1000, share: 0.5 },
  ],
  recommendations: {
    CRITICAL: { tokens: 50, intervalSeconds: 15, refreshesPerMinute: 200, requiredRequestsPerMinute: 4 },
    INACTIVE: { tokens: 1000, intervalSeconds: 600, refreshesPerMinute: 100, requiredRequestsPerMinute: 2 },
  },
  projections: [
    {
      plan: 'keyless',
      requestsPerMinute: 30,
      maxBatchSize: 50,
      capacityPerSecond: 25,
      tokens: 2000,
      J: 0.4123,
      deviation: 0.01,
      medianIntervalSeconds: 4000,
      heartbeat: false,
    },
    {
      plan: 'developer',
      requestsPerMinute: 600,
      maxBatchSize: 50,
      capacityPerSecond: 500,
      tokens: 2000,
      J: 0.05,
      deviation: 0.01,
      medianIntervalSeconds: 60,
      heartbeat: true,
    },
    {
      plan: 'pro',
      requestsPerMinute: 9000,
      maxBatchSize: 50,
      capacityPerSecond: 7500,
      tokens: 2000,
      J: 0.00004,
      deviation: 0.01,
      medianIntervalSeconds: 15,
      heartbeat: true,
    },
  ],
};

describe('formatAnalysis', () => {
  const text = formatAnalysis(report);
  const lines = text.split('\n');

  it('renders the plan line, the three sections and their rows', () => {
    expect(lines[0]).toBe('Plan: developer (600 requests/min, 50 ids/request)');
    expect(text).toContain('Token distribution by tier');
    expect(text).toContain('Recommendations per tier');
    expect(text).toContain('Plan projections');
    for (const tier of ['CRITICAL', 'HIGH', 'INACTIVE']) expect(text).toContain(tier);
    expect(text).toContain('2.5 %'); // share
    expect(text).toContain('10m'); // 600 s interval
    expect(text).toContain('1h 7m'); // 4000 s median
  });

  it('shows projected J per plan as a percentage, capacity per minute, and marks the configured plan', () => {
    const dev = lines.find((l) => l.includes('developer') && l.includes('%'))!;
    expect(dev.startsWith('* ')).toBe(true);
    expect(dev).toContain('5 %');
    expect(dev).toContain('30,000'); // 500 refreshes/s → 30,000 per minute
    const keyless = lines.find((l) => l.includes('keyless'))!;
    expect(keyless.startsWith('  ')).toBe(true);
    expect(keyless).toContain('41.2 %');
    expect(lines.find((l) => l.includes(' pro '))).toContain('0.004 %');
    expect(text).toContain('Projected J');
    expect(text).toContain('more than 1 % off');
  });

  it('aligns columns: every row of a table has the header width, numbers right-aligned', () => {
    const start = lines.indexOf('Plan projections');
    const table = lines.slice(start + 1, start + 6);
    const rule = table[1]!;
    expect(rule).toMatch(/^ {2}─+( {2}─+)+$/);
    // The J column ends at the same position on every row.
    const jEnds = table.slice(2).map((l) => l.indexOf('%') + 1);
    expect(new Set(jEnds).size).toBe(1);
  });

  it('keeps fields it does not know as extra columns, and flattens one level of nesting', () => {
    const out = formatAnalysis({ distribution: [{ tier: 'LOW', count: 3, extra: { a: 1 }, novel: 'x' }] });
    expect(out).toContain('extra.a');
    expect(out).toContain('novel');
  });

  it("renders a section's per-tier list as a table under its scalar fields, never as JSON", () => {
    const out = formatAnalysis({
      distribution: {
        total: 3,
        tiers: [
          { tier: 'CRITICAL', effective: 2 },
          { tier: 'HIGH', effective: 1 },
        ],
      },
    });
    expect(out).not.toContain('{"tier"');
    const lines = out.split('\n');
    expect(lines.some((l) => /^\s+Tokens\s+3$/.test(l))).toBe(true);
    expect(lines.some((l) => /^\s+CRITICAL\s+2$/.test(l))).toBe(true);
    expect(lines.some((l) => /^\s+HIGH\s+1$/.test(l))).toBe(true);
  });

  it('formats cells by key', () => {
    expect(formatCell('J', 0.25)).toBe('25.0 %');
    expect(formatCell('tokens', 12345)).toBe('12,345');
    expect(formatCell('intervalSeconds', 45)).toBe('45s');
    expect(formatCell('heartbeat', true)).toBe('yes');
    expect(formatCell('anything', null)).toBe('–');
    expect(formatDuration(Infinity)).toBe('∞');
    expect(renderTable([])).toContain('─'.repeat(0));
  });
});

describe('readable analyze output', () => {
  it('labels the distribution and recommendation fields in words, not field names', () => {
    const out = formatAnalysis({
      distribution: { total: 10, volumeBands: { over1M: 2, under10K: 8 }, avgPriorityScore: 109.987 },
      recommendations: {
        capacityRefreshesPerSecond: 23.75,
        planUsage: 1.2023,
        tiers: [{ tier: 'LOW', desiredIntervalSeconds: 180, apiCallsPerMinute: 2.4217 }],
      },
    });
    for (const raw of [
      'volumeBands.over1M',
      'desiredIntervalSeconds',
      'capacityRefreshesPerSecond',
      'planUsage',
    ]) {
      expect(out).not.toContain(raw);
    }
    expect(out).toMatch(/Volume over \$1M\s+2/);
    expect(out).toMatch(/Mean priority score\s+110/);
    expect(out).toMatch(/Capacity \(refreshes\/min\)\s+1,425/);
    expect(out).toMatch(/Share of the plan needed\s+120\.2 %/);
    expect(out).toContain('Wanted interval');
    expect(out).toContain('3m');
    expect(out).toContain('2.42');
  });

  it('prints durations as 15s / 3m 48s / 25m / 2h and tiny percentages without exponents', () => {
    expect([15, 228, 1500, 7200, 4000, 50_000].map(formatDuration)).toEqual([
      '15s',
      '3m 48s',
      '25m',
      '2h',
      '1h 7m',
      '14h',
    ]);
    expect(formatCell('J', 4.1e-54)).toBe('< 0.0001 %');
    expect(formatCell('J_tiered', 0.0024)).toBe('0.24 %');
    expect(formatCell('J', 0)).toBe('0 %');
  });
});
