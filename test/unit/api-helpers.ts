/**
 * Test doubles for the API tests: an ApiService whose scheduler side is scripted, and a small
 * in-memory Store (only the methods the API reaches), for tests that need no database.
 * `openTestStore()` is the real embedded store.
 */
import type { FastifyInstance } from 'fastify';
import { buildServer } from '../../src/api/server.js';
import { ManualClock } from '../../src/core/clock.js';
import { openStore } from '../../src/store/index.js';
import type { TierDef, Token } from '../../src/core/types.js';
import type {
  ListTokensOptions,
  PriceHistoryOptions,
  PricePoint,
  Store,
  TokenInput,
  TokenSettings,
  TokenView,
} from '../../src/store/types.js';
import type { SchedulerEventName, SchedulerEvents, SchedulerStatus } from '../../src/scheduler/types.js';
import type { ApiService, RefreshOutcome } from '../../src/api/types.js';
import { TokenNotFoundError } from '../../src/api/errors.js';

export const T0 = Date.UTC(2025, 0, 1);

/** Valid base58 addresses (32–44 chars, no 0/O/I/l). */
export const ADDRESSES = [
  'So11111111111111111111111111111111111111112',
  'EPjFWdd5AufqSSqeM2qN1xzybapC8G4wEGGkZwyTDt1v',
  'DezXAZ8z7PnrnRJjz3wXBoRgixCa6xjnB7YaB1pPB263',
  'JUPyiwrYJFskUPiHa7hkeR8VUtAeFoSYbKedZNsDvCN',
  'mSoLzYCxHdYgdzU16g5QSh3i5K3z3KZK7ytfqcJm7So',
];

export const sampleTokens: TokenInput[] = [
  { address: ADDRESSES[0]!, symbol: 'SOL', name: 'Wrapped SOL', decimals: 9, rank: 1, volume_24h: 5e9 },
  { address: ADDRESSES[1]!, symbol: 'USDC', name: 'USD Coin', decimals: 6, rank: 2, volume_24h: 4e9 },
  {
    address: ADDRESSES[2]!,
    symbol: 'BONK',
    name: 'Bonk',
    decimals: 5,
    rank: 60,
    volume_24h: 2e7,
    in_contest: true,
  },
  { address: ADDRESSES[3]!, symbol: 'JUP', name: 'Jupiter', decimals: 6, rank: 30, volume_24h: 1e8 },
  { address: ADDRESSES[4]!, symbol: 'MSOL', name: 'Marinade SOL', decimals: 9, rank: null, volume_24h: null },
];

function notInFake(name: string): never {
  throw new Error(`FakeStore.${name} is not implemented (the API must not call it)`);
}

export class FakeStore implements Store {
  readonly kind = 'pglite' as const;
  private readonly rows = new Map<string, TokenView>();
  private nextId = 1;
  calls: string[] = [];

