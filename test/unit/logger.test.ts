import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, redactSecrets } from '../../src/logger.js';

const KEY = 'jup-unit-key-7f3a';
const TOKEN = 'admin-unit-token-0123456789';

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString());
      cb();
    },
  });
  return { lines, destination };
}

describe('createLogger with secrets', () => {
  it('logs a circular object (like fastify request) without throwing', () => {
    const { lines, destination } = capture();
    const log = createLogger({ secrets: [KEY, TOKEN], destination });
    const req: Record<string, unknown> = { method: 'GET', url: '/healthz' };
    req.self = req;
    req.socket = { parent: req };
    expect(() => log.info({ req }, 'incoming request')).not.toThrow();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('incoming request');
  });

  it('scrubs the secrets from messages, any field, nested objects and error stacks', () => {
    const { lines, destination } = capture();
    const log = createLogger({ secrets: [KEY, TOKEN], destination });
    log.info(`calling with key ${KEY}`);
    log.info({ deep: { url: `https://x/?k=${KEY}`, list: [TOKEN] } }, 'nested');
    log.error({ err: new Error(`upstream said: bad token ${TOKEN}`) }, 'failed');
    const child = log.child({ component: 'api' });
    child.warn({ header: `Bearer ${TOKEN}` }, 'child');
    const all = lines.join('');
    expect(lines).toHaveLength(4);
    expect(all).not.toContain(KEY);
    expect(all).not.toContain(TOKEN);
    expect(all.match(/\[redacted\]/g)!.length).toBeGreaterThanOrEqual(5);
  });

  it('scrubs a secret that needs JSON escaping', () => {
    const { lines, destination } = capture();
    const odd = 'se"cr\\et-value';
    createLogger({ secrets: [odd], destination }).info({ v: odd }, 'odd');
    expect(lines[0]).not.toContain(JSON.stringify(odd).slice(1, -1));
    expect(JSON.parse(lines[0]!).v).toBe('[redacted]');
  });

  it('redacts known secret fields even when no secret is configured', () => {
    const { lines, destination } = capture();
    createLogger({ destination }).info({ headers: { authorization: 'Bearer abc' }, apiKey: 'k' }, 'h');
    const o = JSON.parse(lines[0]!);
    expect(o.headers.authorization).toBe('[redacted]');
    expect(o.apiKey).toBe('[redacted]');
  });

  it('shows an unset secret in the start-up config as "not set", not as redacted', () => {
    const { lines, destination } = capture();
    createLogger({ destination }).info({ config: { jupiterApiKey: 'not set' } }, 'starting');
    expect(JSON.parse(lines[0]!).config.jupiterApiKey).toBe('not set');
  });
});

describe('redactSecrets', () => {
  it('replaces every occurrence', () => {
    expect(redactSecrets('a KEY b KEY', ['KEY'])).toBe('a [redacted] b [redacted]');
  });
});
