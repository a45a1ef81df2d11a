import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { loadConfig } from './index.js';

const keys = { BW_ENVELOPE_KEY: randomBytes(32).toString('base64'), BW_HMAC_KEY: randomBytes(32).toString('base64') };

test('defaults apply and the result is frozen', () => {
  const c = loadConfig(keys);
  assert.equal(c.redisUrl, 'redis://127.0.0.1:6379');
  assert.equal(c.prefix, 'bw');
  assert.equal(c.twilio, undefined);
  assert.ok(Object.isFrozen(c) && Object.isFrozen(c.smtp));
  assert.deepEqual(c.feed, { window: 5000, batch: 500, accountsPerJob: 20, minJobs: 250 });
});

test('a wave is cut into at least 5 jobs per notifier slot unless BW_FEED_MIN_JOBS says otherwise', () => {
  assert.equal(loadConfig({ ...keys, BW_NOTIFY_CONCURRENCY: '200' }).feed.minJobs, 1000);
  assert.equal(loadConfig({ ...keys, BW_NOTIFY_CONCURRENCY: '200', BW_FEED_MIN_JOBS: '40' }).feed.minJobs, 40);
  assert.throws(() => loadConfig({ ...keys, BW_FEED_MIN_JOBS: '0' }), /BW_FEED_MIN_JOBS/);
});

test('bad values are named, their values are not echoed', () => {
  const secret = 'not-a-valid-key-value';
  assert.throws(() => loadConfig({ ...keys, BW_HMAC_KEY: secret, BW_FEED_WINDOW: '0' }), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'BW_CONFIG_INVALID');
    assert.match(e.message, /BW_HMAC_KEY/);
    assert.match(e.message, /BW_FEED_WINDOW/);
    assert.ok(!e.message.includes(secret));
    return true;
  });
  assert.throws(() => loadConfig({}), /BW_ENVELOPE_KEY/);
});

test('twilio needs both credentials and a sender', () => {
  const sid = 'AC' + randomBytes(16).toString('hex');
  assert.throws(() => loadConfig({ ...keys, TWILIO_ACCOUNT_SID: sid }), /go together/);
  assert.throws(() => loadConfig({ ...keys, TWILIO_ACCOUNT_SID: sid, TWILIO_AUTH_TOKEN: 't' }), /TWILIO_FROM/);
  const c = loadConfig({ ...keys, TWILIO_ACCOUNT_SID: sid, TWILIO_AUTH_TOKEN: 't', TWILIO_FROM: '+15005550006' });
  assert.equal(c.twilio?.from, '+15005550006');
});

test('DKIM settings go together', () => {
  assert.throws(() => loadConfig({ ...keys, SMTP_DKIM_DOMAIN: 'example.com' }), /SMTP_DKIM_DOMAIN, SMTP_DKIM_SELECTOR and SMTP_DKIM_KEY_FILE go together/);
  const c = loadConfig({ ...keys, SMTP_DKIM_DOMAIN: 'example.com', SMTP_DKIM_SELECTOR: 's1', SMTP_DKIM_KEY_FILE: '/etc/dkim.pem' });
  assert.deepEqual(c.smtp.dkim, { domain: 'example.com', selector: 's1', keyFile: '/etc/dkim.pem' });
});

test('PIN throttling and ops-api roles: defaults, and the three role tokens must differ', () => {
  const c = loadConfig(keys);
  assert.deepEqual(
    [c.pin.maxFailures, c.pin.failureWindowSeconds, c.pin.backoffAfter, c.pin.backoffBaseMs, c.pin.backoffMaxMs, c.pin.clientRatePerSecond],
    [100, 30 * 86_400, 5, 1000, 900_000, 10],
  );
  assert.equal(c.ops.metricsToken, undefined);
  const t = (ch: string) => ch.repeat(32);
  const roles = loadConfig({ ...keys, BW_OPS_TOKEN: t('o'), BW_METRICS_TOKEN: t('m'), BW_PIN_VERIFY_TOKEN: t('v') });
  assert.equal(roles.ops.metricsToken, t('m'));
  assert.throws(() => loadConfig({ ...keys, BW_OPS_TOKEN: t('o'), BW_METRICS_TOKEN: t('o') }), (e: Error) => /must differ/.test(e.message) && !e.message.includes(t('o')));
  assert.throws(() => loadConfig({ ...keys, BW_METRICS_TOKEN: 'short' }), /BW_METRICS_TOKEN/);
  assert.throws(() => loadConfig({ ...keys, BW_PIN_BACKOFF_BASE_MS: '5000', BW_PIN_BACKOFF_MAX_MS: '1000' }), /BW_PIN_BACKOFF_BASE_MS/);
});
