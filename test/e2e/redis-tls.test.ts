/**
 * `rediss://` end to end: every process of a wave (the CLI's ingest and feed, the notifier and
 * its BullMQ worker, the audit writer, `audit verify --redis`) talks to a Redis that listens
 * only on a TLS port and requires client certificates, and a client that trusts the wrong CA,
 * expects the wrong name or shows no certificate is refused at start with a catalogued error
 * that says so — it does not hang.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadConnectionConfig } from '@breachwave/config';
import { createLedger, waveProgress } from '@breachwave/ledger';
import { bullConnection, checkRedis, closeRedis, createRedis, type RedisTlsFiles } from '@breachwave/redis';
import { writeAccountsFile } from '@breachwave/synth';
import { entryArgs, startSmtpSink, startTwilioServer, waitFor, type SmtpSink, type TwilioServer } from '@breachwave/testkit';
import { Queue } from 'bullmq';
import { expectedAccounts, expectedNotice, ROOT, serviceEnv, spawnService, tempDir, waitForLog } from './harness.js';
import { startTlsRedis, tlsRedisUnavailable, TLS_SERVER_NAME, type TlsRedis } from './redis-tls.js';

const unavailable = tlsRedisUnavailable();
if (unavailable) console.log(`# SKIPPED redis-tls.test.ts: ${unavailable}`);

let server: TlsRedis | undefined;
let twilio: TwilioServer | undefined;
let smtp: SmtpSink | undefined;
before(async () => {
  if (unavailable) return;
  server = await startTlsRedis();
  twilio = await startTwilioServer();
  smtp = await startSmtpSink();
});
after(async () => {
  await twilio?.close();
  await smtp?.close();
  await server?.stop();
});

const started = <T>(v: T | undefined): T => {
  if (v === undefined) throw new Error('not started');
  return v;
};

/** The REDIS_TLS_* variables of a client that should get in (CA, client certificate, server name). */
function tlsEnv(s: TlsRedis, override: Record<string, string> = {}): Record<string, string> {
  return {
    REDIS_TLS_CA_FILE: s.pki.caCert,
    REDIS_TLS_CERT_FILE: s.pki.clientCert,
    REDIS_TLS_KEY_FILE: s.pki.clientKey,
    REDIS_TLS_SERVERNAME: TLS_SERVER_NAME,
    ...override,
  };
}

