import { auditShardDir, createAuditWriter, shardPrefixes, type AuditWriter, type AuditWriterOptions } from '@breachwave/audit';
import type { Logger } from '@breachwave/logging';
import { startServiceMetrics, type ServiceMetrics } from '@breachwave/metrics';
import { checkRedis, checkShards, closeRedis, createRedis, type Redis } from '@breachwave/redis';
import type { AuditWriterConfig } from './config.js';

export { loadAuditWriterConfig, type AuditWriterConfig } from './config.js';

/** What {@link runAuditWriter} is given besides config. */
export interface AuditWriterDeps {
  readonly log: Logger;
  /** A client to use instead of creating one; the caller keeps ownership (not closed on stop). */
  readonly redis?: Redis;
  /** Writer tuning for tests and in-process runs. */
  readonly writer?: Partial<Pick<AuditWriterOptions, 'group' | 'consumer' | 'batchSize' | 'blockMs' | 'lingerMs' | 'closeTimeoutMs'>>;
}

/** A started audit writer. */
export interface RunningAuditWriter {
  /** The writer itself (of shard 0, the deployment's own stream), e.g. for `drainOnce()` before verifying (CLI, demo). */
  readonly writer: AuditWriter;
  /** One writer per shard's audit stream (`BW_SHARDS`), shard 0 first: each its own chain in its own directory. */
  readonly writers: readonly AuditWriter[];
  /** Stops reading, finishes the batch in flight, closes the file and the Redis client it created. Idempotent. */
  stop(): Promise<void>;
  /** Settles once everything is closed: resolves after `stop()`, rejects if writing failed (it then stops itself). */
  readonly stopped: Promise<void>;
}

/**
 * Composition root of the audit writer: Redis (worker role, checked), then the writer, started.
 * Holds no rules of its own; usable in-process by the CLI and demo.
 * While another writer holds the lease on the same prefix, it stands by (start waits).
 * @throws BreachwaveError BW_REDIS_UNREACHABLE | BW_REDIS_EVICTION_POLICY | BW_AUDIT_CHAIN_BROKEN
 */
export async function runAuditWriter(config: AuditWriterConfig, deps: AuditWriterDeps): Promise<RunningAuditWriter> {
  const { log } = deps;
  const redis = deps.redis ?? createRedis({ url: config.redisUrl, tls: config.redisTls, role: 'worker', name: 'breachwave-audit-writer' });
  const ownsRedis = deps.redis === undefined;
  // Without a listener ioredis prints every reconnect failure to stderr; log it instead.
  if (ownsRedis) redis.on('error', (err: Error) => log.warn({ err }, 'audit writer: Redis connection error'));
  // One writer per shard: each drains its shard's stream into a hash chain of its own, under its
  // own lease, in its own directory (shard 0: the audit directory itself, as without shards).
  const writers = shardPrefixes(config.prefix, config.shards).map((prefix, shard) => createAuditWriter({
    redis, prefix, dir: auditShardDir(config.auditDir, shard), log: config.shards > 1 ? log.child({ shard }) : log,
    maxLinesPerFile: config.maxLinesPerFile, lingerMs: config.lingerMs, leaseMs: config.leaseMs,
    checkpointEvery: config.checkpointEvery, checkpointIntervalMs: config.checkpointIntervalMs,
    ...(config.signer ? { signer: config.signer } : {}), ...deps.writer,
  }));
  const writer = writers[0] as AuditWriter;
  const closeAll = async (): Promise<void> => { await Promise.all(writers.map((w) => w.close())); };
  let running = false;
  let metrics: ServiceMetrics | undefined;
  try {
    metrics = await startServiceMetrics(config, { service: 'audit-writer', log, running: () => running });
    await checkRedis(redis, config.redisUrl);
    await checkShards(redis, config.prefix, config.shards);
    await Promise.all(writers.map((w) => w.start()));
    running = true;
  } catch (err) {
    await closeAll();
    await metrics?.close();
    if (ownsRedis) await closeRedis(redis);
    throw err;
  }
  log.info({ dir: config.auditDir, prefix: config.prefix, ...(config.shards > 1 ? { shards: config.shards } : {}) }, 'audit writer started');

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      running = false;
      await closeAll();
      await metrics?.close();
      if (ownsRedis) await closeRedis(redis);
      log.info('audit writer stopped');
    })();
    return stopping;
  };
  const stopped = Promise.all(writers.map((w) => w.whenStopped())).then(
    () => stop(),
    async (err: unknown) => {
      await stop().catch(() => {});
      throw err;
    },
  );
  // The caller observes `stopped`; this only keeps an unobserved failure from crashing the process.
  stopped.catch(() => {});
  return { writer, writers, stop, stopped };
}
