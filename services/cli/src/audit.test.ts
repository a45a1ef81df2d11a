import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, truncate, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CHECKPOINT_FILE, appendAuditRecord, createAuditWriter, createCheckpointSigner, hashAuditLine, listAuditFiles, signCheckpoint,
  type Checkpoint,
} from '@breachwave/audit';
import { silentLogger } from '@breachwave/logging';
import { Redis } from '@breachwave/redis';
import { entryArgs, startRedis, type TestRedis } from '@breachwave/testkit';
import { runAuditVerify, type AuditVerifyOptions } from './audit.js';

// One real audit run, written by the real writer against real Redis: 250 records, 150 lines per
// file (two files, the first sealed at rotation, the second at shutdown), a checkpoint once 40
// records are uncovered: at seq 40, 80, 120, 150 (rotation), 190, 230 and 250 (shutdown).
const RECORDS = 250;
const PER_FILE = 150;
const EVERY = 40;

let server: TestRedis;
let redis: Redis;
let prefix: string;
let original: string;
let first: string;
let second: string;
let publicKeyFile: string;
let keys: { publicKey: KeyObject; privateKey: KeyObject };
const temps: string[] = [];

before(async () => {
  server = await startRedis();
  redis = new Redis(server.url, { maxRetriesPerRequest: null });
  prefix = `bwtest-${randomUUID()}`;
  original = await mkdtemp(join(tmpdir(), 'bw-audit-verify-'));
  temps.push(original);
  keys = generateKeyPairSync('ed25519');
  publicKeyFile = join(original, 'public.pem');
  await writeFile(publicKeyFile, keys.publicKey.export({ type: 'spki', format: 'pem' }));
  const writer = createAuditWriter({
    redis, prefix, dir: join(original, 'audit'), log: silentLogger(), blockMs: 200, maxLinesPerFile: PER_FILE,
    checkpointEvery: EVERY, checkpointIntervalMs: 600_000,
    signer: createCheckpointSigner(keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()),
  });
  for (let i = 1; i <= RECORDS; i++) {
    await appendAuditRecord(redis, prefix, { ts: new Date(1_770_000_000_000 + i).toISOString(), type: 'notify.done', actor: 'notifier', wave: 'w1', account: `A-${i}`, to: 'done' });
  }
  assert.equal(await writer.drainOnce(), RECORDS);
  await writer.close();
  const files = await listAuditFiles(join(original, 'audit'));
  assert.equal(files.length, 2);
  [first, second] = files.map((f) => basename(f)) as [string, string];
});

after(async () => {
  const found = await redis.keys(`${prefix}:*`);
  if (found.length) await redis.del(...found);
  await redis.quit();
  await server.stop();
  for (const d of temps) await rm(d, { recursive: true, force: true });
});

/** A copy of the run's audit directory to tamper with. */
async function copy(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'bw-audit-tamper-'));
  temps.push(dir);
  await cp(join(original, 'audit'), dir, { recursive: true });
  return dir;
}

const readLines = async (path: string): Promise<string[]> => (await readFile(path, 'utf8')).split('\n').filter(Boolean);
const writeLines = (path: string, lines: readonly string[]): Promise<void> => writeFile(path, lines.map((l) => `${l}\n`).join(''));

/** Rewrites the chain from seq 1 on, over every file, as a forger with write access would. */
async function recomputeChain(dir: string): Promise<void> {
  let prev = '0'.repeat(64);
  let seq = 0;
  for (const file of await listAuditFiles(dir)) {
    const out: string[] = [];
    for (const text of await readLines(file)) {
      const rec = JSON.parse(text) as Record<string, unknown>;
      rec.seq = ++seq;
      rec.prev = prev;
      rec.hash = hashAuditLine(rec as { prev: string });
      prev = rec.hash as string;
      out.push(JSON.stringify(rec));
    }
    await writeLines(file, out);
  }
}

interface Outcome {
  readonly code: number;
  readonly out: string;
}

