import type { Registry } from 'prom-client';
import type { BreachwaveConfig, MetricsSettings, RedisTlsSettings } from '@breachwave/config';
import type { Logger } from '@breachwave/logging';
import { senderIds } from '@breachwave/notifier';
import { closeRedis, createRedis, type Redis } from '@breachwave/redis';
import { createPipelineReader, readRedisMemory, registerPipelineMetrics, type PipelineReader } from './pipeline.js';
import type { SettledOutcome } from '@breachwave/actions';
import { registerOutcomeMetrics } from './outcomes.js';
import { registerProviderMetrics, type ProviderMetrics } from './providers.js';
import { createMetricsRegistry, registerHeartbeat, type ServiceName } from './registry.js';
import { startMetricsServer, type MetricsServer, type Readiness } from './server.js';

/** What a process's metrics need from its configuration. */
export interface ProcessMetricsSettings {
  readonly redisUrl: string;
  readonly redisTls?: RedisTlsSettings;
  readonly prefix: string;
  /** Shards of the accounts (`BW_SHARDS`), default 1. */
  readonly shards?: number;
  readonly metrics: MetricsSettings;
  /** Senders whose configured pace is reported. */
  readonly senders?: readonly string[];
  readonly codesLowWatermark?: number;
}

/** The metrics settings of a service that reads the whole configuration (every process but the audit writer). */
export function metricsSettingsOf(config: BreachwaveConfig): ProcessMetricsSettings {
  const ids = senderIds({ twilioFrom: config.twilio?.from, twilioMessagingServiceSid: config.twilio?.messagingServiceSid, smtpHost: config.smtp.host, smtpPort: config.smtp.port });
  return { redisUrl: config.redisUrl, ...(config.redisTls ? { redisTls: config.redisTls } : {}), prefix: config.prefix, shards: config.shards, metrics: config.metrics, senders: [ids.sms, ids.email], codesLowWatermark: config.codes.lowWatermark };
}

export interface ProcessMetricsDeps {
  readonly service: ServiceName;
  readonly log: Logger;
  /** A client to read Redis with (fail-fast, producer role); the caller keeps it. Default: one of the metrics' own. */
  readonly redis?: Redis;
}

/** One process's registry: process metrics, the pipeline read from Redis, the heartbeat, and the notifier's provider metrics. */
export interface ProcessMetrics {
  readonly registry: Registry;
  /** Wrap the notifier's senders with these to time and count provider requests. */
  readonly providers: ProviderMetrics;
  readonly pipeline: PipelineReader;
  /** Counts an action outcome the process's workers recorded (`breachwave_action_outcomes_total`). */
  outcome(settled: SettledOutcome): void;
  /** Reports `breachwave_worker_heartbeat_timestamp_seconds{service}` while `running()` is true. Once. */
  heartbeat(running: () => boolean): void;
  /** Ready while Redis answers and runs with `maxmemory-policy noeviction`. */
  readiness(): Promise<Readiness>;
  close(): Promise<void>;
}

/**
 * Builds a process's metrics without I/O: nothing connects until the first scrape or readiness
 * check. The provider metrics are registered only when `providers` is first used.
 */
