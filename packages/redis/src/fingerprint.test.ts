import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { useRedis } from '@breachwave/testkit';
import { checkHmacKey, checkShards, hmacFingerprintKey, keyFingerprint, shardsKey } from './index.js';

const db = useRedis();

test('the first service records BW_HMAC_KEY\'s fingerprint; the same key matches it, another is refused by name, never shown', async () => {
  const prefix = `bwtest-${randomUUID()}`;
  const key = randomBytes(32);
  const other = randomBytes(32);
  assert.equal(await checkHmacKey(db.redis, prefix, key), 'recorded');
  assert.equal(await db.redis.get(hmacFingerprintKey(prefix)), keyFingerprint(key, 'hmac'));
  assert.equal(await checkHmacKey(db.redis, prefix, key), 'matched');

  await assert.rejects(checkHmacKey(db.redis, prefix, other), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'BW_CONFIG_INVALID');
    assert.match(e.message, /BW_HMAC_KEY is not the key/);
    assert.match(e.message, /suppression list/);
    for (const k of [key, other]) {
      assert.ok(!e.message.includes(k.toString('base64')) && !e.message.includes(k.toString('hex')), 'no key material');
    }
    return true;
  });
  assert.equal(await db.redis.get(hmacFingerprintKey(prefix)), keyFingerprint(key, 'hmac'), 'a refused key records nothing');
  // Another deployment (prefix) has its own key.
  assert.equal(await checkHmacKey(db.redis, `${prefix}-b`, other), 'recorded');
  await db.redis.del(hmacFingerprintKey(prefix), hmacFingerprintKey(`${prefix}-b`));
});

test('a fingerprint tells keys and purposes apart and is short', () => {
  const key = randomBytes(32);
  assert.equal(keyFingerprint(key, 'hmac'), keyFingerprint(Buffer.from(key), 'hmac'));
  assert.notEqual(keyFingerprint(key, 'hmac'), keyFingerprint(randomBytes(32), 'hmac'));
  assert.notEqual(keyFingerprint(key, 'hmac'), keyFingerprint(key, 'other'));
  assert.match(keyFingerprint(key, 'hmac'), /^[0-9a-f]{16}$/);
});

test('BW_SHARDS: an unsharded deployment writes nothing; the first sharded process records its number, another number is refused either way, and so is sharding a deployment that holds unsharded waves', async () => {
  const prefix = `{bwtest-${randomUUID()}}`;
  await checkShards(db.redis, prefix, 1);
  assert.equal(await db.redis.get(shardsKey(prefix)), null, 'the default writes no key');
  await checkShards(db.redis, prefix, 3);
  assert.equal(await db.redis.get(shardsKey(prefix)), '3');
  await checkShards(db.redis, prefix, 3);
  await assert.rejects(checkShards(db.redis, prefix, 2), /BW_SHARDS is 2, but this deployment's accounts were spread over 3/);
  await assert.rejects(checkShards(db.redis, prefix, 1), /BW_SHARDS is 1, but .* spread over 3/);

  const old = `{bwtest-${randomUUID()}}`;
  await db.redis.zadd(`${old}:waves`, 1, 'w1');
  await checkShards(db.redis, old, 1);
  await assert.rejects(checkShards(db.redis, old, 3), /written without BW_SHARDS/);
  assert.equal(await db.redis.get(shardsKey(old)), null, 'nothing recorded by the refused start');
});
