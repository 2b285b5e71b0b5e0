/**
 * Configuration: flags override env; env overrides defaults (docs/design.md, "Configuration").
 * Validated once at start with zod; a bad value raises ConfigError naming the flag or variable it
 * came from, which the CLI turns into exit code 2 with a one-line reason. Secrets are kept out of
 * `describeConfig`.
 */
import { z } from 'zod';
import { PLANS, type PlanName } from './core/types.js';
import { POLICY_NAMES, type PolicyName } from './core/policy.js';

export class ConfigError extends Error {
  /** `variable` names where the bad value came from: an environment variable or a `--flag`. */
  constructor(
    readonly variable: string,
    detail: string,
  ) {
    super(`${variable}: ${detail}`);
    this.name = 'ConfigError';
  }
}

/** The CLI flag for a config key (`requestsPerMinute` → `--requests-per-minute`). */
export function flagName(key: keyof Config): string {
  return `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/**
 * True only for the plan names themselves. `name in PLANS` was also true for `toString` or
 * `__proto__` (inherited from Object.prototype), which then failed later under the wrong name.
 */
export function isPlanName(name: unknown): name is PlanName {
  return typeof name === 'string' && Object.hasOwn(PLANS, name);
}

export interface Config {
  databaseUrl: string | null;
  dataDir: string;
  priceSource: 'jupiter-v3' | 'jupiter-v2';
  priceApiUrl: string | null;
  jupiterApiKey: string | null;
  plan: PlanName;
  requestsPerMinute: number;
  maxBatchSize: number;
  minIntervalSeconds: number;
  batchDelayMs: number | null;
  policy: PolicyName;
  deviation: number;
  maxIntervalSeconds: number;
  adminToken: string | null;
  host: string;
  port: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** A price history row needs a move of at least this fraction from the last one (0 = every change). */
  historyMinChange: number;
  /** Price history older than this (ms) is dropped, a day at a time. Env value like `30d`, `12h`. */
  historyRetention: number;
}

/** Names of the environment variables, by config key. */
export const ENV_NAMES: Record<keyof Config, string> = {
  databaseUrl: 'DATABASE_URL',
  dataDir: 'TOKEN_REFRESH_DATA_DIR',
  priceSource: 'PRICE_SOURCE',
  priceApiUrl: 'PRICE_API_URL',
  jupiterApiKey: 'JUPITER_API_KEY',
  plan: 'TOKEN_REFRESH_PLAN',
  requestsPerMinute: 'TOKEN_REFRESH_REQUESTS_PER_MINUTE',
  maxBatchSize: 'TOKEN_REFRESH_MAX_BATCH_SIZE',
  minIntervalSeconds: 'TOKEN_REFRESH_MIN_INTERVAL',
  batchDelayMs: 'TOKEN_REFRESH_BATCH_DELAY',
  policy: 'TOKEN_REFRESH_POLICY',
  deviation: 'TOKEN_REFRESH_DEVIATION',
  maxIntervalSeconds: 'TOKEN_REFRESH_MAX_INTERVAL',
  adminToken: 'TOKEN_REFRESH_ADMIN_TOKEN',
  host: 'HOST',
  port: 'PORT',
  logLevel: 'LOG_LEVEL',
  historyMinChange: 'TOKEN_REFRESH_HISTORY_MIN_CHANGE',
  historyRetention: 'TOKEN_REFRESH_HISTORY_RETENTION',
};

const DURATION_UNITS_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const DURATION_RE = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/;

/** `30d`, `12h`, `90m`, `45s`, `500ms` → ms (a number passes through as ms). */
export function parseDurationMs(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  const m = typeof v === 'string' ? DURATION_RE.exec(v) : null;
  return m ? Number(m[1]) * DURATION_UNITS_MS[m[2] as keyof typeof DURATION_UNITS_MS] : undefined;
}

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const num = (min: number, max: number) => z.coerce.number().min(min).max(max);
const optionalStr = z
  .string()
  .transform((s) => (s.trim() === '' ? null : s))
  .nullable();

const schemas: { [K in keyof Config]: z.ZodType<Config[K]> } = {
  databaseUrl: optionalStr.refine((v) => v === null || /^postgres(ql)?:\/\//.test(v), {
    message: 'must be a postgres:// or postgresql:// URL',
  }),
  dataDir: z.string().min(1),
  priceSource: z.enum(['jupiter-v3', 'jupiter-v2']),
  priceApiUrl: optionalStr.refine((v) => v === null || /^https?:\/\//.test(v), {
    message: 'must be an http(s) URL',
  }),
  jupiterApiKey: optionalStr,
  plan: z.custom<PlanName>(isPlanName, { message: `expected one of ${Object.keys(PLANS).join(', ')}` }),
  requestsPerMinute: int(1, 100_000),
  maxBatchSize: int(1, 100),
  minIntervalSeconds: num(1, 86_400),
  batchDelayMs: z.coerce.number().int().min(0).max(600_000).nullable(),
  policy: z.enum(POLICY_NAMES as [PolicyName, ...PolicyName[]]),
  deviation: num(1e-6, 1),
  maxIntervalSeconds: num(1, 7 * 86_400),
  adminToken: optionalStr.refine((v) => v === null || v.length >= 16, {
    message: 'must be at least 16 characters',
  }),
  host: z.string().min(1),
  port: int(0, 65_535),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
  historyMinChange: z.coerce.number().min(0).lt(1),
  historyRetention: z
    .unknown()
    .transform(parseDurationMs)
    .pipe(
      z.number({ message: 'expected a duration like 30d, 12h or 90m' }).min(3_600_000, 'must be at least 1h'),
    ),
};

/**
 * Resolve the configuration. `flags` are explicit values already mapped to config keys
 * (undefined = not given): CLI flags, or the library's options. A bad explicit value is reported
 * under `label(key)`: the option name by default (the library), `flagName` for the CLI.
 * `requestsPerMinute` defaults to the plan's rate; maxBatchSize to the source's limit.
 */
export function loadConfig(
  env: NodeJS.ProcessEnv = process.env,
  flags: Partial<Record<keyof Config, unknown>> = {},
  label: (key: keyof Config) => string = (key) => key,
): Config {
  const raw = (key: keyof Config): unknown => {
    const f = flags[key];
    if (f !== undefined) return f;
    const e = env[ENV_NAMES[key]];
    return e === undefined || e === '' ? undefined : e;
  };
  // A bad value is reported under the name the user typed: the flag when a flag gave it.
  const source = (key: keyof Config): string => (flags[key] !== undefined ? label(key) : ENV_NAMES[key]);
  const parse = <K extends keyof Config>(key: K, fallback: unknown): Config[K] => {
    const value = raw(key) ?? fallback;
    const r = schemas[key].safeParse(value);
    if (!r.success) {
      const shown = key === 'jupiterApiKey' || key === 'adminToken' ? '(hidden)' : JSON.stringify(value);
      throw new ConfigError(
        source(key),
        `invalid value ${shown}: ${r.error.issues[0]?.message ?? 'invalid'}`,
      );
    }
    return r.data;
  };
  const plan = parse('plan', 'keyless');
  const priceSource = parse('priceSource', 'jupiter-v3');
  const sourceMax = priceSource === 'jupiter-v2' ? 100 : 50;
  const maxBatchSize = parse('maxBatchSize', sourceMax);
  if (maxBatchSize > sourceMax) {
    throw new ConfigError(
      source('maxBatchSize'),
      `${maxBatchSize} exceeds ${priceSource}'s limit of ${sourceMax} ids`,
    );
  }
  const cfg: Config = {
    databaseUrl: parse('databaseUrl', null),
    dataDir: parse('dataDir', './data'),
    priceSource,
    priceApiUrl: parse('priceApiUrl', null),
    jupiterApiKey: parse('jupiterApiKey', null),
    plan,
    requestsPerMinute: parse('requestsPerMinute', PLANS[plan]),
    maxBatchSize,
    minIntervalSeconds: parse('minIntervalSeconds', 15),
    batchDelayMs: parse('batchDelayMs', null),
    policy: parse('policy', 'optimal'),
    deviation: parse('deviation', 0.01),
    maxIntervalSeconds: parse('maxIntervalSeconds', 3600),
    adminToken: parse('adminToken', null),
    host: parse('host', '127.0.0.1'),
    port: parse('port', 8080),
    logLevel: parse('logLevel', 'info'),
    historyMinChange: parse('historyMinChange', 0),
    historyRetention: parse('historyRetention', '30d'),
  };
  if (cfg.maxIntervalSeconds < cfg.minIntervalSeconds) {
    throw new ConfigError(source('maxIntervalSeconds'), `must be >= ${source('minIntervalSeconds')}`);
  }
  return cfg;
}

