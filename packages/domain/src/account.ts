import { domainToASCII } from 'node:url';
import { z } from 'zod';
import { Metadata, parsePhoneNumberFromString } from 'libphonenumber-js/max';

/** Segments of the breach list; the segment decides the actions. */
export const SEGMENTS = ['prepaid-active', 'postpaid-current', 'former', 'prospective'] as const;
export type Segment = (typeof SEGMENTS)[number];

/** Data categories a row can say were exposed. */
export const DATA_CATEGORIES = [
  'name', 'phone', 'email', 'address', 'dob', 'ssn', 'drivers-license', 'imei', 'imsi', 'pin', 'account-number',
] as const;
export type DataCategory = (typeof DATA_CATEGORIES)[number];

export const LOCALES = ['en', 'es'] as const;
export type Locale = (typeof LOCALES)[number];

export const CHANNELS = ['sms', 'email'] as const;
export type Channel = (typeof CHANNELS)[number];

/**
 * Columns the pipeline refuses to keep: the breach exposed them, but no action needs them. They
 * are dropped at ingest (with a warning naming the column, never its value).
 */
export const FORBIDDEN_COLUMNS: ReadonlySet<string> = new Set([
  'ssn', 'social_security_number', 'tax_id', 'dob', 'date_of_birth', 'birth_date', 'drivers_license',
  'driver_license', 'drivers_licence', 'dl_number', 'license_number', 'imei', 'imsi', 'iccid', 'pin',
  'current_pin', 'old_pin', 'address', 'street', 'password', 'security_answer',
]);

/** Columns an affected-account file may carry and the pipeline keeps. */
export const ACCOUNT_COLUMNS = [
  'account_id', 'segment', 'name', 'phone', 'email', 'time_zone', 'locale', 'exposed',
] as const;
export const REQUIRED_COLUMNS = ['account_id', 'segment'] as const;

/** account_id, once trimmed (the same rule zod applied here before; a plain test is cheaper per row). */
const ACCOUNT_ID = /^[A-Za-z0-9_-]{1,64}$/;
const ACCOUNT_ID_REASON = 'account_id must be 1–64 letters, digits, "-" or "_"';

/** A validated, normalised, minimised affected account. */
export interface AffectedAccount {
  readonly accountId: string;
  readonly segment: Segment;
  readonly name?: string;
  /** E.164. */
  readonly phone?: string;
  /** Whether the phone can receive SMS (mobile or unknown-but-plausible). */
  readonly phoneIsMobile?: boolean;
  /** Lower-cased, trimmed. */
  readonly email?: string;
  /** IANA zone, e.g. America/Chicago. */
  readonly timeZone?: string;
  readonly locale: Locale;
  readonly exposed: readonly DataCategory[];
}

export type RawRow = Readonly<Record<string, string | undefined>>;

/**
 * What was wrong with a field of a row that was accepted all the same, because the person can
 * still be reached. Stable names: they are counted per wave and shown by `wave status`.
 * - `phone_invalid`: the phone is not a valid number; the email is used.
 * - `email_invalid`: the email is not a valid address; the phone is used.
 * - `email_multiple`: the email cell held several addresses; the first valid one is used.
 * - `time_zone_unknown`: this runtime cannot format the zone; quiet hours follow the phone's
 *   area code (the notifier's fallback for an account without a zone).
 */
export const ROW_WARNINGS = ['phone_invalid', 'email_invalid', 'email_multiple', 'time_zone_unknown'] as const;
export type RowWarning = (typeof ROW_WARNINGS)[number];

/** One problem of a rejected row: the column and why, never the value. */
export interface RowProblem {
  readonly field: string;
  readonly reason: string;
}

export type RowResult =
  | { readonly ok: true; readonly account: AffectedAccount; readonly warnings: readonly RowWarning[] }
  | {
      readonly ok: false;
      /** The first problem's reason and field (the same as `problems[0]`). */
      readonly reason: string;
      readonly field?: string;
      /** Every problem of the row, in column order, so a file can be fixed in one pass. */
      readonly problems: readonly RowProblem[];
      /** The row's account_id when it is a valid one (an id, not contact data), for the operator's report. */
      readonly accountId?: string;
    };

/** Why a row with neither a phone nor an email is rejected. */
export const NO_CONTACT = 'no phone or email: nobody to notify';

