import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createCheckpointSigner, parsePublicKeys } from '@breachwave/audit';
import { loadAuditWriterSettings, loadConfig, variableDocs } from '@breachwave/config';
import { entryArgs } from '@breachwave/testkit';
import { GENERATED, NOT_GENERATED } from './keys.js';

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));

/** Runs the real CLI with an environment that holds no key at all. */
function cli(args: string[]) {
  const r = spawnSync(process.execPath, [...entryArgs(MAIN), ...args], {
    encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp' }, timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The variables of an env file, as docker compose reads one: `NAME=value` lines, comments skipped. */
function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    assert.ok(m, `not an env-file line: ${line.slice(0, 20)}…`);
    out[m[1] ?? ''] = m[2] ?? '';
  }
  return out;
}

test('keys generate prints every generated secret in .env format on stdout only, and the configuration accepts each one as it is', { timeout: 60_000 }, () => {
  const r = cli(['keys', 'generate']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '', 'nothing on stderr: secrets go to stdout only, and nothing else is said');
  const env = parseEnvFile(r.stdout);
  assert.deepEqual(Object.keys(env).sort(), [...GENERATED.map((g) => g.name), 'BW_AUDIT_PUBLIC_KEYS'].sort());

  // The keyed services' loader takes them all together (the tokens must differ from each other too).
  const config = loadConfig(env);
  assert.equal(config.envelopeKeys[0]?.base64, env.BW_ENVELOPE_KEY);
  assert.equal(config.hmacKey, env.BW_HMAC_KEY);
  assert.equal(config.ops.unsubscribeKey, env.BW_UNSUBSCRIBE_KEY);
  assert.equal(config.pin.verifierKeys[0]?.base64, env.BW_PIN_VERIFIER_KEY);
  assert.equal(config.pin.holdKey.base64, env.BW_PIN_HOLD_KEY);
  assert.equal(config.codes.keys[0]?.base64, env.BW_CODE_KEY);
  assert.equal(config.ops.token, env.BW_OPS_TOKEN);
  assert.equal(config.ops.metricsToken, env.BW_METRICS_TOKEN);
  assert.equal(config.pin.verifyToken, env.BW_PIN_VERIFY_TOKEN);

  // The audit writer's loader, in production, and the signer it builds from the key; the printed
  // public key is the one `audit verify` needs for that signer's checkpoints.
  const audit = loadAuditWriterSettings({ ...env, NODE_ENV: 'production' });
  assert.equal(audit.signingKey, env.BW_AUDIT_SIGNING_KEY);
  const signer = createCheckpointSigner(audit.signingKey ?? '');
  const ring = parsePublicKeys(env.BW_AUDIT_PUBLIC_KEYS ?? '');
  assert.deepEqual([...ring.keys()], [signer.keyId]);
  assert.equal(ring.get(signer.keyId)?.export({ type: 'spki', format: 'der' }).toString('base64'), createPublicKey(signer.privateKey).export({ type: 'spki', format: 'der' }).toString('base64'));

  // The Redis password goes into REDIS_URL unescaped and through infra/redis/start.sh's check.
  assert.match(env.BW_REDIS_PASSWORD ?? '', /^[A-Za-z0-9_-]{32,128}$/);
  assert.equal(new URL(`redis://breachwave:${env.BW_REDIS_PASSWORD}@redis:6379`).password, env.BW_REDIS_PASSWORD);
});

test('keys generate --json prints the same variables as one object, and every run makes new values', { timeout: 60_000 }, () => {
  const a = cli(['keys', 'generate', '--json']);
  const b = cli(['keys', 'generate', '--json']);
  assert.equal(a.code, 0, a.stderr);
  const [x, y] = [JSON.parse(a.stdout) as Record<string, string>, JSON.parse(b.stdout) as Record<string, string>];
  assert.deepEqual(Object.keys(x).sort(), Object.keys(y).sort());
  assert.deepEqual(Object.keys(x).sort(), [...GENERATED.map((g) => g.name), 'BW_AUDIT_PUBLIC_KEYS'].sort());
  for (const name of Object.keys(x)) assert.notEqual(x[name], y[name], `${name} is fresh each run`);
  assert.ok(loadConfig(x));
});

test('every secret of the configuration is either generated or named as coming from elsewhere', () => {
  const secrets = Object.entries(variableDocs).filter(([, d]) => d.secret).map(([name]) => name).sort();
  const generated = new Set(GENERATED.map((g) => g.name));
  const elsewhere = new Set(Object.keys(NOT_GENERATED));
  assert.deepEqual(secrets.filter((s) => !generated.has(s) && !elsewhere.has(s)), [], 'secrets with no decision');
  assert.deepEqual([...generated].filter((s) => elsewhere.has(s)), [], 'both generated and from elsewhere');
  assert.deepEqual([...elsewhere].filter((s) => !secrets.includes(s)), [], 'NOT_GENERATED names a variable that is not a secret of the configuration');
  assert.deepEqual([...generated].filter((s) => !secrets.includes(s)), ['BW_REDIS_PASSWORD'], 'the only generated value outside the configuration is the Redis password');
});
