import { weekMinutes, type QuietWindow, type WeekMinutes } from './windows.js';

const MINUTE = 60_000;
const DAY = 86_400_000;

const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: zone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(zone, f);
  }
  return f;
}

/**
 * The wall clock of `zone` at instant `t`, as milliseconds of a UTC calendar: i.e. the instant
 * at which a UTC clock would show the same date and time. `wall(t) - t` is the zone's offset.
 */
function wall(t: number, zone: string): number {
  const p: Record<string, number> = {};
  for (const part of formatter(zone).formatToParts(t)) if (part.type !== 'literal') p[part.type] = Number(part.value);
  const ms = ((t % 1000) + 1000) % 1000;
  return Date.UTC(p.year ?? 0, (p.month ?? 1) - 1, p.day ?? 1, p.hour ?? 0, p.minute ?? 0, p.second ?? 0) + ms;
}

/**
 * The instants at which `zone`'s wall clock reads `local` (a wall time as UTC-calendar ms):
 * one normally, two in a fall-back repeated hour, none in a spring-forward gap, where the first
 * instant after the gap is returned instead (the moment the wall clock passes `local`).
 */
function instantsAt(local: number, zone: string): number[] {
  // Offsets are within ±14 h, so the answer lies within a day of `local`; sampling a day either
  // side catches the offsets before and after any transition near it.
  const offsets = [...new Set([local - DAY, local, local + DAY].map((t) => wall(t, zone) - t))];
  const hits = [...new Set(offsets.map((o) => local - o).filter((t) => wall(t, zone) === local))].sort((a, b) => a - b);
  if (hits.length > 0) return hits;
  // Gap: the wall clock jumps over `local` between these two instants; find the jump.
  let lo = local - Math.max(...offsets);
  let hi = local - Math.min(...offsets);
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (wall(mid, zone) >= local) hi = mid;
    else lo = mid;
  }
  return [hi];
}

function nextInZone(now: number, zone: string, week: WeekMinutes): number {
  const w = wall(now, zone);
  const midnight = Math.floor(w / DAY) * DAY;
  const tod = w - midnight;
  const weekday = new Date(midnight).getUTCDay();
  for (let k = 0; k <= 7; k++) {
    const day = week[(weekday + k) % 7];
    if (!day) continue;
    if (k === 0) {
      if (tod >= day.start * MINUTE && tod < day.end * MINUTE) return now;
      if (tod >= day.end * MINUTE) continue;
    }
    const opening = instantsAt(midnight + k * DAY + day.start * MINUTE, zone).find((t) => t > now);
    if (opening !== undefined) return opening;
  }
  throw new RangeError('the window never opens');
}

/**
 * The first instant at or after `now` when `window` is open in the recipient's zone: `now` itself
 * when inside the window, else the next opening. Windows are half-open in local wall-clock time
 * (08:00–21:00 allows 08:00:00.000 up to 20:59:59.999), judged by the recipient's wall clock.
 * DST-correct: an opening that falls in a spring-forward gap happens when the clock jumps past
 * it; one in a repeated fall-back hour happens at its first occurrence.
 *
 * With several zones (a recipient whose area code spans zones), the first instant at which the
 * window is open in every one of them.
 *
 * @throws RangeError for an unknown zone, a malformed window, or a window that never opens.
 */
export function nextSendTime(now: Date, zone: string | readonly string[], window: QuietWindow): Date {
  const zones = typeof zone === 'string' ? [zone] : zone;
  if (zones.length === 0) throw new RangeError('no time zone given');
  for (const z of zones) formatter(z);
  const week = weekMinutes(window);
  let t = now.getTime();
  // Each zone's next opening is a lower bound on the common one; raise t until all agree.
  for (let round = 0; round < 16; round++) {
    const next = Math.max(...zones.map((z) => nextInZone(t, z, week)));
    if (next === t) return new Date(t);
    t = next;
  }
  throw new RangeError('the window is never open in all of these zones at once');
}

/** Milliseconds from `now` until SMS may be sent (0 inside the window). See {@link nextSendTime}. */
export function delayUntilAllowed(now: Date, zone: string | readonly string[], window: QuietWindow): number {
  return nextSendTime(now, zone, window).getTime() - now.getTime();
}

/** The wall-clock date and time of `zone` at `at`, as `YYYY-MM-DDTHH:MM:SS` (for logs and tests). */
export function localTime(at: Date, zone: string): string {
  return new Date(wall(at.getTime(), zone)).toISOString().slice(0, 19);
}