async function verify(dir: string, extra: AuditVerifyOptions = {}, env: Record<string, string> = {}): Promise<Outcome> {
  let out = '';
  const sink = { write: (s: string) => (out += s) };
  const code = await runAuditVerify((await listAuditFiles(dir)), { publicKey: [publicKeyFile], ...extra }, { env, stdout: sink, stderr: sink });
  return { code, out };
}

/** Exit 1, and the output names `file:line` as the place where the trail breaks. */
function assertBrokenAt(o: Outcome, file: string, line: number, reason: RegExp): void {
  assert.equal(o.code, 1, o.out);
  assert.ok(o.out.includes(`BROKEN at `), o.out);
  const at = /BROKEN at (.+?):(\d+)(?: \(seq \d+\))?: (.*)/.exec(o.out);
  assert.ok(at, o.out);
  assert.equal(basename(at[1] ?? ''), file, o.out);
  assert.equal(Number(at[2]), line, o.out);
  assert.match(at[3] ?? '', reason);
}

test('the untouched run verifies: exit 0, every checkpoint matched', async () => {
  const o = await verify(await copy());
  assert.equal(o.code, 0, o.out);
  assert.match(o.out, /250 records in 2 file\(s\), 7 checkpoint\(s\) matched/);
});

// The rows of the attack table: each is detected, named by file and line, and exits 1.
test('edit a field → detected at that line', async () => {
  const dir = await copy();
  const lines = await readLines(join(dir, first));
  lines[41] = (lines[41] ?? '').replace('"A-42"', '"A-999"');
  await writeLines(join(dir, first), lines);
  assertBrokenAt(await verify(dir), first, 42, /hash mismatch/);
});

test('delete a middle line → detected at the line after the gap', async () => {
  const dir = await copy();
  const lines = await readLines(join(dir, first));
  lines.splice(59, 1);
  await writeLines(join(dir, first), lines);
  assertBrokenAt(await verify(dir), first, 60, /sequence gap/);
});

test('swap two lines → detected at the first of them', async () => {
  const dir = await copy();
  const lines = await readLines(join(dir, first));
  [lines[10], lines[11]] = [lines[11] ?? '', lines[10] ?? ''];
  await writeLines(join(dir, first), lines);
  assertBrokenAt(await verify(dir), first, 11, /sequence gap/);
});

test('cut 40 bytes off the end → detected at the torn last line', async () => {
  const dir = await copy();
  const path = join(dir, second);
  await truncate(path, (await stat(path)).size - 40);
  assertBrokenAt(await verify(dir), second, RECORDS - PER_FILE, /not JSON/);
});

test('drop the last line → detected: the shutdown checkpoint places the last record there', async () => {
  const dir = await copy();
  const lines = await readLines(join(dir, second));
  await writeLines(join(dir, second), lines.slice(0, -1));
  assertBrokenAt(await verify(dir), second, RECORDS - PER_FILE, /records missing from the end.*seq 250/);
});

test('drop the last 100 lines → detected at the first checkpointed record that is gone', async () => {
  const dir = await copy();
  // The second file holds the last 100 records: cut it to nothing.
  await writeLines(join(dir, second), []);
  assertBrokenAt(await verify(dir), second, 190 - PER_FILE, /records missing from the end.*seq 190.*files end at seq 150 \(audit-.*:150\)/);
});

test('append a forged line with a recomputed hash → detected after the sealed end', async () => {
  const dir = await copy();
  const lines = await readLines(join(dir, second));
  const last = JSON.parse(lines.at(-1) ?? '') as Record<string, unknown>;
  const forged: Record<string, unknown> = { ...last, seq: RECORDS + 1, account: 'A-forged', prev: last.hash };
  forged.hash = hashAuditLine(forged as { prev: string });
  lines.push(JSON.stringify(forged));
  await writeLines(join(dir, second), lines);
  assertBrokenAt(await verify(dir), second, RECORDS - PER_FILE + 1, /after the sealed end/);
});

