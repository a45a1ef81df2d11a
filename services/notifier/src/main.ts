#!/usr/bin/env -S npx tsx
import { loadConfig } from '@breachwave/config';
import { createLogger } from '@breachwave/logging';
import { runUntilSignal } from '@breachwave/lifecycle';
import { runNotifier } from './run.js';

await runUntilSignal('notifier', async (log) => {
  const config = loadConfig(process.env);
  log.level = config.logLevel;
  const notifier = await runNotifier(config, log, {
    ...(process.env.BW_LOCK_DURATION_MS ? { lockDuration: Number(process.env.BW_LOCK_DURATION_MS) } : {}),
    ...(process.env.BW_STALLED_INTERVAL_MS ? { stalledInterval: Number(process.env.BW_STALLED_INTERVAL_MS) } : {}),
  });
  return () => notifier.close();
}, createLogger);
