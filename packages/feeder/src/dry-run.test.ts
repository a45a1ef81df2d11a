import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createLedger, type Ledger } from '@breachwave/ledger';
import { setSenderPace } from '@breachwave/pacing';
import { captureLog, useRedis } from '@breachwave/testkit';
import { writeAccountsFile } from '@breachwave/synth';
import { dryRunAndRecord, dryRunWave } from './dry-run.js';
import { PACE_APPLIED_FIELD } from './feed.js';
import type { SpoolEntry } from './ingest.js';
import { addToWave, createWave } from './wave.js';
import { dropPrefix, randomPrefix, tempDir, testEnvelope } from './test-support.js';

const db = useRedis();

/** A key prefix of the test's own (dropped after it), a ledger on it and a temporary directory. */
async function setUp(t: TestContext): Promise<{ prefix: string; ledger: Ledger; dir: string }> {
  const prefix = randomPrefix();
  t.after(() => dropPrefix(db.redis, prefix));
  return { prefix, ledger: createLedger({ redis: db.redis, prefix }), dir: await tempDir(t) };
}

test('a dry run counts what the wave would do without touching anything, and finds the accounts earlier waves already notified or rotated', async (t) => {
  const { prefix, ledger, dir } = await setUp(t);
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
  const report = await dryRunWave(ledger, again.waveId, { fallback: { sms: 10, email: 5 } });
  assert.deepEqual(await snapshot(), before, 'a dry run writes nothing');
  assert.equal(report.accepted, again.stats.accepted);
  assert.equal(report.byChannel.sms + report.byChannel.email + report.byChannel.none, report.accepted, 'every account has one first channel, or none');
  assert.equal(Object.values(report.bySegment).reduce((a, b) => a + b, 0), report.accepted);
  assert.equal(report.templates.reduce((a, t) => a + t.accounts, 0), report.accepted - report.byChannel.none);
  assert.equal(report.estimatedSeconds, Math.ceil(Math.max(report.byChannel.sms / 10, report.byChannel.email / 5)));
  assert.deepEqual(report.overlap, {
    notified: 5, rotated: 3, contacts: 0, waves: [{ waveId: earlier.waveId, notified: 5, rotated: 3, contacts: 0 }],
    contactMatching: { checked: false, reason: 'this wave has no contact-point file (created before they existed, or without the HMAC key)', skipped: [] },
  });

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
  const { ledger, dir } = await setUp(t);
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
  const want = {
    notified: 5, rotated: 3, contacts: 0, waves: [{ waveId: earlier.waveId, notified: 5, rotated: 3, contacts: 0 }],
    contactMatching: { checked: false, reason: 'this wave has no contact-point file (created before they existed, or without the HMAC key)', skipped: [] },
  };
  assert.deepEqual((await dryRunWave(ledger, again.waveId)).overlap, want);
  assert.equal(await ledger.compact(earlier.waveId), 5);
  assert.equal(await db.redis.hlen(ledger.keys.ledger(earlier.waveId)), 3);
  assert.deepEqual((await dryRunWave(ledger, again.waveId)).overlap, want);
  // Without the earlier wave's spool its compacted accounts cannot be looked at: no answer rather than a wrong one.
  await ledger.setWaveFields(earlier.waveId, { 'path:spool': join(dir, 'nowhere.jsonl') });
  await assert.rejects(dryRunWave(ledger, again.waveId), { code: 'BW_INPUT_FILE' });
});

