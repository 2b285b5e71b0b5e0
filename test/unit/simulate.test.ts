import { describe, expect, it } from 'vitest';
import { planRefreshIntervals, staleness } from '../../src/core/planner.js';
import { integrateSegment } from '../../src/simulate/bridge.js';
import {
  generateUniverse,
  parseUniverseCsv,
  runSimulation,
  simulateAll,
  SimOptionsError,
  summarize,
  UniverseParseError,
  universeToCsv,
  type UniverseRow,
} from '../../src/simulate/index.js';
import { Market } from '../../src/simulate/market.js';
import { LATENCY_MS } from '../../src/simulate/market-source.js';
import { Rng } from '../../src/core/rng.js';

const X = 0.01;
/**
 * The service's scheduler plans 95 % of the request budget (the rest absorbs retries and manual
 * refreshes: SchedulerOptions.utilisation), and the simulator runs that scheduler.
 */
const UTILISATION = 0.95;

describe('bridge integration (how J is measured)', () => {
  it('averaged over the end point, the expected stale time of a fresh segment is T·g(T)', () => {
    const rng = new Rng(42);
    const out = { stale: 0, absErr: 0 };
    for (const ratio of [0.7, 1, 2, 5]) {
      const tau = 300;
      const sigma = (ratio * X) / Math.sqrt(tau);
      let acc = 0;
      const N = 40_000;
      for (let k = 0; k < N; k++) {
        integrateSegment(0, sigma * Math.sqrt(tau) * rng.normal(), sigma, tau, X, out);
        acc += out.stale / tau;
      }
      const g = staleness(tau, sigma, X);
      // The per-segment stale fraction is in [0, 1]: its sd ≤ 0.5, so 5 se ≤ 0.0125.
      expect(Math.abs(acc / N - g)).toBeLessThan(0.0125);
    }
  });

  it('matches a brute-force integral of the bridge conditional probability', () => {
    const out = { stale: 0, absErr: 0 };
    const Q = (z: number) => 0.5 * erfcRef(z / Math.SQRT2);
    const rng = new Rng(3);
    for (let k = 0; k < 200; k++) {
      const tau = 10 + 2000 * rng.next();
      const sigma = ((0.2 + 4 * rng.next()) * X) / Math.sqrt(tau);
      const devA = rng.next() < 0.3 ? 0.03 * rng.normal() : 0;
      const devB = devA + sigma * Math.sqrt(tau) * rng.normal();
      integrateSegment(devA, devB, sigma, tau, X, out);
      let ref = 0;
      const n = 4000;
      for (let i = 0; i < n; i++) {
        const s = (i + 0.5) / n;
        const m = devA + (devB - devA) * s;
        const sd = sigma * Math.sqrt(tau * s * (1 - s));
        ref += Q((X - m) / sd) + Q((X + m) / sd);
      }
      expect(Math.abs(out.stale / tau - ref / n)).toBeLessThan(3e-3);
    }
  });
});

/** Reference erfc (series / continued fraction), independent of the one under test. */
function erfcRef(x: number): number {
  if (x < 0) return 2 - erfcRef(-x);
  if (x < 3) {
    let sum = x;
    let term = x;
    for (let n = 1; n < 200; n++) {
      term *= (2 * x * x) / (2 * n + 1);
      sum += term;
    }
    return 1 - (2 / Math.sqrt(Math.PI)) * Math.exp(-x * x) * sum;
  }
  let f = 0;
  for (let n = 60; n >= 1; n--) f = n / 2 / (x + f);
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / (x + f);
}