/** The default endpoint for a source. */
export function defaultPriceUrl(cfg: Pick<Config, 'priceSource' | 'jupiterApiKey'>): string {
  // lite-api.jup.ag was retired on 2026-01-31: keyless plans call api.jup.ag without a key.
  const host = 'https://api.jup.ag';
  return cfg.priceSource === 'jupiter-v2' ? `${host}/price/v2` : `${host}/price/v3`;
}

/** Minimum spacing between requests: TOKEN_REFRESH_BATCH_DELAY, else 60 s / plan rpm. */
export function batchSpacingMs(cfg: Pick<Config, 'batchDelayMs' | 'requestsPerMinute'>): number {
  return cfg.batchDelayMs ?? 60_000 / cfg.requestsPerMinute;
}

/** How a secret shows in describeConfig: whether it is set, never its value. */
export const SECRET_SET = '[redacted]';
export const SECRET_NOT_SET = 'not set';

/** The configuration with secrets masked, for the start-up log line. */
export function describeConfig(cfg: Config): Record<string, unknown> {
  const secret = (v: string | null) => (v ? SECRET_SET : SECRET_NOT_SET);
  return {
    ...cfg,
    databaseUrl: cfg.databaseUrl ? cfg.databaseUrl.replace(/\/\/([^:@/]+)(:[^@/]*)?@/, '//$1:***@') : null,
    jupiterApiKey: secret(cfg.jupiterApiKey),
    adminToken: secret(cfg.adminToken),
  };
}
