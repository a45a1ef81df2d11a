import type { BreachwaveConfig } from '@breachwave/config';
import { createActionQueues } from '@breachwave/actions';
import { createLedger } from '@breachwave/ledger';
import type { Logger } from '@breachwave/logging';
import { createUndeliveredFallback } from '@breachwave/notifier';
import {
  PIN_UNLOCK_PATH, PIN_VERIFY_PATH, answerPinUnlock, answerPinVerification, createClientRateLimiter, createPinVerificationService,
  createVerifierKeyring, unlockPinVerification,
} from '@breachwave/pin';
import { checkRedis, closeRedis, createRedis, queueConnection } from '@breachwave/redis';
import { parseKey } from '@breachwave/secrets';
import { createDeadLetters } from '@breachwave/dlq';
import { ACTIONS } from '@breachwave/domain';
import { createConsoleRoutes } from './console.js';
import { Counter } from './metrics.js';
import type { MountedRoute, OpsApiOverrides } from './run.js';

/**
 * What the ops-api process mounts from other packages: the email fallback after a permanent
 * "undelivered" callback, PIN verification for care agents and the IVR (`pin-verify` role, when a
 * verifier key is configured; limited per client), and the operator's PIN unlock (`operator`
 * role, audited as `operator:<name>` — the API token's name, or `X-Breachwave-Operator` with the
 * shared `BW_OPS_TOKEN`), the queue board over the action queues, and the wave overview page
 * with its dead-letter re-drive.
 */
export async function productionOverrides(config: BreachwaveConfig, log: Logger): Promise<{ overrides: OpsApiOverrides; close(): Promise<void> }> {
  const redis = createRedis({ url: config.redisUrl, tls: config.redisTls, role: 'producer', name: 'breachwave-ops-api-wiring' });
  try {
    await checkRedis(redis, config.redisUrl);
  } catch (err) {
    redis.disconnect();
    throw err;
  }
  const ledger = createLedger({ redis, prefix: config.prefix, shards: config.shards });
  const bull = queueConnection(config.redisUrl, 'breachwave-ops-api-queues', config.redisTls);
  const queues = createActionQueues({ connection: bull.connection, prefix: config.prefix, shards: config.shards, ledger });
  const fallback = createUndeliveredFallback({ ledger, queues });
  const routes: Record<string, MountedRoute> = {};
  // Counts made-up ids too, which nothing else records: a sweep shows here and nowhere in Redis.
  const verifications = new Counter('bw_pin_verifications_total', 'PIN verification tries, by outcome (verified, mismatch, unknown, throttled, locked).', ['outcome']);
  const audit = (r: Parameters<typeof ledger.audit>[0]) => ledger.audit(r);
  if (config.pin.verifierKeys.length > 0) {
    const service = createPinVerificationService({
      redis, prefix: config.prefix, audit,
      maxFailures: config.pin.maxFailures,
      failureWindowMs: config.pin.failureWindowSeconds * 1000,
      backoffAfter: config.pin.backoffAfter,
      backoffBaseMs: config.pin.backoffBaseMs,
      backoffMaxMs: config.pin.backoffMaxMs,
      keyring: createVerifierKeyring(config.pin.verifierKeys.map((k) => parseKey(k.id, k.base64))),
    });
    const rateLimiter = createClientRateLimiter({ redis, prefix: config.prefix, limit: config.pin.clientRatePerSecond });
    routes[`POST ${PIN_VERIFY_PATH}`] = {
      auth: 'pin-verify',
      handler: async (req) => {
        const answer = await answerPinVerification({ service, token: config.pin.verifyToken, log: req.log, rateLimiter, onOutcome: (outcome) => verifications.inc({ outcome }) },
          req.headers.authorization, req.body.toString('utf8'), { address: req.remoteAddress });
        return { status: answer.status, json: answer.json, headers: answer.headers };
      },
    };
  } else {
    log.warn('BW_PIN_VERIFIER_KEY is not set: PIN verification is not mounted');
  }
  routes[`POST ${PIN_UNLOCK_PATH}`] = {
    auth: 'operator',
    handler: async (req) => {
      const unlock = (accountId: string, actor: string) => unlockPinVerification({ redis, prefix: config.prefix, audit }, accountId, actor);
      const answer = await answerPinUnlock({ unlock, log: req.log }, `operator:${req.operator ?? 'unknown'}`, req.body.toString('utf8'));
      return { status: answer.status, json: answer.json, headers: answer.headers };
    },
  };
  // Every shard's queue of each action: with BW_SHARDS > 1 a wave's jobs wait in all of them.
  const actionQueues = Object.fromEntries(ACTIONS.map((a) => [a, queues.shardQueues(a)])) as Record<(typeof ACTIONS)[number], ReturnType<typeof queues.shardQueues>>;
  Object.assign(routes, createConsoleRoutes({
    ledger, redis, prefix: config.prefix, queues: actionQueues,
    deadLetters: createDeadLetters({ ledger, queues }),
    stuckAfterSeconds: config.ops.stuckAfterSeconds,
  }));
  return {
    overrides: {
      routes,
      board: {
        queues: ACTIONS.flatMap((a) => actionQueues[a].map((queue, shard) => ({ queue, shard, shards: config.shards }))),
        audit: async ({ actor, method, path }) => {
          await ledger.audit({ type: 'operator.queue-board', actor, detail: { method, path } });
        },
      },
      metrics: [verifications],
      onPermanentUndelivered: async (ctx) => {
        const outcome = await fallback(ctx);
        log.info({ wave: ctx.waveId, account: ctx.accountId, outcome }, 'permanent undelivered SMS: email fallback');
      },
    },
    close: async () => {
      await queues.close();
      await bull.close();
      await closeRedis(redis);
    },
  };
}