test('the estimate uses the pace each sender will have: the wave\'s planned pace until it is fed, then the stored one, else the fallback, and says which', async (t) => {
  const { prefix, ledger, dir } = await setUp(t);
  const file = join(dir, 'accounts.csv');
  await writeAccountsFile(file, { rows: 60, seed: 47, malformedRate: 0, duplicateRate: 0 });
  const senders = { sms: 'twilio:+15005550006', email: 'smtp:mail.test:25' };
  const wave = await createWave({ ledger, file, brand: 'Example Wireless', helpUrl: 'https://help.example.com', dataDir: dir, envelope: testEnvelope(), log: captureLog().log,
    pace: { [senders.sms]: 4 } });
  await setSenderPace({ redis: db.redis, prefix, ledger }, senders.email, 7, 'operator:ana');
  await setSenderPace({ redis: db.redis, prefix, ledger }, senders.sms, 50, 'operator:ana');
  const pacing = { redis: db.redis, prefix, senders };
  const fallback = { sms: 1000, email: 1000 };
  const fallbackFrom = { sms: 'BW_SMS_RATE', email: 'BW_EMAIL_RATE' };

  // Not yet fed: the first feed will write the planned SMS pace over the stored 50/s.
  const planned = await dryRunWave(ledger, wave.waveId, { pacing, fallback, fallbackFrom });
  assert.deepEqual(planned.paceSource, { sms: { rate: 4, source: 'manifest', sender: senders.sms }, email: { rate: 7, source: 'stored', sender: senders.email } });
  assert.ok(planned.notices.sms > 0 && planned.notices.email > 0);
  assert.equal(planned.estimatedSeconds, Math.ceil(Math.max(planned.notices.sms / 4, planned.notices.email / 7)));

  // Fed once (the planned pace applied), then `pace set` to 2/s: what is stored is what the notifiers pace by.
  await db.redis.hset(ledger.keys.wave(wave.waveId), PACE_APPLIED_FIELD, String(Date.now()));
  await setSenderPace({ redis: db.redis, prefix, ledger }, senders.sms, 2, 'operator:bo');
  const stored = await dryRunWave(ledger, wave.waveId, { pacing, fallback, fallbackFrom });
  assert.deepEqual(stored.paceSource.sms, { rate: 2, source: 'stored', sender: senders.sms });
  assert.equal(stored.estimatedSeconds, Math.ceil(Math.max(stored.notices.sms / 2, stored.notices.email / 7)));

  // A relay with nothing stored or planned: the fallback, named.
  const other = await dryRunWave(ledger, wave.waveId, { pacing: { ...pacing, senders: { ...senders, email: 'smtp:other:25' } }, fallback, fallbackFrom });
  assert.deepEqual(other.paceSource.email, { rate: 1000, source: 'fallback', sender: 'smtp:other:25', from: 'BW_EMAIL_RATE' });
  // Nothing at all: no estimate rather than a made-up one.
  const none = await dryRunWave(ledger, wave.waveId);
  assert.deepEqual(none.paceSource, { sms: { rate: null, source: 'none' }, email: { rate: null, source: 'none' } });
  assert.equal(none.estimatedSeconds, null);
});

test('quiet hours: the SMS notices whose turn at the pace falls outside the recipient\'s window are counted as deferred, with the longest wait', async (t) => {
  const { ledger, dir } = await setUp(t);
  const envelope = testEnvelope();
  const make = async (name: string, rows: string[]) => {
    const file = join(dir, `${name}.csv`);
    await writeFile(file, `account_id,segment,phone,email,time_zone,exposed\n${rows.join('\n')}\n`);
    return createWave({ ledger, file, brand: 'Example Wireless', helpUrl: 'https://help.example.com', dataDir: join(dir, name), envelope, log: captureLog().log,
      quietHours: { defaultZone: 'America/New_York' } });
  };
  const mixed = await make('mixed', [
    'Q-1,former,+1 808 201 0001,,,name', // Honolulu: 03:30 at the start
    'Q-2,former,+1 312 201 0002,,,name', // Chicago: 07:30
    'Q-3,former,+1 312 201 0003,,America/New_York,name', // the account's own zone wins: 08:30
    'Q-4,former,+1 212 201 0004,,,name', // New York: 08:30
    'Q-5,former,,q5@example.com,,name', // email is never held
  ]);
  // Wednesday 2026-03-04 13:30 UTC (before DST), one SMS a second.
  const startAt = new Date('2026-03-04T13:30:00Z');
  const r = await dryRunWave(ledger, mixed.waveId, { envelope, startAt, fallback: { sms: 1 } });
  assert.equal(r.notices.sms, 4);
  assert.equal(r.quietHours?.deferred, 2, 'Honolulu and Chicago wait; the account zoned in New York and the New York number do not');
  assert.equal(r.quietHours?.areaCodes, true);
  assert.equal(r.quietHours?.startAt, startAt.toISOString());
  // Honolulu opens at 18:00 UTC, 4.5 hours after the start, less the seconds of its turn.
  const max = r.quietHours?.maxDelaySeconds ?? 0;
  assert.ok(max <= 16_200 && max >= 16_200 - 3, `longest wait ${max}`);
  // Without the envelope the numbers' area codes are unknown: the wave's default zone (open) applies.
  const blind = await dryRunWave(ledger, mixed.waveId, { startAt, fallback: { sms: 1 } });
  assert.deepEqual([blind.quietHours?.deferred, blind.quietHours?.areaCodes], [0, false]);

  // The pace spreads the sends: five Chicago numbers at one SMS per 500 s from 13:30 UTC (07:30
  // there) take turns at 07:30, 07:38, 07:46, 07:55 and 08:03: four are deferred, the first by 30 minutes.
  const chicago = await make('chicago', [1, 2, 3, 4, 5].map((i) => `C-${i},former,+1 312 201 100${i},,,name`));
  const spread = await dryRunWave(ledger, chicago.waveId, { envelope, startAt, fallback: { sms: 0.002 } });
  assert.deepEqual([spread.quietHours?.deferred, spread.quietHours?.maxDelaySeconds], [4, 1800]);
  const fast = await dryRunWave(ledger, chicago.waveId, { envelope, startAt, fallback: { sms: 100 } });
  assert.equal(fast.quietHours?.deferred, 5);
  // A wave without quiet hours holds nothing.
  const file = join(dir, 'off.csv');
  await writeFile(file, 'account_id,segment,phone,exposed\nO-1,former,+1 808 201 0009,name\n');
  const off = await createWave({ ledger, file, brand: 'Example Wireless', helpUrl: 'https://help.example.com', dataDir: join(dir, 'off'), envelope, log: captureLog().log });
  assert.equal((await dryRunWave(ledger, off.waveId, { envelope, startAt })).quietHours, null);
});

