/** An error caused by the user's input: printed as one line, exit code 2. */
export class UsageError extends Error {
  override name = "UsageError";
}

/** Parse a finite number or throw a UsageError naming the flag. */
export function parseNumber(flag: string, raw: string): number {
  const v = Number(raw);
  if (raw.trim() === "" || !Number.isFinite(v)) {
    throw new UsageError(`${flag} must be a number, got "${raw}"`);
  }
  return v;
}

/** Parse a positive integer or throw a UsageError naming the flag. */
export function parsePositiveInt(flag: string, raw: string): number {
  const v = parseNumber(flag, raw);
  if (!Number.isInteger(v) || v <= 0) {
    throw new UsageError(`${flag} must be a positive integer, got "${raw}"`);
  }
  return v;
}

/** Check that `value` is one of `allowed` or throw a UsageError listing them. */
export function parseChoice<T extends string>(flag: string, raw: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(raw)) {
    throw new UsageError(`${flag} must be one of ${allowed.join("|")}, got "${raw}"`);
  }
  return raw as T;
}
