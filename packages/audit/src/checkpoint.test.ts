import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { captureLog, startRedis, waitFor, type TestRedis } from '@breachwave/testkit';
import {
  CHECKPOINT_FILE, appendAuditRecord, auditCheckpointKey, auditHeadKey, createAuditWriter, createCheckpointSigner, listAuditFiles,
  readCheckpointFile, readRedisCheckpoint, verifyAuditTrail, type AuditWriter, type AuditWriterOptions, type Checkpoint,
} from './index.js';

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

interface Ctx {
  readonly prefix: string;
  readonly dir: string;
  writer(extra?: Partial<AuditWriterOptions>): AuditWriter;
  add(n: number): Promise<void>;
}

async function withCtx(fn: (c: Ctx) => Promise<void>): Promise<void> {
  const prefix = `bwtest-${randomUUID()}`;
  const root = await mkdtemp(join(tmpdir(), 'bw-audit-cp-'));
  const writers: AuditWriter[] = [];
  let n = 0;
  try {
    await fn({
      prefix,
      dir: join(root, 'audit'),
      writer: (extra = {}) => {
        const w = createAuditWriter({ redis, prefix, dir: join(root, 'audit'), log: captureLog().log, blockMs: 200, ...extra });
        writers.push(w);
        return w;
      },
      add: async (count) => {
        for (let i = 0; i < count; i++) await appendAuditRecord(redis, prefix, { ts: new Date().toISOString(), type: 'wave.created', actor: 'operator', wave: `w${++n}` });
      },
    });
  } finally {
    await Promise.all(writers.map((w) => w.close()));
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length) await redis.del(...keys);
    await rm(root, { recursive: true, force: true });
  }
}

const keyPair = (): { publicKey: KeyObject; privateKey: KeyObject } => generateKeyPairSync('ed25519');
const pem = (k: KeyObject): string => k.export({ type: 'pkcs8', format: 'pem' }).toString();
const mode = async (path: string): Promise<number> => (await stat(path)).mode & 0o777;

async function checkpoints(dir: string): Promise<Checkpoint[]> {
  return (await readCheckpointFile(join(dir, CHECKPOINT_FILE))).map((e) => e.checkpoint).filter((c): c is Checkpoint => typeof c !== 'string');
}

test('audit files, the checkpoint file and the directory are owner-only, whatever the umask; an existing directory is tightened', async () => {
  await withCtx(async (c) => {
    await mkdir(c.dir, { recursive: true });
    await chmod(c.dir, 0o755);
    const old = process.umask(0);
    try {
      const w = c.writer({ signer: createCheckpointSigner(pem(keyPair().privateKey)) });
      await c.add(3);
      assert.equal(await w.drainOnce(), 3);
      await w.close();
    } finally {
      process.umask(old);
    }
    assert.equal(await mode(c.dir), 0o700);
    const files = await listAuditFiles(c.dir);
    assert.equal(files.length, 1);
    assert.equal(await mode(files[0] as string), 0o600);
    assert.equal(await mode(join(c.dir, CHECKPOINT_FILE)), 0o600);
  });
});

test('a checkpoint is made within the interval after the first uncovered record, and copied to Redis', async () => {
  await withCtx(async (c) => {
    const signer = createCheckpointSigner(pem(keyPair().privateKey), 'k1');
    const w = c.writer({ signer, checkpointEvery: 1000, checkpointIntervalMs: 300 });
    await w.start();
    await c.add(3);
    await waitFor(async () => (await checkpoints(c.dir)).some((cp) => cp.seq === 3), { what: 'an interval checkpoint of seq 3' });
    const [cp] = await checkpoints(c.dir);
    assert.equal(cp?.reason, 'interval');
    assert.equal(cp?.n, 1);
    assert.equal(cp?.sealed, false);
    assert.equal(cp?.keyId, 'k1');
    await waitFor(async () => (await readRedisCheckpoint(redis, c.prefix))?.n === 1, { what: 'the checkpoint copied to Redis' });
    assert.equal(w.position().checkpointSeq, 3);
  });
});

