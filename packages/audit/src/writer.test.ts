import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { appendFile, mkdir, mkdtemp, readFile, readdir, rm, unlink, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { startRedis, waitFor, type TestRedis } from '@breachwave/testkit';
import {
  GENESIS_HASH, appendAuditRecord, auditStreamKey, auditWriterLeaseKey, createAuditWriter, listAuditFiles, readAuditHead, verifyAuditFiles,
  type AuditLine, type AuditRecord, type AuditWriter, type AuditWriterOptions,
} from './index.js';

let server: TestRedis;
let redis: Redis;
const log = pino({ level: 'silent' });

before(async () => {
  server = await startRedis();
  redis = new Redis(server.url, { maxRetriesPerRequest: null, lazyConnect: true });
  await redis.connect();
});

after(async () => {
  await redis.quit();
  await server.stop();
});

interface Ctx {
  readonly prefix: string;
  readonly dir: string;
  readonly writers: AuditWriter[];
  writer(extra?: Partial<AuditWriterOptions>): AuditWriter;
  add(n: number, from?: number): Promise<string[]>;
  /** What the lease of a crashed writer does once its time is up: it lapses. */
  lapseLease(): Promise<void>;
}

/** A random key prefix and a temp dir per test; every writer it made is closed afterwards. */
async function withCtx(fn: (c: Ctx) => Promise<void>): Promise<void> {
  const prefix = `bwtest-${randomUUID()}`;
  const dir = await mkdtemp(join(tmpdir(), 'bw-audit-writer-'));
  const writers: AuditWriter[] = [];
  const ctx: Ctx = {
    prefix,
    dir,
    writers,
    writer: (extra = {}) => {
      const w = createAuditWriter({ redis, prefix, dir, log, blockMs: 200, ...extra });
      writers.push(w);
      return w;
    },
    add: async (n, from = 1) => {
      const ids: string[] = [];
      for (let i = from; i < from + n; i++) ids.push(await appendAuditRecord(redis, prefix, record(i)));
      return ids;
    },
    lapseLease: async () => {
      await redis.del(auditWriterLeaseKey(prefix));
    },
  };
  try {
    await fn(ctx);
  } finally {
    await Promise.all(writers.map((w) => w.close()));
    const keys = await redis.keys(`${prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    await rm(dir, { recursive: true, force: true });
  }
}

function record(i: number): AuditRecord {
  return { ts: new Date(1_770_000_000_000 + i).toISOString(), type: 'notify.done', actor: 'notifier', wave: 'w1', account: `A-${i}`, action: 'notify', from: 'claimed', to: 'done', detail: { i, nested: { z: 1, a: [i] } } };
}

async function readLines(dir: string): Promise<AuditLine[]> {
  const out: AuditLine[] = [];
  for (const f of await listAuditFiles(dir)) {
    for (const l of (await readFile(f, 'utf8')).split('\n')) if (l) out.push(JSON.parse(l) as AuditLine);
  }
  return out;
}

async function assertChain(dir: string, count: number): Promise<AuditLine[]> {
  const files = await listAuditFiles(dir);
  const v = await verifyAuditFiles(files);
  assert.deepEqual(v.ok ? { ok: true, records: v.records } : v, { ok: true, records: count });
  const lines = await readLines(dir);
  assert.deepEqual(lines.map((l) => l.seq), Array.from({ length: count }, (_, i) => i + 1));
  return lines;
}

async function streamState(prefix: string): Promise<{ length: number; pending: number }> {
  const key = auditStreamKey(prefix);
  const length = await redis.xlen(key);
  const pending = (await redis.xpending(key, 'audit-writer')) as [number, ...unknown[]];
  return { length, pending: pending[0] };
}

test('records added to the stream land in the file in order, chained, then leave the stream', async () => {
  await withCtx(async (c) => {
    const w = c.writer({ batchSize: 7 });
    const ids = await c.add(20);
    assert.equal(await w.drainOnce(), 20);
    const lines = await assertChain(c.dir, 20);
    assert.deepEqual(lines.map((l) => l.streamId), ids);
    assert.deepEqual(lines.map((l) => l.account), Array.from({ length: 20 }, (_, i) => `A-${i + 1}`));
    assert.equal(lines[0]?.prev, GENESIS_HASH);
    // Exactly the chained object per line: no pino level, time, pid or msg.
    const [file] = await listAuditFiles(c.dir);
    const first = (await readFile(file as string, 'utf8')).split('\n')[0] as string;
    assert.deepEqual(Object.keys(JSON.parse(first) as object).sort(), ['account', 'action', 'actor', 'detail', 'from', 'hash', 'prev', 'seq', 'streamId', 'to', 'ts', 'type', 'wave']);
    assert.deepEqual(await streamState(c.prefix), { length: 0, pending: 0 });
    const head = await readAuditHead(redis, c.prefix);
    assert.equal(head?.seq, 20);
    assert.equal(head?.hash, lines[19]?.hash);
    assert.equal(await w.drainOnce(), 0);
  });
});

test('a restarted writer continues the chain in a new file; verification passes over both', async () => {
  await withCtx(async (c) => {
    const w1 = c.writer();
    await c.add(5);
    await w1.drainOnce();
    await w1.close();
    const w2 = c.writer();
    await c.add(4, 6);
    assert.equal(await w2.drainOnce(), 4);
    assert.equal((await listAuditFiles(c.dir)).length, 2);
    const lines = await assertChain(c.dir, 9);
    assert.equal(lines[5]?.prev, lines[4]?.hash);
    assert.equal(w2.position().seq, 9);
  });
});

test('files rotate after maxLinesPerFile and the chain runs across them', async () => {
  await withCtx(async (c) => {
    const w = c.writer({ maxLinesPerFile: 4, batchSize: 3 });
    await c.add(10);
    await w.drainOnce();
    const files = await listAuditFiles(c.dir);
    assert.equal(files.length, 3);
    assert.match(files[1] as string, /-000000000005\.jsonl$/);
    await assertChain(c.dir, 10);
  });
});

test('started, the writer follows the stream by itself and close() returns promptly from its wait', async () => {
  await withCtx(async (c) => {
    const w = c.writer({ blockMs: 30_000 });
    await w.start();
    await c.add(3);
    await waitFor(async () => (await readLines(c.dir)).length === 3, { what: '3 audit lines' });
    // drainOnce while the background reader runs: serialized, nothing written twice.
    await c.add(2, 4);
    await w.drainOnce();
    await waitFor(async () => (await readLines(c.dir)).length === 5, { what: '5 audit lines' });
    const t0 = Date.now();
    await w.close();
    assert.ok(Date.now() - t0 < 5000, 'close must not wait out the 30 s block');
    await w.whenStopped();
    await assertChain(c.dir, 5);
    await assert.rejects(w.drainOnce(), /closed/);
  });
});

test('woken by new entries, the writer lets more gather for lingerMs, so they share one batch (one fsync, one ack)', async () => {
  await withCtx(async (c) => {
    const batches: number[] = [];
    const w = c.writer({ lingerMs: 1000, blockMs: 30_000, beforeAck: (ids) => void batches.push(ids.length) });
    // A first entry, written by the start-up drain: after it the writer only reads when woken.
    await c.add(1);
    await w.start();
    await waitFor(async () => (await readLines(c.dir)).length === 1, { what: 'the first line' });
    const t0 = Date.now();
    await c.add(1, 2);
    await c.add(4, 3);
    await waitFor(async () => (await readLines(c.dir)).length === 6, { what: '6 audit lines' });
    assert.deepEqual(batches, [1, 5], 'the wake-up entry and the four after it in one batch');
    assert.ok(Date.now() - t0 >= 1000, 'read no sooner than lingerMs after the wake-up');
    await assertChain(c.dir, 6);
  });
});

test('editing a line fails verification at that line; deleting one fails at the line after', async () => {
  await withCtx(async (c) => {
    const w = c.writer();
    await c.add(6);
    await w.drainOnce();
    const [file] = await listAuditFiles(c.dir);
    const p = file as string;
    const original = await readFile(p, 'utf8');
    const lines = original.split('\n');

    lines[2] = (lines[2] as string).replace('"to":"done"', '"to":"failed"');
    await writeFile(p, lines.join('\n'));
    const edited = await verifyAuditFiles([p]);
    assert.deepEqual(edited, { ok: false, records: 2, file: p, line: 3, seq: 3, reason: 'hash mismatch' });

    const without = original.split('\n');
    without.splice(3, 1);
    await writeFile(p, without.join('\n'));
    const deleted = await verifyAuditFiles([p]);
    assert.deepEqual(deleted, { ok: false, records: 3, file: p, line: 4, seq: 5, reason: 'sequence gap: expected seq 4, found 5' });
  });
});

test('crash between write and ack: the next writer acks the written entries without writing them again', async () => {
  await withCtx(async (c) => {
    const crashing = c.writer({
      batchSize: 4,
      beforeAck: () => {
        throw new Error('simulated crash before ack');
      },
    });
    await c.add(4);
    await assert.rejects(crashing.drainOnce(), /simulated crash/);
    assert.deepEqual(await streamState(c.prefix), { length: 4, pending: 4 });
    await c.add(3, 5);
    await c.lapseLease();

    const next = c.writer({ batchSize: 4 });
    assert.equal(await next.drainOnce(), 3);
    const lines = await assertChain(c.dir, 7);
    assert.deepEqual(lines.map((l) => l.account), ['A-1', 'A-2', 'A-3', 'A-4', 'A-5', 'A-6', 'A-7']);
    assert.deepEqual(await streamState(c.prefix), { length: 0, pending: 0 });
  });
});

test('crash after reading, before writing: the pending entries are written by the next writer, once', async () => {
  await withCtx(async (c) => {
    const key = auditStreamKey(c.prefix);
    const w1 = c.writer();
    await c.add(2);
    await w1.drainOnce();
    await w1.close();
    await c.add(3, 3);
    // A writer that died right after XREADGROUP: entries delivered to it, nothing written or acked.
    await redis.xreadgroup('GROUP', 'audit-writer', 'audit-writer', 'COUNT', 2, 'STREAMS', key, '>');
    // And one under another consumer name (e.g. a renamed deployment): claimed on start.
    await redis.xreadgroup('GROUP', 'audit-writer', 'old-host', 'COUNT', 1, 'STREAMS', key, '>');
    assert.deepEqual(await streamState(c.prefix), { length: 3, pending: 3 });
    await c.add(1, 6);

    const w2 = c.writer();
    assert.equal(await w2.drainOnce(), 4);
    const lines = await assertChain(c.dir, 6);
    assert.deepEqual(lines.map((l) => l.account), ['A-1', 'A-2', 'A-3', 'A-4', 'A-5', 'A-6']);
    assert.deepEqual(await streamState(c.prefix), { length: 0, pending: 0 });
  });
});

test('a line torn by a crash is set aside, and its entry is written again', async () => {
  await withCtx(async (c) => {
    const w1 = c.writer({
      beforeAck: () => {
        throw new Error('crash');
      },
    });
    await c.add(3);
    await assert.rejects(w1.drainOnce(), /crash/);
    const [file] = await listAuditFiles(c.dir);
    const p = file as string;
    const text = await readFile(p, 'utf8');
    // Keep lines 1-2 and half of line 3, without its newline: the write was cut short.
    const cut = text.lastIndexOf('\n', text.length - 2) + 30;
    await writeFile(p, text.slice(0, cut));
    await c.lapseLease();

    const w2 = c.writer();
    assert.equal(await w2.drainOnce(), 1);
    await assertChain(c.dir, 3);
    assert.ok((await readdir(c.dir)).some((n) => n.includes('.torn-')), 'torn bytes kept aside');
  });
});

test('a valid last line missing only its newline is kept as it is', async () => {
  await withCtx(async (c) => {
    const w1 = c.writer();
    await c.add(2);
    await w1.drainOnce();
    await w1.close();
    const [file] = await listAuditFiles(c.dir);
    const text = await readFile(file as string, 'utf8');
    await writeFile(file as string, text.slice(0, -1));
    const w2 = c.writer();
    await c.add(1, 3);
    assert.equal(await w2.drainOnce(), 1);
    await assertChain(c.dir, 3);
  });
});

test('a newest file with a tampered last line stops the writer from starting', async () => {
  await withCtx(async (c) => {
    const w1 = c.writer();
    await c.add(2);
    await w1.drainOnce();
    await w1.close();
    const [file] = await listAuditFiles(c.dir);
    const text = await readFile(file as string, 'utf8');
    await writeFile(file as string, text.replace('"account":"A-2"', '"account":"A-X"'));
    await assert.rejects(c.writer().start(), { code: 'BW_AUDIT_CHAIN_BROKEN' });
  });
});

test('audit files lost or cut short are detected against the head recorded in Redis', async () => {
  await withCtx(async (c) => {
    const w1 = c.writer();
    await c.add(3);
    await w1.drainOnce();
    await w1.close();
    const [file] = await listAuditFiles(c.dir);
    await unlink(file as string);
    await assert.rejects(c.writer().drainOnce(), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'BW_AUDIT_CHAIN_BROKEN');
      assert.match(err.message, /end at seq 0 but the chain head recorded in Redis .* is seq 3/);
      return true;
    });
  });
});

test('entries that break the stream contract become audit.malformed records, without their payload', async () => {
  await withCtx(async (c) => {
    const key = auditStreamKey(c.prefix);
    await c.add(1);
    await redis.xadd(key, '*', 'r', '{not json');
    await redis.xadd(key, '*', 'r', JSON.stringify({ ts: 't', type: 'x', actor: 'a', seq: 99 }));
    await redis.xadd(key, '*', 'other', 'x');
    await c.add(1, 2);
    const w = c.writer();
    assert.equal(await w.drainOnce(), 5);
    const lines = await assertChain(c.dir, 5);
    assert.deepEqual(lines.map((l) => l.type), ['notify.done', 'audit.malformed', 'audit.malformed', 'audit.malformed', 'notify.done']);
    assert.equal(lines[1]?.detail?.reason, 'record is not JSON');
    assert.equal(lines[2]?.detail?.reason, "record carries the writer's field seq");
    assert.equal(lines[3]?.detail?.reason, 'entry has no "r" field');
    assert.ok(!JSON.stringify(lines[1]).includes('{not json'));
  });
});

test('a failed file write stops the writer, leaves the entries pending, and a restart writes them', async () => {
  await withCtx(async (c) => {
    const w1 = c.writer();
    await c.add(2);
    await w1.drainOnce();
    await w1.close();
    const saved = await readFile((await listAuditFiles(c.dir))[0] as string, 'utf8');
    const w2 = c.writer();
    await w2.drainOnce();
    // A file where the directory was: opening the next audit file fails.
    await rm(c.dir, { recursive: true, force: true });
    await writeFile(c.dir, '');
    await c.add(1, 3);
    await assert.rejects(w2.drainOnce(), /ENOTDIR|EEXIST/);
    await assert.rejects(w2.drainOnce(), /ENOTDIR|EEXIST/, 'the failure is sticky');
    await w2.close();
    await assert.rejects(w2.whenStopped());
    assert.deepEqual(await streamState(c.prefix), { length: 1, pending: 1 });

    await rm(c.dir, { force: true });
    await mkdir(c.dir);
    await writeFile(join(c.dir, 'audit-2026-01-01T00-00-00.000Z-000000000001.jsonl'), saved);
    const w3 = c.writer();
    assert.equal(await w3.drainOnce(), 1);
    await assertChain(c.dir, 3);
  });
});

test('appending garbage to a closed file is caught by verification as not JSON', async () => {
  await withCtx(async (c) => {
    const w = c.writer();
    await c.add(2);
    await w.drainOnce();
    const [file] = await listAuditFiles(c.dir);
    await appendFile(file as string, '{"seq":3,"ts":');
    const r = await verifyAuditFiles([file as string]);
    assert.ok(!r.ok);
    assert.equal(r.line, 3);
    assert.equal(r.reason, 'not JSON');
  });
});

test('under concurrent producers and drainOnce calls alongside the background reader, every record is written once, in stream order', async () => {
  await withCtx(async (c) => {
    const w = c.writer({ batchSize: 16, blockMs: 1000 });
    await w.start();
    const producers = Array.from({ length: 5 }, (_, p) => (async () => {
      for (let i = 0; i < 60; i++) await appendAuditRecord(redis, c.prefix, record(p * 1000 + i));
    })());
    const drains = (async () => {
      for (let i = 0; i < 10; i++) await w.drainOnce();
    })();
    await Promise.all([...producers, drains]);
    await waitFor(async () => (await readLines(c.dir)).length >= 300, { what: '300 audit lines' });
    await w.close();
    const lines = await assertChain(c.dir, 300);
    const ids = lines.map((l) => l.streamId);
    assert.equal(new Set(ids).size, 300);
    const [ms0, sq0] = (ids[0] as string).split('-').map(BigInt) as [bigint, bigint];
    let prev = [ms0, sq0];
    for (const id of ids.slice(1)) {
      const [ms, sq] = id.split('-').map(BigInt) as [bigint, bigint];
      assert.ok(ms > (prev[0] as bigint) || (ms === prev[0] && sq > (prev[1] as bigint)), `${id} after ${prev.join('-')}`);
      prev = [ms, sq];
    }
    assert.deepEqual(await streamState(c.prefix), { length: 0, pending: 0 });
  });
});

const busy = (pattern: RegExp) => (err: unknown): boolean =>
  err instanceof Error && (err as { code?: string }).code === 'BW_AUDIT_WRITER_BUSY' && pattern.test(err.message);

test('one writer per chain: a second refuses to drain, or stands by when started, until the first closes and releases the lease', async () => {
  await withCtx(async (c) => {
    const first = c.writer();
    await first.start();
    const holder = await redis.get(auditWriterLeaseKey(c.prefix));
    assert.match(holder ?? '', new RegExp(`:${process.pid}#`));
    await c.add(2);
    await waitFor(async () => (await readLines(c.dir)).length >= 2, { what: '2 audit lines' });

    await assert.rejects(c.writer().drainOnce(), busy(new RegExp(`held by ${holder}`)));

    // Short lease: it looks for the lease again every 100 ms.
    const standby = c.writer({ leaseMs: 300 });
    let takenOver = false;
    const starting = standby.start().then(() => {
      takenOver = true;
    });
    await c.add(1, 3);
    await waitFor(async () => (await readLines(c.dir)).length >= 3, { what: 'the first writer writing on' });
    assert.equal(takenOver, false, 'stands by while the first writer holds the lease');

    await first.close();
    await starting;
    assert.notEqual(await redis.get(auditWriterLeaseKey(c.prefix)), holder);
    await c.add(1, 4);
    await waitFor(async () => (await readLines(c.dir)).length >= 4, { what: 'the new holder writing' });
    await standby.close();
    const lines = await assertChain(c.dir, 4);
    assert.deepEqual(lines.map((l) => l.account), ['A-1', 'A-2', 'A-3', 'A-4']);
    assert.equal(await redis.exists(auditWriterLeaseKey(c.prefix)), 0, 'released on close');
  });
});

