import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { isBreachwaveError } from '@breachwave/domain';
import { createLedger } from '@breachwave/ledger';
import { acquireRedis, captureLog, type TestRedis } from '@breachwave/testkit';
import { suggestColumn } from './columns.js';
import { ingestFile, type SpoolEntry } from './ingest.js';
import { formatWaveManifest, manifestFromPlan, parseWaveManifest, readWaveManifest } from './manifest.js';
import { addToWave, createWave } from './wave.js';
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

/** A carrier export: its own names for the exposure, the language and the phone, plus a free-text column and an SSN. */
const CARRIER_CSV = [
  'account_id,segment,MSISDN,email,Exposed Data,Language,Notes,SSN',
  'C1,prepaid-active,(202) 555-0143,,name;phone;pin,es,call back,SYN-SSN-1',
  'C2,former,(312) 555-0199,c2@example.com,ssn,en,,SYN-SSN-2',
  '',
].join('\n');

function problemLines(err: unknown): string[] {
  assert.ok(isBreachwaveError(err), String(err));
  assert.equal(err.code, 'BW_INPUT_INVALID');
  return err.message.split('\n').slice(1);
}

test('a good manifest: every field lands in the plan; deadlineDays gives the deadline; accounts resolve against the manifest\'s directory', async (t) => {
  const dir = await tempDir(t);
  await mkdir(join(dir, 'waves'));
  const file = join(dir, 'waves', 'wave.yaml');
  await writeFile(file, [
    'version: 1',
    'name: Prepaid PIN exposure, first wave',
    'accounts: ../exports/affected.csv',
    'brand: Acme Mobile',
    'helpUrl: https://acme.example/breach',
    'actions:',
    '  rotate-pin: true',
    '  issue-code: { segments: [postpaid-current, former] }',
    'pinDelivery: sms-temporary',
    'codeSource: { pool: vendor-a }',
    'enrollBy: 2026-12-31',
    'quietHours: { defaultZone: America/Chicago, window: { start: "09:00", end: "20:00" } }',
    'smsSegmentBudget: 4',
    'consolidate: false',
    'approvals: 2',
    'regulatory: { determinedAt: "2026-05-01T14:30:00Z", deadlineDays: 30, rule: "FCC 47 CFR 64.2011: 30 days" }',
    'columns: { phone: MSISDN, exposed: Exposed Data }',
    'ignoreColumns: [Notes]',
  ].join('\n'));
  const plan = await readWaveManifest(file);
  assert.deepEqual(plan, {
    manifestVersion: 1,
    name: 'Prepaid PIN exposure, first wave',
    accounts: join(dir, 'exports', 'affected.csv'),
    brand: 'Acme Mobile',
    helpUrl: 'https://acme.example/breach',
    rules: {
      'rotate-pin': { segments: ['prepaid-active'], exposedAny: ['pin'] },
      'issue-code': { segments: ['postpaid-current', 'former'], exposedAny: ['ssn', 'drivers-license'] },
    },
    pinDelivery: 'sms-temporary',
    codeSource: { kind: 'pool', pool: 'vendor-a' },
    enrollBy: '2026-12-31',
    quietHours: { defaultZone: 'America/Chicago', window: { start: '09:00', end: '20:00' } },
    smsSegmentBudget: 4,
    consolidate: false,
    approvals: 2,
    regulatory: { determinedAt: '2026-05-01T14:30:00.000Z', deadline: '2026-05-31T14:30:00.000Z', rule: 'FCC 47 CFR 64.2011: 30 days' },
    columns: { phone: 'MSISDN', exposed: 'Exposed Data' },
    ignoreColumns: ['Notes'],
    channels: { order: ['sms', 'email'] },
  });
  // Written back out and read again, it says the same.
  const again = join(dir, 'waves', 'again.json');
  await writeFile(again, formatWaveManifest(manifestFromPlan(plan, join(dir, 'waves')), again));
  assert.deepEqual(await readWaveManifest(again), plan);
  // Defaults: notify only, quiet hours on in New York time, budget 3, one notice per contact point.
  assert.deepEqual(parseWaveManifest('{"version": 1}', join(dir, 'm.json'), 'json'), {
    manifestVersion: 1, rules: {}, pinDelivery: 'none', quietHours: { defaultZone: 'America/New_York' }, smsSegmentBudget: 3, consolidate: true,
    channels: { order: ['sms', 'email'] },
  });
  assert.throws(() => parseWaveManifest('version: 1\nconsolidate: sometimes\n', file), /consolidate: must be a boolean/);
  assert.equal(parseWaveManifest('version: 1\nquietHours: false\n', file).quietHours, undefined);
});