test('a phone an earlier wave notified under another account id is overlap: counted by keyed hash, and the approval needs the audited override', async (t) => {
  const { ledger, dir } = await setUp(t);
  const envelope = testEnvelope();
  const key = randomBytes(32);
  const make = async (name: string, rows: string[], fingerprintKey: Buffer | null = key) => {
    const file = join(dir, `${name}.csv`);
    await writeFile(file, `account_id,segment,phone,email,exposed\n${rows.join('\n')}\n`);
    return createWave({ ledger, file, brand: 'Example Wireless', helpUrl: 'https://help.example.com', dataDir: join(dir, name), envelope, log: captureLog().log,
      approvals: 1, actor: 'operator:ana', consolidate: false, ...(fingerprintKey ? { fingerprintKey } : {}) });
  };
  // A wave made before contact-point files existed (no key given, no file): left out of the comparison, and said so.
  const old = await make('old', ['OLD-1,former,+1 312 201 0001,,name'], null);
  const earlier = await make('earlier', ['E-1,former,+1 312 201 0001,,name', 'E-2,former,+1 312 201 0002,e2@example.com,name', 'E-3,former,+1 312 201 0003,,name']);
  const path = earlier.paths.contacts ?? '';
  assert.equal((await stat(path)).mode & 0o777, 0o600, 'owner only');
  const text = await readFile(path, 'utf8');
  assert.doesNotMatch(text, /312|201|example\.com|e2@/, 'no phone or email in clear');
  assert.equal(text.trim().split('\n').length, 4, 'a key line and one line per account');
  // The earlier wave notified E-1 and E-2; E-3's notice was never sent.
  await ledger.initAccounts(earlier.waveId, 'feeder', ['E-1', 'E-2', 'E-3'].map((accountId, ordinal) => ({ accountId, actions: ['notify'], ordinal })));
  for (const id of ['E-1', 'E-2']) {
    await ledger.transition({ waveId: earlier.waveId, accountId: id, action: 'notify', actor: 't', from: ['pending'], to: 'claimed', event: 'notify.claimed' });
    await ledger.transition({ waveId: earlier.waveId, accountId: id, action: 'notify', actor: 't', from: ['claimed'], to: 'done', event: 'notify.done' });
  }
  // The same people under new ids: E-1's phone (written another way), E-2's email (other case), E-3's phone (never notified); and a stranger.
  const again = await make('again', ['N-1,former,(312) 201-0001,,name', 'N-2,former,,E2@Example.com,name', 'N-3,former,+1 312 201 0003,,name', 'N-4,former,+1 312 201 0004,,name']);
  const report = await dryRunWave(ledger, again.waveId);
  assert.deepEqual([report.overlap.notified, report.overlap.rotated], [0, 0], 'no account id is shared');
  assert.equal(report.overlap.contacts, 2, "E-1's phone and E-2's email; E-3's phone was never sent to");
  assert.deepEqual(report.overlap.waves, [{ waveId: earlier.waveId, notified: 0, rotated: 0, contacts: 2 }]);
  assert.deepEqual(report.overlap.contactMatching, { checked: true, skipped: [{ waveId: old.waveId, reason: 'no contact-point file (created before they existed, or without the HMAC key)' }] });
  // Under another key nothing can be compared: that wave is left out, and said so.
  const otherKey = await make('other', ['K-1,former,+1 312 201 0001,,name'], randomBytes(32));
  assert.equal((await dryRunWave(ledger, otherKey.waveId)).overlap.contacts, 0);
  assert.ok((await dryRunWave(ledger, otherKey.waveId)).overlap.contactMatching.skipped.some((s) => s.waveId === earlier.waveId && /another key/.test(s.reason)));

  await dryRunAndRecord(ledger, again.waveId, 'operator:ana');
  await assert.rejects(ledger.control('approve', again.waveId, 'operator:bo'), (err: Error & { code?: string }) => err.code === 'BW_APPROVAL_REFUSED' && /phones and emails/.test(err.message));
  assert.equal((await ledger.getWave(again.waveId)).status, 'created', 'a refused approval changes nothing');
  assert.equal((await ledger.control('approve', again.waveId, 'operator:bo', { allowOverlap: true }, 0, { allow: true })).status, 'approved');
  const approval = (await db.redis.xrange(ledger.keys.audit, '-', '+')).map(([, f]) => JSON.parse(f[1] ?? '{}') as { type: string; actor: string; wave?: string; detail?: Record<string, unknown> })
    .find((r) => r.type === 'wave.approval' && r.wave === again.waveId && r.detail?.status === 'approved');
  assert.deepEqual([approval?.actor, approval?.detail?.allowOverlap, approval?.detail?.overlapAllowed], ['operator:bo', true, 2], 'the override is audited with who gave it');
  // The earlier wave's finished accounts compacted (found by ordinal only): the same count.
  assert.equal(await ledger.compact(earlier.waveId), 2);
  assert.equal((await dryRunWave(ledger, again.waveId)).overlap.contacts, 2);
});

