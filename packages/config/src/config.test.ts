import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { loadAuditWriterSettings, loadCliConfig, loadConfig, loadConnectionConfig, loadVariables, loadWorkersConfig, parseKeyRing, variables, type VariableName } from './index.js';

const keys = { BW_ENVELOPE_KEY: randomBytes(32).toString('base64'), BW_HMAC_KEY: randomBytes(32).toString('base64') };

test('defaults apply and the result is frozen', () => {
  const c = loadConfig(keys);
  assert.equal(c.redisUrl, 'redis://127.0.0.1:6379');
  assert.equal(c.prefix, 'bw');
  assert.equal(c.twilio, undefined);
  assert.ok(Object.isFrozen(c) && Object.isFrozen(c.smtp));
  assert.deepEqual(c.feed, { window: 5000, batch: 500, accountsPerJob: 20, minJobs: 250 });
  assert.equal(c.workers.compactAfterMs, 600_000);
});

test('the wait before finished accounts are compacted is set in seconds, from one minute', () => {
  assert.equal(loadWorkersConfig({ BW_COMPACT_AFTER_SECONDS: '120' }).compactAfterMs, 120_000);
  assert.throws(() => loadWorkersConfig({ BW_COMPACT_AFTER_SECONDS: '10' }), /BW_COMPACT_AFTER_SECONDS/);
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

test('one problem per line for every bad variable at once: missing ones with an example, others with what was given', () => {
  assert.throws(() => loadConfig({ BW_FEED_WINDOW: 'abc', BW_PIN_STORE: 'disk' }), (e: Error & { code?: string; detail?: string }) => {
    assert.equal(e.code, 'BW_CONFIG_INVALID');
    assert.deepEqual(e.detail?.split('\n').slice(1).map((l) => l.trim()), [
      'BW_ENVELOPE_KEY is missing: a 32-byte key, base64 (e.g. generate one with: openssl rand -base64 32)',
      'BW_HMAC_KEY is missing: a 32-byte key, base64 (e.g. generate one with: openssl rand -base64 32)',
      'BW_FEED_WINDOW must be an integer ≥ 1, got "abc"',
      'BW_PIN_STORE must be one of vault, bss, got "disk"',
    ]);
    return true;
  });
});

test('a secret\'s bad value is described but never quoted', () => {
  assert.throws(() => loadConfig({ ...keys, BW_OPS_TOKEN: 'short-secret' }), (e: Error) => {
    assert.match(e.message, /BW_OPS_TOKEN must be a token of at least 32 characters$/);
    assert.ok(!e.message.includes('short-secret'));
    return true;
  });
});

test('an empty value counts as unset, as in a copied .env.example', () => {
  const c = loadConfig({ ...keys, BW_OPS_TOKEN: '', TWILIO_ACCOUNT_SID: '', BW_FEED_WINDOW: '' });
  assert.equal(c.ops.token, undefined);
  assert.equal(c.twilio, undefined);
  assert.equal(c.feed.window, 5000);
  assert.throws(() => loadConfig({ ...keys, BW_HMAC_KEY: '' }), /BW_HMAC_KEY is missing/);
});

/** Every variable breachwave knows, set to the empty string: what `FOO=` lines or compose's `${FOO:-}` give a process. */
const allEmpty: Record<string, string> = Object.fromEntries(Object.keys(variables).map((name) => [name, '']));

/** What a loader returns, or the message it throws, so that a result and a refusal compare alike. */
function outcome<T>(load: () => T): { ok: T } | { error: string } {
  try {
    return { ok: load() };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

test('every loader reads every variable set empty exactly as if it were absent: defaults apply, required ones are missing', () => {
  const names = Object.keys(variables) as VariableName[];
  const cases: [string, (env: Record<string, string>) => unknown][] = [
    ['loadConfig', (env) => loadConfig(env)],
    ['loadAuditWriterSettings', (env) => loadAuditWriterSettings(env)],
    ['loadCliConfig', (env) => loadCliConfig(env)],
    ['loadConnectionConfig', (env) => loadConnectionConfig(env)],
    ['loadWorkersConfig', (env) => loadWorkersConfig(env)],
    ['loadVariables (every variable)', (env) => loadVariables(env, names)],
  ];
  for (const [name, load] of cases) {
    for (const given of [{}, keys, { ...keys, NODE_ENV: 'production' }]) {
      const absent = outcome(() => load(given));
      assert.deepEqual(outcome(() => load({ ...allEmpty, ...given })), absent, `${name}: empty values differ from absent ones`);
    }
  }
  // The refusal names what is missing, as it would for an absent variable.
  assert.throws(() => loadConfig(allEmpty), /BW_ENVELOPE_KEY is missing/);
  assert.throws(() => loadAuditWriterSettings({ ...allEmpty, BW_ENV: 'production' }), /BW_AUDIT_SIGNING_KEY is missing/);
  assert.equal(loadCliConfig(allEmpty).givenRedisUrl, undefined, 'an empty REDIS_URL is no REDIS_URL');
});

test('cross-variable rules are all reported together', () => {
  const sid = 'AC' + randomBytes(16).toString('hex');
  assert.throws(() => loadConfig({ ...keys, TWILIO_ACCOUNT_SID: sid, SMTP_DKIM_DOMAIN: 'example.com', BW_PIN_STORE: 'bss' }), (e: Error) => {
    assert.match(e.message, /3 problems/);
    assert.match(e.message, /TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN go together/);
    assert.match(e.message, /SMTP_DKIM_DOMAIN, SMTP_DKIM_SELECTOR and SMTP_DKIM_KEY_FILE go together/);
    assert.match(e.message, /BW_BSS_URL is missing: BW_PIN_STORE=bss needs the BSS endpoint/);
    return true;
  });
});

const key = (): string => randomBytes(32).toString('base64');

test('the key-ring parser: id:base64 pairs of 32-byte keys, ids unique, problems named by entry and id only', () => {
  const [a, b] = [key(), key()];
  assert.deepEqual(parseKeyRing(` k0:${a}, k-1:${b} `), { ok: true, keys: [{ id: 'k0', base64: a }, { id: 'k-1', base64: b }] });
  assert.deepEqual(parseKeyRing(''), { ok: true, keys: [] });
  const short = randomBytes(16).toString('base64');
  const result = parseKeyRing(`${a},bad id:${a},k1:${short},k2:${b},k2:${b},k3:not base64!`);
  assert.deepEqual(result, {
    ok: false,
    problems: [
      'entry 1 has no "id:" before its key',
      'entry 2 has an id that is not letters, digits, _ or -',
      'entry 3 (id "k1") is not a 32-byte base64 key',
      'entry 5 repeats the id "k2"',
      'entry 6 (id "k3") is not a 32-byte base64 key',
    ],
  });
  assert.ok(!JSON.stringify(result).includes(a) && !JSON.stringify(result).includes(short));
});

test('all three older-key lists go through the key-ring parser and feed their key rings', () => {
  const [e0, v0, c0, v1, c1] = [key(), key(), key(), key(), key()];
  const c = loadConfig({
    ...keys,
    BW_ENVELOPE_OLD_KEYS: `e0:${e0}`,
    BW_PIN_VERIFIER_KEY: v1,
    BW_PIN_VERIFIER_OLD_KEYS: `v0:${v0}`,
    BW_CODE_OLD_KEYS: `c0:${c0}`,
  });
  assert.deepEqual(c.envelopeKeys.map((k) => k.id), ['k1', 'e0']);
  assert.deepEqual(c.pin.verifierKeys.map((k) => k.id), ['v1', 'v0']);
  // Without BW_CODE_KEY, codes are sealed with the envelope ring and opened with the old code keys too.
  assert.deepEqual(c.codes.keys.map((k) => k.id), ['k1', 'e0', 'c0']);
  assert.deepEqual(loadConfig({ ...keys, BW_CODE_KEY: c1, BW_CODE_OLD_KEYS: `c0:${c0}` }).codes.keys.map((k) => k.id), ['c1', 'c0']);
  for (const name of ['BW_ENVELOPE_OLD_KEYS', 'BW_PIN_VERIFIER_OLD_KEYS', 'BW_CODE_OLD_KEYS']) {
    assert.throws(() => loadConfig({ ...keys, [name]: `old:${e0},broken` }), (e: Error) => {
      assert.match(e.message, new RegExp(`${name} must be a comma-separated list of id:base64 pairs of 32-byte keys \\(entry 2 has no "id:" before its key\\)$`));
      assert.ok(!e.message.includes(e0));
      return true;
    });
  }
});

test('the audit writer\'s section needs none of the keys; the CLI\'s names the operator', () => {
  const audit = loadAuditWriterSettings({});
  assert.equal(audit.auditDir, '.breachwave/audit');
  assert.ok(Object.isFrozen(audit));
  assert.equal(loadCliConfig({ USER: 'jdoe' }).operator, 'jdoe');
  assert.equal(loadCliConfig({ USER: 'jdoe', BW_OPERATOR: 'oncall' }).operator, 'oncall');
  assert.equal(loadCliConfig({}).operator, 'unknown');
  assert.equal(loadCliConfig({}).logLevel, 'warn');
  assert.equal(loadCliConfig({}).givenRedisUrl, undefined);
  assert.equal(loadCliConfig({ REDIS_URL: 'redis://r:6379' }).givenRedisUrl, 'redis://r:6379');
});

test('loadVariables parses just the named variables, with their defaults', () => {
  assert.deepEqual(loadVariables({}, ['BW_CODE_LOW_WATERMARK']), { BW_CODE_LOW_WATERMARK: 1000 });
  assert.throws(() => loadVariables({ BW_CODE_LOW_WATERMARK: '-1' }, ['BW_CODE_LOW_WATERMARK']), /BW_CODE_LOW_WATERMARK must be an integer ≥ 0, got "-1"/);
});

test('Redis TLS: the REDIS_TLS_* files reach every loader with a rediss:// URL; with redis:// or a certificate without its key they are refused by name', () => {
  const tls = { REDIS_URL: 'rediss://redis.internal:6380', REDIS_TLS_CA_FILE: '/tls/ca.crt', REDIS_TLS_CERT_FILE: '/tls/c.crt', REDIS_TLS_KEY_FILE: '/tls/c.key', REDIS_TLS_SERVERNAME: 'redis.internal' };
  const want = { caFile: '/tls/ca.crt', certFile: '/tls/c.crt', keyFile: '/tls/c.key', servername: 'redis.internal' };
  assert.deepEqual(loadConfig({ ...keys, ...tls }).redisTls, want);
  assert.deepEqual(loadConnectionConfig(tls).redisTls, want);
  assert.deepEqual(loadAuditWriterSettings(tls).redisTls, want);
  assert.ok(Object.isFrozen(loadConnectionConfig(tls).redisTls));
  // rediss:// alone: TLS with the system CAs, nothing to configure.
  assert.equal(loadConfig({ ...keys, REDIS_URL: 'rediss://redis.internal:6380' }).redisTls, undefined);
  assert.equal(loadConfig(keys).redisTls, undefined);

  for (const load of [(e: Record<string, string>) => loadConfig({ ...keys, ...e }), loadConnectionConfig, loadAuditWriterSettings]) {
    assert.throws(() => load({ REDIS_URL: 'redis://127.0.0.1:6379', REDIS_TLS_CA_FILE: '/tls/ca.crt' }), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'BW_CONFIG_INVALID');
      assert.match(e.message, /REDIS_TLS_CA_FILE is set, but REDIS_URL is not a rediss:\/\/ URL/);
      return true;
    });
    assert.throws(() => load({ REDIS_URL: 'rediss://r:6380', REDIS_TLS_CERT_FILE: '/tls/c.crt' }), /REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE go together/);
    assert.throws(() => load({ REDIS_URL: 'rediss://r:6380', REDIS_TLS_KEY_FILE: '/tls/c.key' }), /REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE go together/);
  }
});
