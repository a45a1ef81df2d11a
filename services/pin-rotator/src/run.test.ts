import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { loadConfig } from '@breachwave/config';
import type { BreachwaveError } from '@breachwave/domain';
import { silentLogger } from '@breachwave/logging';
import { acquireRedis, type TestRedis } from '@breachwave/testkit';
import { runPinRotator } from './run.js';

const key = () => randomBytes(32).toString('base64');
const base = { BW_ENVELOPE_KEY: key(), BW_HMAC_KEY: key() };

let server: TestRedis;
before(async () => {
  server = await acquireRedis();
});
after(async () => {
  await server.stop();
});

test('PIN configuration: defaults, NIST bounds, and the BSS needs its URL', () => {
  const c = loadConfig(base);
  assert.equal(c.pin.length, 6);
  assert.equal(c.pin.store, 'vault');
  assert.equal(c.pin.maxFailures, 100, 'the NIST ceiling: growing delays, not a low cap, slow a guesser down');
  assert.deepEqual(c.pin.verifierKeys, []);
  assert.equal(c.pin.holdKey.base64, base.BW_ENVELOPE_KEY, 'held PINs default to the envelope key');
  const bad = (env: Record<string, string>, name: RegExp) =>
    assert.throws(() => loadConfig({ ...base, ...env }), (e: BreachwaveError) => e.code === 'BW_CONFIG_INVALID' && name.test(e.message));
  bad({ BW_PIN_LENGTH: '4' }, /BW_PIN_LENGTH/);
  bad({ BW_PIN_MAX_FAILURES: '101' }, /BW_PIN_MAX_FAILURES/);
  bad({ BW_PIN_STORE: 'bss' }, /BW_BSS_URL/);
  bad({ BW_PIN_VERIFY_TOKEN: 'short' }, /BW_PIN_VERIFY_TOKEN/);
  const old = key();
  const bss = loadConfig({ ...base, BW_PIN_STORE: 'bss', BW_BSS_URL: 'http://127.0.0.1:9/pins', BW_PIN_VERIFIER_KEY: key(), BW_PIN_VERIFIER_OLD_KEYS: `v0:${old}` });
  assert.equal(bss.pin.bss?.timeoutMs, 5000);
  assert.deepEqual(bss.pin.verifierKeys.map((k) => k.id), ['v1', 'v0']);
});

test('the rotator refuses to start without a verifier key, and starts and stops cleanly with one', async () => {
  const prefix = `pinsvc${randomBytes(3).toString('hex')}`;
  await assert.rejects(runPinRotator(loadConfig({ ...base, REDIS_URL: server.url, BW_PREFIX: prefix }), silentLogger()),
    (e: BreachwaveError) => e.code === 'BW_CONFIG_INVALID' && /BW_PIN_VERIFIER_KEY/.test(e.message));
  const rotator = await runPinRotator(loadConfig({ ...base, REDIS_URL: server.url, BW_PREFIX: prefix, BW_PIN_VERIFIER_KEY: key() }), silentLogger());
  await rotator.close();
  await rotator.close();
});
