#!/usr/bin/env -S npx tsx
import { environment, loadConfig, loadVariables } from '@breachwave/config';
import { createLogger } from '@breachwave/logging';
import { runUntilSignal } from '@breachwave/lifecycle';
import { runOpsApi } from './run.js';
import { productionOverrides } from './wire.js';
import { createControlApi } from './control.js';

await runUntilSignal('ops-api', async (log) => {
  const config = loadConfig();
  log.level = config.logLevel;
  const wiring = await productionOverrides(config, log);
  const { BW_APPROVALS_REQUIRED: approvalsRequired } = loadVariables(environment(), ['BW_APPROVALS_REQUIRED']);
  const control = await createControlApi(config, log, { approvalsRequired });
  const api = await runOpsApi(config, log, { ...wiring.overrides, routes: { ...wiring.overrides.routes, ...control.routes } });
  return async () => {
    await api.close();
    // Feeds started through the API stop between batches, leaving a checkpoint to resume from.
    await control.close();
    await wiring.close();
  };
}, createLogger);
