import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { renderNotice } from '@breachwave/domain';
import { createLedger } from '@breachwave/ledger';
import { captureLog, useRedis } from '@breachwave/testkit';
import { writeAccountsFile } from '@breachwave/synth';
import type { SpoolEntry } from './ingest.js';
import { createReminderWave } from './reminder.js';
import { createWave } from './wave.js';
import { dropPrefix, randomPrefix, tempDir, testEnvelope } from './test-support.js';

const db = useRedis();

async function* each<T>(items: readonly T[]): AsyncGenerator<T> {
  for (const i of items) yield i;
}

test('a reminder wave takes the named accounts of its source wave, sealed anew, in the reminder lane, with the code action only; its notices remind', async (t) => {
  const prefix = randomPrefix();
  t.after(() => dropPrefix(db.redis, prefix));
  const ledger = createLedger({ redis: db.redis, prefix });
  const dir = await tempDir(t);
  const file = join(dir, 'accounts.csv');
  await writeAccountsFile(file, { rows: 40, seed: 43, malformedRate: 0, duplicateRate: 0 });
  const envelope = testEnvelope();
  const source = await createWave({ ledger, file, brand: 'Example Wireless', helpUrl: 'https://help.example.com', dataDir: dir, envelope, log: captureLog().log,
    rules: { 'rotate-pin': { segments: ['prepaid-active'] }, 'issue-code': {} }, codeSource: { kind: 'generated' }, enrollBy: '2027-06-30', approvals: 1, actor: 'operator:ana', name: 'PIN exposure' });
  const sourceEntries = (await readFile(source.spoolPath, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as SpoolEntry);
  const chosen = sourceEntries.slice(0, 7).map((e) => e.accountId);

  const r = await createReminderWave({ ledger, sourceWaveId: source.waveId, accountIds: each([...chosen, 'NOT-IN-WAVE']), envelope, dataDir: dir, log: captureLog().log, actor: 'operator:bo', approvals: 1 });
  assert.deepEqual([r.accepted, r.notInSource], [7, 1]);
  const wave = await ledger.getWave(r.waveId);
  assert.deepEqual([wave.status, wave.manifest.lane, wave.manifest.reminderOf, wave.manifest.createdBy, wave.manifest.approvals, wave.manifest.enrollBy], ['created', 'reminder', source.waveId, 'operator:bo', 1, '2027-06-30']);
  assert.deepEqual(wave.manifest.rules, { 'issue-code': {} }, 'no PIN is rotated again');
  assert.equal(wave.manifest.name, 'Reminder: PIN exposure');
  const spool = wave.paths.spool;
  assert.ok(spool);
  const entries = (await readFile(spool, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as SpoolEntry);
  assert.deepEqual(entries.map((e) => e.accountId), chosen);
  for (const e of entries) {
    const original = sourceEntries.find((s) => s.accountId === e.accountId);
    assert.notEqual(e.record.contact, original?.record.contact, 'sealed anew');
    assert.deepEqual(envelope.openJson(e.record.contact, `${r.waveId}:${e.accountId}`), envelope.openJson(original?.record.contact ?? '', `${source.waveId}:${e.accountId}`), 'for the new wave, the same contact');
    assert.throws(() => envelope.open(e.record.contact, `${source.waveId}:${e.accountId}`), 'bound to the new wave only');
  }
  await assert.rejects(createReminderWave({ ledger, sourceWaveId: source.waveId, accountIds: each([]), envelope, dataDir: dir, log: captureLog().log, actor: 'operator:bo', approvals: 1 }), { code: 'BW_INPUT_INVALID' });
});

test('a reminder notice says it reminds, repeats the code line and names no exposed data; in both languages, the Spanish SMS in GSM-7', () => {
  for (const locale of ['en', 'es'] as const) {
    const vars = { brand: 'Example', helpUrl: 'https://h.example.com', exposed: ['ssn', 'name'] as const, reminder: true, enrollmentCode: 'ABCD-EFGH-JKLM', enrollBy: '2027-06-30' };
    const sms = renderNotice('sms', locale, { ...vars, exposed: [...vars.exposed] });
    const email = renderNotice('email', locale, { ...vars, exposed: [...vars.exposed] });
    assert.ok(sms.channel === 'sms' && email.channel === 'email');
    assert.match(sms.body, locale === 'en' ? /^Example reminder about our security notice\./ : /^Recordatorio del aviso de seguridad de Example\./);
    assert.match(sms.body, /ABCD-EFGH-JKLM/);
    assert.match(email.subject, locale === 'en' ? /reminder/ : /recordatorio/);
    assert.match(email.text, /ABCD-EFGH-JKLM/);
    for (const said of [sms.body, email.text]) assert.doesNotMatch(said, /social|SSN|seguro social|name\b|nombre/i, 'the exposure is not announced again');
    if (locale === 'es') assert.doesNotMatch(sms.body, /[^\n -~¡£¤¥§¿ÄÅÆÇÉÑÖØÜßàäåæèéìñòöøùü]/, 'GSM-7 only');
  }
});
