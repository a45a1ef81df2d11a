#!/usr/bin/env -S npx tsx
import { loadConfig } from '@breachwave/config';
import { createLogger } from '@breachwave/logging';
import { runUntilSignal } from '@breachwave/lifecycle';
import { runOpsApi } from './run.js';

await runUntilSignal('ops-api', async (log) => {
  const config = loadConfig(process.env);
  log.level = config.logLevel;
  const api = await runOpsApi(config, log);
  return () => api.close();
}, createLogger);
