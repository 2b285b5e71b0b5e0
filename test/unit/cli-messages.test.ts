/**
 * Usage errors name what the user typed: the flag when the bad value came from a flag, the
 * environment variable otherwise; `--plan` accepts only the plan names themselves.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import { runCli } from '../../src/cli/main.js';
import { ConfigError, flagName, isPlanName, loadConfig } from '../../src/config.js';

async function cli(args: string[]): Promise<{ code: number; stderr: string }> {
  let stderr = '';
  const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr += chunk.toString();
    return true;
  });
  try {
    const code = await runCli(['node', 'token-refresh', ...args]);
    return { code, stderr };
  } finally {
    spy.mockRestore();
  }
}

afterEach(() => {
  vi.unstubAllEnvs();
});

describe('usage errors name the flag', () => {
  it.each([
    [['start', '--port', 'abc'], '--port'],
    [['start', '--port', '70000'], '--port'],
    [['start', '--requests-per-minute', '0'], '--requests-per-minute'],
    [['start', '--requests-per-minute', 'lots'], '--requests-per-minute'],
    [['start', '--plan', 'gold'], '--plan'],
    [['start', '--plan', 'toString'], '--plan'],
    [['start', '--policy', 'random'], '--policy'],
    [['analyze', '--plan', 'toString'], '--plan'],
    [['analyze', '--plan', '__proto__'], '--plan'],
    [['analyze', '--plan', 'constructor'], '--plan'],
  ])('%j → exit 2 naming %s', async (args, flag) => {
    const { code, stderr } = await cli(args);
    expect(code).toBe(2);
    const lines = stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^token-refresh: ${flag}: `));
    expect(stderr).not.toMatch(/TOKEN_REFRESH_|PORT:/);
  });

  it('a bad environment variable is still named as the variable', async () => {
    vi.stubEnv('PORT', 'abc');
    const { code, stderr } = await cli(['start']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/^token-refresh: PORT: invalid value "abc"/);
  });

  it.each([
    ['TOKEN_REFRESH_BUDGET_SPLIT', 'even'],
    ['TOKEN_REFRESH_LEASE_SECONDS', '1'],
    ['TOKEN_REFRESH_INSTANCE_ID', 'a b'],
  ])(
    'start with a bad cluster variable %s=%s exits 2 naming it, before anything starts',
    async (name, value) => {
      vi.stubEnv(name, value);
      const { code, stderr } = await cli(['start']);
      expect(code).toBe(2);
      expect(stderr.trim().split('\n')).toHaveLength(1);
      expect(stderr).toMatch(new RegExp(`^token-refresh: ${name}: `));
    },
  );

  it('a good flag over a bad variable wins; a bad flag over a good variable is named as the flag', () => {
    expect(loadConfig({ PORT: 'abc' }, { port: '9100' }, flagName).port).toBe(9100);
    expect(() => loadConfig({ PORT: '9100' }, { port: 'abc' }, flagName)).toThrow(/^--port: /);
    expect(() => loadConfig({}, { requestsPerMinute: '-1' }, flagName)).toThrow(/^--requests-per-minute: /);
  });

  it('a bad library option is named as the option', () => {
    expect(() => loadConfig({}, { requestsPerMinute: 0 })).toThrow(ConfigError);
    expect(() => loadConfig({}, { requestsPerMinute: 0 })).toThrow(/^requestsPerMinute: /);
  });

  it('flagName kebab-cases config keys', () => {
    expect(flagName('requestsPerMinute')).toBe('--requests-per-minute');
    expect(flagName('port')).toBe('--port');
  });
});

describe('plan names', () => {
  it('are only the five plans, never inherited object properties', () => {
    for (const p of ['keyless', 'free', 'developer', 'launch', 'pro']) expect(isPlanName(p)).toBe(true);
    for (const p of ['toString', '__proto__', 'constructor', 'hasOwnProperty', '', 'Pro'])
      expect(isPlanName(p)).toBe(false);
    expect(() => loadConfig({ TOKEN_REFRESH_PLAN: '__proto__' })).toThrow(/^TOKEN_REFRESH_PLAN: /);
    expect(() => loadConfig({ TOKEN_REFRESH_PLAN: 'toString' })).toThrow(/^TOKEN_REFRESH_PLAN: /);
  });
});