test('a bad manifest: every problem at once, one line each, with the field\'s path', () => {
  const text = [
    'version: 1',
    'actions:',
    '  rotate-pin: { segments: [prepaid] }',
    '  issue-code: true',
    'enrollBy: 31/12/2026',
    'regulatory: { determinedAt: 2026-05-01, deadline: 2026-06-01, deadlineDays: 30 }',
    'columns: { phone: SSN }',
    'quietHour: false',
  ].join('\n');
  let lines: string[] = [];
  assert.throws(() => parseWaveManifest(text, 'wave.yaml'), (err) => {
    lines = problemLines(err);
    assert.match((err as Error).message, /^input is invalid: manifest wave\.yaml has 6 problems:/);
    return true;
  });
  assert.deepEqual(lines.map((l) => l.replace(/ \(expected .*\)$/, '')), [
    'manifest wave.yaml: actions.rotate-pin.segments[0]: unknown segment "prepaid"',
    'manifest wave.yaml: enrollBy: must be a date YYYY-MM-DD',
    'manifest wave.yaml: quietHour: unknown field',
    'manifest wave.yaml: codeSource: required when issue-code is on ("generated" or { pool: NAME })',
    'manifest wave.yaml: regulatory: give exactly one of deadline, deadlineDays or deadlines',
    'manifest wave.yaml: columns.phone: "SSN" is a column the pipeline never reads (it is dropped at ingest); it cannot be mapped',
  ]);
  // Another version is refused for what it is, and nothing else is said about it.
  assert.throws(() => parseWaveManifest('version: 2\nbogus: 1\n', 'wave.yaml'), /manifest wave\.yaml: version: unsupported manifest version 2 \(this breachwave reads version 1\)$/);
  assert.throws(() => parseWaveManifest('name: x\n', 'wave.yaml'), /version: required/);
  assert.throws(() => parseWaveManifest('{"version": 1,', 'wave.json', 'json'), /manifest wave\.json: not valid JSON/);
});

test('channel policy, pace per sender, named approvers, several deadline rules and template values: read, checked and written back the same', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'wave.yaml');
  await writeFile(file, [
    'version: 1',
    'channels: { order: [email, sms], segments: { former: [email], prepaid-active: [sms, email] } }',
    'pace: { "twilio:+15005550006": 3, "smtp:relay.example.com:25": 50 }',
    'approvers: [bo, operator:cy]',
    'approvals: 2',
    'templates: { carrierName: Acme Mobile, supportUrl: "https://acme.example/help", supportPhone: "1-800-555-0199", signOff: The Acme Mobile security team }',
    'regulatory:',
    '  determinedAt: "2026-05-01T14:30:00Z"',
    '  deadlines:',
    '    - { rule: "FCC 47 CFR 64.2011", days: 30 }',
    '    - { rule: "State X breach law", hours: 72 }',
    '    - { rule: "State Y breach law", at: "2026-05-20T00:00:00Z" }',
  ].join('\n'));
  const plan = await readWaveManifest(file);
  assert.deepEqual(plan.channels, { order: ['email', 'sms'], segments: { former: ['email'], 'prepaid-active': ['sms', 'email'] } });
  assert.deepEqual(plan.pace, { 'twilio:+15005550006': 3, 'smtp:relay.example.com:25': 50 });
  assert.deepEqual(plan.approvers, ['operator:bo', 'operator:cy'], 'names become the identities the audit uses');
  assert.throws(() => parseWaveManifest('version: 1\napprovers: [bo]\napprovals: 2\n', file), /approvals: 2 approvals cannot come from the 1 operator\(s\) listed in approvers/);
  assert.deepEqual([plan.brand, plan.helpUrl, plan.supportPhone, plan.signOff], ['Acme Mobile', 'https://acme.example/help', '1-800-555-0199', 'The Acme Mobile security team']);
  // The earliest deadline is the wave's, and the rule that sets it is named.
  assert.deepEqual(plan.regulatory, {
    determinedAt: '2026-05-01T14:30:00.000Z', deadline: '2026-05-04T14:30:00.000Z', rule: 'State X breach law',
    rules: [
      { rule: 'FCC 47 CFR 64.2011', deadline: '2026-05-31T14:30:00.000Z', days: 30 },
      { rule: 'State X breach law', deadline: '2026-05-04T14:30:00.000Z', hours: 72 },
      { rule: 'State Y breach law', deadline: '2026-05-20T00:00:00.000Z' },
    ],
  });
  for (const again of [join(dir, 'again.yaml'), join(dir, 'again.json')]) {
    await writeFile(again, formatWaveManifest(manifestFromPlan(plan, dir), again));
    assert.deepEqual(await readWaveManifest(again), plan, `${again} round-trips`);
  }
  // A manifest of before these fields reads as it did: version 1, every one of them optional.
  assert.equal(parseWaveManifest('version: 1\nregulatory: { determinedAt: 2026-05-01, deadlineDays: 30, rule: FCC }\n', file).regulatory?.rule, 'FCC');
});

