import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GENESIS_HASH, canonicalJson, chainAuditLine, compareStreamIds, hashAuditLine } from './chain.js';
import { auditFileName, listAuditFiles } from './files.js';
import { chainBrokenError, verifyAuditFiles } from './verify.js';

/** Writes `count` chained records over files of `perFile` lines; returns the paths in order. */
async function writeChain(dir: string, count: number, perFile: number): Promise<string[]> {
  const paths: string[] = [];
  let prev = GENESIS_HASH;
  let lines: string[] = [];
  let firstSeq = 1;
  const flush = async (): Promise<void> => {
    if (lines.length === 0) return;
    const p = join(dir, auditFileName(firstSeq, new Date('2026-01-01T00:00:00Z')));
    await writeFile(p, lines.map((l) => `${l}\n`).join(''));
    paths.push(p);
    lines = [];
  };
  for (let seq = 1; seq <= count; seq++) {
    if (lines.length === perFile) {
      await flush();
      firstSeq = seq;
    }
    const line = chainAuditLine({ ts: '2026-01-01T00:00:00.000Z', type: 'notify.done', actor: 'notifier', wave: 'w1', account: `A-${seq}`, detail: { n: seq, z: [1, { b: 2, a: 1 }] } }, seq, `1700000000000-${seq}`, prev);
    prev = line.hash;
    lines.push(JSON.stringify(line));
  }
  await flush();
  return paths;
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'bw-audit-chain-'));
  try {
    await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function editLine(path: string, lineNo: number, edit: (line: string) => string | undefined): Promise<void> {
  const lines = (await readFile(path, 'utf8')).split('\n');
  const edited = edit(lines[lineNo - 1] as string);
  if (edited === undefined) lines.splice(lineNo - 1, 1);
  else lines[lineNo - 1] = edited;
  await writeFile(path, lines.join('\n'));
}

test('canonical JSON sorts keys at every depth and keeps array order', () => {
  assert.equal(canonicalJson({ b: 1, a: { d: [3, { y: 1, x: 2 }], c: null }, u: undefined }), '{"a":{"c":null,"d":[3,{"x":2,"y":1}]},"b":1}');
  assert.equal(canonicalJson({ b: 1, a: 2 }), canonicalJson({ a: 2, b: 1 }));
  assert.equal(canonicalJson(JSON.parse('{"__proto__":{"x":1},"a":1}')), '{"__proto__":{"x":1},"a":1}');
});

test('the hash covers every field but itself, and key order does not matter', () => {
  const line = chainAuditLine({ ts: 't', type: 'wave.created', actor: 'cli', wave: 'w1' }, 1, '1-0', GENESIS_HASH);
  assert.equal(line.prev, GENESIS_HASH);
  assert.match(line.hash, /^[0-9a-f]{64}$/);
  const reordered = JSON.parse(JSON.stringify({ hash: line.hash, wave: 'w1', prev: line.prev, streamId: '1-0', actor: 'cli', type: 'wave.created', ts: 't', seq: 1 })) as typeof line;
  assert.equal(hashAuditLine(reordered), line.hash);
  const tampered = { ...line, wave: 'w2' };
  assert.notEqual(hashAuditLine(tampered), line.hash);
});

test('the chain hash is the published formula: a fixed line has a fixed hash (files written before stay verifiable)', () => {
  const line = chainAuditLine({ ts: '2026-11-30T14:12:59.727Z', type: 'notify.done', actor: 'notifier', wave: 'w1', account: 'ACCT-1',
    detail: { providerId: 'SM1', list: [2, { b: 1, a: undefined }, 'x'], n: null } }, 7, '1796047979727-0', GENESIS_HASH);
  assert.equal(line.hash, 'ba562d318c37ec0ae1453542d2f3fb4dabbf675eff6f1cd56fccba4c8a22cc37');
  assert.equal(hashAuditLine(line), line.hash, 'the hash field itself is left out');
  assert.equal(canonicalJson([1, undefined, { z: 1, a: [] }]), '[1,null,{"a":[],"z":1}]');
});

test('stream ids compare numerically, not as strings', () => {
  assert.equal(compareStreamIds('9-0', '10-0'), -1);
  assert.equal(compareStreamIds('10-2', '10-10'), -1);
  assert.equal(compareStreamIds('10-10', '10-10'), 0);
  assert.equal(compareStreamIds('18446744073709551615-1', '18446744073709551615-0'), 1);
  assert.equal(compareStreamIds('18446744073709551616-0', '18446744073709551615-9'), 1);
  assert.equal(compareStreamIds('010-0', '9-0'), 1, 'leading zeros do not count');
  assert.equal(compareStreamIds('0-0', '00-0'), 0);
});

test('a clean chain over several files verifies, in file-name order whatever the argument order', async () => {
  await withDir(async (dir) => {
    const paths = await writeChain(dir, 25, 10);
    assert.equal(paths.length, 3);
    const r = await verifyAuditFiles([...paths].reverse());
    assert.equal(r.ok, true);
    assert.ok(r.ok);
    assert.equal(r.records, 25);
    assert.equal(r.files, 3);
    assert.deepEqual(await listAuditFiles(dir), paths);
    const empty = await verifyAuditFiles([]);
    assert.deepEqual(empty, { ok: true, records: 0, files: 0, lastHash: GENESIS_HASH, lastSeq: 0 });
  });
});

test('an edited field is a hash mismatch at that line', async () => {
  await withDir(async (dir) => {
    const paths = await writeChain(dir, 25, 10);
    await editLine(paths[1] as string, 4, (l) => l.replace('"account":"A-14"', '"account":"A-99"'));
    const r = await verifyAuditFiles(paths);
    assert.equal(r.ok, false);
    assert.ok(!r.ok);
    assert.equal(r.file, paths[1]);
    assert.equal(r.line, 4);
    assert.equal(r.seq, 14);
    assert.equal(r.reason, 'hash mismatch');
    assert.equal(r.records, 13);
    const err = chainBrokenError(r);
    assert.equal(err.code, 'BW_AUDIT_CHAIN_BROKEN');
    assert.match(err.message, /:4 \(seq 14\): hash mismatch/);
  });
});

test('an edit that also recomputes the hash is caught at the next line (prev mismatch)', async () => {
  await withDir(async (dir) => {
    const paths = await writeChain(dir, 5, 10);
    await editLine(paths[0] as string, 2, (l) => {
      const rec = JSON.parse(l) as Record<string, unknown> & { prev: string };
      rec.account = 'A-forged';
      rec.hash = hashAuditLine(rec);
      return JSON.stringify(rec);
    });
    const r = await verifyAuditFiles(paths);
    assert.ok(!r.ok);
    assert.equal(r.line, 3);
    assert.equal(r.seq, 3);
    assert.match(r.reason, /^prev mismatch/);
  });
});

test('a deleted line is a sequence gap at the line after it, also across a file boundary', async () => {
  await withDir(async (dir) => {
    const paths = await writeChain(dir, 25, 10);
    await editLine(paths[0] as string, 5, () => undefined);
    const r = await verifyAuditFiles(paths);
    assert.ok(!r.ok);
    assert.equal(r.file, paths[0]);
    assert.equal(r.line, 5);
    assert.equal(r.seq, 6);
    assert.equal(r.reason, 'sequence gap: expected seq 5, found 6');
  });
  await withDir(async (dir) => {
    const paths = await writeChain(dir, 25, 10);
    await editLine(paths[0] as string, 10, () => undefined);
    const r = await verifyAuditFiles(paths);
    assert.ok(!r.ok);
    assert.equal(r.file, paths[1]);
    assert.equal(r.line, 1);
    assert.equal(r.reason, 'sequence gap: expected seq 10, found 11');
  });
});

test('a missing first file is caught: the chain must start at genesis unless told where it continues from', async () => {
  await withDir(async (dir) => {
    const paths = await writeChain(dir, 25, 10);
    const r = await verifyAuditFiles(paths.slice(1));
    assert.ok(!r.ok);
    assert.equal(r.reason, 'sequence gap: expected seq 1, found 11');
    const first = (await readFile(paths[0] as string, 'utf8')).trim().split('\n').at(-1) as string;
    const anchor = JSON.parse(first) as { seq: number; hash: string };
    const r2 = await verifyAuditFiles(paths.slice(1), { after: { seq: anchor.seq, hash: anchor.hash } });
    assert.equal(r2.ok, true);
    assert.equal(r2.records, 15);
  });
});

test('a truncated or garbled line is "not JSON"', async () => {
  await withDir(async (dir) => {
    const paths = await writeChain(dir, 5, 10);
    const p = paths[0] as string;
    const text = await readFile(p, 'utf8');
    await writeFile(p, text.slice(0, text.length - 40));
    const r = await verifyAuditFiles(paths);
    assert.ok(!r.ok);
    assert.equal(r.line, 5);
    assert.equal(r.reason, 'not JSON');
    assert.equal(r.records, 4);
  });
});

test('lines cut off the end verify alone, but not against the recorded head', async () => {
  await withDir(async (dir) => {
    const paths = await writeChain(dir, 5, 10);
    const p = paths[0] as string;
    const all = (await readFile(p, 'utf8')).trim().split('\n');
    const head = JSON.parse(all.at(-1) as string) as { seq: number; hash: string };
    await writeFile(p, all.slice(0, 3).map((l) => `${l}\n`).join(''));
    assert.equal((await verifyAuditFiles(paths)).ok, true);
    const r = await verifyAuditFiles(paths, { head });
    assert.ok(!r.ok);
    assert.match(r.reason, /chain ends at seq 3 but the recorded head is seq 5/);
  });
});

test('an unreadable file is BW_INPUT_FILE, not a chain failure', async () => {
  await assert.rejects(verifyAuditFiles(['/nonexistent/audit-x.jsonl']), { code: 'BW_INPUT_FILE' });
});

test('file names sort in chain order even when the clock steps back', () => {
  const a = auditFileName(1, new Date('2026-05-01T10:00:00.000Z'));
  const b = auditFileName(50, new Date('2026-04-01T10:00:00.000Z'), a);
  assert.equal(a, 'audit-2026-05-01T10-00-00.000Z-000000000001.jsonl');
  assert.ok(a < b, `${a} < ${b}`);
});
