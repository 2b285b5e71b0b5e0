/**
 * Store errors. Two families:
 *  - StoreInputError (and its subclasses): the caller passed something the store refuses. Thrown
 *    before any SQL runs (or from inside a transaction, which is then rolled back). Never retried.
 *  - StoreError: the database failed. Carries the operation name, whether the failure was
 *    transient, how many attempts were made, and the driver's error as `cause`.
 */

/** Bad input: names the field and says what is accepted. */
export class StoreInputError extends Error {
  override readonly name: string = 'StoreInputError';
  constructor(
    /** The offending field (e.g. `rank`, `successes[3].price`). */
    readonly field: string,
    message: string,
  ) {
    super(message);
  }
}

/** A token row (import/upsert or settings) failed validation. */
export class TokenValidationError extends StoreInputError {
  override readonly name = 'TokenValidationError';
  constructor(
    /** Index of the row in the input array, or null for a single-token call (settings). */
    readonly index: number | null,
    field: string,
    reason: string,
    readonly value?: unknown,
  ) {
    super(
      field,
      `${index === null ? '' : `rows[${index}].`}${field}: ${reason}` +
        (value === undefined ? '' : ` (got ${describe(value)})`) +
        '. Fix the value and retry; nothing was written.',
    );
  }
}

/** A price (or price-related number) that must never reach the database. */
export class InvalidPriceError extends StoreInputError {
  override readonly name = 'InvalidPriceError';
  constructor(
    readonly tokenId: number | null,
    field: string,
    readonly value: unknown,
    reason = 'must be a finite number > 0 and < 1e12',
  ) {
    super(
      field,
      `${field}${tokenId === null ? '' : ` (token ${tokenId})`}: ${reason} (got ${describe(value)}). ` +
        'The batch was not written; drop the bad quote and retry.',
    );
  }
}

export class StoreError extends Error {
  override readonly name = 'StoreError';
  /** Driver error code (SQLSTATE such as 23503, or a socket code such as ECONNRESET), if any. */
  readonly code: string | undefined;
  constructor(
    /** Store operation that failed, e.g. `writeRefreshResults`. */
    readonly operation: string,
    cause: unknown,
    /** Attempts made (1 = no retry). */
    readonly attempts: number,
    /** True when the last failure was transient (retries exhausted). */
    readonly transient: boolean,
  ) {
    const code = errorCode(cause);
    const msg = cause instanceof Error ? cause.message : String(cause);
    super(
      `${operation} failed${code ? ` [${code}]` : ''}: ${msg}` +
        (attempts > 1 ? ` (after ${attempts} attempts)` : '') +
        (transient
          ? '. The database connection is unstable; the operation can be retried later.'
          : '. Nothing from this operation was committed.'),
      { cause },
    );
    this.code = code;
  }
}

/** Thrown when an operation is attempted on a closed store. */
export class StoreClosedError extends Error {
  override readonly name = 'StoreClosedError';
  constructor(operation: string) {
    super(`${operation}: the store is closed; open a new one with openStore().`);
  }
}

export function errorCode(err: unknown): string | undefined {
  if (err && typeof err === 'object' && 'code' in err) {
    const c = (err as { code: unknown }).code;
    if (typeof c === 'string' && c.length > 0) return c;
  }
  return undefined;
}

function describe(value: unknown): string {
  if (typeof value === 'string')
    return JSON.stringify(value.length > 60 ? value.slice(0, 57) + '...' : value);
  if (typeof value === 'number' || typeof value === 'boolean' || value === null) return String(value);
  if (value === undefined) return 'undefined';
  return typeof value;
}
