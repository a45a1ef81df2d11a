/**
 * Shared pieces of the PIN end-to-end suites (pin.test.ts, pin-kill.test.ts): the extra
 * environment of the pin-rotator, a small mixed account file, a notifier run in-process with the
 * temporary-PIN enricher, and the PIN leak scan.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import type { BreachwaveConfig } from '@breachwave/config';
import { createLedger } from '@breachwave/ledger';
import type { Logger } from '@breachwave/logging';
import { runNotifier, type RunningNotifier } from '@breachwave/notifier-service';
import { createPinHold, createVerifierKeyring, pinNoticeEnricher, type PinHold, type VerifierKeyring } from '@breachwave/pin';
import { createEnvelope, generateKey, parseKey } from '@breachwave/secrets';
import { wholeNumbers } from './leak-scan.js';

/** The pin-rotator's variables on top of `serviceEnv` (fresh keys; one set per test). */
export function pinEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    BW_PIN_VERIFIER_KEY: generateKey(),
    BW_PIN_VERIFIER_KEY_ID: 'v1',
    BW_PIN_HOLD_KEY: generateKey(),
    BW_PIN_VERIFY_TOKEN: randomBytes(24).toString('base64url'),
    ...extra,
  };
}

/** A distinct fictional number per index (312-555-01NN is valid for libphonenumber). */
export function phoneFor(i: number): string {
  return `+1312555${String(100 + i).padStart(4, '0')}`;
}

export interface Row {
  readonly account_id: string;
  readonly segment: string;
  readonly phone?: string;
  readonly email?: string;
  readonly exposed: string;
}

export function writeAccounts(file: string, rows: readonly Row[]): void {
  const lines = ['account_id,segment,name,phone,email,exposed'];
  for (const r of rows) lines.push([r.account_id, r.segment, 'Ana Lopez', r.phone ?? '', r.email ?? '', r.exposed].join(','));
  writeFileSync(file, `${lines.join('\n')}\n`);
}

/** Temporary PIN as the English SMS template writes it. */
export const TEMP_PIN = /Your temporary PIN is (\d{6,12})\b/;

/** The vault's keyring and a hold over the test's Redis, built from the services' configuration. */
export function pinParts(config: BreachwaveConfig, redis: Redis): { keyring: VerifierKeyring; hold: PinHold } {
  return {
    keyring: createVerifierKeyring(config.pin.verifierKeys.map((k) => parseKey(k.id, k.base64))),
    hold: createPinHold({ redis, prefix: config.prefix, ttlSeconds: config.pin.tempTtlSeconds, envelope: createEnvelope([parseKey(config.pin.holdKey.id, config.pin.holdKey.base64)]) }),
  };
}

/**
 * The notifier, in this process, with the temporary-PIN enricher wired in (the spawned notifier
 * main does not wire it yet).
 */
export async function startPinNotifier(config: BreachwaveConfig, redis: Redis, log: Logger): Promise<RunningNotifier> {
  const ledger = createLedger({ redis, prefix: config.prefix });
  const { hold } = pinParts(config, redis);
  return runNotifier(config, log, { enrichers: [pinNoticeEnricher({ hold, audit: (r) => ledger.audit(r), log })] });
}

/** True when `pin` appears as a whole number (not inside a longer digit run such as a timestamp). */
export function containsPin(text: string, pin: string): boolean {
  return new RegExp(`(?<!\\d)${pin}(?!\\d)`).test(text);
}

/**
 * Fails naming where a PIN leaked (never the PIN itself). Each text's whole numbers are collected
 * once, and each PIN of digits looked up among them: the same answer as {@link containsPin}
 * per PIN and text, without a walk of every text for every PIN.
 */
export function assertNoPinLeaks(pins: Iterable<string>, haystacks: Readonly<Record<string, string>>): void {
  const list = [...pins];
  const lengths = new Set(list.map((pin) => pin.length));
  const texts = Object.entries(haystacks).map(([where, text]) => ({ where, text, numbers: wholeNumbers(text, lengths) }));
  for (const pin of list) {
    const digits = /^\d+$/.test(pin);
    for (const { where, text, numbers } of texts) {
      assert.ok(digits ? !numbers.has(pin) : !containsPin(text, pin), `an issued PIN appears in ${where}`);
    }
  }
  assert.ok(list.length > 0, 'the scan had PINs to look for');
}