test('every N records, at rotation (sealed) and at shutdown (sealed)', async () => {
  await withCtx(async (c) => {
    const w = c.writer({ signer: createCheckpointSigner(pem(keyPair().privateKey)), checkpointEvery: 10, checkpointIntervalMs: 600_000, maxLinesPerFile: 25, batchSize: 7 });
    await c.add(32);
    assert.equal(await w.drainOnce(), 32);
    await w.close();
    const got = (await checkpoints(c.dir)).map((cp) => [cp.n, cp.seq, cp.line, cp.sealed, cp.reason]);
    assert.deepEqual(got, [
      [1, 10, 10, false, 'records'], [2, 20, 20, false, 'records'], [3, 25, 25, true, 'rotation'], [4, 32, 7, true, 'shutdown'],
    ]);
    assert.equal((await readRedisCheckpoint(redis, c.prefix))?.n, 4, 'the newest checkpoint is kept in Redis');
  });
});

test('key rotation: a new key id in the new checkpoints; with the old public key kept, old files still verify', async () => {
  await withCtx(async (c) => {
    const a = keyPair();
    const b = keyPair();
    const w1 = c.writer({ signer: createCheckpointSigner(pem(a.privateKey), 'k1') });
    await c.add(5);
    await w1.drainOnce();
    await w1.close();
    const w2 = c.writer({ signer: createCheckpointSigner(pem(b.privateKey), 'k2') });
    await c.add(5);
    await w2.drainOnce();
    await w2.close();
    const files = await listAuditFiles(c.dir);
    assert.deepEqual((await checkpoints(c.dir)).map((cp) => cp.keyId), ['k1', 'k2']);
    const both = await verifyAuditTrail(files, { publicKeys: new Map([['k1', a.publicKey], ['k2', b.publicKey]]) });
    assert.ok(both.ok, JSON.stringify(both));
    assert.deepEqual(both.keyIds, ['k1', 'k2']);
    assert.equal(both.records, 10);
    const newOnly = await verifyAuditTrail(files, { publicKeys: new Map([['k2', b.publicKey]]) });
    assert.equal(newOnly.ok, false);
    assert.ok(!newOnly.ok && newOnly.file.endsWith(CHECKPOINT_FILE) && newOnly.line === 1 && /key id k1/.test(newOnly.reason), JSON.stringify(newOnly));
  });
});

test('a writer refuses to start on files that end before the newest checkpoint', async () => {
  await withCtx(async (c) => {
    const w1 = c.writer({ signer: createCheckpointSigner(pem(keyPair().privateKey)) });
    await c.add(4);
    await w1.drainOnce();
    await w1.close();
    const [file] = await listAuditFiles(c.dir);
    const lines = (await readFile(file as string, 'utf8')).split('\n').filter(Boolean);
    await writeFile(file as string, `${lines.slice(0, -1).join('\n')}\n`);
    // Without the head key, only the checkpoints can tell.
    await redis.del(auditHeadKey(c.prefix), auditCheckpointKey(c.prefix));
    const w2 = c.writer();
    await assert.rejects(w2.drainOnce(), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'BW_AUDIT_CHAIN_BROKEN');
      assert.match(e.message, /end at seq 3 but checkpoint 1 covers seq 4/);
      return true;
    });
  });
});

test('without a signing key: a loud warning, unsigned checkpoints, and verification fails unless they are accepted', async () => {
  await withCtx(async (c) => {
    const captured = captureLog();
    const w = c.writer({ log: captured.log });
    await c.add(2);
    await w.drainOnce();
    await w.close();
    assert.match(captured.text(), /NO signing key/);
    const [cp] = await checkpoints(c.dir);
    assert.equal(cp?.sig, undefined);
    const files = await listAuditFiles(c.dir);
    const strict = await verifyAuditTrail(files, { publicKeys: new Map() });
    assert.ok(!strict.ok && /unsigned/.test(strict.reason));
    const lax = await verifyAuditTrail(files, { publicKeys: new Map(), allowUnsigned: true });
    assert.ok(lax.ok && lax.unsigned === 1 && lax.warnings.length === 1);
  });
});
