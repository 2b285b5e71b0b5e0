/**
 * Text rendering of `token-refresh analyze`: the token distribution, per-tier recommendations and
 * plan projections as aligned tables. The report's sections are rendered by shape (an array of
 * records, or a record of records keyed by e.g. tier), so fields the analyzer adds later show up
 * as extra columns instead of being dropped. Known fields get friendly headers and units.
 */

export interface PlanProjectionLike {
  plan?: string;
  requestsPerMinute: number;
  maxBatchSize?: number;
  capacityPerSecond?: number;
  tokens?: number;
  /** Projected weighted fraction of time more than X off (0..1). */
  J?: number | null;
  deviation?: number;
  medianIntervalSeconds?: number;
  heartbeat?: boolean;
  [key: string]: unknown;
}

export interface AnalysisReport {
  plan?: { name?: string; requestsPerMinute?: number; maxBatchSize?: number; [key: string]: unknown };
  distribution?: unknown;
  recommendations?: unknown;
  projections?: readonly PlanProjectionLike[];
  [key: string]: unknown;
}

type Row = Record<string, unknown>;

/**
 * Header text and preferred order for known keys (flattened keys such as `volumeBands.over1M`
 * included), so a person reads "Volume > $1M", not the field name. Unknown keys keep their own.
 */
const HEADERS: Record<string, string> = {
  plan: 'Plan',
  tier: 'Tier',
  name: 'Name',
  count: 'Tokens',
  tokens: 'Tokens',
  total: 'Tokens',
  share: 'Share',
  percentage: 'Share',
  minRank: 'From rank',
  maxRank: 'To rank',
  byRank: 'By rank',
  effective: 'With bonuses',
  contest: 'In a contest',
  contestTokens: 'In a contest',
  rankless: 'Without a rank',
  manualInterval: 'Manual interval',
  boosted: 'Manual boost',
  'volumeBands.over1M': 'Volume over $1M',
  'volumeBands.from100K': 'Volume $100K–1M',
  'volumeBands.from10K': 'Volume $10K–100K',
  'volumeBands.under10K': 'Volume under $10K',
  'volumeBands.unknown': 'Volume unknown',
  avgPriorityScore: 'Mean priority score',
  'plan.requestsPerMinute': 'Requests/min',
  'plan.maxBatchSize': 'Ids/request',
  'plan.minIntervalSeconds': 'Minimum interval',
  'plan.utilisation': 'Utilisation',
  requestsPerMinute: 'Req/min',
  maxBatchSize: 'Ids/req',
  capacityPerSecond: 'Capacity/min',
  capacityRefreshesPerSecond: 'Capacity (refreshes/min)',
  demandRefreshesPerSecond: "Seed rules' demand (refreshes/min)",
  stretchFactor: 'Intervals stretched ×',
  requiredApiCallsPerMinute: 'Requests/min needed',
  requiredApiCallsPerDay: 'Requests/day needed',
  projectedApiCallsPerMinute: 'Requests/min used',
  projectedApiCallsPerDay: 'Requests/day used',
  planUsage: 'Share of the plan needed',
  fitsPlan: 'Fits the plan',
  smallestFittingPlan: 'Smallest plan that fits',
  warning: 'Note',
  refreshesPerMinute: 'Refreshes/min',
  requiredRequestsPerMinute: 'Needed req/min',
  apiCallsPerMinute: 'Req/min',
  intervalSeconds: 'Interval',
  recommendedIntervalSeconds: 'Interval',
  baseIntervalSeconds: 'Seed interval',
  desiredIntervalSeconds: 'Wanted interval',
  minIntervalSeconds: 'Shortest',
  maxIntervalSeconds: 'Longest',
  avgIntervalSeconds: 'Avg interval',
  medianIntervalSeconds: 'Median interval',
  J: 'Projected J',
  J_tiered: 'Tiered J',
  J_uniform: 'Round-robin J',
  deviation: 'Deviation',
  heartbeat: 'Heartbeat',
  utilisation: 'Utilisation',
  fits: 'Fits',
};
const ORDER = Object.keys(HEADERS);
const PERCENT_KEYS = new Set([
  'share',
  'percentage',
  'J',
  'J_tiered',
  'J_uniform',
  'deviation',
  'utilisation',
  'plan.utilisation',
  'planUsage',
  'staleness',
  'fraction',
]);
/** Rates per second are shown per minute, like every other rate in the CLI. */
const PER_MINUTE_FROM_SECOND = new Set([
  'capacityPerSecond',
  'capacityRefreshesPerSecond',
  'demandRefreshesPerSecond',
]);

