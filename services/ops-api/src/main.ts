#!/usr/bin/env -S npx tsx
import { loadConfig } from '@breachwave/config';
import { createLogger } from '@breachwave/logging';
import { runUntilSignal } from '@breachwave/lifecycle';
import { runOpsApi } from './run.js';
import { productionOverrides } from './wire.js';

await runUntilSignal('ops-api', async (log) => {
  const config = loadConfig(process.env);
  log.level = config.logLevel;
  const wiring = await productionOverrides(config, log);
  const api = await runOpsApi(config, log, wiring.overrides);
  return async () => {
    await api.close();
    await wiring.close();
  };
}, createLogger);
