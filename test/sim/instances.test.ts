/**
 * Several instances on one shared budget in virtual time (src/simulate/cluster-runner.ts): the
 * combined requests stay within the plan, and the equal-μ split reaches the J of one instance
 * holding every token, where the split by partition count does not when the important tokens
 * sit on one instance.
 *
 * Universe: 2,000 tokens, weights by rank tier, σ 2–150 % a day spread over ranks independent of
 * rank (as the analytic bench:cluster universe), so the first third by rank holds 70 % of the
 * weight but no more volatility. 60 rpm, 90 min virtual, the first 30 min not measured, seed 4.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import {
  assignTokens,
  runClusterSimulation,
  type ClusterSimOptions,
  type ClusterSimResult,
} from '../../src/simulate/cluster-runner.js';
import { generateUniverse } from '../../src/simulate/index.js';

const universe = generateUniverse({ n: 2_000, seed: 4, profile: 'flat' }).map((r) => ({
  ...r,
  sigma_daily: 0.02 + ((r.rank! * 37) % 149) / 100,
}));
const base: ClusterSimOptions = {
  universe,
  requestsPerMinute: 60,
  durationSeconds: 5_400,
  warmupSeconds: 1_800,
  policy: 'optimal',
  seed: 4,
  instances: 1,
};
const log = (what: string, r: { J: number; J_stderr: number; requests: number }) =>
  console.log(`${what}: J ${r.J.toFixed(5)} ± ${r.J_stderr.toFixed(5)}, ${r.requests} requests`);

describe('simulate --instances', () => {
  // One instance on the same shared budget's slots (its share is 64/64 = 1 in either split).
  let one: ClusterSimResult;
  beforeAll(async () => {
    one = await runClusterSimulation({ ...base, instances: 1, split: 'partitions' });
    log('one instance', one);
  }, 120_000);

  it('deals tokens by partition blocks or by rank', () => {
    const byRank = assignTokens(universe, 3, 'by-rank');
    expect(byRank.partitions.map((p) => p.length)).toEqual([21, 21, 22]);
    expect(byRank.members.map((m) => m.length)).toEqual([667, 667, 666]);
    expect(byRank.members[0]!.slice(0, 3).map((i) => universe[i]!.rank)).toEqual([1, 2, 3]);
    const byPart = assignTokens(universe, 3, 'by-partition');
    expect(byPart.members.flat().sort((a, b) => a - b)).toEqual(universe.map((_, i) => i));
  });

  it('by rank: the equal-μ split is within 1.5 % of one instance (the cost of three planners), the partition split clearly worse', async () => {
    const mu = await runClusterSimulation({ ...base, instances: 3, split: 'mu', assign: 'by-rank' });
    const parts = await runClusterSimulation({
      ...base,
      instances: 3,
      split: 'partitions',
      assign: 'by-rank',
    });
    log('3, mu, by rank', mu);
    log('3, partitions, by rank', parts);
    for (const r of [one, mu, parts]) {
      // The combined requests never exceed the plan in any 60 s window (the source throws
      // otherwise) and every token keeps its minimum interval.
      expect(r.min_window_span_seconds!).toBeGreaterThanOrEqual(60);
      expect(r.min_refresh_gap_seconds!).toBeGreaterThanOrEqual(15 - 1e-6);
      expect(r.requests).toBeLessThanOrEqual((60 * base.durationSeconds) / 60);
    }
    expect(mu.instances.map((i) => i.mode)).toEqual(['mu', 'mu', 'mu']);
    expect(parts.instances.map((i) => i.mode)).toEqual(['partitions', 'partitions', 'partitions']);
    // The first instance holds the top ranks: equal μ gives it most of the plan.
    expect(mu.instances[0]!.share_mean).toBeGreaterThan(0.5);
    // Measured (seed 4): one 0.2464 ± 0.0004, mu 0.2496 (+1.3 %), partitions 0.2756 (+11.8 %).
    // Three planners over 2,000 tokens lose about 1.5 % whatever the split (the by-partition case
    // below; probably each learning its cohort priors from a third of the tokens, not verified);
    // the split adds nothing to that. On bench:cluster's 10,000 tokens the equal-μ split is within 0.7 % of one instance.
    expect(Math.abs(mu.J / one.J - 1)).toBeLessThan(0.015);
    expect(parts.J / one.J).toBeGreaterThan(1.08);
  }, 240_000);

  it('by partition: both splits near one instance (the weight is spread evenly)', async () => {
    const mu = await runClusterSimulation({ ...base, instances: 3, split: 'mu' });
    const parts = await runClusterSimulation({ ...base, instances: 3, split: 'partitions' });
    log('3, mu, by partition', mu);
    log('3, partitions, by partition', parts);
    // Measured (seed 4): mu 0.2507, partitions 0.2502: both 1.5–1.7 % above one instance, and
    // within 0.2 % of each other (the shares come out near 1/3 each): the cost of three planners.
    expect(Math.abs(mu.J / parts.J - 1)).toBeLessThan(0.01);
    expect(mu.J / one.J).toBeLessThan(1.05);
    expect(parts.J / one.J).toBeLessThan(1.05);
  }, 240_000);
});
