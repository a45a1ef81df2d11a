import { createHmac, timingSafeEqual } from 'node:crypto';
import { BreachwaveError, CHANNELS, WAVE_ID_PATTERN, type Channel } from '@breachwave/domain';

/** Path of the one-click unsubscribe endpoint on the ops-api (the token rides in `?t=`). */
export const UNSUBSCRIBE_PATH = '/v1/unsubscribe';

/** What a one-click unsubscribe token proves: who was sent what, and which contact point to suppress. */
export interface UnsubscribeClaims {
  readonly waveId: string;
  readonly accountId: string;
  readonly channel: Channel;
  /**
   * The suppression list's keyed hash of the contact point (see `SuppressionList.contactHash`).
   * Carried in the token because the account's contact record is deleted right after the send,
   * long before anyone clicks.
   */
  readonly contactHash: string;
  readonly expiresAt: Date;
}

const VERSION = '1';
const MAX_TOKEN_LENGTH = 512;
const ID = /^[A-Za-z0-9_-]{1,64}$/;
const HASH = /^[A-Za-z0-9_-]{43}$/;

/**
 * The key tokens are signed with: `explicit` (`BW_UNSUBSCRIBE_KEY`) when given, else a sub-key
 * derived from the deployment's HMAC key, so a token MAC is never comparable to a contact hash.
 */
export function unsubscribeKey(hmacKey: Buffer, explicit?: Buffer): Buffer {
  if (explicit) {
    if (explicit.length !== 32) throw new BreachwaveError('BW_CONFIG_INVALID', { detail: 'unsubscribe key must be 32 bytes' });
    return explicit;
  }
  return createHmac('sha256', hmacKey).update('breachwave/unsubscribe/v1').digest();
}

function mac(key: Buffer, payload: string): string {
  return createHmac('sha256', key).update(payload).digest('base64url');
}

/**
 * Signs a one-click unsubscribe token: `base64url(payload).base64url(HMAC-SHA256(payload))`, the
 * payload being `1|wave|account|channel|contactHash|expiry (unix seconds)`. No contact point in clear.
 * @throws BreachwaveError BW_INPUT_INVALID when a claim is malformed.
 */
export function signUnsubscribeToken(key: Buffer, claims: UnsubscribeClaims): string {
  if (!WAVE_ID_PATTERN.test(claims.waveId) || !ID.test(claims.accountId)) throw new BreachwaveError('BW_INPUT_INVALID', { detail: 'wave or account id is malformed' });
  if (!(CHANNELS as readonly string[]).includes(claims.channel)) throw new BreachwaveError('BW_INPUT_INVALID', { detail: 'unknown channel' });
  if (!HASH.test(claims.contactHash)) throw new BreachwaveError('BW_INPUT_INVALID', { detail: 'not a contact hash' });
  const exp = Math.floor(claims.expiresAt.getTime() / 1000);
  if (!Number.isSafeInteger(exp) || exp <= 0) throw new BreachwaveError('BW_INPUT_INVALID', { detail: 'expiry is not a valid time' });
  const payload = [VERSION, claims.waveId, claims.accountId, claims.channel, claims.contactHash, String(exp)].join('|');
  return `${Buffer.from(payload, 'utf8').toString('base64url')}.${mac(key, payload)}`;
}

/**
 * Verifies a token (MAC compared in constant time before anything in it is trusted) and returns
 * its claims.
 * @throws BreachwaveError BW_UNSUBSCRIBE_TOKEN_INVALID when malformed or altered;
 *   BW_UNSUBSCRIBE_TOKEN_EXPIRED when genuine but past its expiry.
 */
export function verifyUnsubscribeToken(key: Buffer, token: string, now: Date = new Date()): UnsubscribeClaims {
  const invalid = (detail: string) => new BreachwaveError('BW_UNSUBSCRIBE_TOKEN_INVALID', { detail });
  if (token.length === 0 || token.length > MAX_TOKEN_LENGTH) throw invalid('wrong length');
  const dot = token.indexOf('.');
  const encoded = token.slice(0, dot);
  const signature = token.slice(dot + 1);
  if (dot <= 0 || !/^[A-Za-z0-9_-]+$/.test(encoded) || !/^[A-Za-z0-9_-]{43}$/.test(signature)) throw invalid('malformed');
  const payload = Buffer.from(encoded, 'base64url').toString('utf8');
  // Compared as text, not decoded bytes: base64url's spare low bits would otherwise let several
  // spellings of one token pass; the payload must be canonical for the same reason.
  const expected = Buffer.from(mac(key, payload), 'utf8');
  const given = Buffer.from(signature, 'utf8');
  if (expected.length !== given.length || !timingSafeEqual(expected, given)) throw invalid('signature mismatch');
  if (Buffer.from(payload, 'utf8').toString('base64url') !== encoded) throw invalid('non-canonical encoding');
  const [version, waveId, accountId, channel, contactHash, exp, ...rest] = payload.split('|');
  if (version !== VERSION || rest.length > 0 || waveId === undefined || accountId === undefined || channel === undefined || contactHash === undefined || exp === undefined) {
    throw invalid('unknown version or shape');
  }
  if (!WAVE_ID_PATTERN.test(waveId) || !ID.test(accountId) || !HASH.test(contactHash) || !(CHANNELS as readonly string[]).includes(channel) || !/^\d{1,12}$/.test(exp)) {
    throw invalid('malformed claims');
  }
  const expiresAt = new Date(Number(exp) * 1000);
  if (expiresAt.getTime() <= now.getTime()) throw new BreachwaveError('BW_UNSUBSCRIBE_TOKEN_EXPIRED');
  return { waveId, accountId, channel: channel as Channel, contactHash, expiresAt };
}

/** The one-click unsubscribe URL for a token under the ops-api's public base URL. */
export function unsubscribeUrl(publicUrl: string, token: string): string {
  // Concatenated, not resolved: a base with a path (`https://h.example.com/bw`) keeps it. Tokens are base64url.
  return `${publicUrl.replace(/\/+$/, '')}${UNSUBSCRIBE_PATH}?t=${token}`;
}

/** The two headers of an RFC 8058 one-click unsubscribe, for an HTTPS `url`. */
export function unsubscribeHeaders(url: string): { 'List-Unsubscribe': string; 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' } {
  return { 'List-Unsubscribe': `<${url}>`, 'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click' };
}