/** Why a row with a phone that cannot take SMS and no email is rejected. */
export const NO_REACHABLE_CHANNEL = 'no reachable channel: the phone cannot receive SMS (landline, toll-free or similar) and there is no email';

const emailSchema = z.email();
const NO_WARNINGS: readonly RowWarning[] = Object.freeze([]);

/** Normalises a phone number to E.164, assuming US when no country code is given. */
export function normalisePhone(raw: string): { e164: string; mobile: boolean } | undefined {
  let text = raw.trim();
  // Mexico dropped the "1" that mobile numbers took after +52 in 2019; old exports still carry
  // it (+52 1 55 …), and libphonenumber's current metadata calls such a number invalid. The same
  // ten digits without it are the person's number.
  const mx = MX_OLD_MOBILE.exec(text);
  if (mx) text = `+52${(mx[1] ?? '').replace(/\D/g, '')}`;
  const fast = nanpFastPath(text);
  if (fast) return fast;
  const parsed = parsePhoneNumberFromString(text, 'US');
  if (!parsed) return undefined;
  // With the full ("max") metadata, `isValid()` is `getType() !== undefined` (libphonenumber-js
  // isValid.js), and each runs the number's type regexes — a third of ingest CPU was spent in
  // them (a profile showed matchesEntirely). So the type is computed once and validity derived
  // from it; `isValid()` still runs for a number without a type, so the verdict is unchanged.
  const type = parsed.getType();
  if (type === undefined && !parsed.isValid()) return undefined;
  // FIXED_LINE_OR_MOBILE is what NANP numbers report: SMS is attempted and a provider refusal
  // (21614 "not a mobile number") falls back to email.
  const mobile = type === undefined || type === 'MOBILE' || type === 'FIXED_LINE_OR_MOBILE';
  return { e164: parsed.number, mobile };
}

// ------------------------------------------------------------------------------------------------
// NANP fast path. libphonenumber-js rebuilds a RegExp from its pattern text on every
// check (helpers/matchesEntirely.js: `new RegExp('^(?:' + pattern + ')$')`); for a US number that
// is four ~1 KB patterns per row — a third of ingest CPU. For the plain shapes a NANP number
// usually comes in, this runs the library's own decision on the library's own metadata with each
// RegExp built once:
//   - shapes: ten digits (NPA and NXX starting 2-9), optionally after `+1` or `1`, with optional
//     single separators (space, dot, dash) and the area code optionally in balanced parentheses.
//     For these, libphonenumber's parse yields exactly those ten digits as the national number
//     with calling code 1 (no national prefix or carrier code to strip: the first digit is 2-9;
//     a bare leading `1` is checked the way the library checks it, below);
//   - country: the first NANP country, in metadata order, whose leading digits match, or which
//     has no leading digits and a type for the number (helpers/getCountryByNationalNumber.js);
//   - type: helpers/getNumberType.js, step for step.
// Anything else — other shapes, a number no NANP country claims, a number without a type — goes
// to libphonenumber itself, so the verdict is the library's in every case. test/bench/
// phone-equivalence.test.ts compares both on random numbers across every area code.

/** The parts of libphonenumber-js's Metadata this uses (present since metadata v4; checked at first use). */
interface NumberingPlanView {
  leadingDigits(): string | undefined;
  nationalNumberPattern(): string;
  type(type: string): { pattern(): string; possibleLengths(): number[] | undefined } | undefined;
}
interface MetadataView {
  selectNumberingPlan(country: string): unknown;
  getCountryCodesForCallingCode(callingCode: string): string[] | undefined;
  numberingPlan?: NumberingPlanView;
}
interface TypeRule {
  readonly re: RegExp | undefined;
  /** '' when the metadata dropped the pattern as a duplicate of fixed-line (then FIXED_LINE_OR_MOBILE). */
  readonly pattern: string;
  readonly lengths: readonly number[] | undefined;
}
interface Plan {
  readonly country: string;
  readonly leading: RegExp | undefined;
  readonly national: RegExp;
  readonly types: ReadonlyMap<string, TypeRule>;
}

