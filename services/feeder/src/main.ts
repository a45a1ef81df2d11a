#!/usr/bin/env -S npx tsx
/**
 * Feeds one wave: `tsx services/feeder/src/main.ts WAVE_ID`. Configuration from the environment
 * (`@breachwave/config`). SIGTERM or SIGINT stops it after the batch in flight, with a checkpoint
 * the next run resumes from; a second signal ends it at once. Exit code: 0 fed, 1 error,
 * 2 usage, 128 + signal number when stopped early.
 */
import { loadConfig } from '@breachwave/config';
import { createLogger } from '@breachwave/logging';
import { runFeeder } from './run.js';

const SIGNAL_EXIT: Readonly<Record<string, number>> = { SIGINT: 130, SIGTERM: 143 };

// At info until the configuration is read (its LOG_LEVEL then applies), so a usage or config error is logged.
const log = createLogger({ name: 'feeder', level: 'info' });
const waveId = process.argv[2];
if (!waveId) {
  log.error('usage: feeder WAVE_ID');
  process.exitCode = 2;
} else {
  const controller = new AbortController();
  let stopSignal: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopSignal) {
      log.warn({ signal }, 'second signal: stopping without finishing the batch');
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      // Default disposition: the process ends by this signal (the checkpoint makes it safe).
      process.kill(process.pid, signal);
      return;
    }
    stopSignal = signal;
    log.info({ signal }, 'stopping after the batch in flight');
    controller.abort();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    const config = loadConfig();
    log.level = config.logLevel;
    const result = await runFeeder(config, { log, waveId, signal: controller.signal });
    process.exitCode = result.complete ? 0 : (SIGNAL_EXIT[stopSignal ?? 'SIGTERM'] ?? 1);
  } catch (err) {
    log.fatal({ err }, 'feeder failed');
    process.exitCode = 1;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}