describe('parseUniverseCsv', () => {
  const header = 'address,symbol,rank,volume_24h,in_contest,sigma_daily';

  it('parses required and optional columns, empty rank/volume as null', () => {
    const rows = parseUniverseCsv(
      `${header},jump_rate_daily,jump_size,extra\nA1,AAA,1,1000000,true,0.05,2,0.04,x\nB2,"B,B",,,0,0.1,,,y\n`,
    );
    expect(rows).toHaveLength(2);
    expect(rows[0]).toEqual({
      address: 'A1',
      symbol: 'AAA',
      rank: 1,
      volume_24h: 1_000_000,
      in_contest: true,
      sigma_daily: 0.05,
      jump_rate_daily: 2,
      jump_size: 0.04,
    });
    expect(rows[1]!.symbol).toBe('B,B');
    expect(rows[1]!.rank).toBeNull();
    expect(rows[1]!.jump_rate_daily).toBe(0);
  });

  it('reports the line number and the field of a bad row', () => {
    const bad = (body: string): UniverseParseError => {
      try {
        parseUniverseCsv(body);
      } catch (err) {
        expect(err).toBeInstanceOf(UniverseParseError);
        return err as UniverseParseError;
      }
      throw new Error('expected a parse error');
    };
    let e = bad(`${header}\nA,a,1,10,false,0.1\nB,b,2,10,false,abc\n`);
    expect(e.line).toBe(3);
    expect(e.message).toMatch(/line 3: sigma_daily must be a number/);
    e = bad(`${header}\nA,a,1.5,10,false,0.1\n`);
    expect(e.message).toMatch(/line 2: rank must be an integer/);
    e = bad(`${header}\nA,a,1,10,maybe,0.1\n`);
    expect(e.message).toMatch(/line 2: in_contest/);
    e = bad(`${header}\nA,a,1,10,false,0.1\n\nA,b,2,10,false,0.1\n`);
    expect(e.message).toMatch(/line 4: duplicate address A \(first on line 2\)/);
    e = bad(`${header}\nA,a,1,10,false\n`);
    expect(e.message).toMatch(/line 2: expected 6 fields, got 5/);
    e = bad('address,symbol,rank\nA,a,1\n');
    expect(e.message).toMatch(/line 1: missing column\(s\) volume_24h, in_contest, sigma_daily/);
    e = bad(`${header}\nA,a,1,-5,false,0.1\n`);
    expect(e.message).toMatch(/line 2: volume_24h must be >= 0/);
    expect(bad('').message).toMatch(/empty file/);
    expect(bad(`${header}\n`).message).toMatch(/no token rows/);
  });

  it('round-trips generated universes through CSV', () => {
    const u = generateUniverse({ n: 300, seed: 5 });
    expect(parseUniverseCsv(universeToCsv(u))).toEqual(u);
  });
});

describe('generateUniverse', () => {
  it('is deterministic per seed and realistic (ranks, contest share, σ range, jump tokens)', () => {
    const a = generateUniverse({ n: 5000, seed: 1 });
    expect(generateUniverse({ n: 5000, seed: 1 })).toEqual(a);
    expect(generateUniverse({ n: 5000, seed: 2 })).not.toEqual(a);
    expect(a.map((r) => r.rank)).toEqual(Array.from({ length: 5000 }, (_, i) => i + 1));
    const contest = a.filter((r) => r.in_contest).length / a.length;
    expect(contest).toBeGreaterThan(0.01);
    expect(contest).toBeLessThan(0.06);
    for (const r of a) {
      expect(r.sigma_daily).toBeGreaterThanOrEqual(0.02);
      expect(r.sigma_daily).toBeLessThanOrEqual(0.4);
      expect(r.address).toMatch(/^[1-9A-HJ-NP-Za-km-z]{32,44}$/);
    }
    const jumpy = a.filter((r) => r.jump_rate_daily > 0).length / a.length;
    expect(jumpy).toBeGreaterThan(0.01);
    expect(jumpy).toBeLessThan(0.1);
    // Tail tokens are more volatile than the top 100 (σ correlates with rank).
    const mean = (rows: UniverseRow[]) => rows.reduce((s, r) => s + r.sigma_daily, 0) / rows.length;
    expect(mean(a.slice(-1000))).toBeGreaterThan(mean(a.slice(0, 100)));
  });
});

