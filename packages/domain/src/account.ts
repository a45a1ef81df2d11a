import { z } from 'zod';
import { parsePhoneNumberFromString } from 'libphonenumber-js/max';

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

const accountIdSchema = z
  .string()
  .trim()
  .regex(/^[A-Za-z0-9_-]{1,64}$/, 'account_id must be 1–64 letters, digits, "-" or "_"');

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

export type RowResult =
  | { readonly ok: true; readonly account: AffectedAccount }
  | { readonly ok: false; readonly reason: string; readonly field?: string };

const emailSchema = z.email();
const knownZones = new Set(Intl.supportedValuesOf('timeZone'));

/** Normalises a phone number to E.164, assuming US when no country code is given. */
export function normalisePhone(raw: string): { e164: string; mobile: boolean } | undefined {
  const parsed = parsePhoneNumberFromString(raw.trim(), 'US');
  if (!parsed || !parsed.isValid()) return undefined;
  const type = parsed.getType();
  // FIXED_LINE_OR_MOBILE is what NANP numbers report: SMS is attempted and a provider refusal
  // (21614 "not a mobile number") falls back to email.
  const mobile = type === undefined || type === 'MOBILE' || type === 'FIXED_LINE_OR_MOBILE';
  return { e164: parsed.number, mobile };
}

export function normaliseEmail(raw: string): string | undefined {
  const email = raw.trim().toLowerCase();
  return emailSchema.safeParse(email).success ? email : undefined;
}

function blank(v: string | undefined): boolean {
  return v === undefined || v.trim() === '';
}

/**
 * Validates and normalises one row of an affected-account file. Pure; never includes the
 * row's values in the reason (reasons end up in the rejects report).
 */
export function parseAccountRow(row: RawRow): RowResult {
  const id = accountIdSchema.safeParse(row.account_id ?? '');
  if (!id.success) return { ok: false, field: 'account_id', reason: id.error.issues[0]?.message ?? 'invalid account_id' };
  const segment = (row.segment ?? '').trim().toLowerCase();
  if (!(SEGMENTS as readonly string[]).includes(segment)) {
    return { ok: false, field: 'segment', reason: `unknown segment (expected one of ${SEGMENTS.join(', ')})` };
  }
  let phone: { e164: string; mobile: boolean } | undefined;
  if (!blank(row.phone)) {
    phone = normalisePhone(row.phone ?? '');
    if (!phone) return { ok: false, field: 'phone', reason: 'invalid phone number' };
  }
  let email: string | undefined;
  if (!blank(row.email)) {
    email = normaliseEmail(row.email ?? '');
    if (!email) return { ok: false, field: 'email', reason: 'invalid email address' };
  }
  if (!phone && !email) return { ok: false, field: 'phone', reason: 'no phone or email: nobody to notify' };
  const tz = (row.time_zone ?? '').trim();
  if (tz !== '' && !knownZones.has(tz)) return { ok: false, field: 'time_zone', reason: 'unknown time zone' };
  const rawLocale = (row.locale ?? '').trim().toLowerCase().slice(0, 2);
  const locale: Locale = rawLocale === '' ? 'en' : (LOCALES as readonly string[]).includes(rawLocale) ? (rawLocale as Locale) : 'en';
  const exposed: DataCategory[] = [];
  for (const part of (row.exposed ?? '').split(/[;|,]/)) {
    const cat = part.trim().toLowerCase().replace(/_/g, '-');
    if (cat === '') continue;
    if (!(DATA_CATEGORIES as readonly string[]).includes(cat)) {
      return { ok: false, field: 'exposed', reason: `unknown data category (expected ${DATA_CATEGORIES.join(', ')})` };
    }
    if (!exposed.includes(cat as DataCategory)) exposed.push(cat as DataCategory);
  }
  const name = (row.name ?? '').trim().replace(/\s+/g, ' ').slice(0, 120);
  return {
    ok: true,
    account: {
      accountId: id.data,
      segment: segment as Segment,
      ...(name ? { name } : {}),
      ...(phone ? { phone: phone.e164, phoneIsMobile: phone.mobile } : {}),
      ...(email ? { email } : {}),
      ...(tz ? { timeZone: tz } : {}),
      locale,
      exposed,
    },
  };
}

/** SMS to a mobile number when there is one, else email. */
export function chooseChannel(account: Pick<AffectedAccount, 'phone' | 'phoneIsMobile' | 'email'>): Channel | undefined {
  if (account.phone && account.phoneIsMobile !== false) return 'sms';
  if (account.email) return 'email';
  return undefined;
}
