#!/usr/bin/env -S npx tsx
import { loadConfig } from '@breachwave/config';
import { createLogger } from '@breachwave/logging';
import { runUntilSignal } from '@breachwave/lifecycle';
import { runCodeIssuer } from './run.js';

await runUntilSignal('code-issuer', async (log) => {
  const config = loadConfig();
  log.level = config.logLevel;
  // Fault injection for test/e2e/codes-kill.test.ts, kept in the composition root: SIGKILL this
  // process right after its Nth allocation is stored in Redis and before the ledger records it.
  const crashAfter = Number(process.env.BW_CRASH_AFTER_CODE_ALLOCATIONS ?? 0);
  let allocations = 0;
  const issuer = await runCodeIssuer(config, log, {
    ...(crashAfter > 0
      ? {
          onAllocated: () => {
            if (++allocations >= crashAfter) process.kill(process.pid, 'SIGKILL');
          },
        }
      : {}),
  });
  return () => issuer.close();
}, createLogger);
