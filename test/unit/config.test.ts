import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  batchSpacingMs,
  defaultPriceUrl,
  describeConfig,
  loadConfig,
} from '../../src/config.js';

describe('loadConfig', () => {
  it('defaults: embedded DB under ./data, jupiter-v3, keyless plan, optimal policy, 127.0.0.1:8080', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({
      databaseUrl: null,
      dataDir: './data',
      priceSource: 'jupiter-v3',
      plan: 'keyless',
      requestsPerMinute: 30,
      maxBatchSize: 50,
      minIntervalSeconds: 15,
      policy: 'optimal',
      deviation: 0.01,
      host: '127.0.0.1',
      port: 8080,
    });
    expect(batchSpacingMs(c)).toBe(2000);
  });

  it('env overrides defaults; flags override env', () => {
    const env = { TOKEN_REFRESH_PLAN: 'developer', PORT: '9000', TOKEN_REFRESH_POLICY: 'tiered' };
    expect(loadConfig(env)).toMatchObject({
      plan: 'developer',
      requestsPerMinute: 600,
      port: 9000,
      policy: 'tiered',
    });
    expect(loadConfig(env, { port: 9100, requestsPerMinute: 100 })).toMatchObject({
      port: 9100,
      requestsPerMinute: 100,
    });
    expect(batchSpacingMs(loadConfig({ ...env, TOKEN_REFRESH_BATCH_DELAY: '3000' }))).toBe(3000);
  });

  it.each([
    ['TOKEN_REFRESH_REQUESTS_PER_MINUTE', '-5'],
    ['TOKEN_REFRESH_REQUESTS_PER_MINUTE', 'abc'],
    ['TOKEN_REFRESH_MAX_BATCH_SIZE', '51'],
    ['TOKEN_REFRESH_POLICY', 'random'],
    ['TOKEN_REFRESH_PLAN', 'gold'],
    ['PORT', '70000'],
    ['DATABASE_URL', 'mysql://x'],
    ['PRICE_API_URL', 'ftp://x'],
    ['TOKEN_REFRESH_DEVIATION', '0'],
    ['TOKEN_REFRESH_ADMIN_TOKEN', 'short'],
    ['LOG_LEVEL', 'loud'],
  ])('a bad %s=%s is rejected naming the variable', (name, value) => {
    expect(() => loadConfig({ [name]: value })).toThrow(ConfigError);
    expect(() => loadConfig({ [name]: value })).toThrow(new RegExp(`^${name}:`));
  });

  it('never echoes a secret in an error', () => {
    try {
      loadConfig({ TOKEN_REFRESH_ADMIN_TOKEN: 'sekr' });
      expect.unreachable();
    } catch (e) {
      expect((e as Error).message).not.toContain('sekr');
    }
  });

  it('describeConfig masks the API key, admin token and database password', () => {
    const c = loadConfig({
      JUPITER_API_KEY: 'jup-secret-key',
      TOKEN_REFRESH_ADMIN_TOKEN: 'admin-token-0123456789',
      DATABASE_URL: 'postgres://app:pw123@db:5432/prices',
    });
    const s = JSON.stringify(describeConfig(c));
    expect(s).not.toMatch(/jup-secret-key|admin-token-0123456789|pw123/);
    expect(defaultPriceUrl(c)).toBe('https://api.jup.ag/price/v3');
    expect(defaultPriceUrl({ priceSource: 'jupiter-v2', jupiterApiKey: null })).toBe(
      'https://api.jup.ag/price/v2',
    );
  });

  it('describeConfig shows [redacted] for a secret that is set and "not set" for one that is not', () => {
    const set = describeConfig(loadConfig({ JUPITER_API_KEY: 'jup-secret-key' }));
    expect(set).toMatchObject({ jupiterApiKey: '[redacted]', adminToken: 'not set' });
    const both = describeConfig(loadConfig({ TOKEN_REFRESH_ADMIN_TOKEN: 'admin-token-0123456789' }));
    expect(both).toMatchObject({ jupiterApiKey: 'not set', adminToken: '[redacted]' });
  });
});