const intFmt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const decFmt = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 });

/** Seconds as 15s, 3m 48s, 25m, 1h 20m, 14h, 5d: two units below 10 minutes and 10 hours. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '∞';
  const r = Math.round(seconds);
  if (r < 60) return `${r}s`;
  if (r < 600) return r % 60 ? `${Math.floor(r / 60)}m ${r % 60}s` : `${r / 60}m`;
  const m = Math.round(seconds / 60);
  if (m < 60) return `${m}m`;
  if (m < 600) return m % 60 ? `${Math.floor(m / 60)}h ${m % 60}m` : `${m / 60}h`;
  const h = Math.round(seconds / 3600);
  return h < 48 ? `${h}h` : `${Math.round(h / 24)}d`;
}

/**
 * A fraction as a percentage with the precision it deserves: two significant digits below 10 %,
 * one decimal above, and "< 0.0001 %" below that (never 4.1e-52 %).
 */
export function formatPercent(x: number): string {
  const p = x * 100;
  if (p === 0) return '0 %';
  if (Math.abs(p) < 0.0001) return '< 0.0001 %';
  if (Math.abs(p) < 10) return `${Number(p.toPrecision(2))} %`;
  return `${p.toFixed(1)} %`;
}

/** One cell, formatted by its key. */
export function formatCell(key: string, value: unknown): string {
  if (value === null || value === undefined) return '–';
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return value > 0 ? '∞' : '–';
    if (PER_MINUTE_FROM_SECOND.has(key)) return intFmt.format(value * 60);
    if (PERCENT_KEYS.has(key)) return formatPercent(value);
    if (/Seconds$/.test(key)) return formatDuration(value);
    if (Number.isInteger(value) || Math.abs(value) >= 100) return intFmt.format(value);
    return Math.abs(value) >= 10 ? value.toFixed(1) : decFmt.format(value);
  }
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map((v) => formatCell('', v)).join(', ');
  return JSON.stringify(value);
}

