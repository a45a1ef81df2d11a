import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { BreachwaveError } from '@breachwave/domain';

export { Cluster, Redis } from 'ioredis';
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
  readonly extra?: RedisOptions;
}

/**
 * Creates a client with the role's settings. Does not connect until first used (lazyConnect).
 *
 * For a `redis+cluster://` URL the client is an ioredis `Cluster` with the same role settings
 * (see {@link createClusterClient}); it is returned under the `Redis` type because every
 * command breachwave sends — Lua scripts, MULTI and pipelines included — goes to one slot when
 * the key prefix is a hash tag (`BW_PREFIX={bw}`, which the configuration requires in cluster
 * mode), and `Cluster` answers those exactly as one server does. Whole-keyspace commands
 * (`SCAN`, `KEYS`, `FLUSHDB`) are the exception: use {@link clusterPrimaries} for them.
 */
export function createRedis(options: RedisFactoryOptions): Redis {
  const cluster = parseClusterUrl(options.url);
  if (cluster) return createClusterClient(cluster, options) as unknown as Redis;
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
      ...(cluster.tls ? { tls: {} } : {}),
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
export function queueConnection(url: string, name?: string): { readonly connection: { url: string; maxRetriesPerRequest: null } | Cluster; close(): Promise<void> } {
  const cluster = parseClusterUrl(url);
  if (!cluster) return { connection: { url, maxRetriesPerRequest: null }, close: async () => {} };
  const client = createClusterClient(cluster, { url, role: 'worker', name: name ?? 'breachwave-queues' });
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
  try {
    await client.quit();
  } catch {
    client.disconnect();
  }
}
