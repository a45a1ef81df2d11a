/**
 * Sending windows: the federal default and the stricter state rules, as data.
 */

/**
 * One day's window in local wall-clock time, `HH:MM` (24-hour, `24:00` allowed as an end),
 * half-open: sending is allowed from `start` (inclusive) until `end` (exclusive).
 */
export interface DailyWindow {
  readonly start: string;
  readonly end: string;
}

export const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

/**
 * When SMS may be sent, in the recipient's local wall-clock time. `start`/`end` apply to every
 * day; `days` replaces them on particular weekdays, `null` meaning no sending that day.
 */
export interface QuietWindow extends DailyWindow {
  readonly days?: Readonly<Partial<Record<Weekday, DailyWindow | null>>>;
}

/** TCPA (47 CFR 64.1200(c)(1)): no calls before 8 a.m. or after 9 p.m. recipient local time. */
export const FEDERAL_WINDOW: QuietWindow = Object.freeze({ start: '08:00', end: '21:00' });

/**
 * State windows stricter than the federal one, keyed by two-letter state code. Each is the state
 * rule for telephone solicitations as commonly summarised; public holidays named by some of these
 * rules are not modelled (a holiday calendar is out of scope).
 */
export const STATE_WINDOWS: Readonly<Record<string, QuietWindow>> = Object.freeze({
  // Alabama Telemarketing Act: 8 a.m.–8 p.m., not on Sundays or state holidays.
  AL: { start: '08:00', end: '20:00', days: { sun: null } },
  // Connecticut, Public Act 23-98 (2023): 9 a.m.–8 p.m.
  CT: { start: '09:00', end: '20:00' },
  // Florida Telephone Solicitation Act, Fla. Stat. 501.059 as amended in 2021: 8 a.m.–8 p.m.
  FL: { start: '08:00', end: '20:00' },
  // Louisiana telephone solicitation rules: 8 a.m.–8 p.m., not on Sundays or state holidays.
  LA: { start: '08:00', end: '20:00', days: { sun: null } },
  // Massachusetts, M.G.L. c. 159C: 8 a.m.–8 p.m.
  MA: { start: '08:00', end: '20:00' },
  // Maryland Stop the Spam Calls Act (2023): 8 a.m.–8 p.m.
  MD: { start: '08:00', end: '20:00' },
  // Minnesota, Minn. Stat. 325E.27: not before 9 a.m. nor after 9 p.m.
  MN: { start: '09:00', end: '21:00' },
  // Mississippi telephone solicitation rules: 8 a.m.–8 p.m., not on Sundays.
  MS: { start: '08:00', end: '20:00', days: { sun: null } },
  // Oklahoma Telephone Solicitation Act (2022): 8 a.m.–8 p.m.
  OK: { start: '08:00', end: '20:00' },
  // Rhode Island, R.I. Gen. Laws 5-61-3.4: weekdays 9 a.m.–6 p.m., Saturdays 10 a.m.–5 p.m., never Sundays or holidays.
  RI: { start: '09:00', end: '18:00', days: { sat: { start: '10:00', end: '17:00' }, sun: null } },
  // Texas, Bus. & Com. Code 301.051: 9 a.m.–9 p.m., Sundays noon–9 p.m.
  TX: { start: '09:00', end: '21:00', days: { sun: { start: '12:00', end: '21:00' } } },
  // Washington, RCW 80.36.390: 8 a.m.–8 p.m.
  WA: { start: '08:00', end: '20:00' },
});

/** What a wave may change about the windows. */
export interface QuietHoursOverrides {
  /** Replaces {@link FEDERAL_WINDOW} as the base window for everyone. */
  readonly default?: QuietWindow;
  /**
   * Per-state windows replacing (or, with `null`, removing) entries of {@link STATE_WINDOWS}.
   * States not named keep the shipped rule.
   */
  readonly states?: Readonly<Record<string, QuietWindow | null>>;
}

/** Minutes since local midnight for a `HH:MM`; throws a RangeError on anything else. */
export function parseClock(value: string, what = 'time'): number {
  const m = /^(\d\d):(\d\d)$/.exec(value);
  const h = Number(m?.[1]);
  const min = Number(m?.[2]);
  if (!m || min > 59 || h > 24 || (h === 24 && min !== 0)) throw new RangeError(`${what} must be HH:MM (00:00–24:00), got "${value}"`);
  return h * 60 + min;
}

/** A window in minutes since local midnight per weekday (index 0 = Sunday); null = closed. */
export type WeekMinutes = readonly ({ readonly start: number; readonly end: number } | null)[];

function dayMinutes(w: DailyWindow): { start: number; end: number } {
  const start = parseClock(w.start, 'window start');
  const end = parseClock(w.end, 'window end');
  if (start >= end) throw new RangeError(`window start ${w.start} must be before its end ${w.end} (windows do not cross midnight)`);
  return { start, end };
}

/** Validates a window and expands it to one entry per weekday. */
export function weekMinutes(window: QuietWindow): WeekMinutes {
  const base = dayMinutes(window);
  return WEEKDAYS.map((d) => {
    const day = window.days?.[d];
    if (day === null) return null;
    return day === undefined ? base : dayMinutes(day);
  });
}

function toClock(minutes: number): string {
  return `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;
}

/** The window allowed by both `a` and `b`, day by day. Throws when they never overlap on a weekday they both open. */
export function intersectWindows(a: QuietWindow, b: QuietWindow): QuietWindow {
  const wa = weekMinutes(a);
  const wb = weekMinutes(b);
  const days = WEEKDAYS.map((_, i) => {
    const x = wa[i];
    const y = wb[i];
    if (!x || !y) return null;
    const start = Math.max(x.start, y.start);
    const end = Math.min(x.end, y.end);
    return start < end ? { start: toClock(start), end: toClock(end) } : null;
  });
  // The most common day window becomes the base; the others are listed as exceptions.
  const counts = new Map<string, number>();
  for (const d of days) if (d) counts.set(`${d.start}-${d.end}`, (counts.get(`${d.start}-${d.end}`) ?? 0) + 1);
  const top = [...counts.entries()].sort((p, q) => q[1] - p[1])[0];
  if (!top) throw new RangeError('the windows never overlap');
  const [start = '', end = ''] = top[0].split('-');
  const except: Partial<Record<Weekday, DailyWindow | null>> = {};
  days.forEach((d, i) => {
    const name = WEEKDAYS[i] as Weekday;
    if (d === null) except[name] = null;
    else if (d.start !== start || d.end !== end) except[name] = d;
  });
  return Object.keys(except).length > 0 ? { start, end, days: except } : { start, end };
}

/**
 * The window that applies to a recipient: the base window (the wave's `default`, else
 * {@link FEDERAL_WINDOW}) narrowed by the state rule when the state has one, so a state rule can
 * only make the window stricter. Throws a RangeError for a malformed or empty window.
 */
export function quietWindowFor(recipient: { readonly state?: string | undefined }, overrides: QuietHoursOverrides = {}): QuietWindow {
  const base = overrides.default ?? FEDERAL_WINDOW;
  const state = recipient.state?.toUpperCase();
  const rule = state === undefined ? undefined : overrides.states && state in overrides.states ? overrides.states[state] : STATE_WINDOWS[state];
  if (!rule) {
    weekMinutes(base);
    return base;
  }
  return intersectWindows(base, rule);
}
