import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { createLedger } from '@breachwave/ledger';
import { acquireRedis, captureLog, type TestRedis } from '@breachwave/testkit';
import { createLease } from '@breachwave/redis';
import { createFeeder } from './feed.js';
import { addToWave, createWave, readWaveWarnings } from './wave.js';
import { dropPrefix, producerClient, randomPrefix, tempDir, testEnvelope } from './test-support.js';

let server: TestRedis;
let redis: Redis;

before(async () => {
  server = await acquireRedis();
  redis = producerClient(server.url);
});
after(async () => {
  redis.disconnect();
  await server.stop();
});

test('a wave stores its rows accepted with warnings, by warning, beside its other counters', async (t) => {
  const prefix = randomPrefix();
  t.after(() => dropPrefix(redis, prefix));
  const dir = await tempDir(t);
  const file = join(dir, 'warn.csv');
  await writeFile(file, [
    'account_id,segment,phone,email,time_zone',
    'A1,former,555-CALL-NOW,a1@example.com,',
    'A2,former,(202) 555-0143,"a2@example.com, b@example.com",Mars/Olympus',
    'A3,former,(202) 555-0144,,America/Chicago',
    'A4,former,(800) 555-0199,,',
    '',
  ].join('\n'));
  const ledger = createLedger({ redis, prefix });
  const wave = await createWave({ ledger, file, brand: 'B', helpUrl: 'https://help.example.com', dataDir: dir, envelope: testEnvelope(), log: captureLog().log });
  assert.deepEqual(wave.stats, {
    rows: 4, accepted: 3, rejected: 1, duplicates: 0, dropped_columns: 0,
    warned: 2, warnings: { phone_invalid: 1, email_multiple: 1, time_zone_unknown: 1 },
  });
  assert.deepEqual(await readWaveWarnings(redis, prefix, wave.waveId), { warned: 2, warnings: { phone_invalid: 1, email_multiple: 1, time_zone_unknown: 1 } });
  assert.deepEqual((await ledger.getWave(wave.waveId)).stats, { rows: 4, accepted: 3, rejected: 1, duplicates: 0, dropped_columns: 0 });
  // A wave without the fields (created before warnings were counted) reads as none.
  assert.deepEqual(await readWaveWarnings(redis, prefix, 'w-none'), { warned: 0, warnings: {} });
});

test('wave add: the fixed rows of a rejects report join the wave; ids already in it are rejected; counters, status and audit follow', async (t) => {
  const prefix = randomPrefix();
  t.after(() => dropPrefix(redis, prefix));
  const dir = await tempDir(t);
  const ledger = createLedger({ redis, prefix });
  const envelope = testEnvelope();
  const first = join(dir, 'first.csv');
  await writeFile(first, 'account_id,segment,phone,email\nA1,former,(202) 555-0143,\nA2,former,555-CALL-NOW,\nA3,former,,a3@example.com\n');
  const wave = await createWave({ ledger, file: first, brand: 'B', helpUrl: 'https://help.example.com', dataDir: dir, envelope, log: captureLog().log });
  assert.deepEqual([wave.stats.accepted, wave.stats.rejected], [2, 1]);
  // The wave was fed to the end before the fix came in.
  await ledger.setWaveFields(wave.waveId, { feed_checkpoint: 2, fed: 2 });
  await ledger.setWaveStatus(wave.waveId, 'fed', 'test');

  const fixed = join(dir, 'fixed.csv');
  await writeFile(fixed, 'account_id,segment,phone,email\nA2,former,(202) 555-0144,\nA3,former,,other@example.com\nA4,former,12345,a4@example.com\nA4,former,,a4@example.com\n');
  const added = await addToWave({ redis, prefix, ledger, waveId: wave.waveId, file: fixed, envelope, log: captureLog().log });
  assert.deepEqual([added.ingest.rows, added.ingest.accepted, added.ingest.rejected, added.ingest.duplicates], [4, 2, 2, 2]);
  assert.equal(added.status, 'feeding');
  assert.deepEqual(added.stats, { rows: 7, accepted: 4, rejected: 3, duplicates: 2, dropped_columns: 0, warned: 1, warnings: { phone_invalid: 1 } });
  assert.deepEqual(await readWaveWarnings(redis, prefix, wave.waveId), { warned: 1, warnings: { phone_invalid: 1 } });

  // A2 was rejected in the first file, so it is new here; A3 is already in the wave.
  const rejects = (await readFile(added.rejectsPath, 'utf8')).trim().split('\n');
  assert.deepEqual(rejects.slice(1), ['3,account_id,duplicate account_id (already in the wave),A3', '5,account_id,duplicate account_id (first seen on line 4),A4']);
  const spool = (await readFile(wave.spoolPath, 'utf8')).trim().split('\n').map((l) => (JSON.parse(l) as { accountId: string }).accountId);
  assert.deepEqual(spool, ['A1', 'A3', 'A2', 'A4']);

  const info = await ledger.getWave(wave.waveId);
  assert.equal(info.status, 'feeding');
  assert.deepEqual(info.stats, { rows: 7, accepted: 4, rejected: 3, duplicates: 2, dropped_columns: 0, feed_checkpoint: 2, fed: 2 });
  const audit = (await redis.xrange(ledger.keys.audit, '-', '+')).map(([, f]) => JSON.parse(f[1] ?? '{}') as { type: string; detail?: Record<string, unknown> });
  const record = audit.find((r) => r.type === 'wave.accounts-added');
  assert.ok(record);
  assert.deepEqual(record.detail, { source: 'fixed.csv', rows: 4, accepted: 2, rejected: 2, duplicates: 2, warned: 1, statusBefore: 'fed' });

  // The next feed picks up from the checkpoint: only the added accounts are queued.
  const feeder = createFeeder({ ledger, connection: redis, prefix, window: 100, batch: 10, log: captureLog().log });
  t.after(() => feeder.close());
  assert.deepEqual(await feeder.feed(wave.waveId), { fed: 2, skipped: 0, complete: true });
  const fedWave = await ledger.getWave(wave.waveId);
  assert.deepEqual([fedWave.status, fedWave.stats.fed, fedWave.stats.feed_checkpoint], ['fed', 4, 4]);
  assert.deepEqual(Object.keys(await redis.hgetall(ledger.keys.ledger(wave.waveId))).sort(), ['A2', 'A4']);
});

