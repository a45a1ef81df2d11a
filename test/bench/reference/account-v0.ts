/**
 * REFERENCE — `parseAccountRow` of `packages/domain/src/account.ts` as it was before the issue-6
 * optimisations (phone validity and type each computed by libphonenumber: `isValid()` then
 * `getType()`, which runs the same type regexes twice). Same rules, same reasons. zod and
 * libphonenumber-js are loaded from the domain package (the exact copies it uses). Benchmark only.
 */
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { DATA_CATEGORIES, LOCALES, SEGMENTS, type AffectedAccount, type DataCategory, type Locale, type RawRow, type Segment } from '@breachwave/domain';
import { ROOT } from '../common.js';

/** The parts of zod and libphonenumber-js used here (the test package does not depend on them). */
interface SafeParser<T> {
  safeParse(v: unknown): { success: true; data: T } | { success: false; error: { issues: { message: string }[] } };
}
interface Zod {
  z: { string(): { trim(): { regex(re: RegExp, message: string): SafeParser<string> } }; email(): SafeParser<string> };
}
interface PhoneNumber {
  isValid(): boolean;
  getType(): string | undefined;
  readonly number: string;
}
interface LibPhoneNumber {
  parsePhoneNumberFromString(text: string, country: string): PhoneNumber | undefined;
}

/** The row result as it was then: one reason, no warnings. */
export type RowResult = { readonly ok: true; readonly account: AffectedAccount } | { readonly ok: false; readonly reason: string; readonly field?: string };

const requireFromDomain = createRequire(join(ROOT, 'packages', 'domain', 'package.json'));
const { z } = requireFromDomain('zod') as Zod;
const { parsePhoneNumberFromString } = requireFromDomain('libphonenumber-js/max') as LibPhoneNumber;

const accountIdSchema = z.string().trim().regex(/^[A-Za-z0-9_-]{1,64}$/, 'account_id must be 1–64 letters, digits, "-" or "_"');
const emailSchema = z.email();
const knownZones = new Set(Intl.supportedValuesOf('timeZone'));

export function normalisePhoneV0(raw: string): { e164: string; mobile: boolean } | undefined {
  const parsed = parsePhoneNumberFromString(raw.trim(), 'US');
  if (!parsed || !parsed.isValid()) return undefined;
  const type = parsed.getType();
  const mobile = type === undefined || type === 'MOBILE' || type === 'FIXED_LINE_OR_MOBILE';
  return { e164: parsed.number, mobile };
}

function normaliseEmail(raw: string): string | undefined {
  const email = raw.trim().toLowerCase();
  return emailSchema.safeParse(email).success ? email : undefined;
}

function blank(v: string | undefined): boolean {
  return v === undefined || v.trim() === '';
}

export function parseAccountRowV0(row: RawRow): RowResult {
  const id = accountIdSchema.safeParse(row.account_id ?? '');
  if (!id.success) return { ok: false, field: 'account_id', reason: id.error.issues[0]?.message ?? 'invalid account_id' };
  const segment = (row.segment ?? '').trim().toLowerCase();
  if (!(SEGMENTS as readonly string[]).includes(segment)) {
    return { ok: false, field: 'segment', reason: `unknown segment (expected one of ${SEGMENTS.join(', ')})` };
  }
  let phone: { e164: string; mobile: boolean } | undefined;
  if (!blank(row.phone)) {
    phone = normalisePhoneV0(row.phone ?? '');
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
  const account: AffectedAccount = {
    accountId: id.data,
    segment: segment as Segment,
    ...(name ? { name } : {}),
    ...(phone ? { phone: phone.e164, phoneIsMobile: phone.mobile } : {}),
    ...(email ? { email } : {}),
    ...(tz ? { timeZone: tz } : {}),
    locale,
    exposed,
  };
  return { ok: true, account };
}
