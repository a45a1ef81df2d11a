#!/usr/bin/env -S npx tsx
/**
 * The pin-rotator process. Environment: see `@breachwave/config` (BW_PIN_*, BW_BSS_*), plus
 * BW_LOCK_DURATION_MS, BW_STALLED_INTERVAL_MS and BW_RECOVERY_* among them.
 *
 * Fault injection, for the SIGKILL tests only (test/e2e/pin-kill.test.ts) and read nowhere else:
 *   BW_FAULT_CRASH_AT=before-store|after-store|before-ack
 *   BW_FAULT_CRASH_AFTER=N   (default 1)
 * The process SIGKILLs itself when the Nth job reaches that point — right before the PIN store
 * call, right after it returned, or after the ledger recorded the rotation but before BullMQ
 * acked the job — with no drain and no cleanup, like a lost node. Never set these in production.
 */
import { loadConfig } from '@breachwave/config';
import { BreachwaveError, type PinStore } from '@breachwave/domain';
import { createLogger } from '@breachwave/logging';
import { runUntilSignal } from '@breachwave/lifecycle';
import { runPinRotator, type PinRotatorOverrides } from './run.js';

const CRASH_POINTS = ['before-store', 'after-store', 'before-ack'] as const;
type CrashPoint = (typeof CRASH_POINTS)[number];

function faultHooks(env: NodeJS.ProcessEnv): Pick<PinRotatorOverrides, 'wrapStore' | 'wrapProcessor'> {
  const at = env.BW_FAULT_CRASH_AT;
  if (!at) return {};
  if (!(CRASH_POINTS as readonly string[]).includes(at)) {
    throw new BreachwaveError('BW_CONFIG_INVALID', { detail: `BW_FAULT_CRASH_AT must be one of ${CRASH_POINTS.join(', ')}` });
  }
  const after = Number(env.BW_FAULT_CRASH_AFTER ?? 1);
  let reached = 0;
  const maybeCrash = (point: CrashPoint): void => {
    if (point === at && ++reached >= after) process.kill(process.pid, 'SIGKILL');
  };
  return {
    wrapStore: (store: PinStore): PinStore => ({
      name: store.name,
      async apply(request) {
        maybeCrash('before-store');
        const result = await store.apply(request);
        maybeCrash('after-store');
        return result;
      },
    }),
    wrapProcessor: (processor) => async (job) => {
      const outcome = await processor(job);
      if (outcome.status === 'done') maybeCrash('before-ack');
      return outcome;
    },
  };
}

await runUntilSignal('pin-rotator', async (log) => {
  const config = loadConfig();
  log.level = config.logLevel;
  const faults = faultHooks(process.env);
  if (faults.wrapStore) log.warn({ at: process.env.BW_FAULT_CRASH_AT }, 'fault injection is ON: this process will SIGKILL itself');
  const rotator = await runPinRotator(config, log, {
    ...faults,
  });
  return () => rotator.close();
}, createLogger);