test('wave add: refused while the wave is being fed, or once it is completed; the wave is unchanged', async (t) => {
  const prefix = randomPrefix();
  t.after(() => dropPrefix(redis, prefix));
  const dir = await tempDir(t);
  const ledger = createLedger({ redis, prefix });
  const envelope = testEnvelope();
  const file = join(dir, 'a.csv');
  await writeFile(file, 'account_id,segment,email\nA1,former,a1@example.com\n');
  const wave = await createWave({ ledger, file, brand: 'B', helpUrl: 'https://help.example.com', dataDir: dir, envelope, log: captureLog().log });
  const more = join(dir, 'more.csv');
  await writeFile(more, 'account_id,segment,email\nB1,former,b1@example.com\n');
  const spoolBefore = await readFile(wave.spoolPath, 'utf8');

  const feeding = createLease(redis, ledger.keys.feeder(wave.waveId), 30_000);
  assert.ok((await feeding.tryAcquire()).acquired);
  await assert.rejects(addToWave({ redis, prefix, ledger, waveId: wave.waveId, file: more, envelope, log: captureLog().log }), { code: 'BW_WAVE_BUSY' });
  await feeding.release();

  // Counters that cannot be written (here: the audit stream's key holds another type) leave the spool as it was.
  const audit = await redis.xrange(ledger.keys.audit, '-', '+');
  await redis.del(ledger.keys.audit);
  await redis.set(ledger.keys.audit, 'not a stream');
  await assert.rejects(addToWave({ redis, prefix, ledger, waveId: wave.waveId, file: more, envelope, log: captureLog().log }), /WRONGTYPE/);
  assert.equal(await readFile(wave.spoolPath, 'utf8'), spoolBefore);
  const after = await ledger.getWave(wave.waveId);
  assert.deepEqual([after.status, after.stats.rows, after.stats.accepted], ['created', 1, 1]);
  assert.deepEqual(await readWaveWarnings(redis, prefix, wave.waveId), { warned: 0, warnings: {} });
  await redis.del(ledger.keys.audit);
  for (const [, f] of audit) await redis.xadd(ledger.keys.audit, '*', ...f);

  await ledger.setWaveStatus(wave.waveId, 'completed', 'test');
  await assert.rejects(addToWave({ redis, prefix, ledger, waveId: wave.waveId, file: more, envelope, log: captureLog().log }), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'BW_INPUT_INVALID');
    assert.match(e.message, /completed/);
    return true;
  });
  assert.equal(await readFile(wave.spoolPath, 'utf8'), spoolBefore);
  assert.equal((await ledger.getWave(wave.waveId)).stats.accepted, 1);
});
