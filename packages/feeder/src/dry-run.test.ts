import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createLedger } from '@breachwave/ledger';
import { captureLog, useRedis } from '@breachwave/testkit';
import { writeAccountsFile } from '@breachwave/synth';
import { dryRunAndRecord, dryRunWave } from './dry-run.js';
import type { SpoolEntry } from './ingest.js';
import { createWave } from './wave.js';
import { dropPrefix, randomPrefix, tempDir, testEnvelope } from './test-support.js';

const db = useRedis();

test('a dry run counts what the wave would do without touching anything, and finds the accounts earlier waves already notified or rotated', async (t) => {
  const prefix = randomPrefix();
  t.after(() => dropPrefix(db.redis, prefix));
  const ledger = createLedger({ redis: db.redis, prefix });
  const dir = await tempDir(t);
  const file = join(dir, 'accounts.csv');
  await writeAccountsFile(file, { rows: 60, seed: 41, malformedRate: 0, duplicateRate: 0 });
  const make = (name: string) => createWave({ ledger, file, brand: 'Example Wireless', helpUrl: 'https://help.example.com', dataDir: join(dir, name), envelope: testEnvelope(), log: captureLog().log,
    rules: { 'rotate-pin': { segments: ['prepaid-active'] } }, approvals: 1, actor: 'operator:ana' });
  const earlier = await make('earlier');
  const ids = (await readFile(earlier.spoolPath, 'utf8')).trim().split('\n').map((l) => (JSON.parse(l) as SpoolEntry).accountId);
  // The earlier wave notified its first 5 accounts and rotated the PINs of 3 of them.
  await ledger.initAccounts(earlier.waveId, 'feeder', ids.slice(0, 8).map((accountId) => ({ accountId, actions: ['rotate-pin', 'notify'] })));
  for (const [i, id] of ids.slice(0, 5).entries()) {
    for (const action of i < 3 ? (['rotate-pin', 'notify'] as const) : (['notify'] as const)) {
      if (action === 'notify' && i >= 3) await ledger.transition({ waveId: earlier.waveId, accountId: id, action: 'rotate-pin', actor: 't', from: ['pending'], to: 'skipped', event: 'rotate-pin.skipped' });
      await ledger.transition({ waveId: earlier.waveId, accountId: id, action, actor: 't', from: ['pending'], to: 'claimed', event: `${action}.claimed` });
      await ledger.transition({ waveId: earlier.waveId, accountId: id, action, actor: 't', from: ['claimed'], to: 'done', event: `${action}.done` });
    }
  }
  // A corrected export of the same people, made into a second wave.
  const again = await make('again');
  const snapshot = async () => {
    const keys = (await db.redis.keys(`${prefix}*`)).sort();
    return Promise.all(keys.map(async (k) => [k, await db.redis.dump(k)]));
  };
  const before = await snapshot();
  const report = await dryRunWave(ledger, again.waveId, { sms: 10, email: 5 });
  assert.deepEqual(await snapshot(), before, 'a dry run writes nothing');
  assert.equal(report.accepted, again.stats.accepted);
  assert.equal(report.byChannel.sms + report.byChannel.email + report.byChannel.none, report.accepted, 'every account has one first channel, or none');
  assert.equal(Object.values(report.bySegment).reduce((a, b) => a + b, 0), report.accepted);
  assert.equal(report.templates.reduce((a, t) => a + t.accounts, 0), report.accepted - report.byChannel.none);
  assert.equal(report.estimatedSeconds, Math.ceil(Math.max(report.byChannel.sms / 10, report.byChannel.email / 5)));
  assert.deepEqual(report.overlap, { notified: 5, rotated: 3, waves: [{ waveId: earlier.waveId, notified: 5, rotated: 3 }] });

  // Recorded, the overlap stops the approval until someone allows it, on the record.
  await dryRunAndRecord(ledger, again.waveId, 'operator:ana');
  await assert.rejects(ledger.control('approve', again.waveId, 'operator:bo'), (err: Error & { code?: string }) => err.code === 'BW_APPROVAL_REFUSED' && /earlier waves already notified/.test(err.message));
  assert.equal((await ledger.getWave(again.waveId)).status, 'created');
  const ok = await ledger.control('approve', again.waveId, 'operator:bo', { allowOverlap: true }, 0, { allow: true });
  assert.equal(ok.status, 'approved');
  const approval = (await db.redis.xrange(ledger.keys.audit, '-', '+')).map(([, f]) => JSON.parse(f[1] ?? '{}') as { type: string; actor: string; detail?: Record<string, unknown> })
    .find((r) => r.type === 'wave.approval' && r.detail?.status === 'approved');
  assert.deepEqual([approval?.actor, approval?.detail?.allowOverlap, approval?.detail?.overlapAllowed], ['operator:bo', true, 8], 'the override is in the audit trail with who gave it');
});

