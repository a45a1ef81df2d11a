#!/usr/bin/env -S npx tsx
/**
 * A process for the lifecycle's own test: it runs until SIGTERM under `runUntilSignal`, then
 * closes three resources of which the first and the last fail to close. The middle one holds the
 * process up (a timer): the process exits by itself only if it is closed past the failure.
 */
import { createLogger } from '@breachwave/logging';
import { closeInOrder, runUntilSignal } from '../index.js';

await runUntilSignal('failing-stop', async (log) => {
  const alive = setInterval(() => undefined, 60_000);
  log.info('failing-stop ready');
  return () => closeInOrder([
    { name: 'worker', close: () => Promise.reject(new Error('the worker would not close')) },
    { name: 'timer', close: () => clearInterval(alive) },
    { name: 'server', close: () => { throw new Error('the server would not close'); } },
  ]);
}, createLogger);
