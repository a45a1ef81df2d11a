import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { pinKeys } from './keys.js';

/**
 * KEYS: the client's counter. ARGV: window (ms), limit.
 * A fixed window that starts with the client's first request; the key expires with its window,
 * so a client that stops leaves nothing behind. Returns {allowed 1|0, ms until the window ends}.
 */
const TAKE = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
if n > tonumber(ARGV[2]) then return {0, redis.call('PTTL', KEYS[1])} end
return {1, 0}
`;

type RateRedis = Redis & { bwPinClientTake(k1: string, windowMs: string, limit: string): Promise<[number, number]> };

/** Who is asking, as far as the rate limit is concerned. */
export interface RateClient {
  /** The bearer token the client presented (hashed here, never stored or logged). */
  readonly token: string;
  /** The source address of the connection (behind a reverse proxy: the proxy's). */
  readonly address: string;
}

/** Dependencies of {@link createClientRateLimiter}. */
export interface ClientRateLimiterDeps {
  /** A fail-fast (`producer`) client. */
  readonly redis: Redis;
  readonly prefix: string;
  /** Requests one client may make per window. */
  readonly limit: number;
  /** Default 1000 ms. */
  readonly windowMs?: number;
}

export interface RateDecision {
  readonly allowed: boolean;
  /** When refused: ms until the client's window ends. */
  readonly retryAfterMs: number;
}

/** A per-client fixed-window limit in Redis, shared by every process on the prefix. */
export interface ClientRateLimiter {
  take(client: RateClient): Promise<RateDecision>;
}

/**
 * A per-client request limit keyed by (token fingerprint, source address), so one caller cannot
 * sweep accounts however many accounts it spreads its tries over. The key holds a digest of the
 * pair, neither the token nor the address.
 */
export function createClientRateLimiter(deps: ClientRateLimiterDeps): ClientRateLimiter {
  const windowMs = deps.windowMs ?? 1000;
  const k = pinKeys(deps.prefix);
  const r = deps.redis as RateRedis;
  if (typeof r.bwPinClientTake !== 'function') r.defineCommand('bwPinClientTake', { numberOfKeys: 1, lua: TAKE });
  return {
    async take(client) {
      const tokenPrint = createHash('sha256').update(client.token).digest('hex').slice(0, 16);
      const id = createHash('sha256').update(`${tokenPrint}\n${client.address}`).digest('hex').slice(0, 32);
      const [allowed, ttl] = await r.bwPinClientTake(k.clientRate(id), String(windowMs), String(deps.limit));
      return { allowed: allowed === 1, retryAfterMs: allowed === 1 ? 0 : Math.max(1, ttl) };
    },
  };
}
