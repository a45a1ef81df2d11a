#!/usr/bin/env -S npx tsx
import { createLogger } from '@breachwave/logging';
import { runUntilSignal } from '@breachwave/lifecycle';
import { loadAuditWriterConfig, runAuditWriter } from './run.js';

await runUntilSignal('audit-writer', async (log) => {
  const config = loadAuditWriterConfig(process.env);
  log.level = config.logLevel;
  const running = await runAuditWriter(config, { log });
  running.stopped.catch((err: unknown) => {
    log.fatal({ err }, 'audit writer stopped on an error');
    process.exitCode = 1;
  });
  return () => running.stop();
}, createLogger);
