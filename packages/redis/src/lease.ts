import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';

/**
 * A lease on one Redis key: at most one holder at a time, valid for `ttlMs` after it was taken
 * or last renewed. For the processes that must run alone on their data (one audit writer per
 * chain). Renewal and release only ever touch the lease while it is still this holder's, so a
 * holder that stalled past its TTL cannot extend or delete a successor's lease.
 */
export interface RedisLease {
  readonly key: string;
  /** This holder's token: `host:pid#uuid`, so `GET key` tells an operator who holds it. */
  readonly token: string;
  readonly ttlMs: number;
  /** Takes the lease when nobody holds it. */
  tryAcquire(): Promise<boolean>;
  /** Extends the lease by `ttlMs`; false when it expired or another holder has it now. */
  renew(): Promise<boolean>;
  /** Gives the lease up if it is still this holder's. */
  release(): Promise<void>;
  /** The current holder's token, if any. */
  holder(): Promise<string | undefined>;
}

const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

/** Creates a lease handle; nothing is taken until {@link RedisLease.tryAcquire}. */
export function createLease(redis: Redis, key: string, ttlMs: number): RedisLease {
  if (!Number.isSafeInteger(ttlMs) || ttlMs < 1) throw new RangeError(`lease ttlMs must be a positive integer, got ${ttlMs}`);
  const token = `${hostname()}:${process.pid}#${randomUUID()}`;
  return {
    key,
    token,
    ttlMs,
    tryAcquire: async () => (await redis.set(key, token, 'PX', ttlMs, 'NX')) === 'OK',
    renew: async () => Number(await redis.eval(RENEW, 1, key, token, String(ttlMs))) === 1,
    release: async () => {
      await redis.eval(RELEASE, 1, key, token);
    },
    holder: async () => (await redis.get(key)) ?? undefined,
  };
}
