import { BreachwaveError } from '@breachwave/domain';

const DAY_MS = 86_400_000;

/**
 * Enroll-by dates are calendar days (`YYYY-MM-DD`), stored as UTC epoch days. A code works
 * through its enroll-by day and is expired from the next day on.
 */
export function epochDay(date: Date): number {
  return Math.floor(date.getTime() / DAY_MS);
}

/** Parses `YYYY-MM-DD` into an epoch day. @throws BreachwaveError BW_INPUT_INVALID. */
export function parseEnrollBy(iso: string, what = 'enroll-by date'): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso.trim());
  if (m) {
    const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
    const t = Date.UTC(y, mo - 1, d);
    const back = new Date(t);
    if (back.getUTCFullYear() === y && back.getUTCMonth() === mo - 1 && back.getUTCDate() === d) return t / DAY_MS;
  }
  throw new BreachwaveError('BW_INPUT_INVALID', { detail: `${what} must be a calendar date YYYY-MM-DD` });
}

/** The `YYYY-MM-DD` of an epoch day. */
export function isoDay(day: number): string {
  return new Date(day * DAY_MS).toISOString().slice(0, 10);
}
