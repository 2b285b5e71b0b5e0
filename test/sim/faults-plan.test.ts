import { describe, expect, it } from 'vitest';
import {
  FaultPlanError,
  STORE_FAULT_KINDS,
  UPSTREAM_FAULT_KINDS,
  activeEpisodes,
  formatFaultPlan,
  makeFaultPlan,
} from '../../src/simulate/faults/fault-plan.js';

const T0 = Date.UTC(2026, 0, 1);
const HOUR = 3_600_000;
const opts = { startMs: T0, durationMs: HOUR, tokenCount: 2_000 };

describe('fault plan', () => {
  it('is the same plan for the same seed, and a different one for another seed', () => {
    const a = makeFaultPlan(42, opts);
    expect(makeFaultPlan(42, opts)).toEqual(a);
    expect(formatFaultPlan(makeFaultPlan(42, opts))).toBe(formatFaultPlan(a));
    expect(makeFaultPlan(43, opts).episodes).not.toEqual(a.episodes);
    expect(a.episodes.length).toBeGreaterThan(0);
  });

  it('draws every fault kind and every admin action kind over a few seeds, plus restarts', () => {
    const kinds = new Set<string>();
    const admin = new Set<string>();
    let restarts = 0;
    for (let seed = 1; seed <= 20; seed++) {
      const p = makeFaultPlan(seed, opts);
      for (const e of p.episodes) kinds.add(e.kind);
      for (const a of p.admin) admin.add(a.kind);
      restarts += p.restarts.length;
    }
    expect([...kinds].sort()).toEqual([...UPSTREAM_FAULT_KINDS, ...STORE_FAULT_KINDS].sort());
    expect([...admin].sort()).toEqual(
      ['deactivate', 'manual-refresh', 'new-token', 'pause', 'resume', 'settings-edit'].sort(),
    );
    expect(restarts).toBeGreaterThan(0);
  });

  it('includes extreme and negative settings among the edits', () => {
    const values = new Set<unknown>();
    for (let seed = 1; seed <= 20; seed++) {
      for (const a of makeFaultPlan(seed, opts).admin) {
        if (a.kind !== 'settings-edit') continue;
        values.add(a.settings.refresh_interval_seconds);
        values.add(a.settings.priority_score);
      }
    }
    for (const v of [-30, 0, 1e9, -1e6]) expect(values.has(v)).toBe(true);
  });

  it('keeps the quiet tail free of faults, admin actions and restarts, and starts it with a resume', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const p = makeFaultPlan(seed, opts);
      expect(p.quietFromMs).toBe(T0 + HOUR - 300_000);
      for (const e of p.episodes) expect(e.startMs + e.durationMs).toBeLessThanOrEqual(p.quietFromMs);
      for (const r of p.restarts) expect(r).toBeLessThan(p.quietFromMs);
      const late = p.admin.filter((a) => a.atMs >= p.quietFromMs);
      expect(late).toEqual([{ kind: 'resume', atMs: p.quietFromMs }]);
    }
  });

  it('finds the episodes covering a time, start inclusive and end exclusive', () => {
    const plan = {
      episodes: [
        { kind: 'server-error' as const, startMs: 100, durationMs: 50, intensity: 1, magnitude: 1 },
        { kind: 'write-permanent' as const, startMs: 120, durationMs: 10, intensity: 1, magnitude: 1 },
      ],
    };
    const all = (): boolean => true;
    expect(activeEpisodes(plan, 99, all)).toEqual([]);
    expect(activeEpisodes(plan, 100, all).map((e) => e.kind)).toEqual(['server-error']);
    expect(activeEpisodes(plan, 125, all).map((e) => e.kind)).toEqual(['server-error', 'write-permanent']);
    expect(activeEpisodes(plan, 130, all).map((e) => e.kind)).toEqual(['server-error']);
    expect(activeEpisodes(plan, 150, all)).toEqual([]);
  });

  it('prints the seed and one line per episode, action and the restarts', () => {
    const p = makeFaultPlan(7, opts);
    const text = formatFaultPlan(p).split('\n');
    expect(text[0]).toContain('seed=7');
    expect(text).toHaveLength(1 + 1 + p.episodes.length + 1 + p.admin.length + 1);
    const e = p.episodes[0]!;
    expect(text[2]).toBe(
      `  ${((e.startMs - T0) / 1000).toFixed(1)}s +${(e.durationMs / 1000).toFixed(1)}s ${e.kind} intensity=${e.intensity} magnitude=${e.magnitude}`,
    );
  });

  it('refuses options it cannot plan with, naming the option', () => {
    expect(() => makeFaultPlan(1, { ...opts, durationMs: 0 })).toThrow(FaultPlanError);
    expect(() => makeFaultPlan(1, { ...opts, tokenCount: 0 })).toThrow(/tokenCount/);
    expect(() => makeFaultPlan(1, { ...opts, kinds: [] })).toThrow(/kinds/);
  });
});
