// Number formatting for people: durations as 15s / 10m / 2h, percentages with the precision the
// value deserves (never 4.1e-52 %), prices with enough digits for tiny tokens.
const nf = new Intl.NumberFormat('en-US');

const missing = (x) => x === null || x === undefined || !Number.isFinite(x);

export const fmtInt = (n) => (missing(n) ? '–' : nf.format(Math.round(n)));

/** A fraction 0..1 as a percentage: two significant digits below 10 %, one decimal above. */
export function fmtPct(x) {
  if (missing(x)) return '–';
  const p = x * 100;
  if (p === 0) return '0 %';
  if (p < 0.0001) return '< 0.0001 %';
  if (p < 10) return `${Number(p.toPrecision(2))} %`;
  return `${p.toFixed(1)} %`;
}

/** Seconds as 15s, 4m 20s, 12m, 1h 20m, 14h, 3d: two units below 10 minutes and 10 hours. */
export function fmtDuration(s) {
  if (missing(s)) return '–';
  const r = Math.round(s);
  if (r < 60) return `${r}s`;
  if (r < 600) return r % 60 ? `${Math.floor(r / 60)}m ${r % 60}s` : `${r / 60}m`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m}m`;
  if (m < 600) return m % 60 ? `${Math.floor(m / 60)}h ${m % 60}m` : `${m / 60}h`;
  const h = Math.round(s / 3600);
  return h < 48 ? `${h}h` : `${Math.round(h / 24)}d`;
}

export function fmtPrice(p) {
  if (missing(p)) return '–';
  if (p >= 1000) return nf.format(Math.round(p * 100) / 100);
  if (p >= 1) return p.toFixed(4);
  return p.toPrecision(6);
}

export function fmtAgo(ms, now) {
  if (!ms) return 'never';
  return `${fmtDuration(Math.max(0, (now - ms) / 1000))} ago`;
}

/** A rate per minute: whole numbers from 10 up, one decimal below. */
export function fmtRate(r) {
  if (missing(r)) return '–';
  return r >= 9.95 ? fmtInt(r) : r.toFixed(1);
}

/**
 * Partition numbers as compact ranges: [0, 1, …, 20, 63] → '0–20, 63'. Past `maxRanges` runs the
 * rest is counted, not listed: an instance holding every other partition of 64 would otherwise
 * print 32 numbers in a table cell.
 */
export function fmtRanges(nums, maxRanges = Infinity) {
  const sorted = [...new Set(nums)].filter(Number.isInteger).sort((a, b) => a - b);
  const runs = [];
  for (let i = 0; i < sorted.length;) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1) j++;
    runs.push(j === i ? `${sorted[i]}` : `${sorted[i]}–${sorted[j]}`);
    i = j + 1;
  }
  if (runs.length === 0) return 'none';
  if (runs.length <= maxRanges) return runs.join(', ');
  return `${runs.slice(0, maxRanges).join(', ')}, … ${runs.length - maxRanges} more`;
}

const SUPERSCRIPT = {
  '-': '⁻',
  0: '⁰',
  1: '¹',
  2: '²',
  3: '³',
  4: '⁴',
  5: '⁵',
  6: '⁶',
  7: '⁷',
  8: '⁸',
  9: '⁹',
};

/**
 * A value that spans decades (the planner's multiplier μ): three significant digits, as
 * 2.41×10⁻⁷ outside 0.01..10,000 where plain digits would be a row of zeros.
 */
export function fmtSci(x) {
  if (missing(x)) return '–';
  const a = Math.abs(x);
  if (a === 0 || (a >= 0.01 && a < 10_000)) return String(Number(x.toPrecision(3)));
  const [mantissa, exp] = x.toExponential(2).split('e');
  const power = String(Number(exp))
    .split('')
    .map((c) => SUPERSCRIPT[c])
    .join('');
  return `${Number(mantissa)}×10${power}`;
}

/** Daily volatility as a percentage a day. */
export const fmtSigma = (d) => (missing(d) ? '–' : `${fmtPct(d)}/day`);

/**
 * Exponentially smoothed value per key, time constant `tauMs`: the tier table's refresh rates are
 * one-minute sliding sums that jump by a whole batch (up to 50) each second; smoothed over 30 s
 * they read steadily.
 */
export function smoother(tauMs) {
  const state = new Map();
  return (key, value, t) => {
    const prev = state.get(key);
    if (!prev || missing(prev.v)) {
      state.set(key, { v: value, t });
      return value;
    }
    const a = 1 - Math.exp(-Math.max(0, t - prev.t) / tauMs);
    const v = prev.v + a * (value - prev.v);
    state.set(key, { v, t });
    return v;
  };
}

export const TIER_COLORS = {
  CRITICAL: '#f85149',
  HIGH: '#d29922',
  MEDIUM: '#3fb950',
  LOW: '#2f81f7',
  MINIMAL: '#a371f7',
  INACTIVE: '#8b949e',
};
