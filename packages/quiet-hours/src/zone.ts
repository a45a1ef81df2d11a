import { BreachwaveError, isFormattableTimeZone } from '@breachwave/domain';
import { lookupAreaCode, nanpAreaCode } from './area-codes.js';

/**
 * True when `zone` is an IANA zone this runtime knows (aliases such as `US/Eastern` included,
 * unlike `Intl.supportedValuesOf('timeZone')`, which lists canonical names only): the same test
 * the ingest applies to an account's zone, so a zone accepted there is one quiet hours can use.
 */
export const isValidTimeZone: (zone: string) => boolean = isFormattableTimeZone;

/** Where a recipient's zone came from. */
export type ZoneSource = 'account' | 'area-code' | 'wave-default';

/** Why an earlier source was passed over. */
export type ZoneFallbackReason =
  | 'no-account-zone'
  | 'account-zone-invalid'
  | 'no-phone'
  | 'phone-not-nanp'
  | 'area-code-unknown';

/** A recipient's zone and how it was found. */
export interface RecipientZone {
  /** IANA zone to apply the window in. */
  readonly zone: string;
  /**
   * Sizeable minority zones of the recipient's area code (only when `source` is `area-code`):
   * sending when the window is open in `zone` and in each of these is safe for everyone there.
   */
  readonly otherZones?: readonly string[];
  /** Two-letter state or province from the phone's area code, whatever the zone's source. */
  readonly state?: string;
  readonly source: ZoneSource;
  /** Why each earlier source was not used, in order; empty when `source` is `account`. */
  readonly reasons: readonly ZoneFallbackReason[];
}

/** What {@link resolveRecipientZone} looks at. */
export interface RecipientZoneInput {
  /** The account's own IANA zone, when the breach file had one. */
  readonly timeZone?: string | undefined;
  /** The number the SMS goes to, E.164. */
  readonly phoneE164?: string | undefined;
  /** The wave's default IANA zone; must be valid. */
  readonly waveDefaultZone: string;
}

/**
 * The zone to apply quiet hours in: the account's time zone, else the zone of the phone's NANP
 * area code, else the wave's default. An invalid account zone is passed over (reason
 * `account-zone-invalid`), never fatal. The state comes from the area code even when the zone
 * comes from the account, since the stricter state rules follow the number's area code.
 *
 * @throws BreachwaveError `BW_INPUT_INVALID` when `waveDefaultZone` is not a valid IANA zone
 * (checked every time, so a bad manifest fails on its first recipient, not on its first fallback).
 */
export function resolveRecipientZone(input: RecipientZoneInput): RecipientZone {
  if (!isValidTimeZone(input.waveDefaultZone)) {
    throw new BreachwaveError('BW_INPUT_INVALID', { detail: 'the wave default time zone is not a known IANA zone' });
  }
  const reasons: ZoneFallbackReason[] = [];
  const entry = input.phoneE164 ? lookupAreaCode(input.phoneE164) : undefined;
  const state = entry ? { state: entry.region } : {};

  const tz = input.timeZone?.trim();
  if (tz && isValidTimeZone(tz)) return { zone: tz, ...state, source: 'account', reasons };
  reasons.push(tz ? 'account-zone-invalid' : 'no-account-zone');

  if (entry) {
    return { zone: entry.zone, ...(entry.otherZones ? { otherZones: entry.otherZones } : {}), ...state, source: 'area-code', reasons };
  }
  if (!input.phoneE164) reasons.push('no-phone');
  else reasons.push(nanpAreaCode(input.phoneE164) === undefined ? 'phone-not-nanp' : 'area-code-unknown');
  return { zone: input.waveDefaultZone, source: 'wave-default', reasons };
}