function cli(args: readonly string[], env: Record<string, string>): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [...entryArgs(join(ROOT, 'services/cli/src/main.ts')), ...args], { cwd: ROOT, encoding: 'utf8', env, timeout: 170_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('a wave runs end to end over rediss:// with mutual TLS: every account notified once, the audit trail verifies against the files and Redis', { skip: unavailable, timeout: 240_000 }, async () => {
  const s = started(server);
  const tw = started(twilio);
  const sink = started(smtp);
  const dir = tempDir('tls');
  const prefix = `tls${randomBytes(3).toString('hex')}`;
  const auditDir = join(dir, 'audit');
  const audit = generateKeyPairSync('ed25519');
  const publicKeyFile = join(dir, 'audit-pub.pem');
  writeFileSync(publicKeyFile, audit.publicKey.export({ type: 'spki', format: 'pem' }));
  const env = {
    ...serviceEnv({ redisUrl: s.url, prefix, dataDir: dir, twilio: tw, smtp: sink }),
    ...tlsEnv(s),
    BW_AUDIT_DIR: auditDir,
    BW_AUDIT_SIGNING_KEY: audit.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    BW_AUDIT_CHECKPOINT_MS: '200',
    BW_FEED_WINDOW: '200',
  };
  // The test's own client is made as the services make theirs: the configuration, then the factory.
  const conn = loadConnectionConfig(env);
  assert.ok(conn.redisTls?.caFile && conn.redisTls.certFile && conn.redisTls.servername, 'the configuration carries the TLS files');
  const redis = createRedis({ url: conn.redisUrl, tls: conn.redisTls, role: 'worker', name: 'tls-test' });
  try {
    await checkRedis(redis, conn.redisUrl);
    const ledger = createLedger({ redis, prefix });

    const file = join(dir, 'accounts.csv');
    await writeAccountsFile(file, { rows: 300, seed: 11 });
    const expected = expectedAccounts(readFileSync(file, 'utf8'));
    // Each account is matched with its own message: one notice per account, not per contact point.
    const created = cli(['wave', 'create', '--accounts', file, '--approvals', '0', '--no-quiet-hours', '--no-consolidate', '--json'], env);
    assert.equal(created.code, 0, created.stderr);
    const wave = JSON.parse(created.stdout) as { waveId: string; stats: { accepted: number } };
    assert.equal(wave.stats.accepted, expected.size);

    const notifier = spawnService('notifier', { ...env, LOG_LEVEL: 'debug' }, dir);
    const writer = spawnService('audit-writer', env, dir);
    try {
      await Promise.all([waitForLog(notifier, 'notifier started'), waitForLog(writer, 'audit writer started')]);
      const fed = cli(['wave', 'start', wave.waveId, '--json'], env);
      assert.equal(fed.code, 0, fed.stderr);
      assert.equal((JSON.parse(fed.stdout) as { fed: number }).fed, expected.size);

      await waitFor(async () => (await waveProgress(ledger, wave.waveId)).complete, { timeout: 120_000, what: 'wave complete over TLS' });
      await waitFor(async () => (await redis.xlen(`${prefix}:audit`)) === 0, { timeout: 30_000, what: 'audit stream drained by the writer' });
    } finally {
      await Promise.all([notifier.kill('SIGTERM'), writer.kill('SIGTERM')]);
    }
    assert.equal(notifier.child.exitCode, 0, `notifier exits cleanly (${notifier.logFile})`);
    assert.equal(writer.child.exitCode, 0, `audit writer exits cleanly (${writer.logFile})`);

    // Every accepted account got exactly one notice, with the right channel, recipient and text.
    const manifest = (await ledger.getWave(wave.waveId)).manifest;
    const key = (channel: string, to: string, content: string): string => `${channel}|${to}|${content}`;
    const want = [...expected.values()].map((a) => { const n = expectedNotice(a, manifest); return key(n.channel, n.to, n.content); }).sort();
    const got = [
      ...tw.messages.map((m) => key('sms', m.to, m.body)),
      ...sink.messages.map((m) => key('email', m.envelope.to.join(','), `${m.subject ?? ''}\n${(m.text ?? '').trimEnd()}`)),
    ].sort();
    assert.equal(got.length, expected.size, 'one notice per accepted account');
    assert.deepEqual(got, want, 'each account got its own notice');
    let done = 0;
    for await (const [accountId, entry] of ledger.entries(wave.waveId)) {
      assert.equal(entry.notify?.s, 'done', accountId);
      done++;
    }
    assert.equal(done, expected.size);

    // The audit trail: chain, signed checkpoints, and the copy of the head kept in Redis (read over TLS).
    const files = readdirSync(auditDir).filter((f) => f.endsWith('.jsonl')).map((f) => join(auditDir, f));
    assert.ok(files.length > 0, 'the writer wrote audit files');
    const verify = cli(['audit', 'verify', '--public-key', publicKeyFile, '--redis', ...files], env);
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
    assert.match(verify.stdout, /audit trail OK: \d+ records/);
    assert.match(verify.stdout, /Redis copy matched/, 'audit verify read the Redis checkpoint over TLS');
    const records = files.flatMap((f) => readFileSync(f, 'utf8').trim().split('\n')).map((l) => JSON.parse(l) as { type: string; account?: string });
    assert.equal(new Set(records.filter((r) => r.type === 'notify.done').map((r) => r.account)).size, expected.size, 'one notify.done per account');
  } finally {
    await closeRedis(redis);
  }
});

test('a notifier that trusts the wrong CA exits at start with BW_REDIS_UNREACHABLE naming the certificate check, instead of waiting', { skip: unavailable, timeout: 120_000 }, async () => {
  const s = started(server);
  const dir = tempDir('tls-bad');
  const env = { ...serviceEnv({ redisUrl: s.url, prefix: `tlsbad${randomBytes(3).toString('hex')}`, dataDir: dir, twilio: started(twilio), smtp: started(smtp) }), ...tlsEnv(s, { REDIS_TLS_CA_FILE: s.pki.otherCaCert }) };
  const notifier = spawnService('notifier', env, dir);
  const code = await notifier.exited;
  const log = readFileSync(notifier.logFile, 'utf8');
  assert.notEqual(code, 0, 'the notifier does not start');
  assert.match(log, /BW_REDIS_UNREACHABLE/);
  assert.match(log, /TLS certificate check failed \(SELF_SIGNED_CERT_IN_CHAIN/);
  assert.match(log, /REDIS_TLS_CA_FILE/);
  assert.doesNotMatch(log, /notifier started/);
});

test('each way a TLS client can be wrong is refused quickly with a message that names it; the right client works, BullMQ included', { skip: unavailable, timeout: 60_000 }, async () => {
  const s = started(server);
  const right: RedisTlsFiles = { caFile: s.pki.caCert, certFile: s.pki.clientCert, keyFile: s.pki.clientKey, servername: TLS_SERVER_NAME };
  const cases: { name: string; tls: RedisTlsFiles | undefined; url?: string; expect: RegExp }[] = [
    { name: 'another CA', tls: { ...right, caFile: s.pki.otherCaCert }, expect: /TLS certificate check failed \(SELF_SIGNED_CERT_IN_CHAIN/ },
    { name: 'the system CAs', tls: undefined, expect: /TLS certificate check failed/ },
    { name: 'a name the certificate does not carry', tls: { caFile: s.pki.caCert, certFile: s.pki.clientCert, keyFile: s.pki.clientKey }, expect: /ERR_TLS_CERT_ALTNAME_INVALID.*REDIS_TLS_SERVERNAME/ },
    { name: 'no client certificate', tls: { caFile: s.pki.caCert, servername: TLS_SERVER_NAME }, expect: /TLS connection refused or reset during the handshake \(.*(certificate required|ECONNRESET).*\).*REDIS_TLS_CERT_FILE/ },
    { name: 'plain TCP to the TLS port', tls: undefined, url: s.url.replace('rediss:', 'redis:'), expect: /BW_REDIS_UNREACHABLE|Redis is unreachable/ },
  ];
  for (const role of ['worker', 'producer'] as const) {
    for (const c of cases) {
      const url = c.url ?? s.url;
      const client = createRedis({ url, tls: c.tls, role, extra: { connectTimeout: 3000 } });
      const t0 = Date.now();
      try {
        await assert.rejects(checkRedis(client, url), (e: Error & { code?: string }) => {
          assert.equal(e.code, 'BW_REDIS_UNREACHABLE', `${role}, ${c.name}`);
          assert.match(e.message, c.expect, `${role}, ${c.name}`);
          return true;
        });
      } finally {
        await closeRedis(client);
      }
      assert.ok(Date.now() - t0 < 10_000, `${role}, ${c.name}: refused in ${Date.now() - t0} ms, not after a hang`);
    }
  }

  const ok = createRedis({ url: s.url, tls: right, role: 'producer' });
  try {
    assert.deepEqual(await checkRedis(ok, s.url), { version: (await ok.info('server')).match(/redis_version:(\S+)/)?.[1], policy: 'noeviction' });
  } finally {
    await closeRedis(ok);
  }
  const queue = new Queue(`tls-${randomBytes(3).toString('hex')}`, { connection: bullConnection({ url: s.url, tls: right }) });
  try {
    await queue.add('probe', { n: 1 });
    assert.equal(await queue.count(), 1, 'a BullMQ queue made from bullConnection() works over TLS');
    await queue.obliterate({ force: true });
  } finally {
    await queue.close();
  }

  assert.throws(() => createRedis({ url: s.url, tls: { caFile: join(s.pki.dir, 'missing.crt') }, role: 'producer' }), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'BW_CONFIG_INVALID');
    assert.match(e.message, /REDIS_TLS_CA_FILE: cannot read .*missing\.crt \(ENOENT\)/);
    return true;
  });
});
