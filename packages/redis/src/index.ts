import { readFileSync } from 'node:fs';
import type { ConnectionOptions as TlsConnectionOptions } from 'node:tls';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { BreachwaveError } from '@breachwave/domain';

export { Cluster, Redis } from 'ioredis';
export { createLease, holderGone, type LeaseAttempt, type RedisLease } from './lease.js';
export { checkHmacKey, checkShards, hmacFingerprintKey, keyFingerprint, shardsKey } from './fingerprint.js';

/**
 * Connection roles:
 * - `worker`: BullMQ workers and blocking readers; `maxRetriesPerRequest: null` so a Redis blip
 *   pauses them instead of failing jobs.
 * - `producer`: feeders, CLI and HTTP handlers; fail fast (`enableOfflineQueue: false`, bounded
 *   retries) so an operator sees the outage instead of a hung command.
 */
export type RedisRole = 'worker' | 'producer';

export interface RedisFactoryOptions {
  /**
   * Where Redis is: `redis://` / `rediss://` for one server, or `redis+cluster://host:port` (TLS:
   * `rediss+cluster://`) for a Redis Cluster, more seed nodes in `?nodes=host:port,host:port`.
   */
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

/**
 * Creates a client with the role's settings. Does not connect until first used (lazyConnect).
 *
 * For a `redis+cluster:// URL the client is an ioredis `Cluster` with the same role settings
 * (see {@link createClusterClient}); it is returned under the `Redis` type because every
 * command breachwave sends — Lua scripts, MULTI and pipelines included — goes to one slot when
 * the key prefix is a hash tag (`BW_PREFIX={bw}`, which the configuration requires in cluster
 * mode), and `Cluster` answers those exactly as one server does. Whole-keyspace commands
 * (`SCAN`, `KEYS`, `FLUSHDB`) are the exception: use {@link clusterPrimaries} for them.
 */
export function createRedis(options: RedisFactoryOptions): Redis {
  const cluster = parseClusterUrl(options.url);
  if (cluster) return createClusterClient(cluster, options) as unknown as Redis;
  const client = new Redis(options.url, redisOptions(options));
  // Without a listener, ioredis prints "[ioredis] Unhandled error event" with a stack for every
  // failed reconnect. Connection errors reach callers as rejected commands (a fail-fast client)
  // or are waited out (a worker client); `checkRedis` turns the first one into BW_REDIS_UNREACHABLE.
  // The last one is kept: a refused TLS handshake reaches `connect()` only as "Connection is
  // closed.", and the certificate error that says why arrives here.
  client.on('error', (err: Error) => lastErrors.set(client, err));
  return client;
}

/** A Redis Cluster's seed nodes and credentials, read from a `redis+cluster://` URL. */
export interface ClusterUrl {
  readonly nodes: readonly { readonly host: string; readonly port: number }[];
  readonly tls: boolean;
  readonly username?: string;
  readonly password?: string;
}

const CLUSTER_PROTOCOLS = new Set(['redis+cluster:', 'rediss+cluster:']);

/** True for a `redis+cluster://` or `rediss+cluster://` URL. */
export function isClusterUrl(url: string): boolean {
  try {
    return CLUSTER_PROTOCOLS.has(new URL(url).protocol);
  } catch {
    return false;
  }
}

/**
 * Reads a cluster URL: `redis+cluster://[user:pass@]host:port[?nodes=host:port,host:port]`.
 * Undefined for any other URL (one server). One seed is enough for ioredis to discover the
 * cluster; more let a client start while a seed is down.
 * @throws Error when a seed in `nodes` is not `host:port`
 */
export function parseClusterUrl(url: string): ClusterUrl | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined;
  }
  if (!CLUSTER_PROTOCOLS.has(u.protocol)) return undefined;
  const nodes = [{ host: u.hostname, port: Number(u.port || '6379') }];
  for (const seed of (u.searchParams.get('nodes') ?? '').split(',').filter(Boolean)) {
    const m = /^([^:]+):(\d{1,5})$/.exec(seed.trim());
    if (!m?.[1] || !m[2]) throw new Error(`a cluster seed must be host:port, got ${JSON.stringify(seed)}`);
    nodes.push({ host: m[1], port: Number(m[2]) });
  }
  return {
    nodes,
    tls: u.protocol === 'rediss+cluster:',
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
  };
}

/**
 * The ioredis `Cluster` for a role: the role's per-node settings in `redisOptions`, fail-fast at
 * the cluster level for producers (no offline queue, bounded reconnects), and, over TLS, node
 * addresses used as given (a managed cluster announces names its certificate covers).
 */
