import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { parseDuration, registerSimulateCommand } from '../../src/cli/simulate-command.js';
import { UsageError } from '../../src/cli/util.js';
import { generateUniverse, universeToCsv } from '../../src/simulate/index.js';

function program(): Command {
  const p = new Command('token-refresh')
    .exitOverride()
    .configureOutput({ writeErr: () => {}, writeOut: () => {} });
  registerSimulateCommand(p);
  return p;
}

describe('token-refresh simulate', () => {
  let out: string[];
  beforeEach(() => {
    out = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      out.push(String(chunk));
      return true;
    });
  });
  afterEach(() => vi.restoreAllMocks());
  const dir = mkdtempSync(join(tmpdir(), 'simulate-cli-'));

  it('--json prints one object with the policy, J, J*, ratio, MAE, requests, refreshes and both baselines', async () => {
    const universe = join(dir, 'u.csv');
    writeFileSync(universe, universeToCsv(generateUniverse({ n: 150, seed: 2 })));
    const trace = join(dir, 'trace.csv');
    await program().parseAsync(
      [
        'simulate',
        '--universe',
        universe,
        '--requests-per-minute',
        '4',
        '--max-batch-size',
        '10',
        '--duration',
        '40m',
        '--warmup',
        '10m',
        '--seed',
        '3',
        '--json',
        '--trace',
        trace,
      ],
      { from: 'user' },
    );
    expect(out).toHaveLength(1);
    const r = JSON.parse(out[0]!) as Record<string, unknown> & {
      baselines: Record<string, Record<string, unknown>>;
    };
    for (const k of ['policy', 'J', 'J_star', 'ratio', 'weighted_mae', 'requests', 'refreshes']) {
      expect(r).toHaveProperty(k);
      for (const b of ['uniform', 'tiered']) expect(r.baselines[b]).toHaveProperty(k);
    }
    expect(r.policy).toBe('optimal');
    expect(r.tokens).toBe(150);
    expect(r.requests).toBeLessThanOrEqual(4 * 40);
    const lines = readFileSync(trace, 'utf8').trim().split('\n');
    expect(lines[0]).toBe('t,address');
    expect(lines.length - 1).toBe(r.refreshes);
    expect(lines[1]).toMatch(/^\d+(\.\d+)?,[1-9A-HJ-NP-Za-km-z]+$/);
  });

  it('prints a readable table with a generated universe', async () => {
    await program().parseAsync(
      ['simulate', '--tokens', '100', '--duration', '20m', '--warmup', '5m', '--policy', 'tiered'],
      { from: 'user' },
    );
    const text = out.join('');
    expect(text).toMatch(/100 tokens, 30 req\/min/);
    expect(text).toMatch(/^tiered\s/m);
    expect(text).toMatch(/^uniform\s/m);
    expect(text).not.toMatch(/^optimal\s/m);
    // labels and units a person reads: percentages, durations, no field names
    expect(text).toContain('20m of virtual time (the first 5m not measured)');
    expect(text).toContain('mean abs. error');
    expect(text).not.toContain('weighted_mae');
    expect(text.split('\n')[2]).toMatch(/%/);
    expect(text).not.toMatch(/\de-\d/);
  });

  it('usage errors are UsageError with a one-line reason (line number for a bad universe row)', async () => {
    const bad = join(dir, 'bad.csv');
    writeFileSync(
      bad,
      'address,symbol,rank,volume_24h,in_contest,sigma_daily\nA,a,1,10,false,0.1\nB,b,x,10,false,0.1\n',
    );
    const run = (args: string[]) => program().parseAsync(['simulate', ...args], { from: 'user' });
    await expect(run(['--universe', bad])).rejects.toThrow(/line 3: rank must be a number/);
    await expect(run(['--universe', join(dir, 'missing.csv')])).rejects.toThrow(UsageError);
    await expect(run(['--duration', 'soon'])).rejects.toThrow(/--duration/);
    await expect(run(['--policy', 'best'])).rejects.toThrow(/--policy/);
    await expect(run(['--requests-per-minute', '2.5'])).rejects.toThrow(/--requests-per-minute/);
    await expect(run(['--tokens', '10', '--duration', '1h', '--warmup', '2h'])).rejects.toThrow(/warmup/);
    await expect(run(['--bogus'])).rejects.toThrow(/unknown option/);
  });

  it('--instances 3 --split mu --assign by-rank --json: the same object plus split and per-instance figures; the trace covers every instance', async () => {
    const trace = join(dir, 'trace-3.csv');
    await program().parseAsync(
      [
        'simulate',
        '--tokens',
        '300',
        '--requests-per-minute',
        '6',
        '--duration',
        '30m',
        '--warmup',
        '10m',
      ].concat(['--instances', '3', '--split', 'mu', '--assign', 'by-rank', '--json', '--trace', trace]),
      { from: 'user' },
    );
    expect(out).toHaveLength(1);
    const r = JSON.parse(out[0]!) as Record<string, unknown> & {
      instances: Record<string, unknown>[];
      baselines: Record<string, Record<string, unknown>>;
    };
    for (const k of ['policy', 'J', 'J_star', 'ratio', 'requests', 'refreshes']) expect(r).toHaveProperty(k);
    expect(r.baselines.uniform).toHaveProperty('J');
    expect(r.split).toBe('mu');
    expect(r.assign).toBe('by-rank');
    expect(r.instances).toHaveLength(3);
    const keys = [
      'instance',
      'tokens',
      'partitions',
      'weight_share',
      'requests',
      'refreshes',
      'share_mean',
      'share_end',
      'J',
      'mode',
    ];
    for (const i of r.instances) expect(Object.keys(i).sort()).toEqual([...keys].sort());
    expect(r.instances.map((i) => i.tokens)).toEqual([100, 100, 100]);
    expect(r.instances.reduce((s, i) => s + (i.requests as number), 0)).toBe(r.requests);
    expect(r.instances.reduce((s, i) => s + (i.refreshes as number), 0)).toBe(r.refreshes);
    expect(readFileSync(trace, 'utf8').trim().split('\n').length - 1).toBe(r.refreshes);
  }, 60_000);

  it('--instances, --split and --assign: bad values and --faults are usage errors', async () => {
    const run = (args: string[]) =>
      program().parseAsync(['simulate', '--tokens', '50', ...args], { from: 'user' });
    await expect(run(['--instances', '0'])).rejects.toThrow(/--instances: expected an integer 1\.\.16/);
    await expect(run(['--instances', '17'])).rejects.toThrow(UsageError);
    await expect(run(['--instances', '2.5'])).rejects.toThrow(UsageError);
    await expect(run(['--instances', '3', '--split', 'equal'])).rejects.toThrow(
      /--split: expected one of mu, partitions/,
    );
    await expect(run(['--instances', '3', '--assign', 'random'])).rejects.toThrow(
      /--assign: expected one of/,
    );
    await expect(run(['--faults', '--instances', '3'])).rejects.toThrow(/not with --faults/);
  });

  it('parses durations', () => {
    expect(parseDuration('6h', '--duration')).toBe(21_600);
    expect(parseDuration('90m', '--duration')).toBe(5400);
    expect(parseDuration('45', '--duration')).toBe(45);
    expect(parseDuration('1.5d', '--duration')).toBe(129_600);
    expect(() => parseDuration('-1h', '--duration')).toThrow(UsageError);
  });
});
