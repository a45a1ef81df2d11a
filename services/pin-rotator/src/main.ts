#!/usr/bin/env -S npx tsx
/**
 * The pin-rotator process. Environment: see `@breachwave/config` (BW_PIN_*, BW_BSS_*), plus
 * BW_LOCK_DURATION_MS, BW_STALLED_INTERVAL_MS and BW_RECOVERY_* among them.
 */
import { loadConfig } from '@breachwave/config';
import { createLogger } from '@breachwave/logging';
import { runUntilSignal } from '@breachwave/lifecycle';
import { runPinRotator } from './run.js';

await runUntilSignal('pin-rotator', async (log) => {
  const config = loadConfig();
  log.level = config.logLevel;
  const rotator = await runPinRotator(config, log);
  return () => rotator.close();
}, createLogger);