test('accounts added to a wave are added to its contact-point file; added without the key, the file is dropped rather than left short', async (t) => {
  const { prefix, ledger, dir } = await setUp(t);
  const envelope = testEnvelope();
  const key = randomBytes(32);
  const csv = async (name: string, rows: string[]) => {
    const file = join(dir, `${name}.csv`);
    await writeFile(file, `account_id,segment,phone,exposed\n${rows.join('\n')}\n`);
    return file;
  };
  const base = { ledger, brand: 'Example Wireless', helpUrl: 'https://help.example.com', envelope, log: captureLog().log, fingerprintKey: key };
  const earlier = await createWave({ ...base, file: await csv('earlier', ['E-1,former,+1 312 201 0001,name']), dataDir: join(dir, 'e') });
  await ledger.initAccounts(earlier.waveId, 'feeder', [{ accountId: 'E-1', actions: ['notify'] }]);
  await ledger.transition({ waveId: earlier.waveId, accountId: 'E-1', action: 'notify', actor: 't', from: ['pending'], to: 'claimed', event: 'notify.claimed' });
  await ledger.transition({ waveId: earlier.waveId, accountId: 'E-1', action: 'notify', actor: 't', from: ['claimed'], to: 'done', event: 'notify.done' });
  const wave = await createWave({ ...base, file: await csv('later', ['L-1,former,+1 312 201 0009,name']), dataDir: join(dir, 'l') });
  assert.equal((await dryRunWave(ledger, wave.waveId)).overlap.contacts, 0);
  await addToWave({ redis: db.redis, prefix, ledger, waveId: wave.waveId, file: await csv('fix', ['L-2,former,+1 312 201 0001,name']), envelope, log: captureLog().log, contactKey: key });
  assert.equal((await dryRunWave(ledger, wave.waveId)).overlap.contacts, 1, 'the added account\'s phone is compared too');
  await addToWave({ redis: db.redis, prefix, ledger, waveId: wave.waveId, file: await csv('fix2', ['L-3,former,+1 312 201 0003,name']), envelope, log: captureLog().log });
  const after = await dryRunWave(ledger, wave.waveId);
  assert.equal(after.overlap.contactMatching.checked, false);
  assert.equal((await ledger.getWave(wave.waveId)).paths.contacts, undefined);
});