test('append a forged line to an unsealed tail → detected as not covered by a checkpoint', async () => {
  const dir = await copy();
  // Without the shutdown seal (as after a crash) the forged line is still after the last checkpoint.
  const cps = await readLines(join(dir, CHECKPOINT_FILE));
  await writeLines(join(dir, CHECKPOINT_FILE), cps.slice(0, -1));
  const lines = await readLines(join(dir, second));
  const last = JSON.parse(lines.at(-1) ?? '') as Record<string, unknown>;
  const forged: Record<string, unknown> = { ...last, seq: RECORDS + 1, prev: last.hash };
  forged.hash = hashAuditLine(forged as { prev: string });
  lines.push(JSON.stringify(forged));
  await writeLines(join(dir, second), lines);
  assertBrokenAt(await verify(dir), second, 231 - PER_FILE, /not covered by a signed checkpoint.*ends at seq 230/);
});

test('edit + delete + recompute every hash from the first line → detected at the first checkpoint', async () => {
  const dir = await copy();
  const lines = await readLines(join(dir, first));
  lines[4] = (lines[4] ?? '').replace('"A-5"', '"A-555"');
  lines.splice(20, 1);
  await writeLines(join(dir, first), lines);
  await recomputeChain(dir);
  assertBrokenAt(await verify(dir), first, EVERY, /hash differs from signed checkpoint 1 .*rewritten from its start/);
});

test('recompute the chain after a later edit → the message says which checkpoint still matches', async () => {
  const dir = await copy();
  const lines = await readLines(join(dir, first));
  lines[99] = (lines[99] ?? '').replace('"A-100"', '"A-1000"');
  await writeLines(join(dir, first), lines);
  await recomputeChain(dir);
  assertBrokenAt(await verify(dir), first, 120, /signed checkpoint 3 .*rewritten after seq 80 \(checkpoint 2 still matches\)/);
});

test('a missing file in the sequence → detected, naming the missing file', async () => {
  const dir = await copy();
  await unlink(join(dir, first));
  assertBrokenAt(await verify(dir), first, EVERY, /file missing/);
});

test('the last file removed → detected, naming it', async () => {
  const dir = await copy();
  await unlink(join(dir, second));
  assertBrokenAt(await verify(dir), second, 190 - PER_FILE, /file missing/);
});

test('the checkpoint file removed with a recomputed chain → nothing covers the records', async () => {
  const dir = await copy();
  await unlink(join(dir, CHECKPOINT_FILE));
  await recomputeChain(dir);
  assertBrokenAt(await verify(dir), first, 1, /not covered by a signed checkpoint \(there is none\)/);
});

test('a checkpoint altered to match a rewritten chain → bad signature, naming its line', async () => {
  const dir = await copy();
  const cps = await readLines(join(dir, CHECKPOINT_FILE));
  const cp = JSON.parse(cps[0] ?? '') as Record<string, unknown>;
  cps[0] = JSON.stringify({ ...cp, hash: 'f'.repeat(64) });
  await writeLines(join(dir, CHECKPOINT_FILE), cps);
  assertBrokenAt(await verify(dir), CHECKPOINT_FILE, 1, /bad signature/);
});

test('checkpoints re-signed with a forger\'s own key → unknown key id (or a bad signature under the real id)', async () => {
  const dir = await copy();
  await recomputeChain(dir);
  const forger = createCheckpointSigner(generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString());
  const lines = [...(await readLines(join(dir, first))), ...(await readLines(join(dir, second)))];
  const cps = (await readLines(join(dir, CHECKPOINT_FILE))).map((t) => JSON.parse(t) as Checkpoint);
  const forged = cps.map((c) => {
    const { sig: _sig, keyId: _keyId, ...body } = c;
    const rec = JSON.parse(lines[c.seq - 1] ?? '') as { hash: string };
    return signCheckpoint({ ...body, hash: rec.hash }, forger);
  });
  await writeLines(join(dir, CHECKPOINT_FILE), forged.map((c) => JSON.stringify(c)));
  assertBrokenAt(await verify(dir), CHECKPOINT_FILE, 1, /signed with key id .*no public key given has that id/);
  // The same, claiming the real key's id: the signature does not verify under it.
  const realId = (JSON.parse((await readLines(join(original, 'audit', CHECKPOINT_FILE)))[0] ?? '') as Checkpoint).keyId;
  const claimed = forged.map((c) => JSON.stringify({ ...c, keyId: realId }));
  await writeLines(join(dir, CHECKPOINT_FILE), claimed);
  assertBrokenAt(await verify(dir), CHECKPOINT_FILE, 1, /bad signature/);
});

