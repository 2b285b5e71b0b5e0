import { execFile, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { faultsFromFlags } from '../../src/cli/market-command.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
// `node --import tsx` is what `npx tsx` runs, minus the wrapper process (the machine is shared).
const NODE_ARGS = ['--import', 'tsx', 'src/cli/main.ts'];

function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [...NODE_ARGS, ...args],
      { cwd: ROOT, timeout: 20_000 },
      (err, stdout, stderr) => {
        const code = err ? ((err as { code?: number }).code ?? null) : 0;
        resolve({ code: typeof code === 'number' ? code : null, stdout, stderr });
      },
    );
  });
}

describe('token-refresh market (CLI)', () => {
  it('fault flags map to the market fault knobs, the rest left at none', () => {
    expect(
      faultsFromFlags({
        errorRate: 0.05,
        hangRate: 0.01,
        malformedRate: 0.02,
        partialRate: 0.03,
        omitRate: 0.04,
        badPriceRate: 0.06,
      }),
    ).toEqual({
      errorRate: 0.05,
      hangRate: 0.01,
      malformedRate: 0.02,
      partialRate: 0.03,
      omitRate: 0.04,
      badPriceRate: 0.06,
    });
    expect(faultsFromFlags({ latencyMs: { min: 80, max: 120 } })).toEqual({
      latencyMs: { min: 80, max: 120 },
    });
  });

  it('exits 2 with a one-line reason on bad input', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['market', '--rpm', '-5'], /rpm/],
      [['market', '--tokens', '0'], /tokens/],
      [['market', '--rpm', 'abc'], /rpm must be an integer/],
      [['market', '--port', '70000'], /port/],
      [['market', '--bogus'], /unknown option '--bogus'/],
      [['market', '--api-key', ''], /API key/],
      [['market', '--hang-rate', '1.5'], /hang rate must be a number from 0 to 1/],
    ];
    const results: Awaited<ReturnType<typeof runCli>>[] = [];
    for (let i = 0; i < cases.length; i += 2) {
      results.push(...(await Promise.all(cases.slice(i, i + 2).map(([args]) => runCli(args)))));
    }
    results.forEach((r, i) => {
      const [args, reason] = cases[i]!;
      expect(r.code, args.join(' ')).toBe(2);
      const lines = r.stderr.trim().split('\n');
      expect(lines, args.join(' ')).toHaveLength(1);
      expect(lines[0]).toMatch(reason);
      expect(r.stdout).toBe('');
    });
  }, 60_000);

  it('starts the market, prints where it listens, serves v3, and stops on SIGTERM', async () => {
    const child = spawn(
      process.execPath,
      [...NODE_ARGS, 'market', '--port', '0', '--tokens', '3', '--rpm', '10', '--seed', '4'],
      {
        cwd: ROOT,
      },
    );
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    let out = '';
    const url = await new Promise<string>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
        if (m) resolve(m[1]!);
      });
      child.once('exit', () => reject(new Error(`market exited early: ${out}`)));
    });
    try {
      const tokens = (
        (await (await fetch(`${url}/__market/tokens`)).json()) as { tokens: Array<{ address: string }> }
      ).tokens;
      expect(tokens).toHaveLength(3);
      const res = await fetch(`${url}/price/v3?ids=${tokens[0]!.address}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('x-ratelimit-limit')).toBe('10');
      expect(Object.keys((await res.json()) as object)).toEqual([tokens[0]!.address]);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });
});