export function createProcessMetrics(settings: ProcessMetricsSettings, deps: ProcessMetricsDeps): ProcessMetrics {
  const registry = createMetricsRegistry();
  const redis = deps.redis ?? createRedis({ url: settings.redisUrl, tls: settings.redisTls, role: 'producer', name: `breachwave-${deps.service}-metrics`, extra: { connectTimeout: 2000 } });
  const ownsRedis = deps.redis === undefined;
  const pipeline = createPipelineReader({
    redis, prefix: settings.prefix, ...(settings.shards ? { shards: settings.shards } : {}), cacheMs: settings.metrics.cacheMs, dlqCacheMs: settings.metrics.dlqCacheMs,
    stuckAfterSeconds: settings.metrics.stuckAfterSeconds,
    ...(settings.senders ? { senders: settings.senders } : {}),
    ...(settings.codesLowWatermark !== undefined ? { codesLowWatermark: settings.codesLowWatermark } : {}),
  });
  registerPipelineMetrics(registry, pipeline);
  const outcome = registerOutcomeMetrics(registry);
  let providers: ProviderMetrics | undefined;
  let beating = false;
  return {
    registry,
    get providers() {
      providers ??= registerProviderMetrics(registry);
      return providers;
    },
    pipeline,
    outcome,
    heartbeat(running) {
      if (beating) return;
      beating = true;
      registerHeartbeat(registry, deps.service, running);
    },
    async readiness() {
      try {
        if (redis.status === 'wait' || redis.status === 'end') await redis.connect();
        const { policy } = await Promise.race([
          readRedisMemory(redis),
          new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no answer within 2 s')), 2000).unref()),
        ]);
        // Any eviction policy can drop queued jobs and ledger entries without an error.
        return policy === 'noeviction' ? { ready: true } : { ready: false, reason: `Redis maxmemory-policy is ${policy}, not noeviction` };
      } catch (err) {
        deps.log.debug({ err }, 'readiness: Redis did not answer');
        return { ready: false, reason: 'Redis is unreachable' };
      }
    },
    async close() {
      await pipeline.close();
      if (ownsRedis) await closeRedis(redis);
    },
  };
}

export interface ServiceMetricsDeps extends ProcessMetricsDeps {
  /** Listen on this port whatever the settings say (0: any free port, for tests). */
  readonly port?: number;
}

/** A worker process's metrics and, when a port is configured, its HTTP server. */
export interface ServiceMetrics extends ProcessMetrics {
  /** The server's URL once started; undefined when no port is configured. */
  readonly url: string | undefined;
  /**
   * Starts the heartbeat (reported while `running()` is true; default: while the process runs)
   * and, when a port is configured, the server. Once.
   */
  start(running?: () => boolean): Promise<void>;
}

/**
 * A worker's metrics, built without I/O: the registry (with the provider metrics the notifier
 * wraps its senders with before it starts), then `start()` serves `/metrics`, `/healthz` and
 * `/readyz` on `BW_METRICS_HOST`:`BW_METRICS_PORT` when the port is set (0, the default, serves
 * nothing). `close()` stops the server and the metrics' Redis client.
 */
export function createServiceMetrics(settings: ProcessMetricsSettings, deps: ServiceMetricsDeps): ServiceMetrics {
  const metrics = createProcessMetrics(settings, deps);
  let server: MetricsServer | undefined;
  let started: Promise<void> | undefined;
  let closing: Promise<void> | undefined;
  const serve = async (): Promise<void> => {
    if (deps.port === undefined && settings.metrics.port === 0) return;
    server = await startMetricsServer({
      host: settings.metrics.host, port: deps.port ?? settings.metrics.port, registry: metrics.registry, ready: () => metrics.readiness(),
      ...(settings.metrics.token ? { token: settings.metrics.token } : {}),
    });
    if (!settings.metrics.token) deps.log.warn('BW_METRICS_TOKEN is not set: /metrics answers 401 to every scraper');
    deps.log.info({ url: server.url }, 'metrics, health and readiness served');
  };
  return {
    registry: metrics.registry,
    get providers() {
      return metrics.providers;
    },
    pipeline: metrics.pipeline,
    outcome: (settled) => metrics.outcome(settled),
    heartbeat: (running) => metrics.heartbeat(running),
    readiness: () => metrics.readiness(),
    get url() {
      return server?.url;
    },
    start(running = () => true) {
      started ??= (async () => {
        metrics.heartbeat(running);
        await serve();
      })();
      return started;
    },
    close() {
      closing ??= (async () => {
        await started?.catch(() => undefined);
        await server?.close();
        await metrics.close();
      })();
      return closing;
    },
  };
}

/**
 * The one call a worker's composition root makes when it has nothing to wrap: creates the
 * metrics and starts them. A failure to listen closes what was opened and throws.
 */
export async function startServiceMetrics(settings: ProcessMetricsSettings, deps: ServiceMetricsDeps & { readonly running?: () => boolean }): Promise<ServiceMetrics> {
  const metrics = createServiceMetrics(settings, deps);
  try {
    await metrics.start(deps.running);
  } catch (err) {
    await metrics.close();
    throw err;
  }
  return metrics;
}