function isRecord(v: unknown): v is Row {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Flattens one level of nesting: `{ a: { b: 1 } }` → `{ 'a.b': 1 }`. */
function flatten(row: Row): Row {
  const out: Row = {};
  for (const [k, v] of Object.entries(row)) {
    if (isRecord(v)) for (const [k2, v2] of Object.entries(v)) out[`${k}.${k2}`] = v2;
    else out[k] = v;
  }
  return out;
}

/** Turns a section into rows: an array of records, or a record keyed by tier/plan name. */
function toRows(data: unknown, keyName: string): Row[] | null {
  if (Array.isArray(data)) return data.every(isRecord) ? data.map(flatten) : null;
  if (isRecord(data)) {
    const values = Object.values(data);
    if (values.length > 0 && values.every(isRecord)) {
      return Object.entries(data).map(([k, v]) => flatten({ [keyName]: k, ...(v as Row) }));
    }
  }
  return null;
}

function columnsOf(rows: readonly Row[]): string[] {
  const seen = new Set<string>();
  for (const r of rows) for (const k of Object.keys(r)) seen.add(k);
  const known = ORDER.filter((k) => seen.has(k));
  const rest = [...seen].filter((k) => !known.includes(k));
  return [...known, ...rest];
}

function isNumericColumn(rows: readonly Row[], key: string): boolean {
  return rows.some((r) => typeof r[key] === 'number');
}

/** Renders rows as an aligned table: text left-aligned, numbers right-aligned. */
export function renderTable(
  rows: readonly Row[],
  columns = columnsOf(rows),
  marker?: (r: Row) => boolean,
): string {
  const header = columns.map((c) => HEADERS[c] ?? c);
  const body = rows.map((r) => columns.map((c) => formatCell(c, r[c])));
  const numeric = columns.map((c) => isNumericColumn(rows, c));
  const widths = columns.map((_, i) => Math.max(header[i]!.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[], mark = ' ') =>
    `${mark} ` +
    cells
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  const out = [line(header), `  ${widths.map((w) => '─'.repeat(w)).join('  ')}`];
  rows.forEach((r, i) => out.push(line(body[i]!, marker?.(r) ? '*' : ' ')));
  return out.join('\n');
}

function section(title: string, data: unknown, keyName: string): string | null {
  if (data === undefined || data === null) return null;
  const rows = toRows(data, keyName);
  if (rows && rows.length > 0) return `${title}\n${renderTable(rows)}`;
  if (rows && rows.length === 0) return `${title}\n  (none)`;
  if (isRecord(data)) {
    // Lists of records (e.g. per-tier rows) become tables of their own under the key/values.
    const tables = Object.entries(data).filter(
      ([, v]) => Array.isArray(v) && v.length > 0 && v.every(isRecord),
    ) as [string, Row[]][];
    const scalars: Row = {};
    for (const [k, v] of Object.entries(data)) if (!tables.some(([t]) => t === k)) scalars[k] = v;
    const entries = Object.entries(flatten(scalars));
    const w = Math.max(0, ...entries.map(([k]) => (HEADERS[k] ?? k).length));
    const lines = entries.map(([k, v]) => `  ${(HEADERS[k] ?? k).padEnd(w)}  ${formatCell(k, v)}`);
    for (const [, rows] of tables) lines.push('', renderTable(rows.map(flatten)));
    return `${title}\n${lines.join('\n')}`;
  }
  return `${title}\n  ${formatCell('', data)}`;
}

export function formatAnalysis(report: AnalysisReport): string {
  const parts: string[] = [];
  const plan = report.plan;
  if (plan) {
    const bits = [
      plan.requestsPerMinute !== undefined ? `${intFmt.format(plan.requestsPerMinute)} requests/min` : null,
      plan.maxBatchSize !== undefined ? `${plan.maxBatchSize} ids/request` : null,
    ].filter(Boolean);
    parts.push(`Plan: ${plan.name ?? 'custom'}${bits.length ? ` (${bits.join(', ')})` : ''}`);
  }
  const dist = section('Token distribution by tier', report.distribution, 'tier');
  if (dist) parts.push(dist);
  const rec = section('Recommendations per tier', report.recommendations, 'tier');
  if (rec) parts.push(rec);
  if (report.projections && report.projections.length > 0) {
    const rows = report.projections.map((p) => flatten({ ...p }));
    const current = plan?.name;
    // The deviation is the same for every plan: it goes into the note, not a column.
    const columns = columnsOf(rows).filter((c) => c !== 'deviation');
    const table = renderTable(rows, columns, (r) => current !== undefined && r['plan'] === current);
    const deviation = report.projections.find((p) => typeof p.deviation === 'number')?.deviation;
    const note =
      'Projected J = priority-weighted share of time a stored price is more than ' +
      `${deviation !== undefined ? formatPercent(deviation) : 'the deviation'} off (lower is better)` +
      (current ? `; * = configured plan` : '');
    parts.push(`Plan projections\n${table}\n  ${note}`);
  }
  for (const [k, v] of Object.entries(report)) {
    if (['plan', 'distribution', 'recommendations', 'projections'].includes(k)) continue;
    const extra = section(k, v, 'name');
    if (extra) parts.push(extra);
  }
  return parts.join('\n\n');
}
