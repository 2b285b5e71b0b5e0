/**
 * Learning-cost benchmark (`npm run bench:learning`): how much of J* a plan loses when each
 * token's σ is estimated from n returns instead of known, with no learning dynamics at all.
 *
 * For each built-in universe of bench:freshness (same seeds and budgets), σ̂ = σ·√(χ²ₙ/n) per
 * token (the maximum-likelihood estimate from n Brownian returns), the planner plans with σ̂, and
 * the plan is scored with the true σ. Baseline: the plan with the true σ (J*), in the same run.
 * This is the floor under any policy that learns σ from returns and plans with its estimate: at
 * 60 rpm a token has about 18 returns after the first hour and about 100 after six.
 *
 * Options (env): BENCH_TOKENS (10000), BENCH_SCENARIOS (tight,medium,loose), BENCH_SAMPLES
 * (10,20,50,100,200), BENCH_DRAWS (8: estimate draws averaged per n).
 */
import { planRefreshIntervals, staleness } from '../src/core/planner.js';
import { calculatePriorityScore, DEFAULT_TIERS } from '../src/core/tiers.js';
import { Rng } from '../src/core/rng.js';
import { generateUniverse } from '../src/simulate/index.js';

const SCENARIOS = [
  { name: 'tight', requestsPerMinute: 30, universeSeed: 1 },
  { name: 'medium', requestsPerMinute: 60, universeSeed: 2 },
  { name: 'loose', requestsPerMinute: 600, universeSeed: 3 },
];
const tokens = Number(process.env.BENCH_TOKENS ?? 10_000);
const only = (process.env.BENCH_SCENARIOS ?? 'tight,medium,loose').split(',');
const samples = (process.env.BENCH_SAMPLES ?? '10,20,50,100,200').split(',').map(Number);
const draws = Number(process.env.BENCH_DRAWS ?? 8);
const X = 0.01;

interface Row {
  scenario: string;
  rpm: number;
  J_star: number;
  /** J/J* of the plan made with σ estimated from n returns, by n. */
  ratio_by_samples: Record<string, number>;
}

const rows: Row[] = [];
for (const sc of SCENARIOS.filter((s) => only.includes(s.name))) {
  const universe = generateUniverse({ n: tokens, seed: sc.universeSeed });
  const weights = Float64Array.from(universe, (u) =>
    calculatePriorityScore(
      {
        rank: u.rank,
        volume_24h: u.volume_24h,
        in_contest: u.in_contest,
        priority_score: 0,
        refresh_interval_seconds: null,
      },
      DEFAULT_TIERS,
    ),
  );
  const sigma = Float64Array.from(universe, (u) => u.sigma_daily / Math.sqrt(86_400));
  const opts = {
    deviation: X,
    capacityPerSecond: (sc.requestsPerMinute / 60) * 50,
    minIntervalSeconds: 15,
    maxIntervalSeconds: 3600,
  };
  let wSum = 0;
  for (const w of weights) wSum += w;
  const score = (intervals: Float64Array): number => {
    let s = 0;
    for (let i = 0; i < intervals.length; i++) s += weights[i]! * staleness(intervals[i]!, sigma[i]!, X);
    return s / wSum;
  };
  const jStar = score(planRefreshIntervals({ weights, sigmas: sigma }, opts).intervals);
  const rng = new Rng(sc.universeSeed * 7919);
  const ratio: Record<string, number> = {};
  for (const n of samples) {
    let acc = 0;
    for (let d = 0; d < draws; d++) {
      const est = Float64Array.from(sigma, (s) => {
        let q = 0;
        for (let k = 0; k < n; k++) q += rng.normal() ** 2;
        return s * Math.sqrt(q / n);
      });
      acc += score(planRefreshIntervals({ weights, sigmas: est }, opts).intervals) / jStar;
    }
    ratio[String(n)] = Math.round((acc / draws) * 10_000) / 10_000;
  }
  rows.push({ scenario: sc.name, rpm: sc.requestsPerMinute, J_star: jStar, ratio_by_samples: ratio });
  process.stderr.write(`${sc.name}: ${JSON.stringify(ratio)}\n`);
}

process.stdout.write(JSON.stringify({ benchmark: 'learning-cost', tokens, draws, rows }, null, 2) + '\n\n');
const head = ['scenario', 'rpm', ...samples.map((n) => `n=${n}`)];
const body = rows.map((r) => [
  r.scenario,
  String(r.rpm),
  ...samples.map((n) => r.ratio_by_samples[n]!.toFixed(3)),
]);
const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
const fmt = (cells: string[]) =>
  cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
process.stdout.write(
  `| ${fmt(head)} |\n${body.map((b) => `| ${fmt(b)} |`).join('\n')}\n\n` +
    `J/J* of a plan made with σ estimated from n returns per token (diffusion only, ${draws} draws each); ` +
    `1.000 = the plan with the true σ.\n`,
);
