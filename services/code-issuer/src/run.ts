import type { BreachwaveConfig } from '@breachwave/config';
import { createActionQueues, createShardWorkers, recoveryLoopFor } from '@breachwave/actions';
import { codeCryptoFromConfig, createCodeIssuerWorker, createCodeStore, type AllocationEvent } from '@breachwave/codes';
import { createLedger } from '@breachwave/ledger';
import type { Logger } from '@breachwave/logging';
import { metricsSettingsOf, startServiceMetrics } from '@breachwave/metrics';
import { checkHmacKey, checkRedis, checkShards, closeRedis, createRedis, queueConnection } from '@breachwave/redis';

/** What a caller may replace or observe; everything else comes from the configuration. */
export interface CodeIssuerOverrides {
  readonly lockDuration?: number;
  readonly stalledInterval?: number;
  readonly concurrency?: number;
  /** Observation point after each stored allocation, before the ledger records it. */
  readonly onAllocated?: (event: AllocationEvent) => void;
}

export interface RunningCodeIssuer {
  close(): Promise<void>;
}

/**
 * Composition root of the code-issuer: wires config, Redis, ledger, the code store (sealing and
 * index keys) and the issue-code worker. Holds no business rules.
 */
export async function runCodeIssuer(config: BreachwaveConfig, log: Logger, overrides: CodeIssuerOverrides = {}): Promise<RunningCodeIssuer> {
  const redis = createRedis({ url: config.redisUrl, tls: config.redisTls, role: 'producer', name: 'breachwave-code-issuer', autoPipelining: true });
  try {
    await checkRedis(redis, config.redisUrl);
    await checkShards(redis, config.prefix, config.shards);
    await checkHmacKey(redis, config.prefix, Buffer.from(config.hmacKey, 'base64'));
  } catch (err) {
    await closeRedis(redis);
    throw err;
  }
  const ledger = createLedger({ redis, prefix: config.prefix, shards: config.shards });
  const store = createCodeStore({ redis, prefix: config.prefix, crypto: codeCryptoFromConfig(config), lowWatermark: config.codes.lowWatermark });
  const bull = queueConnection(config.redisUrl, 'breachwave-code-issuer-queues', config.redisTls);
  const connection = bull.connection;
  const queues = createActionQueues({ connection, prefix: config.prefix, shards: config.shards, ledger });
  const concurrency = overrides.concurrency ?? config.codes.concurrency;
  const recovery = recoveryLoopFor({ ledger, queues, redis, prefix: config.prefix, log, actor: 'code-issuer' }, config.workers);
  const worker = createShardWorkers(config.prefix, config.shards, (prefix) => createCodeIssuerWorker({
    ledger, queues, store, log, connection, prefix, concurrency, retryMs: config.codes.retryMs,
    lockDuration: overrides.lockDuration ?? config.workers.lockDurationMs,
    stalledInterval: overrides.stalledInterval ?? config.workers.stalledIntervalMs,
    onLost: () => recovery.kick(),
    ...(overrides.onAllocated ? { onAllocated: overrides.onAllocated } : {}),
  }));
  // Listening first: a port already taken stops the start before any job is taken.
  const metrics = await startServiceMetrics(metricsSettingsOf(config), { service: 'code-issuer', log, running: () => worker.isRunning() });
  await worker.start();
  recovery.start();
  log.info({ concurrency, lowWatermark: config.codes.lowWatermark, retryMs: config.codes.retryMs }, 'code-issuer started');

  let closed: Promise<void> | undefined;
  return {
    close: () => {
      closed ??= (async () => {
        await metrics.close();
        await recovery.close();
        await worker.close();
        await queues.close();
        await bull.close();
        await closeRedis(redis);
        log.info('code-issuer stopped');
      })();
      return closed;
    },
  };
}