test('the new fields\' problems: each with its path, all at once', () => {
  const text = [
    'version: 1',
    'channels: { order: [sms, fax], segments: { former: [email, email], retired: [sms] } }',
    'pace: { "twilio:+15005550006": 0, "sendgrid:x": 3 }',
    'approvers: [bo, "bo", "a,b"]',
    'approvals: 3',
    'templates: { signOff: "We keep your SSN safe", supportPhone: call us, carrierName: Acme }',
    'brand: Acme',
    'regulatory: { determinedAt: 2026-05-01, deadlineDays: 30, deadlines: [{ rule: FCC, days: 30, hours: 2 }, { rule: FCC, at: 2026-04-01 }] }',
  ].join('\n');
  let lines: string[] = [];
  assert.throws(() => parseWaveManifest(text, 'wave.yaml'), (err) => {
    lines = problemLines(err).map((l) => l.replace(/^manifest wave\.yaml: /, ''));
    return true;
  });
  const expect = [
    /^channels\.order\[1\]: unknown channel "fax" \(the notifier sends by sms and email\)$/,
    /^channels\.segments\.former: lists a channel twice$/,
    /^channels\.segments\.retired: unknown segment "retired"/,
    /^pace\.twilio:\+15005550006: must be above 0$/,
    /^pace\.sendgrid:x: must be a sender id/,
    /^approvers\[2\]: must be an operator name/,
    /^templates\.signOff: must not name a data category \("SSN" names ssn\)/,
    /^templates\.supportPhone: must be a phone number/,
    /^regulatory: give deadlines, or deadline\/deadlineDays with rule, not both \(deadlineDays given with deadlines\)$/,
    /^regulatory\.deadlines\[0\]: give exactly one of days, hours or at$/,
    /^regulatory\.deadlines\[1\]\.at: must be after determinedAt$/,
    /^regulatory\.deadlines: the rule "FCC" is listed twice$/,
    /^templates\.carrierName: give the carrier's name once/,
    /^approvers: operator:bo is listed twice$/,
  ];
  for (const re of expect) assert.ok(lines.some((l) => re.test(l)), `${re} among:\n${lines.join('\n')}`);
});

test('named approvers that cannot give the approvals the wave needs, the creator left out, refuse the wave', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'a.csv');
  await writeFile(file, 'account_id,segment,phone\nA1,former,+12025550143\n');
  const prefix = randomPrefix();
  const ledger = createLedger({ redis, prefix });
  t.after(() => dropPrefix(redis, prefix));
  const base = { ledger, file, brand: 'B', helpUrl: 'https://h.example.com', dataDir: dir, envelope: testEnvelope(), log: captureLog().log, actor: 'operator:ana' };
  await assert.rejects(createWave({ ...base, approvals: 1, approvers: ['operator:ana'] }), /approvers: the wave needs 1 approval\(s\) but names 0 operator\(s\) other than its creator \(operator:ana\)/);
  const ok = await createWave({ ...base, approvals: 1, approvers: ['operator:ana', 'operator:bo'], channels: { order: ['email', 'sms'] }, pace: { 'smtp:relay.example.com:25': 5 }, supportPhone: '1-800-555-0199', signOff: 'The B team' });
  const stored = (await ledger.getWave(ok.waveId)).manifest;
  assert.deepEqual([stored.approvers, stored.channels, stored.pace, stored.supportPhone, stored.signOff],
    [['operator:ana', 'operator:bo'], { order: ['email', 'sms'] }, { 'smtp:relay.example.com:25': 5 }, '1-800-555-0199', 'The B team']);
});

