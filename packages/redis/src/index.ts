import { readFileSync } from 'node:fs';
import type { ConnectionOptions as TlsConnectionOptions } from 'node:tls';
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
  /** TLS files of a `rediss://` URL (the config's `redisTls`); absent: the system CAs, no client certificate. */
  readonly tls?: RedisTlsFiles | undefined;
  readonly extra?: RedisOptions;
}

/** TLS to Redis as configuration gives it: paths, read when a client is created. */
export interface RedisTlsFiles {
  /** PEM CA bundle trusted instead of the system CAs. */
  readonly caFile?: string;
  /** PEM client certificate and key, for a server that requires them (`tls-auth-clients yes`). */
  readonly certFile?: string;
  readonly keyFile?: string;
  /** The name the server's certificate must carry, when not the URL's host. */
  readonly servername?: string;
}

const TLS_FILE_VARIABLES = { caFile: 'REDIS_TLS_CA_FILE', certFile: 'REDIS_TLS_CERT_FILE', keyFile: 'REDIS_TLS_KEY_FILE' } as const;

/**
 * ioredis's `tls` option (handed to `tls.connect`) from the configured files. The certificate is
 * always verified: there is deliberately no way to turn verification off.
 * @throws BreachwaveError BW_CONFIG_INVALID naming the variable whose file cannot be read.
 */
export function redisTlsOptions(files: RedisTlsFiles): TlsConnectionOptions {
  const read = (which: keyof typeof TLS_FILE_VARIABLES): Buffer | undefined => {
    const path = files[which];
    if (path === undefined) return undefined;
    try {
      return readFileSync(path);
    } catch (cause) {
      const code = (cause as NodeJS.ErrnoException).code ?? 'unreadable';
      throw new BreachwaveError('BW_CONFIG_INVALID', { detail: `${TLS_FILE_VARIABLES[which]}: cannot read ${path} (${code})`, cause });
    }
  };
  const ca = read('caFile');
  const cert = read('certFile');
  const key = read('keyFile');
  return {
    rejectUnauthorized: true,
    ...(ca ? { ca } : {}),
    ...(cert ? { cert } : {}),
    ...(key ? { key } : {}),
    ...(files.servername ? { servername: files.servername } : {}),
  };
}

/**
 * The ioredis options of a role, the ones {@link createRedis} uses. A `rediss://` URL connects
 * over TLS (ioredis turns it on by itself, with the system CAs); `tls` adds the configured files.
 */
export function redisOptions(options: RedisFactoryOptions): RedisOptions {
  return {
    lazyConnect: true,
    connectionName: options.name ?? `breachwave-${options.role}`,
    ...(options.role === 'worker'
      ? { maxRetriesPerRequest: null, enableReadyCheck: true }
      : { maxRetriesPerRequest: 2, enableOfflineQueue: false, connectTimeout: 5000 }),
    ...(options.autoPipelining ? { enableAutoPipelining: true } : {}),
    ...(options.tls ? { tls: redisTlsOptions(options.tls) } : {}),
    ...options.extra,
  };
}

/**
 * Connection options for BullMQ queues and workers, which open (and, for a worker's blocking
 * reads, duplicate) connections of their own: the URL and the TLS files the rest of the process
 * uses, with `maxRetriesPerRequest: null` as BullMQ requires of a worker's connections.
 */
export function bullConnection(options: { readonly url: string; readonly tls?: RedisTlsFiles | undefined }): RedisOptions & { url: string } {
  return {
    url: options.url,
    maxRetriesPerRequest: null,
    ...(options.tls ? { tls: redisTlsOptions(options.tls) } : {}),
  };
}

/** The last connection error of each client made here (see {@link createRedis}). */
const lastErrors = new WeakMap<Redis, Error>();

/** Creates a client with the role's settings. Does not connect until first used (lazyConnect). */
export function createRedis(options: RedisFactoryOptions): Redis {
  const client = new Redis(options.url, redisOptions(options));
  // Without a listener, ioredis prints "[ioredis] Unhandled error event" with a stack for every
  // failed reconnect. Connection errors reach callers as rejected commands (a fail-fast client)
  // or are waited out (a worker client); `checkRedis` turns the first one into BW_REDIS_UNREACHABLE.
  // The last one is kept: a refused TLS handshake reaches `connect()` only as "Connection is
  // closed.", and the certificate error that says why arrives here.
  client.on('error', (err: Error) => lastErrors.set(client, err));
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

/** OpenSSL's verification failures as Node reports them (`err.code`): a trust or name problem, not an outage. */
const TLS_VERIFY_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_SIGNATURE_FAILURE', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'CERT_UNTRUSTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** Why a connection failed, in the words an operator acts on: where, the cause, and what to check. */
function unreachableDetail(url: string, cause: unknown): string {
  const where = describeRedisUrl(url);
  // OpenSSL's messages end in a newline; an error detail is one line.
  const message = (cause instanceof Error ? cause.message : String(cause)).replace(/\s+/g, ' ').trim();
  const code = (cause as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string' && TLS_VERIFY_CODES.has(code)) {
    return `${where}: TLS certificate check failed (${code}: ${message}); REDIS_TLS_CA_FILE must hold the CA that signed the server's certificate, `
      + 'and the certificate must name the URL\'s host or REDIS_TLS_SERVERNAME';
  }
  if (/^rediss:/i.test(url) && /alert|handshake|certificate|wrong version|EPROTO|ECONNRESET/i.test(`${message} ${String(code)}`)) {
    return `${where}: TLS connection refused or reset during the handshake (${message}); check that the server listens with TLS on this port, `
      + 'and, if it requires client certificates (tls-auth-clients), REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE';
  }
  return `${where} (${message}); start Redis or set REDIS_URL`;
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
    // "Connection is closed." says nothing; the error event before it (a certificate refused) does.
    const why = lastErrors.get(client) ?? cause;
    throw new BreachwaveError('BW_REDIS_UNREACHABLE', { detail: unreachableDetail(url, why), cause: why });
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
  // QUIT on a client that is not connected waits in the offline queue for a reconnect; a worker
  // client (no retry limit) whose server refuses it, e.g. a TLS handshake that always fails,
  // would wait forever. There is nothing to say goodbye to: drop it.
  if (client.status !== 'ready') {
    client.disconnect();
    return;
  }
  try {
    await client.quit();
  } catch {
    client.disconnect();
  }
}