/** `+52 1` (or `0052 1`) and ten digits, with the separators people type. */
const MX_OLD_MOBILE = /^(?:\+|00)\s*52[\s.-]*1[\s.-]*((?:\(?\d[\s().-]*){10})$/;

const NON_FIXED_LINE_TYPES = ['MOBILE', 'PREMIUM_RATE', 'TOLL_FREE', 'SHARED_COST', 'VOIP', 'PERSONAL_NUMBER', 'PAGER', 'UAN', 'VOICEMAIL'] as const;
const NANP_SHAPE = /^(?:(\+?1)[ .-]?)?(?:\(([2-9]\d\d)\)|([2-9]\d\d))[ .-]?([2-9]\d\d)[ .-]?(\d{4})$/;
let nanpPlans: readonly Plan[] | null | undefined;

function loadNanpPlans(): readonly Plan[] | null {
  try {
    const md = new Metadata() as unknown as MetadataView;
    const countries = md.getCountryCodesForCallingCode('1');
    if (!countries || countries.length === 0) return null;
    return countries.map((country) => {
      md.selectNumberingPlan(country);
      const plan = md.numberingPlan;
      if (!plan) throw new Error('no numbering plan');
      const types = new Map<string, TypeRule>();
      for (const name of ['FIXED_LINE', ...NON_FIXED_LINE_TYPES]) {
        const t = plan.type(name);
        if (!t) continue;
        const pattern = t.pattern();
        types.set(name, { pattern, re: pattern ? new RegExp(`^(?:${pattern})$`) : undefined, lengths: t.possibleLengths() });
      }
      const leading = plan.leadingDigits();
      return { country, leading: leading ? new RegExp(`^(?:${leading})`) : undefined, national: new RegExp(`^(?:${plan.nationalNumberPattern()})$`), types };
    });
  } catch {
    return null; // the library's internals moved: every number takes the library's own path
  }
}

function isType(nn: string, rule: TypeRule | undefined): boolean {
  if (!rule || !rule.pattern || !rule.re) return false;
  if (rule.lengths && !rule.lengths.includes(nn.length)) return false;
  return rule.re.test(nn);
}

/** helpers/getNumberType.js for one plan. */
function numberType(nn: string, plan: Plan): string | undefined {
  if (!plan.national.test(nn)) return undefined;
  if (isType(nn, plan.types.get('FIXED_LINE'))) {
    const mobile = plan.types.get('MOBILE');
    if (!mobile || mobile.pattern === '' || isType(nn, mobile)) return 'FIXED_LINE_OR_MOBILE';
    return 'FIXED_LINE';
  }
  for (const t of NON_FIXED_LINE_TYPES) if (isType(nn, plan.types.get(t))) return t;
  return undefined;
}

function nanpFastPath(text: string): { e164: string; mobile: boolean } | undefined {
  const m = NANP_SHAPE.exec(text);
  if (!m) return undefined;
  if (nanpPlans === undefined) nanpPlans = loadNanpPlans();
  if (!nanpPlans) return undefined;
  const nn = `${m[2] ?? m[3]}${m[4]}${m[5]}`;
  if (m[1] === '1') {
    // A leading 1 without "+": the library takes it for the calling code only when the ten digits
    // after it fit the default country's (US) national pattern and all eleven do not
    // (extractCountryCallingCodeFromInternationalNumberWithoutPlusSign); otherwise it decides.
    const us = nanpPlans.find((plan) => plan.country === 'US');
    if (!us || !us.national.test(nn) || us.national.test(`1${nn}`)) return undefined;
  }
  for (const plan of nanpPlans) {
    let type: string | undefined;
    if (plan.leading) {
      if (!plan.leading.test(nn)) continue;
      type = numberType(nn, plan);
    } else {
      type = numberType(nn, plan);
      if (type === undefined) continue;
    }
    if (type === undefined) return undefined; // claimed by leading digits, but no type: the library decides
    return { e164: `+1${nn}`, mobile: type === 'MOBILE' || type === 'FIXED_LINE_OR_MOBILE' };
  }
  return undefined;
}

/**
 * Lower-cases and validates one email address. An internationalised domain (IDN) is converted to
 * its ASCII (punycode) form, which every mail relay accepts; a non-ASCII local part is not valid
 * here (it needs SMTPUTF8 end to end).
 */
export function normaliseEmail(raw: string): string | undefined {
  let email = raw.trim().toLowerCase();
  const at = email.lastIndexOf('@');
  // A plain ASCII address (the common case) skips the conversion.
  if (at > 0 && /[^ -~]/.test(email)) {
    const domain = domainToASCII(email.slice(at + 1));
    if (domain === '') return undefined;
    email = `${email.slice(0, at)}@${domain}`;
  }
  return emailSchema.safeParse(email).success ? email : undefined;
}

/** Separators people put between several addresses in one cell. */
const EMAIL_LIST = /[\s,;]+/;

/**
 * The email of a cell: one address, or the first valid one of several (`multiple`), or
 * `undefined` when none is valid.
 */
function emailOfCell(raw: string): { email: string | undefined; multiple: boolean } {
  const email = normaliseEmail(raw);
  if (email) return { email, multiple: false };
  const parts = raw.split(EMAIL_LIST).filter((p) => p !== '');
  if (parts.length < 2) return { email: undefined, multiple: false };
  for (const part of parts) {
    const e = normaliseEmail(part);
    if (e) return { email: e, multiple: true };
  }
  return { email: undefined, multiple: false };
}

/** Zones already checked: whether this runtime can format each. Bounded: a file with junk zones cannot grow it without limit. */
const zoneCache = new Map<string, boolean>();
const ZONE_CACHE_MAX = 4096;

/**
 * Whether this runtime can format times in `zone`. `Intl.supportedValuesOf('timeZone')` lists
 * canonical names only and leaves out valid zones and aliases (`UTC`, `US/Eastern`,
 * `Asia/Kolkata`, `America/Indiana/Indianapolis`, `EST`…), so the test is the one quiet hours
 * rely on: constructing an `Intl.DateTimeFormat` with it.
 */
export function isFormattableTimeZone(zone: string): boolean {
  let ok = zoneCache.get(zone);
  if (ok === undefined) {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: zone });
      ok = zone.trim() !== '';
    } catch {
      ok = false;
    }
    if (zoneCache.size >= ZONE_CACHE_MAX) zoneCache.clear();
    zoneCache.set(zone, ok);
  }
  return ok;
}

