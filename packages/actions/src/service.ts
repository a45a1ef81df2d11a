import type { ActionName } from '@breachwave/domain';
import { createLedger, type Ledger } from '@breachwave/ledger';
import { closeInOrder, type Closable } from '@breachwave/lifecycle';
import type { Logger } from '@breachwave/logging';
import { checkHmacKey, checkRedis, checkShards, closeRedis, createRedis, queueConnection, type Redis, type RedisTlsFiles } from '@breachwave/redis';
import { reportingOutcomes, type SettledOutcome } from './outcomes.js';
import { recoveryLoopFor, type RecoveryLoop, type RecoverySettings } from './recovery.js';
import { createShardWorkers } from './shards.js';
import { createActionQueues, createActionWorker, type ActionJobView, type ActionQueues, type ActionWorker } from './worker.js';

/** What an action service reads of the deployment's configuration (the config's own fields, by name). */
export interface ActionServiceSettings {
  readonly redisUrl: string;
  readonly redisTls?: RedisTlsFiles | undefined;
  readonly prefix: string;
  /** Shards of the accounts (`BW_SHARDS`): one worker per shard queue. */
  readonly shards: number;
  /** Lock, stalled-check and recovery settings of every action worker. */
  readonly workers: RecoverySettings & { readonly lockDurationMs: number; readonly stalledIntervalMs: number };
}

/**
 * The process's metrics, health and readiness server (`createServiceMetrics` gives one). Started
 * before any job is taken, closed last, so a port already taken stops the start and `/healthz`
 * answers while the workers drain.
 */
export interface ActionServiceServer {
  /** Starts serving; `running` is what the heartbeat reports (the workers take jobs). */
  start(running: () => boolean): Promise<void>;
  close(): Promise<void>;
  /**
   * Counts one account's action outcome as the service's ledger recorded it (the metrics'
   * `breachwave_action_outcomes_total`). Absent: nothing is counted.
   */
  outcome?(settled: SettledOutcome): void;
}

/** What `build` is given: the opened and checked Redis client, and what is made over it. */
export interface ActionServiceContext {
  /** The service's own client (producer role), checked; closed by the runner after the workers and queues. */
  readonly redis: Redis;
  readonly ledger: Ledger;
  /** Producers for every action queue of every shard. */
  readonly queues: ActionQueues;
  readonly log: Logger;
  /**
   * Hands a resource the service opened (a sender's connection pool, a pacer) to the runner:
   * closed after the workers have drained and the queues are closed, before the Redis client,
   * in the order handed — and closed too if the start fails after this call.
   */
  own(resource: Closable): void;
}

/** What `build` gives back: the action's processor, and what the start log says. */
export interface ActionServiceParts {
  /** Runs one account's step of the action (see `createActionWorker`). */
  readonly processor: (job: ActionJobView) => Promise<unknown>;
  /** Fields of the `<name> started` log line. */
  readonly started?: Readonly<Record<string, unknown>>;
  /** Fields of the `<name> stopped` log line, read once every resource is closed. */
  readonly stopped?: () => Readonly<Record<string, unknown>>;
}

/** One worker service: its action, its settings, and how to build its processor. */
export interface ActionServiceSpec {
  /** The service: its actor in audit records and recovery, its log lines, its connection names. */
  readonly name: string;
  readonly action: ActionName;
  readonly settings: ActionServiceSettings;
  /** Connection name of the service's own Redis client in `CLIENT LIST`. Default `breachwave-<name>`. */
  readonly redisName?: string;
  /** Checked against the deployment's fingerprint before anything else is made (`BW_HMAC_KEY`); unchecked when absent. */
  readonly hmacKey?: Buffer;
  /** Jobs each shard's worker runs at once. */
  readonly concurrency: number;
  /** Replace the configured lock duration and stalled-check interval (tests). */
  readonly lockDuration?: number;
  readonly stalledInterval?: number;
  readonly server: ActionServiceServer;
  /** Builds the service's adapters and its processor, once Redis is checked. May do I/O; may throw. */
  build(context: ActionServiceContext): Promise<ActionServiceParts> | ActionServiceParts;
}

