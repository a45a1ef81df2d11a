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

/** Where a sharded deployment's `BW_SHARDS` is recorded. */
export function shardsKey(prefix: string): string {
  return `${prefix}:shards`;
}

/**
 * Checks that this process spreads accounts over the shards the deployment's data was written
 * with: with another number an account's ledger entry, record and jobs would be looked for under
 * the wrong tag, and found missing. A sharded process records its number the first time (`SET
 * NX GET`), unless the deployment already holds waves written without shards; every later
 * process must match it. An unsharded one (the default) only reads, so a deployment that never
 * shards writes no key for it.
 * @throws BreachwaveError BW_CONFIG_INVALID naming both numbers.
 */
export async function checkShards(redis: Redis, prefix: string, shards: number): Promise<void> {
  const where = shardsKey(prefix);
  const mine = String(shards);
  const refuse = (stored: string): never => {
    throw new BreachwaveError('BW_CONFIG_INVALID', {
      detail: `BW_SHARDS is ${mine}, but this deployment's accounts were spread over ${stored} (${where}): every service must run with BW_SHARDS=${stored}`,
    });
  };
  if (shards <= 1) {
    const stored = await redis.get(where);
    if (stored !== null && stored !== mine) refuse(stored);
    return;
  }
  // Waves written before without shards keep their accounts in shard 0's keys only.
  if ((await redis.get(where)) === null && (await redis.zcard(`${prefix}:waves`)) > 0) refuse('1 (its waves were written without BW_SHARDS)');
  const stored = (await redis.call('SET', where, mine, 'NX', 'GET')) as string | null;
  if (stored !== null && stored !== mine) refuse(stored);
}