test('drop the last records and the checkpoints that cover them → found with --redis (the newest checkpoint is kept there)', async () => {
  const dir = await copy();
  await unlink(join(dir, second));
  const cps = await readLines(join(dir, CHECKPOINT_FILE));
  // Keep checkpoints up to the first file's seal (seq 150): offline, what is left is consistent.
  await writeLines(join(dir, CHECKPOINT_FILE), cps.slice(0, 4));
  const offline = await verify(dir);
  assert.equal(offline.code, 0, `the documented window without Redis: ${offline.out}`);
  const env = { REDIS_URL: server.url, BW_PREFIX: prefix };
  assertBrokenAt(await verify(dir, { redis: true }, env), second, RECORDS - PER_FILE, /file missing: signed checkpoint 7/);
  // And when only the checkpoint file was cut, the records all present: the cut itself is named.
  const dir2 = await copy();
  await writeLines(join(dir2, CHECKPOINT_FILE), cps.slice(0, 4));
  assertBrokenAt(await verify(dir2, { redis: true }, env), CHECKPOINT_FILE, 5, /checkpoints 5–7 are missing from the end of the checkpoint file/);
  // The untouched files agree with Redis.
  const ok = await verify(await copy(), { redis: true }, env);
  assert.equal(ok.code, 0, ok.out);
  assert.match(ok.out, /Redis copy matched/);
});

test('unsigned checkpoints fail unless accepted knowingly; no key given fails too', async () => {
  const dir = await copy();
  const cps = (await readLines(join(dir, CHECKPOINT_FILE))).map((t) => {
    const { sig: _s, keyId: _k, ...body } = JSON.parse(t) as Checkpoint;
    return JSON.stringify(body);
  });
  await writeLines(join(dir, CHECKPOINT_FILE), cps);
  assertBrokenAt(await verify(dir), CHECKPOINT_FILE, 1, /unsigned/);
  const accepted = await verify(dir, { allowUnsigned: true });
  assert.equal(accepted.code, 0, accepted.out);
  assert.match(accepted.out, /warning: 7 unsigned checkpoint/);
  let out = '';
  const sink = { write: (s: string) => (out += s) };
  const code = await runAuditVerify(await listAuditFiles(join(original, 'audit')), {}, { env: {}, stdout: sink, stderr: sink });
  assert.equal(code, 1, out);
  assert.match(out, /no public key given has that id/);
});

test('public keys from BW_AUDIT_PUBLIC_KEYS (id:base64 SPKI DER) verify as --public-key does', async () => {
  const id = (JSON.parse((await readLines(join(original, 'audit', CHECKPOINT_FILE)))[0] ?? '') as Checkpoint).keyId ?? '';
  const der = keys.publicKey.export({ type: 'spki', format: 'der' }).toString('base64');
  let out = '';
  const sink = { write: (s: string) => (out += s) };
  const code = await runAuditVerify(await listAuditFiles(join(original, 'audit')), {}, { env: { BW_AUDIT_PUBLIC_KEYS: `old:${der},${id}:${der}` }, stdout: sink, stderr: sink });
  assert.equal(code, 0, out);
});

test('the CLI itself exits 1 and names the file and line (spawned)', { timeout: 60_000 }, async () => {
  const dir = await copy();
  const lines = await readLines(join(dir, second));
  await writeLines(join(dir, second), lines.slice(0, -1));
  const main = join(dirname(fileURLToPath(import.meta.url)), 'main.ts');
  const child = spawn(process.execPath, [...entryArgs(main), 'audit', 'verify', '--public-key', publicKeyFile, ...(await listAuditFiles(dir))], {
    env: { ...process.env, LOG_LEVEL: 'silent' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  assert.equal(code, 1, out);
  assert.ok(out.includes(`${join(dir, second)}:${RECORDS - PER_FILE} (seq 250): records missing from the end`), out);
});
