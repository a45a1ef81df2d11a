import type { BreachwaveConfig } from '@breachwave/config';
import { createActionQueues } from '@breachwave/actions';
import { createLedger } from '@breachwave/ledger';
import type { Logger } from '@breachwave/logging';
import { createUndeliveredFallback } from '@breachwave/notifier';
import { PIN_VERIFY_PATH, answerPinVerification, createPinVerificationService, createVerifierKeyring } from '@breachwave/pin';
import { checkRedis, closeRedis, createRedis } from '@breachwave/redis';
import { parseKey } from '@breachwave/secrets';
import type { OpsApiOverrides, OpsHandler } from './run.js';

/**
 * What the ops-api process mounts from other packages: the email fallback after a permanent
 * "undelivered" callback, and PIN verification for care agents and the IVR (when a verifier key
 * is configured).
 */
export async function productionOverrides(config: BreachwaveConfig, log: Logger): Promise<{ overrides: OpsApiOverrides; close(): Promise<void> }> {
  const redis = createRedis({ url: config.redisUrl, role: 'producer', name: 'breachwave-ops-api-wiring' });
  try {
    await checkRedis(redis, config.redisUrl);
  } catch (err) {
    redis.disconnect();
    throw err;
  }
  const ledger = createLedger({ redis, prefix: config.prefix });
  const queues = createActionQueues({ connection: { url: config.redisUrl, maxRetriesPerRequest: null }, prefix: config.prefix });
  const fallback = createUndeliveredFallback({ ledger, queues });
  const routes: Record<string, OpsHandler> = {};
  if (config.pin.verifierKeys.length > 0) {
    const service = createPinVerificationService({
      redis, prefix: config.prefix, maxFailures: config.pin.maxFailures, audit: (r) => ledger.audit(r),
      keyring: createVerifierKeyring(config.pin.verifierKeys.map((k) => parseKey(k.id, k.base64))),
    });
    routes[`POST ${PIN_VERIFY_PATH}`] = async (req) => {
      const answer = await answerPinVerification({ service, token: config.pin.verifyToken, log: req.log }, req.headers.authorization, req.body.toString('utf8'));
      return { status: answer.status, json: answer.json, headers: answer.headers };
    };
  } else {
    log.warn('BW_PIN_VERIFIER_KEY is not set: PIN verification is not mounted');
  }
  return {
    overrides: {
      routes,
      onPermanentUndelivered: async (ctx) => {
        const outcome = await fallback(ctx);
        log.info({ wave: ctx.waveId, account: ctx.accountId, outcome }, 'permanent undelivered SMS: email fallback');
      },
    },
    close: async () => {
      await queues.close();
      await closeRedis(redis);
    },
  };
}
