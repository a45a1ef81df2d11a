#!/usr/bin/env -S npx tsx
import { loadConfig } from '@breachwave/config';
import { createLogger } from '@breachwave/logging';
import { runUntilSignal } from '@breachwave/lifecycle';
import { runNotifier } from './run.js';

await runUntilSignal('notifier', async (log) => {
  const config = loadConfig();
  log.level = config.logLevel;
  const notifier = await runNotifier(config, log);
  return () => notifier.close();
}, createLogger);
