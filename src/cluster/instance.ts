/**
 * Who this instance is, how long its leases last and how it splits the budget, from the
 * environment: TOKEN_REFRESH_INSTANCE_ID (default host-pid-random), TOKEN_REFRESH_LEASE_SECONDS
 * (default 10) and TOKEN_REFRESH_BUDGET_SPLIT (default mu).
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { ConfigError } from '../config.js';
import { DEFAULT_LEASE_MS } from './leases.js';

const ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;

/** The id the cluster knows this process by; same format as the cluster_instances CHECK. */
export function resolveInstanceId(env: NodeJS.ProcessEnv = process.env, pid = process.pid): string {
  const given = env.TOKEN_REFRESH_INSTANCE_ID;
  if (given !== undefined && given !== '') {
    if (!ID_RE.test(given)) {
      throw new ConfigError(
        'TOKEN_REFRESH_INSTANCE_ID',
        `must be 1-128 characters of letters, digits, '.', '_', ':' or '-' (got ${JSON.stringify(given.slice(0, 40))})`,
      );
    }
    return given;
  }
  const host =
    hostname()
      .replace(/[^A-Za-z0-9.-]/g, '-')
      .slice(0, 100) || 'host';
  return `${host}-${pid}-${randomBytes(3).toString('hex')}`;
}

/** Lease length in ms from TOKEN_REFRESH_LEASE_SECONDS: 3..600 s, default 10 s. */
export function resolveLeaseMs(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.TOKEN_REFRESH_LEASE_SECONDS;
  if (raw === undefined || raw === '') return DEFAULT_LEASE_MS;
  const s = Number(raw);
  if (!Number.isFinite(s) || s < 3 || s > 600) {
    throw new ConfigError(
      'TOKEN_REFRESH_LEASE_SECONDS',
      `must be a number of seconds from 3 to 600 (got ${raw})`,
    );
  }
  return s * 1000;
}

export type BudgetSplitMode = 'partitions' | 'mu';

/**
 * TOKEN_REFRESH_BUDGET_SPLIT: `mu` (default: the equal-μ split, mu-balancer.ts) or `partitions`
 * (each instance plans with partitions / 64 of the plan). In simulation the equal-μ split plans
 * within 1 % of one instance where the count split loses 11–17 %; three real processes at 3,000
 * rpm send 94.4–96.7 % of the plan with it (bench:cluster). It was opt-in while they sent 70–92 %:
 * a newcomer's curve planned on its empty book gave it a share of 0, and chunks of a whole
 * second of the plan made one instance of three fall behind (docs/cluster.md).
 */
export function resolveBudgetSplit(env: NodeJS.ProcessEnv = process.env): BudgetSplitMode {
  const raw = env.TOKEN_REFRESH_BUDGET_SPLIT;
  if (raw === undefined || raw === '' || raw === 'mu') return 'mu';
  if (raw === 'partitions') return 'partitions';
  throw new ConfigError(
    'TOKEN_REFRESH_BUDGET_SPLIT',
    `must be partitions or mu (got ${JSON.stringify(raw.slice(0, 40))})`,
  );
}
