import { createHmac } from 'node:crypto';
import type { Redis } from 'ioredis';
import { BreachwaveError } from '@breachwave/domain';

/** A short one-way name for a key: it tells two keys apart and reveals nothing of either. */
export function keyFingerprint(key: Buffer, purpose: string): string {
  return createHmac('sha256', key).update(`breachwave/key-fingerprint/${purpose}/v1`).digest('hex').slice(0, 16);
}

export interface KeyFingerprintCheck {
  /** Where the deployment's fingerprint lives, e.g. `<prefix>:keys:hmac`. */
  readonly redisKey: string;
  /** The key this process was configured with. */
  readonly key: Buffer;
  /** The setting that holds the key, named in the error (`BW_HMAC_KEY`). */
  readonly setting: string;
  /** Separates fingerprints of keys with different uses. */
  readonly purpose: string;
  /** What a different key would break, said in the error. */
  readonly why: string;
}

/**
 * Checks that this process holds the key the deployment's data in Redis is keyed by. The first
 * process to check records the key's fingerprint (`SET NX`, one round trip); every later one must
 * match it. For keys whose hashes are stored (the suppression list, the code index): a process
 * started with another key would not find them, and say nothing.
 * @returns `recorded` the first time, `matched` after.
 * @throws BreachwaveError BW_CONFIG_INVALID naming the setting and both fingerprints, never a key.
 */
export async function checkKeyFingerprint(redis: Redis, check: KeyFingerprintCheck): Promise<'recorded' | 'matched'> {
  const mine = keyFingerprint(check.key, check.purpose);
  const stored = (await redis.call('SET', check.redisKey, mine, 'NX', 'GET')) as string | null;
  if (stored === null) return 'recorded';
  if (stored === mine) return 'matched';
  throw new BreachwaveError('BW_CONFIG_INVALID', {
    detail: `${check.setting} is not the key this deployment's data was written with (its fingerprint ${mine}; ${check.redisKey} holds ${stored}): ${check.why}`,
  });
}

/** Where the deployment's `BW_HMAC_KEY` fingerprint lives. */
export function hmacFingerprintKey(prefix: string): string {
  return `${prefix}:keys:hmac`;
}

/**
 * {@link checkKeyFingerprint} for `BW_HMAC_KEY`, run by every service that reads or writes what it
 * keys: the suppression list (notifier, ops-api), the code index (code-issuer, notifier) and
 * unsubscribe links derived from it. Rotating it would make every recorded opt-out unfindable.
 */
export function checkHmacKey(redis: Redis, prefix: string, hmacKey: Buffer): Promise<'recorded' | 'matched'> {
  return checkKeyFingerprint(redis, {
    redisKey: hmacFingerprintKey(prefix),
    key: hmacKey,
    setting: 'BW_HMAC_KEY',
    purpose: 'hmac',
    why: 'the suppression list, the code index and unsubscribe links are keyed by it, and with another key every opt-out recorded so far would go unseen. Start every service with the original key (it cannot be rotated in place)',
  });
}
