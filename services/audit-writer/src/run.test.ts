import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { appendAuditRecord, listAuditFiles, publicKeyId, verifyAuditFiles } from '@breachwave/audit';
import { silentLogger } from '@breachwave/logging';
import { Redis } from '@breachwave/redis';
import { entryArgs, startRedis, waitFor, type TestRedis } from '@breachwave/testkit';
import { loadAuditWriterConfig, runAuditWriter } from './run.js';

let server: TestRedis;
let redis: Redis;

before(async () => {
  server = await startRedis();
  redis = new Redis(server.url, { maxRetriesPerRequest: null });
});

after(async () => {
  await redis.quit();
  await server.stop();
});

const rec = (i: number) => ({ ts: new Date().toISOString(), type: 'wave.created', actor: 'operator', wave: `w${i}` });

async function lineCount(dir: string): Promise<number> {
  let n = 0;
  for (const f of await listAuditFiles(dir)) n += (await readFile(f, 'utf8')).split('\n').filter(Boolean).length;
  return n;
}

test('config: defaults, and every bad value named on a line of its own (values quoted: neither is a secret)', () => {
  assert.deepEqual(loadAuditWriterConfig({}), {
    redisUrl: 'redis://127.0.0.1:6379', prefix: 'bw', shards: 1, auditDir: '.breachwave/audit', logLevel: 'info', maxLinesPerFile: 1_000_000, lingerMs: 20, leaseMs: 15_000,
    signer: undefined, checkpointEvery: 1000, checkpointIntervalMs: 5000,
    // No metrics server unless a port is given: several processes on one host would clash on a fixed one.
    metrics: { host: '127.0.0.1', port: 0, cacheMs: 5000, dlqCacheMs: 60_000, stuckAfterSeconds: 600 },
  });
  assert.throws(() => loadAuditWriterConfig({ BW_PREFIX: 'has:colon', LOG_LEVEL: 'loud' }), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'BW_CONFIG_INVALID');
    assert.match(e.message, /\n {2}BW_PREFIX must be letters, digits, _ and - only.*, got "has:colon"/);
    assert.match(e.message, /\n {2}LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, got "loud"/);
    return true;
  });
});

test('config: the signing key is checked at start, required in production, never quoted', () => {
  const { privateKey } = generateKeyPairSync('ed25519');
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const der = privateKey.export({ type: 'pkcs8', format: 'der' }).toString('base64');
  const c = loadAuditWriterConfig({ BW_AUDIT_SIGNING_KEY: pem, BW_AUDIT_SIGNING_KEY_ID: 'k2' });
  assert.equal(c.signer?.keyId, 'k2');
  assert.equal(loadAuditWriterConfig({ BW_AUDIT_SIGNING_KEY: der, BW_ENV: 'production' }).signer?.keyId, publicKeyId(privateKey));
  for (const env of [{ BW_ENV: 'production' }, { NODE_ENV: 'production' }]) {
    assert.throws(() => loadAuditWriterConfig(env), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'BW_CONFIG_INVALID');
      assert.match(e.message, /BW_AUDIT_SIGNING_KEY is missing, and production \(BW_ENV or NODE_ENV\) requires it: an Ed25519 private key/);
      return true;
    });
  }
  const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  for (const bad of [rsa, 'bm90IGEga2V5']) {
    assert.throws(() => loadAuditWriterConfig({ BW_AUDIT_SIGNING_KEY: bad }), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'BW_CONFIG_INVALID');
      assert.match(e.message, /^configuration is invalid: BW_AUDIT_SIGNING_KEY must be an Ed25519 private key, PKCS#8 PEM or base64 of its DER \(audit signing key: /);
      assert.ok(!e.message.includes(bad) && !e.message.includes('PRIVATE KEY'));
      return true;
    });
  }
});

test('runAuditWriter runs in-process: follows the stream, stops cleanly', async () => {
  const prefix = `bwtest-${randomUUID()}`;
  const dir = await mkdtemp(join(tmpdir(), 'bw-audit-svc-'));
  try {
    const config = { ...loadAuditWriterConfig({ REDIS_URL: server.url, BW_PREFIX: prefix, BW_AUDIT_DIR: dir }) };
    const running = await runAuditWriter(config, { log: silentLogger(), writer: { blockMs: 30_000 } });
    for (let i = 0; i < 5; i++) await appendAuditRecord(redis, prefix, rec(i));
    await waitFor(async () => (await lineCount(dir)) === 5, { what: '5 lines' });
    await running.stop();
    await running.stopped;
    const v = await verifyAuditFiles(await listAuditFiles(dir));
    assert.equal(v.ok && v.records, 5);
  } finally {
    await rm(dir, { recursive: true, force: true });
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length) await redis.del(...keys);
  }
});

test('main: SIGTERM stops reading, drains, closes and exits 0', { timeout: 60_000 }, async () => {
  const prefix = `bwtest-${randomUUID()}`;
  const dir = await mkdtemp(join(tmpdir(), 'bw-audit-main-'));
  const main = join(dirname(fileURLToPath(import.meta.url)), 'main.ts');
  try {
    const child = spawn(process.execPath, [...entryArgs(main)], {
      env: { ...process.env, REDIS_URL: server.url, BW_PREFIX: prefix, BW_AUDIT_DIR: dir, LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await waitFor(() => out.includes('audit writer started'), { timeout: 30_000, what: 'audit writer started' });
    for (let i = 0; i < 3; i++) await appendAuditRecord(redis, prefix, rec(i));
    await waitFor(async () => (await lineCount(dir)) === 3, { what: '3 lines' });
    child.kill('SIGTERM');
    assert.equal(await exited, 0, out);
    assert.match(out, /audit writer stopped/);
    assert.equal(await redis.xlen(`${prefix}:audit`), 0);
  } finally {
    await rm(dir, { recursive: true, force: true });
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length) await redis.del(...keys);
  }
});
