/**
 * One notifier process for the end-to-end sections: the notifier service's composition root
 * (`runNotifier`) with the notice enrichers a full wave needs (temporary PIN, enrollment code) —
 * the service's own `main.ts` does not wire them yet. Configuration from the environment, like
 * the service. Logs (pino) go to stdout; SIGTERM drains and exits.
 */
import { Redis } from 'ioredis';
import { codeCryptoFromConfig, codeNoticeEnricher, createCodeStore } from '@breachwave/codes';
import { loadConfig } from '@breachwave/config';
import { createLedger } from '@breachwave/ledger';
import { createLogger } from '@breachwave/logging';
import { runNotifier } from '@breachwave/notifier-service';
import { createPinHold, pinNoticeEnricher } from '@breachwave/pin';
import { createEnvelope, parseKey } from '@breachwave/secrets';

const config = loadConfig(process.env);
const log = createLogger({ name: 'notifier', level: config.logLevel });
const full = process.env.BW_BENCH_FULL === '1';
const redis = new Redis(config.redisUrl, { maxRetriesPerRequest: null });
const ledger = createLedger({ redis, prefix: config.prefix });
const enrichers = full
  ? [
      pinNoticeEnricher({
        hold: createPinHold({ redis, prefix: config.prefix, ttlSeconds: config.pin.tempTtlSeconds, envelope: createEnvelope([parseKey(config.pin.holdKey.id, config.pin.holdKey.base64)]) }),
        audit: (r) => ledger.audit(r),
        log,
      }),
      codeNoticeEnricher({ store: createCodeStore({ redis, prefix: config.prefix, crypto: codeCryptoFromConfig(config), lowWatermark: config.codes.lowWatermark }) }),
    ]
  : [];
const notifier = await runNotifier(config, log, { enrichers });
process.once('SIGTERM', () => {
  void notifier.close().then(async () => {
    await redis.quit();
    log.flush();
  });
});