test('the overlap with an earlier wave is the same once its finished accounts are compacted; its spool gone, the dry run refuses to guess', async (t) => {
  const prefix = randomPrefix();
  t.after(() => dropPrefix(db.redis, prefix));
  const ledger = createLedger({ redis: db.redis, prefix });
  const dir = await tempDir(t);
  const file = join(dir, 'accounts.csv');
  await writeAccountsFile(file, { rows: 60, seed: 43, malformedRate: 0, duplicateRate: 0 });
  const make = (name: string) => createWave({ ledger, file, brand: 'Example Wireless', helpUrl: 'https://help.example.com', dataDir: join(dir, name), envelope: testEnvelope(), log: captureLog().log,
    rules: { 'rotate-pin': { segments: ['prepaid-active'] } }, approvals: 1, actor: 'operator:ana' });
  const earlier = await make('earlier');
  const ids = (await readFile(earlier.spoolPath, 'utf8')).trim().split('\n').map((l) => (JSON.parse(l) as SpoolEntry).accountId);
  // Fed with each account's ordinal (its place in the spool): 5 notified, 3 of them with a PIN rotated, 3 still open.
  await ledger.initAccounts(earlier.waveId, 'feeder', ids.slice(0, 8).map((accountId, ordinal) => ({ accountId, actions: ['rotate-pin', 'notify'], ordinal })));
  const step = (accountId: string, action: 'rotate-pin' | 'notify', from: 'pending' | 'claimed', to: 'claimed' | 'done' | 'skipped') =>
    ledger.transition({ waveId: earlier.waveId, accountId, action, actor: 't', from: [from], to, event: `${action}.${to}` });
  for (const [i, id] of ids.slice(0, 5).entries()) {
    if (i < 3) {
      await step(id, 'rotate-pin', 'pending', 'claimed');
      await step(id, 'rotate-pin', 'claimed', 'done');
    } else await step(id, 'rotate-pin', 'pending', 'skipped');
    await step(id, 'notify', 'pending', 'claimed');
    await step(id, 'notify', 'claimed', 'done');
  }
  const again = await make('again');
  const want = { notified: 5, rotated: 3, waves: [{ waveId: earlier.waveId, notified: 5, rotated: 3 }] };
  assert.deepEqual((await dryRunWave(ledger, again.waveId)).overlap, want);
  assert.equal(await ledger.compact(earlier.waveId), 5);
  assert.equal(await db.redis.hlen(ledger.keys.ledger(earlier.waveId)), 3);
  assert.deepEqual((await dryRunWave(ledger, again.waveId)).overlap, want);
  // Without the earlier wave's spool its compacted accounts cannot be looked at: no answer rather than a wrong one.
  await ledger.setWaveFields(earlier.waveId, { 'path:spool': join(dir, 'nowhere.jsonl') });
  await assert.rejects(dryRunWave(ledger, again.waveId), { code: 'BW_INPUT_FILE' });
});
