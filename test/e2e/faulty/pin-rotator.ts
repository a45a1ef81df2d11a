/**
 * The pin-rotator with a crash point, for the kill drills: the real composition root
 * (`runPinRotator`) with its PIN store and processor wrapped so the process SIGKILLs itself when
 * the Nth job reaches the point — right before the PIN store call (`before-store`), right after it
 * returned (`after-store`), or after the ledger recorded the rotation but before BullMQ acked the
 * job (`before-ack`).
 *   node --import tsx test/e2e/faulty/pin-rotator.ts --crash-at=POINT [--crash-after=N]
 */
import { loadConfig } from '@breachwave/config';
import type { PinStore } from '@breachwave/domain';
import { createLogger } from '@breachwave/logging';
import { runUntilSignal } from '@breachwave/lifecycle';
import { runPinRotator } from '@breachwave/pin-rotator-service';
import { crashArgs, crashOnCall } from '@breachwave/testkit';

const POINTS = ['before-store', 'after-store', 'before-ack'] as const;
const crash = crashArgs(process.argv.slice(2), POINTS);
const fire = crash ? crashOnCall(crash.after) : () => undefined;
const at = (point: (typeof POINTS)[number]): void => {
  if (crash?.at === point) fire();
};

await runUntilSignal('pin-rotator', async (log) => {
  const config = loadConfig();
  log.level = config.logLevel;
  log.warn({ crashAt: crash?.at, after: crash?.after }, 'fault injection is ON: this process will SIGKILL itself');
  const rotator = await runPinRotator(config, log, {
    wrapStore: (store: PinStore): PinStore => ({
      name: store.name,
      async apply(request) {
        at('before-store');
        const result = await store.apply(request);
        at('after-store');
        return result;
      },
    }),
    wrapProcessor: (processor) => async (job) => {
      const outcome = await processor(job);
      if (outcome.status === 'done') at('before-ack');
      return outcome;
    },
  });
  return () => rotator.close();
}, createLogger);
