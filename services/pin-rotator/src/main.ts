#!/usr/bin/env -S npx tsx
/**
 * The pin-rotator process. Environment: see `@breachwave/config` (BW_PIN_*, BW_BSS_*), plus
 * BW_LOCK_DURATION_MS, BW_STALLED_INTERVAL_MS and BW_RECOVERY_* among them.
 */
import { createLogger } from '@breachwave/logging';
import { runServiceUntilSignal } from '@breachwave/lifecycle';
import { runPinRotator } from './run.js';

await runServiceUntilSignal('pin-rotator', runPinRotator, createLogger);
