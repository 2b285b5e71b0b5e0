/**
 * A seeded fault schedule over virtual time: episodes of upstream and store faults, admin actions
 * at random times and process restart points. Everything is drawn from one `Rng(seed)` up front,
 * so the same seed gives the same plan (and, with the wrappers' own seeded draws, the same run);
 * `formatFaultPlan` prints it for a failing seed.
 *
 * Shape of a default plan (an hour): episodes arrive as a Poisson process, 12 per hour, each
 * lasting 5–120 s (log-uniform: mostly short blips, a few long outages); about 20 admin actions
 * and one restart per hour. The last `quietTailMs` (default 5 min) has no fault, no admin action
 * and no restart, and starts with a `resume`, so "the scheduler never stalls" can be checked on
 * every run: refreshes must resume within the 30 s backoff cap plus one 60 s re-plan.
 */
import { Rng } from '../../core/rng.js';

export const UPSTREAM_FAULT_KINDS = [
  /** 429 with Retry-After. */
  'rate-limited-retry-after',
  /** 429 with x-ratelimit-remaining/limit/reset. */
  'rate-limited-hints',
  /** 429 without any hint. */
  'rate-limited-bare',
  /** 500/502/503. */
  'server-error',
  /** The source gives up after a delay (its own fetch timeout). */
  'timeout',
  /** Never answers; ends only when the caller's signal aborts (the client's timeout). */
  'hang',
  /** Answers correctly, late (delay on the injected clock). */
  'slow',
  /** A 200 whose body is not a price answer. */
  'malformed',
  /** Answers for only part of the ids (the rest missing). */
  'partial',
  /** Some prices invalid: reported as invalid, or leaked into the quotes as bad numbers. */
  'invalid-prices',
] as const;
export type UpstreamFaultKind = (typeof UPSTREAM_FAULT_KINDS)[number];

export const STORE_FAULT_KINDS = [
  /** The first 1–3 write attempts in the episode fail, then writes succeed. */
  'write-transient',
  /** Every write attempt fails until the episode ends. */
  'write-permanent',
  /** Writes commit after a delay on the injected clock. */
  'slow-commit',
] as const;
export type StoreFaultKind = (typeof STORE_FAULT_KINDS)[number];

export type FaultKind = UpstreamFaultKind | StoreFaultKind;

export interface FaultEpisode {
  kind: FaultKind;
  /** Virtual epoch ms. */
  startMs: number;
  durationMs: number;
  /** 0..1. Upstream kinds: the share of calls in the episode it decides. Store kinds: unused. */
  intensity: number;
  /**
   * 0..1, how bad each affected call or write is. slow / timeout / slow-commit: a delay of
   * magnitude × 8 s; partial / invalid-prices: the share of ids spoiled; write-transient:
   * 1 + floor(magnitude × 3) attempts fail. Other kinds: unused.
   */
  magnitude: number;
}

/** Settings an admin edit applies; extreme and negative values are drawn on purpose. */
export interface SettingsEdit {
  refresh_interval_seconds?: number | null;
  priority_score?: number;
}

export type AdminAction =
  | { kind: 'pause' | 'resume'; atMs: number }
  /** tokenIndex: index into the run's universe (modulo its size). */
  | { kind: 'manual-refresh' | 'deactivate'; atMs: number; tokenIndex: number }
  | { kind: 'settings-edit'; atMs: number; tokenIndex: number; settings: SettingsEdit }
  /** A token not in the universe yet; the runner makes its address from `newTokenIndex`. */
  | { kind: 'new-token'; atMs: number; newTokenIndex: number; rank: number };

export interface FaultPlan {
  seed: number;
  startMs: number;
  endMs: number;
  /** From here to endMs nothing is injected (the quiet tail). */
  quietFromMs: number;
  /** Sorted by startMs. */
  episodes: FaultEpisode[];
  /** Sorted by atMs. */
  admin: AdminAction[];
  /** Virtual times at which the runner restarts the process from the persisted state. */
  restarts: number[];
}

export interface FaultPlanOptions {
  startMs: number;
  durationMs: number;
  /** Size of the universe the token indices refer to. */
  tokenCount: number;
  /** Default 12. */
  episodesPerHour?: number;
  /** Default 20. */
  adminActionsPerHour?: number;
  /** Default 1. */
  restartsPerHour?: number;
  /** Default 5 min (capped at half the duration). */
  quietTailMs?: number;
  /** Only these kinds (default: all upstream and store kinds). */
  kinds?: readonly FaultKind[];
}

export class FaultPlanError extends Error {
  constructor(message: string) {
    super(`fault plan: ${message}`);
    this.name = 'FaultPlanError';
  }
}

const HOUR_MS = 3_600_000;
const ALL_KINDS: readonly FaultKind[] = [...UPSTREAM_FAULT_KINDS, ...STORE_FAULT_KINDS];
/** Intervals (s) an edit may set: the sane, the extreme and the invalid. */
const EDIT_INTERVALS: readonly (number | null)[] = [null, 15, 60, 1, 0, -30, 0.001, 1e9, 86_400];
const EDIT_PRIORITIES: readonly number[] = [0, 100, 1_000, -50, -1e6, 1e9];

export function isUpstreamFault(kind: FaultKind): kind is UpstreamFaultKind {
  return (UPSTREAM_FAULT_KINDS as readonly string[]).includes(kind);
}