  async migrate(): Promise<void> {}
  async migrationsApplied(): Promise<boolean> {
    return true;
  }
  async ping(): Promise<void> {}
  async close(): Promise<void> {}
  // eslint-disable-next-line require-yield
  async *loadActiveTokens(): AsyncIterable<never[]> {
    notInFake('loadActiveTokens');
  }
  async loadTokensChangedSince(): Promise<never[]> {
    return notInFake('loadTokensChangedSince');
  }
  async loadTokensChanged(): Promise<never> {
    return notInFake('loadTokensChanged');
  }
  async changeHorizon(): Promise<never> {
    return notInFake('changeHorizon');
  }
  async maintainHistory(): Promise<never> {
    return notInFake('maintainHistory');
  }
  async importTokens(): Promise<never> {
    return notInFake('importTokens');
  }
  async writeRefreshResults(): Promise<never> {
    return notInFake('writeRefreshResults');
  }
  async saveSchedules(): Promise<void> {
    notInFake('saveSchedules');
  }
  async upsertTokens(rows: readonly TokenInput[], now: number) {
    let inserted = 0;
    for (const r of rows) {
      const existing = this.rows.get(r.address);
      if (existing) continue;
      inserted++;
      this.rows.set(r.address, {
        id: this.nextId++,
        address: r.address,
        symbol: r.symbol ?? null,
        name: r.name ?? null,
        decimals: r.decimals ?? null,
        rank: r.rank ?? null,
        volume_24h: r.volume_24h ?? null,
        in_contest: r.in_contest ?? false,
        priority_score: r.priority_score ?? 0,
        refresh_interval_seconds: r.refresh_interval_seconds ?? null,
        is_active: r.is_active ?? true,
        last_refresh_attempt: null,
        last_refresh_success: null,
        last_price_change: null,
        refresh_metadata: {},
        created_at: now,
        updated_at: now,
        price: null,
        change_24h: null,
        price_updated_at: null,
        block_id: null,
        source: null,
      });
    }
    return { inserted, updated: 0, rankHistoryRows: 0 };
  }
  private find(addressOrId: string | number): TokenView | undefined {
    if (typeof addressOrId === 'number') return [...this.rows.values()].find((t) => t.id === addressOrId);
    return this.rows.get(addressOrId);
  }
  async updateTokenSettings(
    addressOrId: string | number,
    s: TokenSettings,
    now: number,
  ): Promise<Token | null> {
    this.calls.push('updateTokenSettings');
    const t = this.find(addressOrId);
    if (!t) return null;
    if (s.refresh_interval_seconds !== undefined) t.refresh_interval_seconds = s.refresh_interval_seconds;
    if (s.priority_score !== undefined) t.priority_score = s.priority_score;
    if (s.is_active !== undefined) t.is_active = s.is_active;
    if (s.metadata !== undefined) t.refresh_metadata = { ...t.refresh_metadata, ...s.metadata };
    t.updated_at = now;
    return structuredClone(t);
  }
  async getToken(addressOrId: string | number): Promise<TokenView | null> {
    this.calls.push('getToken');
    const t = this.find(addressOrId);
    return t ? structuredClone(t) : null;
  }
  /** Scripted history per token id (newest first is the store's job: the fake sorts). */
  history = new Map<number, PricePoint[]>();
  async getPriceHistory(tokenId: number, o: PriceHistoryOptions): Promise<PricePoint[]> {
    this.calls.push('getPriceHistory');
    return (this.history.get(tokenId) ?? [])
      .filter((p) => p.t >= (o.from ?? 0) && p.t < (o.to ?? Infinity))
      .sort((a, b) => b.t - a.t)
      .slice(0, o.limit);
  }
  async listTokens(o: ListTokensOptions): Promise<{ total: number; tokens: TokenView[] }> {
    this.calls.push('listTokens');
    let all = [...this.rows.values()];
    if (o.search) {
      const s = o.search.toLowerCase();
      all = all.filter((t) =>
        [t.address, t.symbol ?? '', t.name ?? ''].some((v) => v.toLowerCase().includes(s)),
      );
    }
    const dir = o.order === 'asc' ? 1 : -1;
    all.sort((a, b) => {
      const x = a[o.sort];
      const y = b[o.sort];
      if (x === y) return a.id - b.id;
      if (x === null) return 1;
      if (y === null) return -1;
      return (x < y ? -1 : 1) * dir;
    });
    return { total: all.length, tokens: structuredClone(all.slice(o.offset, o.offset + o.limit)) };
  }
  async countTokens() {
    const all = [...this.rows.values()];
    return { total: all.length, active: all.filter((t) => t.is_active).length };
  }
  async getTiers(): Promise<TierDef[]> {
    return [];
  }
  async updateTier(): Promise<void> {
    notInFake('updateTier');
  }
}

/** A fresh in-memory PGlite store, migrated and seeded with `sampleTokens`. */
export async function openTestStore(): Promise<Store> {
  const store = await openStore({ dataDir: 'memory://' });
  await store.migrate();
  await store.upsertTokens(sampleTokens, T0);
  return store;
}

/**
 * The admin-protected server over a fresh test store, with the store's rows before any request
 * (the 4xx tests check that nothing changed against it).
 */
export async function openAdminApp(): Promise<{
  store: Store;
  service: FakeService;
  app: FastifyInstance;
  before: string;
}> {
  const store = await openTestStore();
  const service = new FakeService(store);
  const app = await buildServer(service, { host: '127.0.0.1', adminToken: ADMIN_TOKEN, logger: false });
  return { store, service, app, before: await snapshotStore(store) };
}

