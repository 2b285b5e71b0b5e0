/**
 * Fault knobs of the simulator: everything a real upstream does to a client. Request-level faults
 * (error, hang, malformed body, partial answer) are drawn once per request; token-level faults
 * (omitted mint, bad price) once per mint. Draws come from a seeded RNG so a seed replays.
 */

export type BadPriceKind = 'null' | 'negative' | 'zero' | 'string' | 'nan' | 'infinity' | 'huge' | 'object';
export const BAD_PRICE_KINDS: readonly BadPriceKind[] = [
  'null',
  'negative',
  'zero',
  'string',
  'nan',
  'infinity',
  'huge',
  'object',
];

export interface Faults {
  /** Probability a request is answered 500, 502 or 503 (equally likely). */
  errorRate: number;
  /** Answer delay, uniform in [min, max] wall-clock ms. */
  latencyMs: { min: number; max: number };
  /** Probability a request is never answered (the socket closes when the market closes). */
  hangRate: number;
  /** Probability a 200 carries a body that is not JSON. */
  malformedRate: number;
  /** Per-mint probability a known mint is left out of the answer. */
  omitRate: number;
  /** Per-mint probability the price is replaced by one of `badPriceKinds`. */
  badPriceRate: number;
  badPriceKinds: BadPriceKind[];
  /** Probability a request is answered for only a random part (at least one fewer) of its ids. */
  partialRate: number;
  /**
   * Per-mint probability a valid-looking but wrong price is sent: the true price × `scaleFactor`
   * (a broken proxy or a decimals bug). Never recorded as served.
   */
  scaleRate: number;
  /** The factor of `scaleRate` (default 1e6; any finite number > 0). */
  scaleFactor: number;
}

export const NO_FAULTS: Readonly<Faults> = Object.freeze({
  errorRate: 0,
  latencyMs: Object.freeze({ min: 0, max: 0 }) as { min: number; max: number },
  hangRate: 0,
  malformedRate: 0,
  omitRate: 0,
  badPriceRate: 0,
  badPriceKinds: Object.freeze([...BAD_PRICE_KINDS]) as BadPriceKind[],
  partialRate: 0,
  scaleRate: 0,
  scaleFactor: 1e6,
});

const RATE_KEYS = [
  'errorRate',
  'hangRate',
  'malformedRate',
  'omitRate',
  'badPriceRate',
  'partialRate',
  'scaleRate',
] as const;

/** Merges `patch` over `base`, rejecting anything out of range (naming the field). */
export function mergeFaults(base: Readonly<Faults>, patch: Partial<Faults> | undefined): Faults {
  const out: Faults = {
    ...base,
    latencyMs: { ...base.latencyMs },
    badPriceKinds: [...base.badPriceKinds],
  };
  if (patch === undefined) return out;
  if (typeof patch !== 'object' || patch === null) throw new TypeError('market faults must be an object');
  for (const key of Object.keys(patch)) {
    if (!(key in NO_FAULTS)) throw new TypeError(`market faults: unknown knob ${JSON.stringify(key)}`);
  }
  for (const key of RATE_KEYS) {
    const v = patch[key];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !(v >= 0 && v <= 1)) {
      throw new RangeError(`market faults.${key} must be a probability in [0, 1], got ${String(v)}`);
    }
    out[key] = v;
  }
  if (patch.latencyMs !== undefined) {
    const { min, max } = patch.latencyMs;
    if (!(Number.isFinite(min) && Number.isFinite(max) && min >= 0 && max >= min)) {
      throw new RangeError(`market faults.latencyMs needs 0 <= min <= max (finite ms), got ${min}..${max}`);
    }
    out.latencyMs = { min, max };
  }
  if (patch.scaleFactor !== undefined) {
    const f = patch.scaleFactor;
    if (typeof f !== 'number' || !(f > 0) || !Number.isFinite(f)) {
      throw new RangeError(`market faults.scaleFactor must be a finite number > 0, got ${String(f)}`);
    }
    out.scaleFactor = f;
  }
  if (patch.badPriceKinds !== undefined) {
    const kinds = patch.badPriceKinds;
    if (!Array.isArray(kinds) || kinds.length === 0 || kinds.some((k) => !BAD_PRICE_KINDS.includes(k))) {
      throw new RangeError(
        `market faults.badPriceKinds must be a non-empty list of ${BAD_PRICE_KINDS.join(', ')}`,
      );
    }
    out.badPriceKinds = [...kinds];
  }
  return out;
}

/** Marker replaced in the serialised body by a raw `1e999` (JSON.parse reads it as Infinity). */
export const INFINITY_MARKER = '__market_infinity__';

/** The JSON value a bad price of `kind` is sent as. */
export function badPriceValue(kind: BadPriceKind, truePrice: number): unknown {
  switch (kind) {
    case 'null':
      return null;
    case 'negative':
      return -truePrice;
    case 'zero':
      return 0;
    case 'string':
      return String(truePrice);
    case 'nan':
      return 'NaN';
    case 'infinity':
      return INFINITY_MARKER;
    case 'huge':
      return 1e12;
    case 'object':
      return { value: truePrice };
  }
}
