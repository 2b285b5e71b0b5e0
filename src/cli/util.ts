/** Shared CLI helpers: usage errors (exit 2) and strict number parsing for flags. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export function parsePositiveInt(value: string, flag: string, min: number, max: number): number {
  if (!/^-?\d+$/.test(value.trim()))
    throw new UsageError(`${flag}: expected an integer, got ${JSON.stringify(value)}`);
  const n = Number(value);
  if (n < min || n > max) throw new UsageError(`${flag}: must be between ${min} and ${max}, got ${n}`);
  return n;
}