test('suggestions for columns the pipeline does not know', () => {
  assert.equal(suggestColumn('exposed_data'), 'exposed');
  assert.equal(suggestColumn('language'), 'locale');
  assert.equal(suggestColumn('msisdn'), 'phone');
  assert.equal(suggestColumn('email_address'), 'email');
  assert.equal(suggestColumn('timezone'), 'time_zone');
  assert.equal(suggestColumn('emial'), 'email');
  assert.equal(suggestColumn('notes'), undefined);
  // Never a column the file already has.
  assert.equal(suggestColumn('msisdn', new Set(['phone'])), undefined);
});

test('a carrier header stops the ingest with a suggestion per column and leaves nothing behind; with the mapping every account has its exposure, language and phone', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'carrier.csv');
  await writeFile(file, CARRIER_CSV);
  const envelope = testEnvelope();
  const spoolDir = join(dir, 'spool');
  let lines: string[] = [];
  await assert.rejects(ingestFile({ file, waveId: 'w1', envelope, log: captureLog().log, spoolDir }), (err) => {
    lines = problemLines(err);
    return true;
  });
  assert.equal(lines.length, 4);
  assert.match(lines[0] ?? '', /^column "MSISDN" is not a column the pipeline knows \(is it phone\?\): map it with --column phone=MSISDN/);
  assert.match(lines[1] ?? '', /^column "Exposed Data" .*\(is it exposed\?\): map it with --column exposed="Exposed Data" \(in a manifest: columns\.exposed\)/);
  assert.match(lines[2] ?? '', /^column "Language" .*\(is it locale\?\): map it with --column locale=Language/);
  assert.match(lines[3] ?? '', /^column "Notes" is not a column the pipeline knows: .* ignore it with --ignore-column Notes/);
  await assert.rejects(readdir(spoolDir), { code: 'ENOENT' });

  const result = await ingestFile({
    file, waveId: 'w1', envelope, log: captureLog().log, spoolDir,
    columns: { phone: 'MSISDN', exposed: 'Exposed Data', locale: 'Language' }, ignoreColumns: ['notes'],
  });
  assert.deepEqual([result.accepted, result.rejected, result.droppedColumns, result.ignoredColumns], [2, 0, ['ssn'], ['notes']]);
  const spool = (await readFile(result.spoolPath, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as SpoolEntry);
  assert.deepEqual(spool.map((e) => [e.accountId, e.record.exposed, e.record.locale, e.record.hasPhone]), [
    ['C1', ['name', 'phone', 'pin'], 'es', true],
    ['C2', ['ssn'], 'en', true],
  ]);
  assert.doesNotMatch(await readFile(result.spoolPath, 'utf8'), /SYN-SSN/);
});

test('JSONL keys get the same treatment: unknown keys named with their first line; mapped keys read', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'carrier.jsonl');
  await writeFile(file, [
    JSON.stringify({ account_id: 'J1', segment: 'former', MSISDN: '(202) 555-0143', Language: 'es' }),
    JSON.stringify({ account_id: 'J2', segment: 'former', MSISDN: '(202) 555-0144', 'Exposed Data': ['ssn'], ssn: 'SYN-SSN' }),
  ].join('\n'));
  const spoolDir = join(dir, 'spool');
  let lines: string[] = [];
  await assert.rejects(ingestFile({ file, waveId: 'w1', envelope: testEnvelope(), log: captureLog().log, spoolDir }), (err) => {
    lines = problemLines(err);
    return true;
  });
  assert.deepEqual(lines.map((l) => l.slice(0, l.indexOf(' is not'))), ['key "MSISDN" (first on line 1)', 'key "Language" (first on line 1)', 'key "Exposed Data" (first on line 2)']);
  // The spool and rejects written while reading are removed (createWave removes the directory too).
  assert.deepEqual(await readdir(spoolDir).catch(() => []), []);
  const result = await ingestFile({
    file, waveId: 'w1', envelope: testEnvelope(), log: captureLog().log, spoolDir, columns: { phone: 'MSISDN', exposed: 'Exposed Data', locale: 'language' },
  });
  const spool = (await readFile(result.spoolPath, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as SpoolEntry);
  assert.deepEqual(spool.map((e) => [e.record.locale, e.record.exposed, e.record.hasPhone]), [['es', [], true], ['en', ['ssn'], true]]);
  assert.deepEqual(result.droppedColumns, ['ssn']);
});