/** Draws a plan; the same seed and options always give the same plan. */
export function makeFaultPlan(seed: number, opts: FaultPlanOptions): FaultPlan {
  const { startMs, durationMs, tokenCount } = opts;
  if (!Number.isFinite(startMs)) throw new FaultPlanError(`startMs must be finite, got ${startMs}`);
  if (!(durationMs > 0)) throw new FaultPlanError(`durationMs must be > 0, got ${durationMs}`);
  if (!(Number.isInteger(tokenCount) && tokenCount > 0))
    throw new FaultPlanError(`tokenCount must be a positive integer, got ${tokenCount}`);
  const kinds = opts.kinds ?? ALL_KINDS;
  if (kinds.length === 0) throw new FaultPlanError('kinds is empty; pass at least one kind or omit it');
  const rng = new Rng(seed);
  const faultRng = rng.fork(1);
  const adminRng = rng.fork(2);
  const restartRng = rng.fork(3);
  const endMs = startMs + durationMs;
  const quietFromMs = endMs - Math.min(opts.quietTailMs ?? 300_000, durationMs / 2);
  const activeMs = quietFromMs - startMs;

  const episodes: FaultEpisode[] = [];
  const nEpisodes = faultRng.poisson(((opts.episodesPerHour ?? 12) * activeMs) / HOUR_MS);
  for (let i = 0; i < nEpisodes; i++) {
    const at = startMs + Math.floor(faultRng.next() * activeMs);
    const len = Math.round(faultRng.logUniform(5_000, 120_000));
    episodes.push({
      kind: faultRng.pick(kinds),
      startMs: at,
      durationMs: Math.min(len, quietFromMs - at),
      intensity: Math.round(faultRng.uniform(0.2, 1) * 100) / 100,
      magnitude: Math.round(faultRng.uniform(0.05, 1) * 100) / 100,
    });
  }
  episodes.sort((a, b) => a.startMs - b.startMs);

  const admin: AdminAction[] = [];
  const nAdmin = adminRng.poisson(((opts.adminActionsPerHour ?? 20) * activeMs) / HOUR_MS);
  let newTokens = 0;
  for (let i = 0; i < nAdmin; i++) {
    const atMs = startMs + Math.floor(adminRng.next() * activeMs);
    const tokenIndex = adminRng.int(0, tokenCount - 1);
    const r = adminRng.next();
    if (r < 0.1) admin.push({ kind: 'pause', atMs });
    else if (r < 0.2) admin.push({ kind: 'resume', atMs });
    else if (r < 0.45) admin.push({ kind: 'manual-refresh', atMs, tokenIndex });
    else if (r < 0.75) {
      const settings: SettingsEdit = {};
      if (adminRng.next() < 0.6) settings.refresh_interval_seconds = adminRng.pick(EDIT_INTERVALS);
      else settings.priority_score = adminRng.pick(EDIT_PRIORITIES);
      admin.push({ kind: 'settings-edit', atMs, tokenIndex, settings });
    } else if (r < 0.85) admin.push({ kind: 'deactivate', atMs, tokenIndex });
    else admin.push({ kind: 'new-token', atMs, newTokenIndex: newTokens++, rank: adminRng.int(1, 5_000) });
  }
  // The quiet tail starts running: a pause left over would look like a stall.
  admin.push({ kind: 'resume', atMs: quietFromMs });
  admin.sort((a, b) => a.atMs - b.atMs);

  const restarts: number[] = [];
  const nRestarts = restartRng.poisson(((opts.restartsPerHour ?? 1) * activeMs) / HOUR_MS);
  for (let i = 0; i < nRestarts; i++) restarts.push(startMs + Math.floor(restartRng.next() * activeMs));
  restarts.sort((a, b) => a - b);

  return { seed, startMs, endMs, quietFromMs, episodes, admin, restarts };
}

/** Episodes of `kinds` covering `atMs` (start inclusive, end exclusive), in plan order. */
export function activeEpisodes(
  plan: Pick<FaultPlan, 'episodes'>,
  atMs: number,
  kinds: (kind: FaultKind) => boolean,
): FaultEpisode[] {
  const out: FaultEpisode[] = [];
  for (const e of plan.episodes) {
    if (e.startMs > atMs) break;
    if (atMs < e.startMs + e.durationMs && kinds(e.kind)) out.push(e);
  }
  return out;
}

/** End of the last episode (or startMs when there is none). */
export function lastFaultEndMs(plan: FaultPlan): number {
  return plan.episodes.reduce((m, e) => Math.max(m, e.startMs + e.durationMs), plan.startMs);
}

/** Human-readable plan, times in seconds from the start (for a failing seed's report). */
export function formatFaultPlan(plan: FaultPlan): string {
  const s = (ms: number): string => ((ms - plan.startMs) / 1000).toFixed(1) + 's';
  const lines = [
    `fault plan seed=${plan.seed} duration=${s(plan.endMs)} quiet from ${s(plan.quietFromMs)}`,
    `episodes (${plan.episodes.length}):`,
    ...plan.episodes.map(
      (e) =>
        `  ${s(e.startMs)} +${(e.durationMs / 1000).toFixed(1)}s ${e.kind} intensity=${e.intensity} magnitude=${e.magnitude}`,
    ),
    `admin actions (${plan.admin.length}):`,
    ...plan.admin.map((a) => `  ${s(a.atMs)} ${describeAdmin(a)}`),
    `restarts (${plan.restarts.length}): ${plan.restarts.map(s).join(', ') || 'none'}`,
  ];
  return lines.join('\n');
}

function describeAdmin(a: AdminAction): string {
  switch (a.kind) {
    case 'pause':
    case 'resume':
      return a.kind;
    case 'manual-refresh':
    case 'deactivate':
      return `${a.kind} token#${a.tokenIndex}`;
    case 'settings-edit':
      return `settings-edit token#${a.tokenIndex} ${JSON.stringify(a.settings)}`;
    case 'new-token':
      return `new-token new#${a.newTokenIndex} rank=${a.rank}`;
  }
}
