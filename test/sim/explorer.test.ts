/**
 * The fault explorer (exploreFaults, `simulate --faults`): a fixed set of seeds, each an hour of
 * virtual time over 2,000 tokens with the explorer's dense plan and per-seed transport, must break
 * no invariant; a bug re-introduced into the real scheduler must be reported with its seed; runs
 * replay exactly from their seed; the CLI reports, exits 2 on bad values and prints JSON.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { formatExploreReport, replayCommand } from '../../src/cli/simulate-faults.js';
import { exploreFaults, transportFor, type ExploreOptions } from '../../src/simulate/faults/explore.js';
import { INVARIANTS } from '../../src/simulate/faults/invariants.js';
import { ignoreInFlight, manualOnInFlight } from './reintroduced-bugs.js';

/** Seeds 1-12 draw every transport: 1, 2 and 3 in flight, 80 ms, 400 ms and 1.2 s round trips. */
const SEEDS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];

describe('exploreFaults on the real scheduler', () => {
  it('the fixed seeds cover every transport', () => {
    const t = SEEDS.map(transportFor);
    expect(new Set(t.map((x) => x.concurrency))).toEqual(new Set([1, 2, 3]));
    expect(new Set(t.map((x) => x.latencyMs))).toEqual(new Set([80, 400, 1_200]));
  });

  it(`seeds ${SEEDS.join(', ')}: an hour each over 2,000 tokens, every invariant checked, none broken`, async () => {
    const r = await exploreFaults({ runs: SEEDS.length, seed: SEEDS[0]! });
    expect(r.violations).toEqual([]);
    expect(r.failingSeeds).toEqual([]);
    expect(r.virtualHours).toBe(SEEDS.length);
    expect(r.tokens).toBe(2_000);
    for (const name of INVARIANTS) expect(r.checked[name], name).toBeGreaterThan(0);
    // Every seed refreshed thousands of prices under its faults (a stuck run checks few).
    expect(r.checked['valid-price']).toBeGreaterThan(SEEDS.length * 50_000);
  }, 300_000);

  // Found by the explorer: a new process's limiter cannot know the old one's last request
  // starts, so an instant restart started one early (seed 1 restarts at +70.3 s with 3 requests
  // of 400 ms in flight: 121 starts in a 60 s window of a 120 rpm plan). Fixed by the service's
  // limiter waiting one spacing before its first start (RateLimiter startPaced).
  it('an instant restart stays within the 60 s window; without the first-start spacing it did not', async () => {
    const opts: ExploreOptions = { runs: 1, seed: 1, durationMs: 10 * 60_000, restartDowntimeMs: 0 };
    const bug = await exploreFaults({ ...opts, startPaced: false });
    expect(bug.violations.map((v) => [v.invariant, v.seed])).toEqual([['request-window', 1]]);
    expect(bug.violations[0]!.detail).toMatch(/^121 source calls started/);
    const fixed = await exploreFaults(opts);
    expect(fixed.violations).toEqual([]);
    expect(fixed.checked['request-window']).toBeGreaterThan(1_000);
  }, 120_000);
});

/** Small and fast: two overlapping 1.5 s requests, ten virtual minutes over 150 tokens. */
const small: ExploreOptions = {
  runs: 1,
  seed: 5,
  tokens: 150,
  durationMs: 10 * 60_000,
  concurrency: 2,
  latencyMs: 1_500,
  onStep: manualOnInFlight,
};

describe('exploreFaults with a bug re-introduced', () => {
  it('a manual refresh that ignores the in-flight set is reported as single-flight, with its seed', async () => {
    const r = await exploreFaults({ ...small, patch: ignoreInFlight });
    expect(new Set(r.violations.map((v) => v.invariant))).toContain('single-flight');
    expect(r.failingSeeds).toEqual([5]);
    expect(r.violations.every((v) => v.seed === 5)).toBe(true);
    const report = formatExploreReport(r);
    expect(report).toContain(`seed 5 at +`);
    expect(report).toContain(`replay: ${replayCommand(5)}`);
    expect(report).toContain(`violations: ${r.violations.length}`);
  }, 60_000);

  it('the same manual refreshes on the unpatched scheduler break nothing', async () => {
    const r = await exploreFaults(small);
    expect(r.violations).toEqual([]);
    expect(r.checked['single-flight']).toBeGreaterThan(100);
  }, 60_000);

  it('a seed replays exactly: the same checks and the same violations', async () => {
    const a = await exploreFaults({ ...small, patch: ignoreInFlight });
    const b = await exploreFaults({ ...small, patch: ignoreInFlight });
    expect(b.checked).toEqual(a.checked);
    expect(b.violations).toEqual(a.violations);
  }, 60_000);
});

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', 'simulate', '--faults', ...args],
      { cwd: ROOT, timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err ? ((err as { code?: number }).code ?? null) : 0;
        resolve({ code: typeof code === 'number' ? code : null, stdout, stderr });
      },
    );
  });
}

describe('token-refresh simulate --faults (CLI)', () => {
  it('--json prints one object with the checks, no violation, and exits 0', async () => {
    const r = await cli(['--runs', '2', '--seed', '7', '--tokens', '100', '--duration', '5m', '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(out).toMatchObject({ runs: 2, tokens: 100, requestsPerMinute: 120, violations: [] });
    expect(out['virtualHours']).toBeCloseTo(10 / 60, 9);
    expect(out['virtualHoursPerWallSecond']).toBeGreaterThan(0);
    for (const name of INVARIANTS)
      expect((out['checked'] as Record<string, number>)[name]).toBeGreaterThan(0);
  }, 60_000);

  it.each([
    [['--runs', '0'], '--runs'],
    [['--runs', 'many'], '--runs'],
    [['--seed', '-1'], '--seed'],
    [['--tokens', '1.5'], '--tokens'],
    [['--duration', '30s'], '--duration'],
  ])('%j exits 2 naming the flag', async (args, flag) => {
    const r = await cli(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`^token-refresh: ${flag}: `));
    expect(r.stdout).toBe('');
  });
});