/** A started action service. */
export interface RunningActionService {
  /**
   * Stops taking jobs and lets running ones finish, then closes the recovery loop, the queues,
   * the queue connection, the resources `build` handed over, the Redis client and the server, in
   * that order. Each is closed even when one before it fails to; then rejects with the
   * `ShutdownError` naming every failure. Idempotent.
   */
  close(): Promise<void>;
}

/**
 * Starts one action worker service: opens and checks Redis (reachable, `noeviction`, the shard
 * count, the HMAC key when given), builds the spec's processor, one BullMQ worker per shard
 * queue over the queue connection of `@breachwave/redis`, the recovery loop, and the metrics and
 * health server. The server listens first: a port already taken stops the start before any job is
 * taken. A failed start closes whatever was opened and rethrows the start's own error.
 */
export async function runActionService(spec: ActionServiceSpec, log: Logger): Promise<RunningActionService> {
  const { name, settings } = spec;
  let stopped: ActionServiceParts['stopped'];
  const redis = createRedis({ url: settings.redisUrl, tls: settings.redisTls, role: 'producer', name: spec.redisName ?? `breachwave-${name}`, autoPipelining: true });
  // What is open so far, closed in this order (`closing()`) by `close()` or a failed start.
  let worker: ActionWorker | undefined;
  let recovery: RecoveryLoop | undefined;
  let queues: ActionQueues | undefined;
  let bull: ReturnType<typeof queueConnection> | undefined;
  const owned: Closable[] = [];
  const closing = (): readonly Closable[] => [
    // BullMQ's close stops fetching at once, then waits for the jobs running.
    { name: 'workers', close: () => worker?.close() },
    // Waits for a running sweep, then hands the recovery lease back (over `redis`).
    { name: 'recovery', close: () => recovery?.close() },
    { name: 'queues', close: () => queues?.close() },
    { name: 'queue connection', close: () => bull?.close() },
    ...owned,
    { name: 'redis', close: () => closeRedis(redis) },
    // Last: `/healthz` answers, and the heartbeat reads 0, while the workers drain.
    { name: 'server', close: () => spec.server.close() },
  ];
  const abandon = async (cause: unknown): Promise<never> => {
    await closeInOrder(closing()).catch((err: unknown) => log.warn({ err }, `${name}: closing after a failed start failed`));
    throw cause;
  };

  try {
    await checkRedis(redis, settings.redisUrl);
    await checkShards(redis, settings.prefix, settings.shards);
    if (spec.hmacKey) await checkHmacKey(redis, settings.prefix, spec.hmacKey);
    const opened = createLedger({ redis, prefix: settings.prefix, shards: settings.shards });
    // Every outcome the processor, the wave gate and the recovery sweep record goes through this ledger.
    const count = spec.server.outcome?.bind(spec.server);
    const ledger = count ? reportingOutcomes(opened, count) : opened;
    const connection = queueConnection(settings.redisUrl, `breachwave-${name}-queues`, settings.redisTls);
    bull = connection;
    const producers = createActionQueues({ connection: connection.connection, prefix: settings.prefix, shards: settings.shards, ledger });
    queues = producers;
    const parts = await spec.build({ redis, ledger, queues: producers, log, own: (r) => owned.push(r) });
    const loop = recoveryLoopFor({ ledger, queues: producers, redis, prefix: settings.prefix, log, actor: name }, settings.workers);
    recovery = loop;
    const workers = createShardWorkers(settings.prefix, settings.shards, (prefix) => createActionWorker({
      action: spec.action,
      connection: connection.connection,
      prefix,
      processor: parts.processor,
      log,
      concurrency: spec.concurrency,
      lockDuration: spec.lockDuration ?? settings.workers.lockDurationMs,
      stalledInterval: spec.stalledInterval ?? settings.workers.stalledIntervalMs,
      onLost: () => loop.kick(),
      ledger,
      actor: name,
    }));
    worker = workers;
    // Listening first: a port already taken stops the start before any job is taken.
    await spec.server.start(() => workers.isRunning());
    await workers.start();
    loop.start();
    log.info(parts.started ?? {}, `${name} started`);
    stopped = parts.stopped;
  } catch (err) {
    return abandon(err);
  }

  let closed: Promise<void> | undefined;
  return {
    close: () => {
      closed ??= closeInOrder(closing()).then(() => log.info(stopped?.() ?? {}, `${name} stopped`));
      return closed;
    },
  };
}
