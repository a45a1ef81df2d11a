import type { BreachwaveConfig } from '@breachwave/config';
import { BreachwaveError, WAVE_ID_PATTERN } from '@breachwave/domain';
import { createFeeder, type FeedResult } from '@breachwave/feeder';
import { createLedger } from '@breachwave/ledger';
import type { Logger } from '@breachwave/logging';
import { metricsSettingsOf, startServiceMetrics } from '@breachwave/metrics';
import { checkRedis, checkShards, closeRedis, createRedis } from '@breachwave/redis';

/** What {@link runFeeder} needs besides the configuration. */
export interface RunFeederDeps {
  readonly log: Logger;
  readonly waveId: string;
  /** Aborting stops the feed between batches; the checkpoint lets a later run resume. */
  readonly signal?: AbortSignal;
  /** Audit actor. Default `feeder`. */
  readonly actor?: string;
}

/**
 * Composition root of the feeder: one producer Redis connection (checked, then shared by the
 * ledger and the queues), the ledger, and a feeder that feeds one wave to the end or until
 * `signal` aborts. Everything it opens is closed before it returns or throws.
 * @throws BreachwaveError BW_INPUT_INVALID (bad wave id or state), BW_WAVE_NOT_FOUND,
 *   BW_REDIS_UNREACHABLE, BW_REDIS_EVICTION_POLICY.
 */
export async function runFeeder(config: BreachwaveConfig, deps: RunFeederDeps): Promise<FeedResult> {
  if (!WAVE_ID_PATTERN.test(deps.waveId)) throw new BreachwaveError('BW_INPUT_INVALID', { detail: 'wave id must be 1–64 letters, digits, "-" or "_"' });
  const redis = createRedis({ url: config.redisUrl, tls: config.redisTls, role: 'producer', name: 'breachwave-feeder' });
  let feeding = false;
  const metrics = await startServiceMetrics(metricsSettingsOf(config), { service: 'feeder', log: deps.log, running: () => feeding }).catch(async (err: unknown) => {
    await closeRedis(redis);
    throw err;
  });
  try {
    await checkRedis(redis, config.redisUrl);
    await checkShards(redis, config.prefix, config.shards);
    const ledger = createLedger({ redis, prefix: config.prefix, shards: config.shards });
    const feeder = createFeeder({
      ledger, connection: redis, prefix: config.prefix, shards: config.shards, window: config.feed.window, batch: config.feed.batch, accountsPerJob: config.feed.accountsPerJob, minJobs: config.feed.minJobs, log: deps.log,
      ...(deps.actor ? { actor: deps.actor } : {}),
    });
    try {
      feeding = true;
      return await feeder.feed(deps.waveId, deps.signal ? { signal: deps.signal } : {});
    } finally {
      feeding = false;
      await feeder.close();
    }
  } finally {
    await metrics.close();
    await closeRedis(redis);
  }
}
