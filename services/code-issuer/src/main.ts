#!/usr/bin/env -S npx tsx
import { loadConfig } from '@breachwave/config';
import { createLogger } from '@breachwave/logging';
import { runUntilSignal } from '@breachwave/lifecycle';
import { runCodeIssuer } from './run.js';

await runUntilSignal('code-issuer', async (log) => {
  const config = loadConfig();
  log.level = config.logLevel;
  const issuer = await runCodeIssuer(config, log);
  return () => issuer.close();
}, createLogger);
