#!/usr/bin/env -S npx tsx
import { createLogger } from '@breachwave/logging';
import { runServiceUntilSignal } from '@breachwave/lifecycle';
import { runCodeIssuer } from './run.js';

await runServiceUntilSignal('code-issuer', runCodeIssuer, createLogger);
