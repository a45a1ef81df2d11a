import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { loadAuditWriterSettings, loadConfig, loadConnectionConfig } from './index.js';

const keys = { BW_ENVELOPE_KEY: randomBytes(32).toString('base64'), BW_HMAC_KEY: randomBytes(32).toString('base64') };
const CLUSTER = 'redis+cluster://10.0.0.1:7000?nodes=10.0.0.2:7000,10.0.0.3:7000';

test('one server: the prefix and the URL are as before, and a hash-tagged prefix is allowed too', () => {
  assert.equal(loadConfig(keys).prefix, 'bw');
  assert.equal(loadConfig({ ...keys, BW_PREFIX: 'acme-prod_1' }).prefix, 'acme-prod_1');
  assert.equal(loadConfig({ ...keys, BW_PREFIX: '{bw}' }).prefix, '{bw}');
  for (const bad of ['bw:x', '{bw', 'bw}', '{}', '{b}w', 'a{bw}', '{b:w}']) {
    assert.throws(() => loadConfig({ ...keys, BW_PREFIX: bad }), /BW_PREFIX/, `${bad} is refused`);
  }
});

test('cluster mode: REDIS_URL redis+cluster:// with a hash-tagged prefix is accepted by every loader that reads the connection', () => {
  const env = { ...keys, REDIS_URL: CLUSTER, BW_PREFIX: '{bw}' };
  assert.equal(loadConfig(env).redisUrl, CLUSTER);
  assert.equal(loadConnectionConfig(env).prefix, '{bw}');
  assert.equal(loadAuditWriterSettings(env).prefix, '{bw}');
  assert.equal(loadConfig({ ...env, REDIS_URL: 'rediss+cluster://u:p@10.0.0.1:7000' }).prefix, '{bw}');
});

test('cluster mode refuses a prefix without a hash tag: its keys would spread over slots and every multi-key script would fail with CROSSSLOT', () => {
  for (const load of [loadConfig, loadConnectionConfig, loadAuditWriterSettings]) {
    assert.throws(() => load({ ...keys, REDIS_URL: CLUSTER }), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'BW_CONFIG_INVALID');
      assert.match(e.message, /BW_PREFIX must be a hash tag such as \{bw\}/);
      return true;
    });
    assert.throws(() => load({ ...keys, REDIS_URL: CLUSTER, BW_PREFIX: 'acme' }), /such as \{acme\}/);
  }
});

test('BW_SHARDS: 1 by default; more than 1 only with a hash-tag prefix, in every loader; bounded', () => {
  for (const load of [loadConfig, loadConnectionConfig, loadAuditWriterSettings]) {
    assert.equal(load(keys).shards, 1);
    assert.equal(load({ ...keys, BW_PREFIX: '{bw}', BW_SHARDS: '3' }).shards, 3);
    assert.equal(load({ ...keys, REDIS_URL: CLUSTER, BW_PREFIX: '{bw}', BW_SHARDS: '3' }).shards, 3);
    assert.throws(() => load({ ...keys, BW_PREFIX: 'acme', BW_SHARDS: '3' }), /BW_SHARDS above 1 needs BW_PREFIX to be a hash tag such as \{acme\}/);
    assert.throws(() => load({ ...keys, BW_PREFIX: '{bw}', BW_SHARDS: '0' }), /BW_SHARDS/);
    assert.throws(() => load({ ...keys, BW_PREFIX: '{bw}', BW_SHARDS: '65' }), /BW_SHARDS/);
  }
});