/** Every token row, for before/after comparisons. */
export async function snapshotStore(store: Store): Promise<string> {
  const page = await store.listTokens({ limit: 500, offset: 0, sort: 'id', order: 'asc' });
  return JSON.stringify(page);
}

export function makeStatus(over: Partial<SchedulerStatus> = {}): SchedulerStatus {
  return {
    running: true,
    paused: false,
    policy: 'optimal',
    startedAt: T0,
    now: T0,
    tokens: { active: 5, queued: 5, due: 2, skipped: 0 },
    plan: {
      requestsPerMinute: 600,
      effectiveRequestsPerMinute: 540,
      maxBatchSize: 50,
      capacityPerSecond: 450,
      lastReplanMs: 12,
    },
    rates: {
      requestsLastMinute: 300,
      refreshesLastMinute: 12000,
      rateLimitedLastMinute: 1,
      errorsLastMinute: 2,
    },
    circuit: { state: 'closed', retryAt: null },
    databaseDownSince: null,
    estimatedStaleness: 0.125,
    tiers: [
      { tier: 'CRITICAL', tokens: 2, refreshesPerMinute: 8, avgIntervalSeconds: 15 },
      { tier: 'HIGH', tokens: 1, refreshesPerMinute: 2, avgIntervalSeconds: 30 },
    ],
    lastBatchAt: T0,
    lastError: null,
    ...over,
  };
}

type Listener = (payload: never) => void;

/** A scripted ApiService: the tests drive events, status and refresh outcomes. */
export class FakeService implements ApiService {
  readonly clock: ManualClock;
  statusValue: SchedulerStatus = makeStatus();
  readinessValue = { db: true, migrations: true, scheduler: true };
  recommendationsValue: unknown = { distribution: [{ tier: 'CRITICAL', tokens: 2 }], plans: [] };
  refreshError: unknown = null;
  calls: string[] = [];
  private readonly listeners = new Map<string, Set<Listener>>();

  constructor(
    readonly store: Store,
    clock = new ManualClock(T0),
  ) {
    this.clock = clock;
  }

  status(): SchedulerStatus {
    return { ...this.statusValue, now: this.clock.now() };
  }
  pause(): void {
    this.calls.push('pause');
    this.statusValue = { ...this.statusValue, paused: true };
  }
  resume(): void {
    this.calls.push('resume');
    this.statusValue = { ...this.statusValue, paused: false };
  }
  async refreshToken(address: string): Promise<RefreshOutcome> {
    this.calls.push('refreshToken');
    const t = await this.store.getToken(address);
    if (!t) throw new TokenNotFoundError(address);
    if (this.refreshError) throw this.refreshError;
    return { address, refreshed: true, price: 1.5, changed: true };
  }
  async updateTokenSettings(addressOrId: string | number, settings: TokenSettings): Promise<Token | null> {
    this.calls.push('updateTokenSettings');
    return this.store.updateTokenSettings(addressOrId, settings, this.clock.now());
  }
  async recommendations(): Promise<unknown> {
    return this.recommendationsValue;
  }
  async readiness() {
    return this.readinessValue;
  }
  on<E extends SchedulerEventName>(event: E, fn: (payload: SchedulerEvents[E]) => void): () => void {
    let set = this.listeners.get(event);
    if (!set) this.listeners.set(event, (set = new Set()));
    set.add(fn as Listener);
    return () => set.delete(fn as Listener);
  }
  emit<E extends SchedulerEventName>(event: E, payload: SchedulerEvents[E]): void {
    for (const fn of [...(this.listeners.get(event) ?? [])]) (fn as (p: SchedulerEvents[E]) => void)(payload);
  }
  listenerCount(event?: SchedulerEventName): number {
    if (event) return this.listeners.get(event)?.size ?? 0;
    let n = 0;
    for (const s of this.listeners.values()) n += s.size;
    return n;
  }
}

export const ADMIN_TOKEN = 'test-admin-token-5f1c0a9e7b2d4c8a';
