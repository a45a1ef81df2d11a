#!/usr/bin/env -S npx tsx
/**
 * PIN cost benchmark: CPU time (process.cpuUsage, user + system) to draw PINs under the policy —
 * blocklist and the previous-PIN check included, as the rotator does it — and to compute their
 * HMAC-SHA256 verifiers. Prints one JSON object:
 * `{ pins, msPerPinCpu, generateMs, verifierMs }` (the last two are totals over `pins`).
 *
 *   node --import tsx test/bench/pin.ts [PINS] [--smoke]   (default and minimum 100,000; with
 *   --smoke, the benchmark's smoke run, any number and a shorter warm-up: the figure is not meaningful)
 */
import { randomBytes } from 'node:crypto';
import { DEFAULT_PIN_POLICY, generatePin } from '@breachwave/domain';
import { digestEquals } from '@breachwave/secrets';
import { createVerifierKeyring } from '@breachwave/pin';

const smoke = process.argv.includes('--smoke');
const pins = smoke ? Math.max(1, Number(process.argv[2] ?? 0) || 0) : Math.max(100_000, Number(process.argv[2] ?? 0) || 0);
const keyring = createVerifierKeyring([{ id: 'v1', key: randomBytes(32) }]);
const phone = '+13125550199';
const previousVerifier = keyring.compute('ACCT-00000001', '483916') ?? '';
const isPrevious = (pin: string) => digestEquals(keyring.compute('ACCT-00000001', pin) ?? '', previousVerifier);

const cpuMs = (since: NodeJS.CpuUsage) => {
  const u = process.cpuUsage(since);
  return (u.user + u.system) / 1000;
};

// Warm-up: JIT and the HMAC code paths.
for (let i = 0; i < (smoke ? 500 : 5000); i++) keyring.compute('ACCT-00000001', generatePin({ phone, isPrevious }, DEFAULT_PIN_POLICY));

const drawn = new Array<string>(pins);
let t = process.cpuUsage();
for (let i = 0; i < pins; i++) drawn[i] = generatePin({ phone, isPrevious }, DEFAULT_PIN_POLICY);
const generateMs = cpuMs(t);

let sink = 0;
t = process.cpuUsage();
for (let i = 0; i < pins; i++) sink += (keyring.compute(`ACCT-${i}`, drawn[i] ?? '') ?? '').length;
const verifierMs = cpuMs(t);
if (sink === 0) throw new Error('unreachable');

const round = (n: number, d: number) => Number(n.toFixed(d));
console.log(JSON.stringify({ pins, msPerPinCpu: round((generateMs + verifierMs) / pins, 5), generateMs: round(generateMs, 1), verifierMs: round(verifierMs, 1) }));
