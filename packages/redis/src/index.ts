import { Redis, type RedisOptions } from 'ioredis';
import { BreachwaveError } from '@breachwave/domain';

export { Redis } from 'ioredis';
export { createLease, holderGone, type LeaseAttempt, type RedisLease } from './lease.js';
export { checkHmacKey, hmacFingerprintKey, keyFingerprint } from './fingerprint.js';

/**
 * Connection roles:
 * - `worker`: BullMQ workers and blocking readers; `maxRetriesPerRequest: null` so a Redis blip
 *   pauses them instead of failing jobs.
 * - `producer`: feeders, CLI and HTTP handlers; fail fast (`enableOfflineQueue: false`, bounded
 *   retries) so an operator sees the outage instead of a hung command.
 */
export type RedisRole = 'worker' | 'producer';

export interface RedisFactoryOptions {
  readonly url: string;
  readonly role: RedisRole;
  /** Connection name shown in `CLIENT LIST`. */
  readonly name?: string;
  /**
   * Coalesce every command issued in one event-loop tick into one socket write (ioredis
   * `enableAutoPipelining`). For a client shared by many concurrent jobs (a worker service's
   * ledger client): one write(2) per tick instead of one per command, which is most of what a
   * command costs on both ends. Not for BullMQ's own connections.
   */
  readonly autoPipelining?: boolean;
  readonly extra?: RedisOptions;
}

/** Creates a client with the role's settings. Does not connect until first used (lazyConnect). */
export function createRedis(options: RedisFactoryOptions): Redis {
  const base: RedisOptions = {
    lazyConnect: true,
    connectionName: options.name ?? `breachwave-${options.role}`,
    ...(options.role === 'worker'
      ? { maxRetriesPerRequest: null, enableReadyCheck: true }
      : { maxRetriesPerRequest: 2, enableOfflineQueue: false, connectTimeout: 5000 }),
    ...(options.autoPipelining ? { enableAutoPipelining: true } : {}),
    ...options.extra,
  };
  const client = new Redis(options.url, base);
  // Without a listener, ioredis prints "[ioredis] Unhandled error event" with a stack for every
  // failed reconnect. Connection errors reach callers as rejected commands (a fail-fast client)
  // or are waited out (a worker client); `checkRedis` turns the first one into BW_REDIS_UNREACHABLE.
  client.on('error', () => undefined);
  return client;
}

/** Where the URL points, without credentials (for error messages and logs). */
export function describeRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.hostname}:${u.port || '6379'}${u.pathname && u.pathname !== '/' ? u.pathname : ''}`;
  } catch {
    return '(unparseable REDIS_URL)';
  }
}

/**
 * Connects and checks the server is fit for queues: reachable, and `maxmemory-policy` is
 * `noeviction` (any eviction policy can silently drop jobs and ledger entries).
 * @throws BreachwaveError BW_REDIS_UNREACHABLE | BW_REDIS_EVICTION_POLICY
 */
export async function checkRedis(client: Redis, url: string): Promise<{ version: string; policy: string }> {
  try {
    if (client.status === 'wait') await client.connect();
    await client.ping();
  } catch (cause) {
    throw new BreachwaveError('BW_REDIS_UNREACHABLE', {
      detail: `${describeRedisUrl(url)} (${cause instanceof Error ? cause.message : String(cause)}); start Redis or set REDIS_URL`,
      cause,
    });
  }
  const info = await client.info('memory');
  const server = await client.info('server');
  const policy = /maxmemory_policy:(\S+)/.exec(info)?.[1] ?? 'unknown';
  const version = /redis_version:(\S+)/.exec(server)?.[1] ?? 'unknown';
  if (policy !== 'noeviction') {
    throw new BreachwaveError('BW_REDIS_EVICTION_POLICY', {
      detail: `${describeRedisUrl(url)} has maxmemory-policy ${policy}; set it to noeviction (CONFIG SET maxmemory-policy noeviction)`,
    });
  }
  return { version, policy };
}

/** Quits a client, falling back to disconnect when the connection is already gone. Idempotent. */
export async function closeRedis(client: Redis): Promise<void> {
  if (client.status === 'end') return;
  try {
    await client.quit();
  } catch {
    client.disconnect();
  }
}