describe('runSimulation', () => {
  it('a tiny universe with known σ on the uniform plan matches the analytic J within its sampling error', async () => {
    // 20 tokens, one id per request, 60 requests/min: each token is refreshed exactly every 20 s.
    const sigmaDaily = 0.5;
    const universe = generateUniverse({ n: 20, seed: 1, profile: 'flat' }).map((r) => ({
      ...r,
      sigma_daily: sigmaDaily,
    }));
    const runs = [];
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      runs.push(
        await runSimulation({
          universe,
          requestsPerMinute: 60,
          maxBatchSize: 1,
          durationSeconds: 3600,
          warmupSeconds: 300,
          policy: 'uniform',
          seed,
        }),
      );
    }
    const sigma = sigmaDaily / Math.sqrt(86_400);
    // J* is the plan on the full budget: every token every 20 s.
    expect(runs[0]!.J_star).toBeCloseTo(staleness(20, sigma, X), 6);
    // The service plans 95 % of it: every token every 20 / 0.95 s, and J is what theory says for that.
    const analytic = staleness(20 / UTILISATION, sigma, X);
    const mean = runs.reduce((s, r) => s + r.J, 0) / runs.length;
    const sd = Math.sqrt(runs.reduce((s, r) => s + (r.J - mean) ** 2, 0) / (runs.length - 1));
    const se = sd / Math.sqrt(runs.length);
    expect(se).toBeGreaterThan(0);
    expect(Math.abs(mean - analytic)).toBeLessThan(4 * se);
    // Each run's own standard error (batch means) is of the same order as the spread across seeds.
    expect(runs[0]!.J_stderr).toBeGreaterThan(sd / 5);
    expect(runs[0]!.J_stderr).toBeLessThan(sd * 5);
    // Each token every 20 / 0.95 s, counted from its write, which lands one round trip (at most
    // LATENCY_MS.max) after its request; the first refreshes are spread over one pass.
    const pass = 20 / UTILISATION;
    for (const r of runs) {
      expect(r.refreshes).toBeGreaterThan((20 * (3600 - pass)) / (pass + LATENCY_MS.max / 1000));
      expect(r.refreshes).toBeLessThanOrEqual((20 * 3600) / pass);
    }
  });

  it('never exceeds the rpm in any 60 s window and never refreshes a token faster than the minimum', async () => {
    const universe = generateUniverse({ n: 400, seed: 3 });
    for (const policy of ['optimal', 'tiered', 'uniform'] as const) {
      const times = new Map<number, number>();
      const last = new Map<string, number>();
      let minGap = Infinity;
      const r = await runSimulation({
        universe,
        requestsPerMinute: 7,
        maxBatchSize: 10,
        minIntervalSeconds: 30,
        durationSeconds: 7200,
        warmupSeconds: 600,
        policy,
        seed: 9,
        trace: (t, address) => {
          times.set(t, (times.get(t) ?? 0) + 1);
          const prev = last.get(address);
          if (prev !== undefined) minGap = Math.min(minGap, t - prev);
          last.set(address, t);
        },
      });
      const requestTimes = [...times.keys()].sort((a, b) => a - b);
      expect(requestTimes.length).toBe(r.requests);
      for (let i = 7; i < requestTimes.length; i++) {
        expect(requestTimes[i]! - requestTimes[i - 7]!).toBeGreaterThanOrEqual(60 - 1e-6);
      }
      for (const count of times.values()) expect(count).toBeLessThanOrEqual(10);
      expect(minGap).toBeGreaterThanOrEqual(30 - 1e-6);
      expect(r.min_refresh_gap_seconds!).toBeGreaterThanOrEqual(30 - 1e-6);
      expect(r.min_window_span_seconds!).toBeGreaterThanOrEqual(60 - 1e-6);
      // The budget is used as planned: 95 % of 7 requests a minute for two hours, less a few slots.
      expect(r.requests).toBeGreaterThan(7 * 120 * UTILISATION * 0.98);
    }
  });

  it('with the true σ the optimal policy achieves J* on the budget it plans with (execution loses nothing)', async () => {
    const universe = generateUniverse({ n: 2000, seed: 4 }).map((r) => ({ ...r, jump_rate_daily: 0 }));
    const r = await runSimulation({
      universe,
      requestsPerMinute: 6,
      durationSeconds: 4 * 3600,
      warmupSeconds: 1800,
      policy: 'optimal',
      seed: 2,
      oracleSigma: true,
      details: true,
    });
    const star = planRefreshIntervals(
      { weights: r.perToken!.weight, sigmas: r.perToken!.sigmaTrue },
      {
        deviation: X,
        capacityPerSecond: UTILISATION * r.capacityPerSecond,
        minIntervalSeconds: 15,
        maxIntervalSeconds: 3600,
      },
    ).J;
    expect(star).toBeGreaterThan(r.J_star); // 5 % less budget
    expect(r.J_star_planned).toBeCloseTo(star, 12);
    // The service's scheduler loses 3.1 % here (the old engine's own loop: 0.1 %); 5 % is the bar.
    expect(Math.abs(r.J / star - 1)).toBeLessThan(Math.max(0.05, (4 * r.J_stderr) / star));
  });

  it('learning σ online, the optimal policy beats the uniform and tiered baselines on the same market', async () => {
    const universe = generateUniverse({ n: 2000, seed: 6 });
    const all = await simulateAll({
      universe,
      requestsPerMinute: 6,
      durationSeconds: 4 * 3600,
      warmupSeconds: 3600,
      policy: 'optimal',
      seed: 1,
    });
    const { main, baselines } = all;
    expect(main.policy).toBe('optimal');
    expect(main.J).toBeLessThan(0.8 * baselines.uniform.J);
    expect(main.J).toBeLessThan(0.8 * baselines.tiered.J);
    expect(main.J_star).toBe(baselines.uniform.J_star);
    expect(main.ratio).toBeLessThan(1.2);
    const summary = summarize(all) as Record<string, unknown> & {
      baselines: Record<string, Record<string, number>>;
    };
    for (const k of ['policy', 'J', 'J_star', 'ratio', 'weighted_mae', 'requests', 'refreshes'])
      expect(summary).toHaveProperty(k);
    expect(summary.baselines.uniform!.J).toBe(baselines.uniform.J);
    expect(summary.baselines.tiered!.ratio).toBe(baselines.tiered.ratio);
  });

  it('is deterministic for a seed', async () => {
    const universe = generateUniverse({ n: 300, seed: 8 });
    const opts = {
      universe,
      requestsPerMinute: 5,
      durationSeconds: 3600,
      policy: 'optimal' as const,
      seed: 3,
    };
    const a = await runSimulation(opts);
    const b = await runSimulation(opts);
    expect(b.J).toBe(a.J);
    expect(b.refreshes).toBe(a.refreshes);
  });

  it('rejects bad options naming the field', async () => {
    const universe = generateUniverse({ n: 10, seed: 1 });
    const base = {
      universe,
      requestsPerMinute: 30,
      durationSeconds: 600,
      policy: 'optimal' as const,
      seed: 1,
    };
    await expect(runSimulation({ ...base, warmupSeconds: 600 })).rejects.toThrow(SimOptionsError);
    await expect(runSimulation({ ...base, requestsPerMinute: 0.5 })).rejects.toThrow(/requestsPerMinute/);
    await expect(runSimulation({ ...base, universe: [] })).rejects.toThrow(/universe/);
    await expect(runSimulation({ ...base, maxIntervalSeconds: 5 })).rejects.toThrow(/maxIntervalSeconds/);
    await expect(runSimulation({ ...base, extraReturns: -1 })).rejects.toThrow(/extraReturns/);
    await expect(runSimulation({ ...base, extraReturns: 1.5 })).rejects.toThrow(/extraReturns/);
  });

  it('extra returns (diagnostic) feed the optimal policy more samples: its σ error shrinks by about √3', async () => {
    const universe = generateUniverse({ n: 400, seed: 5 }).map((r) => ({ ...r, jump_rate_daily: 0 }));
    const base = {
      universe,
      requestsPerMinute: 6,
      durationSeconds: 2 * 3600,
      warmupSeconds: 600,
      policy: 'optimal' as const,
      seed: 4,
    };
    const one = await runSimulation(base);
    const three = await runSimulation({ ...base, extraReturns: 2 });
    expect(three.sigma_median_rel_error!).toBeLessThan(0.75 * one.sigma_median_rel_error!);
    // Diagnostics of the optimal policy only.
    await expect(runSimulation({ ...base, policy: 'uniform', extraReturns: 1 })).rejects.toThrow(/optimal/);
  });
});

describe('Market.extraReturn (diagnostic returns)', () => {
  it('draws returns with the token variance σ²·dt plus its jumps', () => {
    const rows: UniverseRow[] = [
      { ...row('A'), sigma_daily: 0.1 },
      { ...row('B'), sigma_daily: 0.05, jump_rate_daily: 86_400 / 600, jump_size: 0.02 },
    ];
    const market = new Market(rows, 3, X);
    const dt = 300;
    const N = 40_000;
    for (const [i, expected] of [
      [0, (0.1 * 0.1 * dt) / 86_400],
      // diffusion + (dt/600 jumps on average) × 0.02²
      [1, (0.05 * 0.05 * dt) / 86_400 + (dt / 600) * 0.02 * 0.02],
    ] as const) {
      let ss = 0;
      for (let k = 0; k < N; k++) ss += market.extraReturn(i, dt) ** 2;
      expect(Math.abs(ss / N / expected - 1)).toBeLessThan(0.05);
    }
  });
});

function row(address: string): UniverseRow {
  return {
    address,
    symbol: address,
    rank: 1,
    volume_24h: null,
    in_contest: false,
    sigma_daily: 0.05,
    jump_rate_daily: 0,
    jump_size: 0,
  };
}
