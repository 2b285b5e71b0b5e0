/**
 * `token-refresh market`: runs the Jupiter-compatible market simulator in the foreground, for the
 * offline demo and for pointing PRICE_API_URL at something that behaves like Jupiter.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { startMarket, type Faults } from '../market/index.js';

function intArg(name: string, min: number, max: number) {
  return (value: string): number => {
    const v = value.trim();
    if (!/^-?\d+$/.test(v))
      throw new InvalidArgumentError(`${name} must be an integer, got ${JSON.stringify(value)}.`);
    const n = Number(v);
    if (n < min || n > max)
      throw new InvalidArgumentError(`${name} must be between ${min} and ${max}, got ${n}.`);
    return n;
  };
}

function probabilityArg(name: string) {
  return (value: string): number => {
    const n = Number(value.trim());
    if (value.trim() === '' || !(n >= 0 && n <= 1)) {
      throw new InvalidArgumentError(`${name} must be a number from 0 to 1, got ${JSON.stringify(value)}.`);
    }
    return n;
  };
}

function latencyArg(value: string): { min: number; max: number } {
  const m = /^(\d+)(?:-(\d+))?$/.exec(value.trim());
  const min = m ? Number(m[1]) : NaN;
  const max = m ? Number(m[2] ?? m[1]) : NaN;
  if (!m || max < min)
    throw new InvalidArgumentError(`latency must be <ms> or <min>-<max> ms, got ${JSON.stringify(value)}.`);
  return { min, max };
}

function nonEmptyArg(value: string): string {
  if (value.trim() === '') throw new InvalidArgumentError('API key must not be empty.');
  return value.trim();
}

interface MarketFlags {
  port: number;
  host: string;
  tokens: number;
  rpm?: number;
  seed: number;
  apiKey?: string;
  errorRate?: number;
  latencyMs?: { min: number; max: number };
  hangRate?: number;
  malformedRate?: number;
  partialRate?: number;
  omitRate?: number;
  badPriceRate?: number;
}

const FAULT_FLAGS = [
  'errorRate',
  'latencyMs',
  'hangRate',
  'malformedRate',
  'partialRate',
  'omitRate',
  'badPriceRate',
] as const;

/** The fault knobs the flags set (the rest stay at none). */
export function faultsFromFlags(flags: Partial<MarketFlags>): Partial<Faults> {
  const faults: Partial<Faults> = {};
  for (const k of FAULT_FLAGS) {
    const v = flags[k];
    if (v !== undefined) (faults as Record<string, unknown>)[k] = v;
  }
  return faults;
}

export function registerMarketCommand(program: Command): void {
  program
    .command('market')
    .description('run the Jupiter-compatible market simulator (/price/v3, /price/v2) for offline use')
    .option('--port <n>', 'port to listen on (0 = any free port)', intArg('port', 0, 65535), 9000)
    .option('--host <host>', 'interface to bind', '127.0.0.1')
    .option('--tokens <n>', 'number of synthetic tokens', intArg('tokens', 1, 1_000_000), 1000)
    .option(
      '--rpm <n>',
      'requests per minute allowed (60 s sliding window); default unlimited',
      intArg('rpm', 1, 1_000_000),
    )
    .option('--seed <n>', 'random seed (token addresses, prices, faults)', intArg('seed', 0, 2 ** 31 - 1), 1)
    .option('--api-key <key>', 'require this x-api-key header (401 otherwise)', nonEmptyArg)
    .option('--error-rate <p>', 'probability of a 500/502/503 answer', probabilityArg('error rate'))
    .option('--latency-ms <min-max>', 'answer delay in ms, fixed or a uniform range', latencyArg)
    .option('--hang-rate <p>', 'probability a request is never answered', probabilityArg('hang rate'))
    .option(
      '--malformed-rate <p>',
      'probability a 200 carries a body that is not JSON',
      probabilityArg('malformed rate'),
    )
    .option(
      '--partial-rate <p>',
      'probability an answer leaves out part of the ids asked for',
      probabilityArg('partial rate'),
    )
    .option('--omit-rate <p>', 'per-mint probability a mint is left out', probabilityArg('omit rate'))
    .option(
      '--bad-price-rate <p>',
      'per-mint probability of an invalid price (null, negative, NaN, huge, …)',
      probabilityArg('bad price rate'),
    )
    .action(async (flags: MarketFlags) => {
      const faults = faultsFromFlags(flags);
      const market = await startMarket({
        port: flags.port,
        host: flags.host,
        tokens: flags.tokens,
        rpm: flags.rpm ?? null,
        seed: flags.seed,
        apiKey: flags.apiKey,
        faults,
      });
      const limit = flags.rpm === undefined ? 'no rate limit' : `${flags.rpm} requests/min`;
      process.stdout.write(
        `market listening on ${market.url} (${market.priceUrlV3}, ${market.priceUrlV2}; ` +
          `${flags.tokens} tokens, ${limit}, seed ${flags.seed}${flags.apiKey ? ', API key required' : ''})\n` +
          `truth: ${market.url}/__market/truth  requests: ${market.url}/__market/requests  tokens: ${market.url}/__market/tokens\n`,
      );
      await new Promise<void>((resolve) => {
        const stop = (): void => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          void market.close().then(resolve);
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
}