test('a writer whose lease was taken over writes no further line and stops; the next holder writes what it left', { timeout: 20_000 }, async () => {
  await withCtx(async (c) => {
    const w = c.writer();
    await w.start();
    await c.add(1);
    await waitFor(async () => (await readLines(c.dir)).length >= 1, { what: 'the first line' });

    // It stalled past its lease and another writer took over.
    await redis.set(auditWriterLeaseKey(c.prefix), 'elsewhere:1#takeover');
    await c.add(2, 2);
    await assert.rejects(w.whenStopped(), busy(/lost the lease/));
    assert.equal((await readLines(c.dir)).length, 1);
    assert.equal((await streamState(c.prefix)).length, 2, 'its unwritten entries stay in the stream');
    await w.close();
    assert.equal(await redis.get(auditWriterLeaseKey(c.prefix)), 'elsewhere:1#takeover', 'it does not release a lease that is not its own');

    await c.lapseLease();
    assert.equal(await c.writer().drainOnce(), 2);
    await assertChain(c.dir, 3);
  });
});

test('the lease of a writer on this host whose process has ended is taken over at once, not after its TTL', async () => {
  await withCtx(async (c) => {
    const gone = `${hostname()}:${spawnSync(process.execPath, ['-e', '0']).pid}#crashed`;
    await redis.set(auditWriterLeaseKey(c.prefix), gone, 'PX', 60_000);
    await c.add(2);
    const w = c.writer();
    assert.equal(await w.drainOnce(), 2, 'drains instead of refusing with BW_AUDIT_WRITER_BUSY');
    assert.match((await redis.get(auditWriterLeaseKey(c.prefix))) ?? '', new RegExp(`:${process.pid}#`));
    await assertChain(c.dir, 2);
  });
});