export function createClusterClient(cluster: ClusterUrl, options: RedisFactoryOptions): Cluster {
  const { retryStrategy, enableOfflineQueue, host: _h, port: _p, path: _path, sentinels: _s, readOnly: _r, ...extraNode } = options.extra ?? {};
  const worker = options.role === 'worker';
  const clusterOptions: ClusterOptions = {
    lazyConnect: true,
    enableReadyCheck: true,
    ...(worker ? {} : { enableOfflineQueue: false }),
    ...(enableOfflineQueue !== undefined ? { enableOfflineQueue } : {}),
    ...(retryStrategy ? { clusterRetryStrategy: (times: number) => retryStrategy(times) } : {}),
    ...(options.autoPipelining ? { enableAutoPipelining: true } : {}),
    ...(cluster.tls ? { dnsLookup: (address: string, callback: (err: Error | null, address: string) => void) => callback(null, address) } : {}),
    redisOptions: {
      connectionName: options.name ?? `breachwave-${options.role}`,
      ...(worker ? { maxRetriesPerRequest: null } : { maxRetriesPerRequest: 2, connectTimeout: 5000 }),
      ...(cluster.username ? { username: cluster.username } : {}),
      ...(cluster.password ? { password: cluster.password } : {}),
      ...(cluster.tls ? { tls: options.tls ? redisTlsOptions(options.tls) : {} } : {}),
      ...extraNode,
    },
  };
  const client = new Cluster(cluster.nodes.map((n) => ({ ...n })), clusterOptions);
  // As for one server: connection errors reach callers through their commands.
  client.on('error', () => undefined);
  return client;
}

/**
 * The cluster's primaries when `client` is a Cluster (after it connected), else `[client]`: for
 * whole-keyspace work — SCAN over every key of a prefix, a server check on every node.
 */
export function clusterPrimaries(client: Redis): Redis[] {
  const c = client as unknown as Cluster | Redis;
  return c instanceof Cluster ? c.nodes('master') : [c];
}

/**
 * `INFO <section>` of every server holding keys: each primary of a cluster (INFO sent to a
 * Cluster client reaches one node at random), else the one server.
 */
export async function infoOfPrimaries(client: Redis, section: string): Promise<string[]> {
  return Promise.all(clusterPrimaries(client).map((node) => node.info(section)));
}

/**
 * The connection BullMQ queues and workers are given, and how to let it go. For one server it
 * is the options object BullMQ opens its own connections from (as it always was); for a
 * cluster it is one `Cluster` client of the worker role, shared by every queue and worker of
 * the process (BullMQ duplicates it for its blocking reads), closed by `close()` once they are.
 */
export function queueConnection(url: string, name?: string, tls?: RedisTlsFiles): { readonly connection: (RedisOptions & { url: string }) | Cluster; close(): Promise<void> } {
  const cluster = parseClusterUrl(url);
  if (!cluster) return { connection: bullConnection({ url, tls }), close: async () => {} };
  const client = createClusterClient(cluster, { url, role: 'worker', name: name ?? 'breachwave-queues', tls });
  // BullMQ duplicates this client for each worker's blocking reads, and on a cluster it
  // reconnects that duplicate when a blocking read fails — which the read cut by the worker's own
  // close can do: the duplicate then holds a socket after the worker has closed, and the process
  // never exits after SIGTERM (seen here: a pin-rotator "stopped" with one such connection left).
  // So every duplicate is kept and ended here, after the queues and workers are closed.
  const duplicates = new Set<Cluster>();
  const duplicate = client.duplicate.bind(client);
  client.duplicate = (...args: Parameters<Cluster['duplicate']>): Cluster => {
    const d = duplicate(...args);
    duplicates.add(d);
    return d;
  };
  return {
    connection: client,
    close: async () => {
      for (const d of duplicates) d.disconnect();
      duplicates.clear();
      await closeRedis(client as unknown as Redis);
    },
  };
}

/**
 * A second connection like `client` with some per-connection settings changed (a blocking
 * reader of its own, say). For a Cluster the settings apply to every node's connection, and
 * `enableOfflineQueue` to the cluster client itself.
 */
export function duplicateRedis(client: Redis, settings: Pick<RedisOptions, 'connectionName' | 'maxRetriesPerRequest' | 'enableOfflineQueue'>): Redis {
  const c = client as unknown as Cluster | Redis;
  if (!(c instanceof Cluster)) return c.duplicate(settings);
  const { enableOfflineQueue, ...node } = settings;
  return c.duplicate([], {
    ...(enableOfflineQueue !== undefined ? { enableOfflineQueue } : {}),
    redisOptions: { ...c.options.redisOptions, ...node },
  }) as unknown as Redis;
}

/** Where the URL points, without credentials (for error messages and logs). */
export function describeRedisUrl(url: string): string {
  try {
    const u = new URL(url);
    const seeds = u.searchParams.get('nodes');
    return `${u.protocol}//${u.hostname}:${u.port || '6379'}${u.pathname && u.pathname !== '/' ? u.pathname : ''}${seeds ? `?nodes=${seeds}` : ''}`;
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
  // In a cluster every primary holds some slot: each one must refuse to evict.
  let version = 'unknown';
  for (const node of clusterPrimaries(client)) {
    const info = await node.info('memory');
    const server = await node.info('server');
    const policy = /maxmemory_policy:(\S+)/.exec(info)?.[1] ?? 'unknown';
    version = /redis_version:(\S+)/.exec(server)?.[1] ?? 'unknown';
    if (policy !== 'noeviction') {
      const where = isClusterUrl(url) ? `${describeRedisUrl(url)} (node ${node.options.host ?? '?'}:${node.options.port ?? '?'})` : describeRedisUrl(url);
      throw new BreachwaveError('BW_REDIS_EVICTION_POLICY', {
        detail: `${where} has maxmemory-policy ${policy}; set it to noeviction (CONFIG SET maxmemory-policy noeviction)`,
      });
    }
  }
  return { version, policy: 'noeviction' };
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
