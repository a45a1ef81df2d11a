#!/usr/bin/env -S npx tsx
import { createLogger } from '@breachwave/logging';
import { runServiceUntilSignal } from '@breachwave/lifecycle';
import { runNotifier } from './run.js';

await runServiceUntilSignal('notifier', runNotifier, createLogger);
