/**
 * Where the shared request budget lives: `SqlBudgetStore` calls token_refresh_take_slots and
 * token_refresh_budget_slow (migrations/0005_cluster.sql), one round trip each;
 * `MemoryBudgetStore` is the same GCRA in memory on an injected Clock (virtual-time simulations
 * of several instances, unit tests). test/db/cluster-budget.test.ts holds them to the same result.
 */
import { createHash } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import type { Queryable } from '../store/executor.js';
import * as SQL from './sql.js';

/**
 * The budget row's key for an API key: the first 16 hex digits of its sha256 (64 bits: no
 * collision between the handful of keys one database sees), or 'keyless'. The key itself is never
 * stored or sent to the database.
 */
export function budgetKey(apiKey: string | null | undefined): string {
  if (!apiKey) return 'keyless';
  return createHash('sha256').update(apiKey, 'utf8').digest('hex').slice(0, 16);
}

export interface SlotGrant {
  /** Slots granted (0 = over budget: ask again after waitMs). */
  granted: number;
  /** The first slot (database epoch ms); the others follow periodMs apart. */
  firstSlotMs: number | null;
  /** The spacing applied: the caller's period stretched by the cluster's adaptive factor. */
  periodMs: number;
  waitMs: number;
  dbNowMs: number;
}

export interface SlowResult {
  backoffUntilMs: number;
  adaptiveFactor: number;
  dbNowMs: number;
}

export interface BudgetStore {
  /** Reserve up to k slots periodMs apart, at most `burst` periods ahead of now. */
  takeSlots(key: string, k: number, periodMs: number, burst: number): Promise<SlotGrant>;
  /** A 429 (limited) and/or a server hint (waitMs): slow every user of the key. */
  slow(key: string, limited: boolean, waitMs: number | null): Promise<SlowResult>;
}

export interface SqlBudgetStoreOptions {
  /** Tests only: this clock's time replaces the database's clock (at_ms). */
  databaseTimeFrom?: Clock;
}

export class SqlBudgetStore implements BudgetStore {
  constructor(
    private readonly q: Queryable,
    private readonly opts: SqlBudgetStoreOptions = {},
  ) {}

  private at(): number | null {
    return this.opts.databaseTimeFrom ? this.opts.databaseTimeFrom.now() : null;
  }

  async takeSlots(key: string, k: number, periodMs: number, burst: number): Promise<SlotGrant> {
    const res = await this.q.query<Record<string, unknown>>(
      SQL.TAKE_SLOTS,
      [key, k, periodMs, burst, this.at()],
      'trs_take_slots',
    );
    const r = res.rows[0]!;
    return {
      granted: Number(r.granted),
      firstSlotMs: r.first_slot_ms === null ? null : Number(r.first_slot_ms),
      periodMs: Number(r.slot_period_ms),
      waitMs: Number(r.wait_ms),
      dbNowMs: Number(r.db_now_ms),
    };
  }

  async slow(key: string, limited: boolean, waitMs: number | null): Promise<SlowResult> {
    const res = await this.q.query<Record<string, unknown>>(SQL.BUDGET_SLOW, [
      key,
      limited,
      waitMs,
      this.at(),
    ]);
    const r = res.rows[0]!;
    return {
      backoffUntilMs: Number(r.backoff_until_ms),
      adaptiveFactor: Number(r.adaptive_factor),
      dbNowMs: Number(r.db_now_ms),
    };
  }
}

interface Row {
  tat: number;
  factor: number;
  factorAt: number | null;
  streak: number;
  limitedAt: number | null;
  backoffUntil: number;
}

/** The GCRA of token_refresh_take_slots / token_refresh_budget_slow, in memory. */
export class MemoryBudgetStore implements BudgetStore {
  private readonly rows = new Map<string, Row>();
  slotsTaken = 0;

  constructor(private readonly clock: Clock) {}

  private row(key: string): Row {
    let r = this.rows.get(key);
    if (!r) {
      r = { tat: -Infinity, factor: 1, factorAt: null, streak: 0, limitedAt: null, backoffUntil: -Infinity };
      this.rows.set(key, r);
    }
    return r;
  }

  private factor(r: Row, t: number): number {
    if (r.factorAt === null) return r.factor;
    return Math.min(1, r.factor + (Math.max(0, t - r.factorAt) / 60_000) * 0.1);
  }

  async takeSlots(key: string, k: number, periodMs: number, burst: number): Promise<SlotGrant> {
    const r = this.row(key);
    const t = this.clock.now();
    const step = periodMs / this.factor(r, t);
    const start = Math.max(r.tat, t, r.backoffUntil);
    const n = Math.min(k, Math.floor((t + burst * step - start) / step) + 1);
    if (n < 1)
      return { granted: 0, firstSlotMs: null, periodMs: step, waitMs: start - burst * step - t, dbNowMs: t };
    r.tat = start + n * step;
    this.slotsTaken += n;
    return { granted: n, firstSlotMs: start, periodMs: step, waitMs: 0, dbNowMs: t };
  }

  async slow(key: string, limited: boolean, waitMs: number | null): Promise<SlowResult> {
    const r = this.row(key);
    const t = this.clock.now();
    let hold = 0;
    if (limited) {
      r.streak = r.limitedAt !== null && t - r.limitedAt < 60_000 ? r.streak + 1 : 1;
      hold = Math.min(30_000, 2000 * 2 ** Math.min(r.streak - 1, 30));
      r.factor = Math.max(0.5, 0.8 * this.factor(r, t));
      r.factorAt = t;
      r.limitedAt = t;
    }
    hold = Math.max(hold, Math.min(waitMs ?? 0, 300_000));
    r.backoffUntil = Math.max(r.backoffUntil, t + hold);
    return { backoffUntilMs: r.backoffUntil, adaptiveFactor: r.factor, dbNowMs: t };
  }
}
