import { environment, loadCliConfig, loadConfig, loadConnectionConfig, type BreachwaveConfig } from '@breachwave/config';
import { createLedger, type Ledger } from '@breachwave/ledger';
import { pino } from 'pino';
import { createLogger, type Logger } from '@breachwave/logging';
import { checkHmacKey, checkRedis, checkShards, closeRedis, createRedis, type Redis } from '@breachwave/redis';
import { createEnvelope, parseKey, type Envelope } from '@breachwave/secrets';

/** The CLI logs to stderr, quietly unless LOG_LEVEL says otherwise: stdout is for results. */
export function cliLogger(): Logger {
  return createLogger({ name: 'breachwave-cli', level: loadCliConfig().logLevel, destination: pino.destination({ fd: 2, sync: true }) });
}

export interface ReadContext {
  readonly redis: Redis;
  readonly ledger: Ledger;
  readonly log: Logger;
  close(): Promise<void>;
}

/** Redis + ledger for commands that only read or steer state (no keys needed). */
export async function readContext(): Promise<ReadContext> {
  const c = loadConnectionConfig();
  const redis = createRedis({ url: c.redisUrl, tls: c.redisTls, role: 'producer', name: 'breachwave-cli' });
  try {
    await checkRedis(redis, c.redisUrl);
    await checkShards(redis, c.prefix, c.shards);
  } catch (err) {
    redis.disconnect();
    throw err;
  }
  return { redis, ledger: createLedger({ redis, prefix: c.prefix, shards: c.shards }), log: cliLogger(), close: () => closeRedis(redis) };
}

export interface FullContext extends ReadContext {
  readonly config: BreachwaveConfig;
  readonly envelope: Envelope;
}

/**
 * Everything, for commands that touch contact data (wave create, wave start). A command is no
 * process to scrape: `BW_METRICS_PORT`, meant for the service beside it, is not served here.
 */
export async function fullContext(config: BreachwaveConfig = loadConfig(environment({ BW_METRICS_PORT: '0' }))): Promise<FullContext> {
  const redis = createRedis({ url: config.redisUrl, tls: config.redisTls, role: 'producer', name: 'breachwave-cli' });
  try {
    await checkRedis(redis, config.redisUrl);
    await checkShards(redis, config.prefix, config.shards);
    await checkHmacKey(redis, config.prefix, Buffer.from(config.hmacKey, 'base64'));
  } catch (err) {
    redis.disconnect();
    throw err;
  }
  return {
    config,
    redis,
    ledger: createLedger({ redis, prefix: config.prefix, shards: config.shards }),
    envelope: createEnvelope(config.envelopeKeys.map((k) => parseKey(k.id, k.base64))),
    log: cliLogger(),
    close: () => closeRedis(redis),
  };
}

/** The operator an audit record names: `--actor` when given, else BW_OPERATOR, else the OS user. */
export function operatorActor(override?: string): string {
  return `operator:${override ?? loadCliConfig().operator}`;
}