function blank(v: string | undefined): boolean {
  return v === undefined || v.trim() === '';
}

/**
 * Validates and normalises one row of an affected-account file. Pure; never includes the row's
 * values in a reason (reasons end up in the rejects report).
 *
 * A row is rejected only for what stops the pipeline from notifying the person correctly: a bad
 * account_id, segment or exposed category, or no channel that can reach them — no phone or email,
 * neither valid, or only a phone that cannot take SMS. Every such problem is listed. A bad contact
 * point next to a working one, several emails in one cell, or a time zone this runtime cannot
 * format are warnings ({@link ROW_WARNINGS}): the field is dropped or the first valid value used.
 */
export function parseAccountRow(row: RawRow): RowResult {
  let problems: RowProblem[] | undefined;
  const problem = (field: string, reason: string): void => {
    (problems ??= []).push({ field, reason });
  };
  let warnings: RowWarning[] | undefined;
  const warn = (w: RowWarning): void => {
    (warnings ??= []).push(w);
  };

  const accountId = (row.account_id ?? '').trim();
  const idOk = ACCOUNT_ID.test(accountId);
  if (!idOk) problem('account_id', ACCOUNT_ID_REASON);
  const segment = (row.segment ?? '').trim().toLowerCase();
  if (!(SEGMENTS as readonly string[]).includes(segment)) problem('segment', `unknown segment (expected one of ${SEGMENTS.join(', ')})`);

  const phoneGiven = !blank(row.phone);
  const phone = phoneGiven ? normalisePhone(row.phone ?? '') : undefined;
  const emailGiven = !blank(row.email);
  const cell = emailGiven ? emailOfCell(row.email ?? '') : undefined;
  const email = cell?.email;
  if (!phoneGiven && !emailGiven) problem('phone', NO_CONTACT);
  else if (email) {
    if (phoneGiven && !phone) warn('phone_invalid');
    if (cell?.multiple) warn('email_multiple');
  } else if (phone?.mobile) {
    if (emailGiven) warn('email_invalid');
  } else {
    // Nobody to reach: say what is wrong with each contact point given.
    if (phoneGiven && !phone) problem('phone', 'invalid phone number');
    if (emailGiven) problem('email', 'invalid email address');
    if (phone) problem('phone', NO_REACHABLE_CHANNEL);
  }

  const tz = (row.time_zone ?? '').trim();
  const zoneOk = tz !== '' && isFormattableTimeZone(tz);
  if (tz !== '' && !zoneOk) warn('time_zone_unknown');
  const rawLocale = (row.locale ?? '').trim().toLowerCase().slice(0, 2);
  const locale: Locale = rawLocale === '' ? 'en' : (LOCALES as readonly string[]).includes(rawLocale) ? (rawLocale as Locale) : 'en';
  const exposed: DataCategory[] = [];
  for (const part of (row.exposed ?? '').split(/[;|,]/)) {
    const cat = part.trim().toLowerCase().replace(/_/g, '-');
    if (cat === '') continue;
    if (!(DATA_CATEGORIES as readonly string[]).includes(cat)) {
      // The notice names exactly the categories exposed: one it cannot name would make it untrue.
      problem('exposed', `unknown data category (expected ${DATA_CATEGORIES.join(', ')})`);
      break;
    }
    if (!exposed.includes(cat as DataCategory)) exposed.push(cat as DataCategory);
  }

  if (problems) {
    const first = problems[0] as RowProblem;
    return { ok: false, field: first.field, reason: first.reason, problems, ...(idOk ? { accountId } : {}) };
  }

  const name = (row.name ?? '').trim().replace(/\s+/g, ' ').slice(0, 120);
  // Built in place rather than from spreads of temporary objects: this runs once per row.
  const account: { -readonly [K in keyof AffectedAccount]?: AffectedAccount[K] } = { accountId, segment: segment as Segment };
  if (name) account.name = name;
  if (phone) {
    account.phone = phone.e164;
    account.phoneIsMobile = phone.mobile;
  }
  if (email) account.email = email;
  if (zoneOk) account.timeZone = tz;
  account.locale = locale;
  account.exposed = exposed;
  return { ok: true, account: account as AffectedAccount, warnings: warnings ?? NO_WARNINGS };
}

