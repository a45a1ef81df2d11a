import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createEnvelope, keyedHash, digestEquals } from './index.js';

const k1 = { id: 'k1', key: randomBytes(32) };
const k2 = { id: 'k2', key: randomBytes(32) };

test('an envelope opens with its own aad and hides the plaintext', () => {
  const env = createEnvelope([k1]);
  const sealed = env.seal('+12025550143', 'w1:a1');
  assert.ok(!sealed.includes('2025550143'));
  assert.equal(env.open(sealed, 'w1:a1'), '+12025550143');
});

test('an envelope refuses another owner, a tampered byte and an unknown key', () => {
  const env = createEnvelope([k1]);
  const sealed = env.seal('secret', 'w1:a1');
  assert.throws(() => env.open(sealed, 'w1:a2'), { code: 'BW_ENVELOPE_INVALID' });
  const parts = sealed.split('.');
  const ct = Buffer.from(parts[3] ?? '', 'base64url');
  ct[0] = (ct[0] ?? 0) ^ 1;
  parts[3] = ct.toString('base64url');
  assert.throws(() => env.open(parts.join('.'), 'w1:a1'), { code: 'BW_ENVELOPE_INVALID' });
  assert.throws(() => createEnvelope([k2]).open(sealed, 'w1:a1'), { code: 'BW_ENVELOPE_INVALID' });
});

test('rotated keys still open what older keys sealed', () => {
  const old = createEnvelope([k1]).sealJson({ a: 1 }, 'x');
  assert.deepEqual(createEnvelope([k2, k1]).openJson(old, 'x'), { a: 1 });
});

test('keyed hashes compare in constant time and differ per key', () => {
  const a = keyedHash(k1.key, '123456');
  assert.ok(digestEquals(a, keyedHash(k1.key, '123456')));
  assert.ok(!digestEquals(a, keyedHash(k2.key, '123456')));
});
