import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

describe('price history configuration', () => {
  it('defaults to a row on every change and 30 days of retention', () => {
    expect(loadConfig({})).toMatchObject({ historyMinChange: 0, historyRetention: 30 * 86_400_000 });
  });

  it('reads TOKEN_REFRESH_HISTORY_MIN_CHANGE as a fraction and TOKEN_REFRESH_HISTORY_RETENTION as a duration', () => {
    const cfg = loadConfig({
      TOKEN_REFRESH_HISTORY_MIN_CHANGE: '0.001',
      TOKEN_REFRESH_HISTORY_RETENTION: '12h',
    });
    expect(cfg).toMatchObject({ historyMinChange: 0.001, historyRetention: 12 * 3_600_000 });
    expect(loadConfig({ TOKEN_REFRESH_HISTORY_RETENTION: '7d' }).historyRetention).toBe(7 * 86_400_000);
  });

  it.each([
    ['TOKEN_REFRESH_HISTORY_MIN_CHANGE', '1'],
    ['TOKEN_REFRESH_HISTORY_MIN_CHANGE', '-0.1'],
    ['TOKEN_REFRESH_HISTORY_RETENTION', 'forever'],
    ['TOKEN_REFRESH_HISTORY_RETENTION', '30'],
    ['TOKEN_REFRESH_HISTORY_RETENTION', '10m'],
  ])('rejects %s=%s naming the variable', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`^${name}: invalid value`));
  });
});