/**
 * Which channels a wave's notices may use, and in which order, per segment: the wave manifest's
 * `channels`. A channel left out of a list is never used for that segment's accounts; the first
 * reachable channel of the list is tried first, the next ones only as fallbacks.
 */
export interface ChannelPolicy {
  /** Every segment without a list of its own. Default {@link DEFAULT_CHANNEL_ORDER}. */
  readonly order?: readonly Channel[];
  /** A segment's own list, instead of `order`. */
  readonly segments?: Readonly<Partial<Record<Segment, readonly Channel[]>>>;
}

/** The order without a policy: SMS first, then email. */
export const DEFAULT_CHANNEL_ORDER: readonly Channel[] = ['sms', 'email'];

/** The channels, in order, a policy allows for a segment's accounts (reachable or not). */
export function channelOrder(policy: ChannelPolicy | undefined, segment: Segment | undefined): readonly Channel[] {
  return (segment !== undefined ? policy?.segments?.[segment] : undefined) ?? policy?.order ?? DEFAULT_CHANNEL_ORDER;
}

/**
 * The channel rule, the one place it is written: the channels an account's notice may use, in
 * the order they are tried — the wave's {@link ChannelPolicy} for the account's segment (default
 * SMS, then email), keeping only the channels that can reach the account: SMS when there is a
 * phone not known to be a landline (`phoneIsMobile` absent counts as mobile), email when there is
 * an address. Every channel after the first is a fallback after a permanent refusal of the one
 * before's contact point. Without a policy: SMS first when reachable, then email.
 */
export function channelsFor(account: Pick<AffectedAccount, 'phone' | 'phoneIsMobile' | 'email'> & { readonly segment?: Segment }, policy?: ChannelPolicy): Channel[] {
  const reachable = (c: Channel): boolean => (c === 'sms' ? account.phone !== undefined && account.phone !== '' && account.phoneIsMobile !== false : account.email !== undefined && account.email !== '');
  return channelOrder(policy, account.segment).filter(reachable);
}

/** The first channel of {@link channelsFor}: under the default policy, SMS to a mobile number when there is one, else email. */
export function chooseChannel(account: Pick<AffectedAccount, 'phone' | 'phoneIsMobile' | 'email'> & { readonly segment?: Segment }, policy?: ChannelPolicy): Channel | undefined {
  return channelsFor(account, policy)[0];
}