test('a mapping names a header the file lacks, or maps a column the file also has: refused with every problem', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'f.csv');
  await writeFile(file, 'account_id,segment,phone,Cell\nA1,former,(202) 555-0143,(202) 555-0144\n');
  let lines: string[] = [];
  await assert.rejects(ingestFile({ file, waveId: 'w1', envelope: testEnvelope(), log: captureLog().log, spoolDir: join(dir, 's'), columns: { phone: 'Cell', locale: 'Lang' } }), (err) => {
    lines = problemLines(err);
    return true;
  });
  assert.deepEqual(lines, [
    'column phone appears more than once (as "phone" and "Cell")',
    'columns.locale: the file has no column "lang" (columns found: account_id, segment, phone, cell)',
  ]);
});

test('createWave from a manifest: the stored manifest records version, name and mapping, and wave add reads the next file the same way', async (t) => {
  const prefix = randomPrefix();
  t.after(() => dropPrefix(redis, prefix));
  const dir = await tempDir(t);
  await writeFile(join(dir, 'carrier.csv'), CARRIER_CSV);
  const manifestFile = join(dir, 'wave.yaml');
  await writeFile(manifestFile, [
    'version: 1', 'name: Carrier export', 'accounts: carrier.csv', 'actions: { rotate-pin: true }',
    'regulatory: { determinedAt: 2026-05-01, deadlineDays: 30 }',
    'columns: { phone: MSISDN, exposed: Exposed Data, locale: Language }', 'ignoreColumns: [Notes]',
  ].join('\n'));
  const plan = await readWaveManifest(manifestFile);
  const ledger = createLedger({ redis, prefix });
  const envelope = testEnvelope();
  const wave = await createWave({
    ledger, file: plan.accounts ?? '', brand: 'B', helpUrl: 'https://help.example.com', dataDir: dir, envelope, log: captureLog().log,
    rules: plan.rules, manifestVersion: plan.manifestVersion, ...(plan.name ? { name: plan.name } : {}), ...(plan.regulatory ? { regulatory: plan.regulatory } : {}),
    ...(plan.quietHours ? { quietHours: plan.quietHours } : {}), ...(plan.columns ? { columns: plan.columns } : {}), ...(plan.ignoreColumns ? { ignoreColumns: plan.ignoreColumns } : {}),
  });
  assert.deepEqual([wave.stats.accepted, wave.stats.rejected], [2, 0]);
  const stored = (await ledger.getWave(wave.waveId)).manifest;
  assert.equal(stored.manifestVersion, 1);
  assert.equal(stored.name, 'Carrier export');
  assert.deepEqual(stored.regulatory, { determinedAt: '2026-05-01T00:00:00.000Z', deadline: '2026-05-31T00:00:00.000Z' });
  assert.deepEqual(stored.rules, { 'rotate-pin': { segments: ['prepaid-active'], exposedAny: ['pin'] } });
  assert.deepEqual(stored.columns, { phone: 'MSISDN', exposed: 'Exposed Data', locale: 'Language' });
  assert.deepEqual(stored.ignoreColumns, ['Notes']);

  const more = join(dir, 'more.csv');
  await writeFile(more, 'account_id,segment,MSISDN,Exposed Data,Language,Notes\nC3,prepaid-active,(202) 555-0145,pin,es,\n');
  const added = await addToWave({ redis, prefix, ledger, waveId: wave.waveId, file: more, envelope, log: captureLog().log });
  assert.equal(added.ingest.accepted, 1);
  const spool = (await readFile(wave.spoolPath, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as SpoolEntry);
  assert.deepEqual(spool.at(-1)?.record.exposed, ['pin']);
  assert.equal(spool.at(-1)?.record.locale, 'es');

  // Without the mapping, the same export makes no wave and leaves no spool behind.
  await assert.rejects(createWave({ ledger, file: plan.accounts ?? '', brand: 'B', helpUrl: 'https://help.example.com', dataDir: join(dir, 'other'), envelope, log: captureLog().log }), /MSISDN/);
  assert.deepEqual(await readdir(join(dir, 'other', 'waves')).catch(() => []), []);
  assert.deepEqual(await ledger.listWaves(), [wave.waveId]);
});
