import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Redis } from 'ioredis';

/** What {@link RedisLease.tryAcquire} found. */
export type LeaseAttempt =
  | { readonly acquired: true; /** The token of the ended holder whose lease this took over. */ readonly tookOverFrom?: string }
  | { readonly acquired: false; /** Who holds it; undefined when it lapsed meanwhile (try again). */ readonly holder: string | undefined };

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
  /**
   * Takes the lease when nobody holds it, or when its holder is a process on this host that has
   * ended (see {@link holderGone}), so a crashed holder's successor does not wait out the TTL.
   * Otherwise answers who holds it. One round trip unless it takes a lease over.
   */
  tryAcquire(): Promise<LeaseAttempt>;
  /** Extends the lease by `ttlMs`; false when it expired or another holder has it now. */
  renew(): Promise<boolean>;
  /** Gives the lease up if it is still this holder's. */
  release(): Promise<void>;
  /** The current holder's token, if any. */
  holder(): Promise<string | undefined>;
  /**
   * Takes the lease from `staleToken` (see {@link holderGone}), only if that token still holds
   * it; false when it changed hands or expired meanwhile.
   */
  takeOver(staleToken: string): Promise<boolean>;
}

/** Takes the lease if free; returns the holder afterwards (this token when taken). */
const ACQUIRE = `local cur = redis.call('GET', KEYS[1]) if cur then return cur end redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return ARGV[1]`;
const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0`;
const TAKE_OVER = `if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3]) return 1 end return 0`;
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

/** Creates a lease handle; nothing is taken until {@link RedisLease.tryAcquire}. */
export function createLease(redis: Redis, key: string, ttlMs: number): RedisLease {
  if (!Number.isSafeInteger(ttlMs) || ttlMs < 1) throw new RangeError(`lease ttlMs must be a positive integer, got ${ttlMs}`);
  const token = `${hostname()}:${process.pid}#${randomUUID()}`;
  const takeOver = async (staleToken: string): Promise<boolean> =>
    Number(await redis.eval(TAKE_OVER, 1, key, staleToken, token, String(ttlMs))) === 1;
  return {
    key,
    token,
    ttlMs,
    tryAcquire: async () => {
      const holder = (await redis.eval(ACQUIRE, 1, key, token, String(ttlMs))) as string;
      if (holder === token) return { acquired: true };
      if (!holderGone(holder)) return { acquired: false, holder };
      if (await takeOver(holder)) return { acquired: true, tookOverFrom: holder };
      // Someone else took it over first, or it lapsed: say who holds it now.
      return { acquired: false, holder: (await redis.get(key)) ?? undefined };
    },
    renew: async () => Number(await redis.eval(RENEW, 1, key, token, String(ttlMs))) === 1,
    release: async () => {
      await redis.eval(RELEASE, 1, key, token);
    },
    holder: async () => (await redis.get(key)) ?? undefined,
    takeOver,
  };
}

/**
 * True when a lease token names a process on this host that no longer runs (it crashed or was
 * killed without releasing), so its lease can be taken over without waiting for the TTL. False
 * for another host, a live process, or a token of another shape. A reused pid only makes it wait.
 */
export function holderGone(token: string): boolean {
  const match = /^(.*):(\d+)#[^#]+$/.exec(token);
  if (!match || match[1] !== hostname()) return false;
  const pid = Number(match[2]);
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as { code?: string }).code === 'ESRCH';
  }
}
