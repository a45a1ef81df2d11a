import { createHmac } from 'node:crypto';
import type { Redis } from 'ioredis';
import { BreachwaveError } from '@breachwave/domain';

/** A short one-way name for a key: it tells two keys apart and reveals nothing of either. */
export function keyFingerprint(key: Buffer, purpose: string): string {
  return createHmac('sha256', key).update(`breachwave/key-fingerprint/${purpose}/v1`).digest('hex').slice(0, 16);
}

/** Where the deployment's `BW_HMAC_KEY` fingerprint lives. */
export function hmacFingerprintKey(prefix: string): string {
  return `${prefix}:keys:hmac`;
}

/**
 * Checks that this process holds the `BW_HMAC_KEY` the deployment's data in Redis is keyed by:
 * the suppression list (notifier, ops-api), the code index (code-issuer, notifier) and the
 * unsubscribe links derived from it. A process started with another key would find none of them
 * and say nothing, messaging every person who had opted out. The first process to check records
 * the key's fingerprint (`SET NX GET`, one round trip); every later one must match it.
 * @returns `recorded` the first time, `matched` after.
 * @throws BreachwaveError BW_CONFIG_INVALID naming the setting and both fingerprints, never a key.
 */
export async function checkHmacKey(redis: Redis, prefix: string, hmacKey: Buffer): Promise<'recorded' | 'matched'> {
  const where = hmacFingerprintKey(prefix);
  const mine = keyFingerprint(hmacKey, 'hmac');
  const stored = (await redis.call('SET', where, mine, 'NX', 'GET')) as string | null;
  if (stored === null) return 'recorded';
  if (stored === mine) return 'matched';
  throw new BreachwaveError('BW_CONFIG_INVALID', {
    detail: `BW_HMAC_KEY is not the key this deployment's data was written with (its fingerprint ${mine}; ${where} holds ${stored}): `
      + 'the suppression list, the code index and unsubscribe links are keyed by it, and with another key every opt-out recorded so far '
      + 'would go unseen. Start every service with the original key (it cannot be rotated in place)',
  });
}
