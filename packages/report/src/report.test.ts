import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { setImmediate as tick } from 'node:timers/promises';
import { DEFAULT_ACTION_RULES, type ActionName, type Segment } from '@breachwave/domain';
import { createLedger, waveProgress, type AccountRecord, type Ledger } from '@breachwave/ledger';
import { createEnvelope, generateKey, parseKey } from '@breachwave/secrets';
import { useRedis } from '@breachwave/testkit';
import { openWaveReport, summariseWave, writePrivateFile, writeToStream, type ReportFormat, type RowSource } from './index.js';

const db = useRedis();
const envelope = createEnvelope([parseKey('k1', generateKey())]);
const PIN = '738294';
const CODE = 'ENRL7Q2XK9PD';

interface Person {
  readonly id: string;
  readonly segment: Segment;
  readonly plan: readonly ActionName[];
  readonly name: string;
  readonly phone?: string;
  readonly email?: string;
}

/** The wave's people. The last one is accepted but not queued yet (in the spool, not the ledger). */
const PEOPLE: readonly Person[] = [
  { id: 'P1', segment: 'prepaid-active', plan: ['rotate-pin', 'notify'], name: 'Alice Example', phone: '+15551230001' },
  { id: 'F2', segment: 'former', plan: ['issue-code', 'notify'], name: 'Bob Example', email: 'bob.example@example.com' },
  { id: '=HYPERLINK("http://evil.example/?q","click")', segment: 'postpaid-current', plan: ['notify'], name: 'Carol Example', phone: '+15551230003' },
  { id: '+1', segment: 'prospective', plan: ['notify'], name: 'Dan Example', email: 'dan.example@example.com' },
  { id: '-2', segment: 'prepaid-active', plan: ['rotate-pin', 'notify'], name: 'Erin Example', phone: '+15551230005' },
  { id: '@X7', segment: 'postpaid-current', plan: ['notify'], name: 'Faye Example', email: 'faye.example@example.com' },
  { id: 'Q8', segment: 'former', plan: ['issue-code', 'notify'], name: 'Gus Example', email: 'gus.example@example.com' },
];
const QUEUED = PEOPLE.slice(0, -1);
/** An error code no catalog has, with markup, a quote, a comma and a pipe: what a report must show as text. */
const NASTY_ERR = '<script>alert("x")</script>|,';

/** Everything that must never appear in a report. */
const FORBIDDEN = [PIN, CODE, 'ENRL-****-9PD', 'SM-PROVIDER-0001', ...PEOPLE.flatMap((p) => [p.name, p.phone, p.email].filter((v): v is string => v !== undefined))];

function recordOf(p: Person, waveId: string, line: number): AccountRecord {
  return {
    segment: p.segment, locale: 'en', exposed: p.plan.includes('rotate-pin') ? ['name', 'phone', 'pin'] : ['name', 'ssn'],
    hasPhone: p.phone !== undefined, phoneIsMobile: p.phone !== undefined, hasEmail: p.email !== undefined,
    contact: envelope.sealJson({ name: p.name, phone: p.phone, email: p.email }, `${waveId}:${p.id}`), line,
  };
}

/** Runs an action through claimed to `to` as a worker would, with the fields a worker (or a bug) patches in. */
async function finish(ledger: Ledger, waveId: string, accountId: string, action: ActionName, to: 'done' | 'failed' | 'skipped' | 'pending',
  patch: Record<string, string | number | boolean> = {}, releaseAccount?: number): Promise<void> {
  const base = { waveId, accountId, action, actor: 'test' };
  if (to !== 'skipped') assert.equal((await ledger.transition({ ...base, from: ['pending'], to: 'claimed', event: `${action}.claimed` })).outcome, 'ok');
  const r = await ledger.transition({ ...base, from: to === 'skipped' ? ['pending'] : ['claimed'], to, patch, event: `${action}.${to}`,
    ...(releaseAccount !== undefined ? { releaseAccount } : {}) });
  assert.equal(r.outcome, 'ok');
}

/** A wave of {@link PEOPLE} in every state a report must tell apart, its spool file written as `wave create` does. */
async function buildWave(t: { after(fn: () => void): void }, regulatory?: { determinedAt: string; deadline: string; rule?: string }) {
  const prefix = `rp${randomBytes(3).toString('hex')}`;
  const ledger = createLedger({ redis: db.redis, prefix });
  const dir = mkdtempSync(join(tmpdir(), 'bw-report-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const waveId = 'w1';
  const spool = join(dir, 'accounts.jsonl');
  writeFileSync(spool, PEOPLE.map((p, i) => `${JSON.stringify({ line: i + 2, accountId: p.id, record: recordOf(p, waveId, i + 2) })}\n`).join(''), { mode: 0o600 });
  await ledger.createWave({ waveId, createdAt: new Date().toISOString(), source: 'affected.csv', brand: 'B', helpUrl: 'https://h.example.com',
    rules: DEFAULT_ACTION_RULES, codeSource: { kind: 'generated' }, enrollBy: '2027-01-31', ...(regulatory ? { regulatory } : {}) }, { rows: 8, accepted: PEOPLE.length, rejected: 1 }, { spool, rejects: join(dir, 'rejects.csv') });
  await ledger.setWaveStatus(waveId, 'feeding', 'feeder');
  // Each with its ordinal (its place in the spool), as the feeder gives it.
  await ledger.initAccounts(waveId, 'feeder', QUEUED.map((p, ordinal) => ({ accountId: p.id, actions: p.plan, ordinal })));
  await ledger.putAccounts(waveId, QUEUED.map((p, i) => ({ accountId: p.id, record: recordOf(p, waveId, i + 2) })));

  // P1: PIN rotated (a stray `pin` field, as a bug would leave it), then an SMS with no answer,
  // found sent when reconciled. Its record is released with the notice.
  await finish(ledger, waveId, 'P1', 'rotate-pin', 'done', { rot: 'rot-P1', st: 'vault', dl: 'none', pin: PIN });
  await finish(ledger, waveId, 'P1', 'notify', 'pending', { err: 'BW_SMS_AMBIGUOUS', amb: 1 });
  // Its status callbacks said delivered (the fields the delivery tracker writes on the entry).
  await finish(ledger, waveId, 'P1', 'notify', 'done', { ch: 'sms', pid: 'SM-PROVIDER-0001', rec: true, err: false, to: PEOPLE[0]?.phone ?? '', ds: 'delivered', dsSid: 'SM-PROVIDER-0001' }, 0);
  // F2: a code issued (its masked form and, by a bug, the code itself on the entry), notice by email.
  await finish(ledger, waveId, 'F2', 'issue-code', 'done', { cm: 'ENRL-****-9PD', src: 'generated', by: '2027-01-31', code: CODE });
  await finish(ledger, waveId, 'F2', 'notify', 'done', { ch: 'email', pid: '<m1@mail.example>' }, 0);
  // The formula-looking id: its SMS failed for good; the record stays for a re-drive.
  await finish(ledger, waveId, PEOPLE[2]?.id ?? '', 'notify', 'failed', { err: 'BW_SMS_INVALID_NUMBER' }, 3600);
  // +1: still being retried.
  await finish(ledger, waveId, '+1', 'notify', 'pending', { err: 'BW_EMAIL_TEMPORARY' });
  // -2: the PIN store refused; the notice is skipped, the record released.
  await finish(ledger, waveId, '-2', 'rotate-pin', 'failed', { err: 'BW_PIN_STORE_REJECTED' });
  await finish(ledger, waveId, '-2', 'notify', 'skipped', { err: 'DEPENDENCY_FAILED:rotate-pin' }, 0);
  // @X7: failed with an error text a report must escape.
  await finish(ledger, waveId, '@X7', 'notify', 'failed', { err: NASTY_ERR }, 3600);
  return { ledger, waveId, spool, dir, prefix };
}

/** What every account's row must say, whichever the source: state and error per action, then the rest. */
const EXPECTED: Record<string, { actions: Record<string, [string, string]>; channel: string; pin: boolean; code: boolean; reconciled: boolean; ambiguous: boolean; delivery: string }> = {
  'P1': { actions: { 'rotate-pin': ['done', ''], notify: ['done', ''] }, channel: 'sms', pin: true, code: false, reconciled: true, ambiguous: true, delivery: 'delivered' },
  'F2': { actions: { 'issue-code': ['done', ''], notify: ['done', ''] }, channel: 'email', pin: false, code: true, reconciled: false, ambiguous: false, delivery: 'unknown' },
  '=HYPERLINK("http://evil.example/?q","click")': { actions: { notify: ['failed', 'BW_SMS_INVALID_NUMBER'] }, channel: '', pin: false, code: false, reconciled: false, ambiguous: false, delivery: '' },
  '+1': { actions: { notify: ['pending', 'BW_EMAIL_TEMPORARY'] }, channel: '', pin: false, code: false, reconciled: false, ambiguous: false, delivery: '' },
  '-2': { actions: { 'rotate-pin': ['failed', 'BW_PIN_STORE_REJECTED'], notify: ['skipped', 'DEPENDENCY_FAILED:rotate-pin'] }, channel: '', pin: false, code: false, reconciled: false, ambiguous: false, delivery: '' },
  '@X7': { actions: { notify: ['failed', NASTY_ERR] }, channel: '', pin: false, code: false, reconciled: false, ambiguous: false, delivery: '' },
  'Q8': { actions: { 'issue-code': ['not-queued', ''], notify: ['not-queued', ''] }, channel: '', pin: false, code: false, reconciled: false, ambiguous: false, delivery: '' },
};

/** An independent RFC 4180 reader (CRLF records, quoted fields with "" and line breaks). */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let field = '';
  let quoted = false;
  let i = 0;
  while (i < text.length) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { field += '"'; i += 2; } else if (c === '"') { quoted = false; i++; } else { field += c; i++; }
    } else if (c === '"' && field === '') { quoted = true; i++; } else if (c === ',') { record.push(field); field = ''; i++; } else if (c === '\r' && text[i + 1] === '\n') {
      record.push(field); records.push(record); record = []; field = ''; i += 2;
    } else {
      assert.notEqual(c, '"', 'a quote inside an unquoted field');
      field += c; i++;
    }
  }
  assert.equal(quoted, false, 'an unterminated quoted field');
  assert.equal(field, '', 'the last record is CRLF-terminated');
  return records;
}

async function readAll(ledger: Ledger, waveId: string, format: ReportFormat, source: RowSource = 'auto', pageSize?: number) {
  const report = await openWaveReport({ ledger, waveId, format, source, ...(pageSize ? { pageSize } : {}) });
  let text = '';
  for await (const chunk of report.chunks) text += chunk;
  return { text, report, notes: await report.notes() };
}

/** The CSV export as objects by column name, with a spreadsheet's quote mark taken off the id. */
function csvRows(text: string): Record<string, string>[] {
  const [head, ...rows] = parseCsv(text);
  assert.ok(head);
  return rows.map((r) => {
    assert.equal(r.length, head.length);
    return Object.fromEntries(head.map((h, i) => [h, r[i] ?? '']));
  });
}

const unquote = (cell: string): string => (/^'[=+\-@\t\r]/.test(cell) ? cell.slice(1) : cell);

function assertOutcomes(rows: { id: string; actions: Record<string, [string, string]>; channel: string; pin: boolean; code: boolean; reconciled: boolean; ambiguous: boolean; delivery: string }[], ids: readonly string[]) {
  assert.deepEqual(rows.map((r) => r.id).sort(), [...ids].sort(), 'every account exactly once');
  for (const r of rows) {
    const want = EXPECTED[r.id];
    assert.ok(want, r.id);
    assert.deepEqual({ ...r, id: undefined }, { ...want, id: undefined }, r.id);
  }
}

function assertNoSecrets(text: string, sealed: readonly string[]) {
  for (const s of [...FORBIDDEN, ...sealed]) assert.ok(!text.includes(s), `the report holds ${s.slice(0, 24)}…`);
}

const sealedContacts = async (ledger: Ledger, waveId: string, spool: string): Promise<string[]> => [
  ...readFileSync(spool, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { record: AccountRecord }).record.contact),
  ...(await ledger.getAccounts(waveId, PEOPLE.map((p) => p.id))).flatMap((r) => (r ? [r.contact] : [])),
];

test('CSV and JSONL from the spool: every account once, with its outcomes, its segment and source line, accounts not queued yet included; no contact data, PIN or code', async (t) => {
  const { ledger, waveId, spool } = await buildWave(t);
  const sealed = await sealedContacts(ledger, waveId, spool);

  const csv = await readAll(ledger, waveId, 'csv');
  assert.equal(csv.report.stats.source, 'spool');
  assertNoSecrets(csv.text, sealed);
  const rows = csvRows(csv.text);
  assertOutcomes(rows.map((r) => ({
    id: unquote(r.account_id ?? ''),
    actions: Object.fromEntries(['rotate-pin', 'issue-code', 'notify'].flatMap((a) => {
      const col = a.replace('-', '_');
      return r[col] ? [[a, [r[col], unquote(r[`${col}_error`] ?? '')]]] : [];
    })),
    channel: r.channel ?? '', pin: r.pin_rotated === 'yes', code: r.code_issued === 'yes', reconciled: r.reconciled === 'yes', ambiguous: r.ambiguous === 'yes',
    delivery: r.delivery ?? '',
  })), PEOPLE.map((p) => p.id));
  // Every account's segment and source line, from the spool; times from the ledger.
  for (const [i, p] of PEOPLE.entries()) {
    const r = rows.find((x) => unquote(x.account_id ?? '') === p.id);
    assert.equal(r?.segment, p.segment);
    assert.equal(r?.source_line, String(i + 2));
    if (p.id === 'Q8') assert.equal(r?.first_at, '');
    else assert.match(r?.last_at ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  }

  // Neutralised: each formula-looking id leads with a quote mark; RFC 4180 quoting around the one with quotes and commas.
  const lines = csv.text.split('\r\n');
  assert.ok(lines.some((l) => l.startsWith('"\'=HYPERLINK(""http://evil.example/?q"",""click"")",postpaid-current,')), 'the HYPERLINK id');
  assert.ok(lines.some((l) => l.startsWith("'+1,prospective,")), 'the +1 id');
  assert.ok(lines.some((l) => l.startsWith("'-2,prepaid-active,")), 'the -2 id');
  assert.ok(lines.some((l) => l.startsWith("'@X7,postpaid-current,")), 'the @X7 id');
  assert.ok(!lines.some((l) => /^[=+\-@\t\r]/.test(l) || /,[=+\-@\t\r]/.test(l)), 'no cell starts with a formula character');
  assert.deepEqual(csv.notes, ['The wave is still running: each account is reported in the state it had when it was read.']);

  const jsonl = await readAll(ledger, waveId, 'jsonl');
  assertNoSecrets(jsonl.text, sealed);
  const objects = jsonl.text.trim().split('\n').map((l) => JSON.parse(l) as {
    account_id: string; segment: string | null; source_line: number | null; actions: Record<string, { state: string; error: string | null }>;
    channel: string | null; pin_rotated: boolean; code_issued: boolean; reconciled: boolean; ambiguous: boolean; delivery: string | null;
  });
  assertOutcomes(objects.map((o) => ({
    id: o.account_id,
    actions: Object.fromEntries(Object.entries(o.actions).map(([a, s]) => [a, [s.state, s.error ?? '']])),
    channel: o.channel ?? '', pin: o.pin_rotated, code: o.code_issued, reconciled: o.reconciled, ambiguous: o.ambiguous, delivery: o.delivery ?? '',
  })), PEOPLE.map((p) => p.id));
  assert.deepEqual(objects.map((o) => o.segment), PEOPLE.map((p) => p.segment), 'in the spool\'s order, segments all known');
});

test('CSV and JSONL from the ledger alone: every queued account once; the segment only where the account\'s record is still in Redis, and the notes say so', async (t) => {
  const { ledger, waveId, spool } = await buildWave(t);
  const sealed = await sealedContacts(ledger, waveId, spool);
  for (const format of ['csv', 'jsonl'] as const) {
    const out = await readAll(ledger, waveId, format, 'ledger');
    assert.equal(out.report.stats.source, 'ledger');
    assertNoSecrets(out.text, sealed);
    const rows = format === 'csv'
      ? csvRows(out.text).map((r) => ({ id: unquote(r.account_id ?? ''), segment: r.segment ?? '', notify: r.notify ?? '' }))
      : out.text.trim().split('\n').map((l) => JSON.parse(l) as { account_id: string; segment: string | null; actions: { notify?: { state: string } } })
        .map((o) => ({ id: o.account_id, segment: o.segment ?? '', notify: o.actions.notify?.state ?? '' }));
    assert.deepEqual(rows.map((r) => r.id).sort(), QUEUED.map((p) => p.id).sort());
    // Released with the notice (done, skipped): unknown. Failed (kept for a re-drive) or open: known.
    assert.deepEqual(Object.fromEntries(rows.map((r) => [r.id, r.segment])), {
      'P1': '', 'F2': '', '-2': '', '=HYPERLINK("http://evil.example/?q","click")': 'postpaid-current', '+1': 'prospective', '@X7': 'postpaid-current',
    });
    assert.equal(out.report.stats.segmentsKnown, 3);
    assert.ok(out.notes.some((n) => n.startsWith('The segment is known for 3 of 6 accounts')), out.notes.join('\n'));
    assert.ok(out.notes.some((n) => n.startsWith('1 accepted accounts are not queued yet')), out.notes.join('\n'));
  }
});

test('auto falls back to the ledger when the spool cannot be read here; spool as the source then fails clearly; an unknown wave fails before any output', async (t) => {
  const { ledger, waveId, spool } = await buildWave(t);
  rmSync(spool);
  const auto = await readAll(ledger, waveId, 'csv');
  assert.equal(auto.report.stats.source, 'ledger');
  assert.ok(auto.notes.some((n) => n.includes('spool file is not readable on this host')), auto.notes.join('\n'));
  await assert.rejects(openWaveReport({ ledger, waveId, format: 'csv', source: 'spool' }), (err: { code?: string; message?: string }) =>
    err.code === 'BW_INPUT_FILE' && /cannot be read on this host/.test(err.message ?? ''));
  for (const format of ['csv', 'md'] as const) {
    await assert.rejects(openWaveReport({ ledger, waveId: 'no-such-wave', format }), (err: { code?: string }) => err.code === 'BW_WAVE_NOT_FOUND');
  }
});

test('the export pages through the ledger and the spool: one page in hand at a time, read only as the output is consumed', async (t) => {
  const prefix = `rp${randomBytes(3).toString('hex')}`;
  const ledger = createLedger({ redis: db.redis, prefix });
  const dir = mkdtempSync(join(tmpdir(), 'bw-report-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const n = 1200;
  const ids = Array.from({ length: n }, (_, i) => `acct-${String(i).padStart(5, '0')}`);
  const spool = join(dir, 'accounts.jsonl');
  const rec = (id: string, i: number): AccountRecord => ({ segment: 'former', locale: 'en', exposed: [], hasPhone: false, phoneIsMobile: false, hasEmail: true,
    contact: envelope.sealJson({ email: `${id}@example.com` }, `big:${id}`), line: i + 2 });
  writeFileSync(spool, ids.map((id, i) => `${JSON.stringify({ line: i + 2, accountId: id, record: rec(id, i) })}\n`).join(''));
  await ledger.createWave({ waveId: 'big', createdAt: new Date().toISOString(), source: 'x.csv', brand: 'B', helpUrl: 'https://h.example.com', rules: {} },
    { rows: n, accepted: n, rejected: 0 }, { spool });
  // More accounts than Redis keeps in its compact hash encoding (512 by default), so HSCAN honours COUNT.
  for (let i = 0; i < n; i += 400) await ledger.initAccounts('big', 'feeder', ids.slice(i, i + 400).map((accountId) => ({ accountId, actions: ['notify'] })));

  for (const [source, pageSize] of [['ledger', 50], ['spool', 100]] as const) {
    const report = await openWaveReport({ ledger, waveId: 'big', format: 'jsonl', source, pageSize });
    assert.equal(report.stats.pages, 0, 'nothing is read before the output is consumed');
    const seen = new Set<string>();
    let rows = 0;
    let largestPage = 0;
    for await (const chunk of report.chunks) {
      const lines = chunk.trim().split('\n');
      // The walk is one page ahead of the output at most: a page read is a page handed over.
      assert.equal(report.stats.accounts, rows + lines.length);
      largestPage = Math.max(largestPage, lines.length);
      for (const l of lines) seen.add((JSON.parse(l) as { account_id: string }).account_id);
      rows += lines.length;
      await tick();
    }
    assert.equal(rows, n, `${source}: every account`);
    assert.equal(seen.size, n, `${source}: each once`);
    assert.ok(report.stats.pages >= n / (pageSize * 2), `${source}: ${report.stats.pages} pages`);
    assert.ok(largestPage < n / 4, `${source}: a page of ${largestPage}`);
    if (source === 'spool') assert.equal(report.stats.pages, n / pageSize);
  }
});

test('the summary counts by segment, action and outcome, channel and error code, with the timeline; Markdown and HTML escape what the ledger holds', async (t) => {
  const { ledger, waveId, spool } = await buildWave(t);
  const sealed = await sealedContacts(ledger, waveId, spool);
  const s = await summariseWave({ ledger, waveId });
  assert.equal(s.source, 'spool');
  assert.equal(s.accounts, 7);
  assert.equal(s.segmentsKnown, 7);
  assert.deepEqual(s.bySegment, {
    'prepaid-active': { accounts: 2, done: 1, skipped: 1 },
    'former': { accounts: 2, done: 1, 'not-queued': 1 },
    'postpaid-current': { accounts: 2, failed: 2 },
    'prospective': { accounts: 1, pending: 1 },
  });
  assert.deepEqual(s.byAction, {
    'rotate-pin': { done: 1, failed: 1 },
    'issue-code': { done: 1, 'not-queued': 1 },
    'notify': { done: 2, failed: 2, pending: 1, skipped: 1, 'not-queued': 1 },
  });
  assert.deepEqual(s.byChannel, { sms: 1, email: 1 });
  assert.deepEqual(s.errors.map((e) => [e.action, e.outcome, e.code, e.accounts]).sort(), [
    ['notify', 'failed', 'BW_SMS_INVALID_NUMBER', 1], ['notify', 'failed', NASTY_ERR, 1], ['notify', 'pending', 'BW_EMAIL_TEMPORARY', 1],
    ['notify', 'skipped', 'DEPENDENCY_FAILED:rotate-pin', 1], ['rotate-pin', 'failed', 'BW_PIN_STORE_REJECTED', 1],
  ].sort());
  assert.equal(s.ambiguousAccounts, 1);
  assert.equal(s.reconciled, 1);
  assert.equal(s.pinsRotated, 1);
  assert.equal(s.codesIssued, 1);
  assert.deepEqual(s.byDelivery, { delivered: 1, unknown: 1 }, 'the SMS delivered, the email unknown');
  assert.equal(s.notices.sent, 2);
  assert.equal(s.regulatory, undefined, 'no regulatory clock in this manifest');
  assert.deepEqual(s.intake, { rows: 8, accepted: 7, rejected: 1, queued: 0, ledgerAccounts: 6 });
  const at = Object.fromEntries(s.timeline.map((e) => [e.event, e.at]));
  assert.equal(at.created, s.createdAt);
  assert.ok(at['feeding started'], 'from the wave\'s status times');
  assert.equal(at['fed (last time)'], undefined);
  assert.ok((at['first account activity'] ?? '') <= (at['last account activity'] ?? ''));

  const md = (await readAll(ledger, waveId, 'md')).text;
  assertNoSecrets(md, sealed);
  assert.match(md, /^# Wave report: `w1`\n/);
  assert.ok(md.includes('| segment | accounts | notice done | notice failed | notice skipped | notice pending | notice not-queued |'), md);
  assert.ok(md.includes('| `prepaid-active` | 2 | 1 | 0 | 1 | 0 | 0 |'), md);
  assert.ok(md.includes('## Regulatory clock\n\nThe wave\'s manifest sets no regulatory clock'), md);
  assert.ok(md.includes('| delivered | 1 |') && md.includes('| undelivered | 0 |') && md.includes('| unknown | 1 |'), md);
  // The nasty code is a code span: no markup, its pipe escaped so the table row holds.
  const errLine = md.split('\n').find((l) => l.includes('alert'));
  assert.equal(errLine, '| notify | `failed` | `<script>alert("x")</script>\\|,` | 1 |');
  for (const block of md.split('\n\n').map((b) => b.split('\n').filter((l) => l.startsWith('|'))).filter((b) => b.length > 0)) {
    const cells = block.map((l) => l.replace(/\\\|/g, '').split('|').length);
    assert.ok(cells.every((c) => c === cells[0]), `a table's rows have as many cells as its head:\n${block.join('\n')}`);
  }

  const html = (await readAll(ledger, waveId, 'html')).text;
  assertNoSecrets(html, sealed);
  assert.ok(html.startsWith('<!doctype html>'));
  assert.ok(html.includes('<code>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;|,</code>'), 'escaped');
  assert.ok(!html.includes('<script'), 'no script, not even the one in the ledger');
  assert.doesNotMatch(html, /<(link|img|iframe|object)\b|\bsrc=|https?:\/\/(?!h\.example)/, 'self-contained');
  assert.match(html, /Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'"/);
  assert.match(html, /<td><code>prepaid-active<\/code><\/td><td class="n">2<\/td>/);
});

test('a report file is written owner-only, whole or not at all; a slow reader holds the writer back', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bw-report-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'out.csv');
  writeFileSync(file, 'old', { mode: 0o644 });
  async function* chunks(fail: boolean) {
    yield 'a\r\n';
    if (fail) throw new Error('walk failed');
    yield 'b\r\n';
  }
  await writePrivateFile(file, chunks(false));
  assert.equal(readFileSync(file, 'utf8'), 'a\r\nb\r\n');
  assert.equal(statSync(file).mode & 0o777, 0o600);
  await assert.rejects(writePrivateFile(join(dir, 'broken.csv'), chunks(true)), /walk failed/);
  assert.deepEqual(readdirSync(dir), ['out.csv'], 'no partial file, no temporary left behind');

  const out = new PassThrough({ highWaterMark: 16 });
  let produced = 0;
  async function* many() {
    for (let i = 0; i < 50; i++) {
      produced++;
      yield `${String(i).padStart(8, '0')}\n`;
    }
  }
  const writing = writeToStream(many(), out);
  await tick();
  assert.ok(produced < 50, `the producer waits for the reader (${produced} produced)`);
  let received = '';
  out.on('data', (c: Buffer) => { received += c.toString(); });
  await writing;
  assert.equal(received.split('\n').filter(Boolean).length, 50);
});

test('finished accounts compacted in the ledger read the same from the spool: every report format is unchanged', async (t) => {
  const { ledger, waveId } = await buildWave(t);
  const before = await Promise.all((['csv', 'jsonl', 'md'] as const).map((f) => readAll(ledger, waveId, f, 'spool')));
  // P1 is done with its record released; the others are open, dead letters, hold their record,
  // or (F2) hold an issued code, which stays in the hash for its reminders.
  assert.equal(await ledger.compact(waveId), 1);
  assert.deepEqual((await db.redis.hkeys(ledger.keys.ledger(waveId))).sort(), QUEUED.map((p) => p.id).filter((id) => id !== 'P1').sort());
  const after = await Promise.all((['csv', 'jsonl', 'md'] as const).map((f) => readAll(ledger, waveId, f, 'spool')));
  for (const [i, b] of before.entries()) {
    // The markdown summary says when it was made: compare the rest. CSV and JSONL to the byte, times included.
    const strip = (s: string) => s.replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, 'T');
    const same = i === 2 ? strip : (s: string) => s;
    assert.equal(same(after[i]?.text ?? ''), same(b.text), ['csv', 'jsonl', 'md'][i]);
  }
  // From the ledger alone the compacted accounts cannot be named, and the report says so.
  const fromLedger = await readAll(ledger, waveId, 'csv', 'ledger');
  assert.equal(fromLedger.report.stats.compactedUnlisted, 1);
  assert.ok(fromLedger.notes.some((n) => n.includes('1 finished accounts are compacted')));
});

test('the regulatory timeline: breach determined, the deadline and its rule, first and last notice, the share notified by the deadline, and the verdict, in Markdown and HTML', async (t) => {
  const day = 86_400_000;
  const rule = 'FCC 47 CFR 64.2011(b): 30 days';
  // Before the deadline, running (an account still open), at a pace that finishes in time.
  const ahead = { determinedAt: new Date(Date.now() - 2 * day).toISOString(), deadline: new Date(Date.now() + 28 * day).toISOString(), rule };
  const { ledger, waveId } = await buildWave(t, ahead);
  const s = await summariseWave({ ledger, waveId });
  const notices = [...(await ledger.getMany(waveId, ['P1', 'F2']))].map((e) => e?.notify?.at ?? '').sort();
  assert.deepEqual(s.notices, { first: notices[0], last: notices[1], sent: 2 });
  assert.deepEqual(s.regulatory, {
    determinedAt: ahead.determinedAt, deadline: ahead.deadline, rule, accepted: 7,
    notifiedByDeadline: 2, notifiedByDeadlinePct: 28.6, notifiedAfterDeadline: 0, notNotified: 3, verdict: 'on track',
  });
  const md = (await readAll(ledger, waveId, 'md')).text;
  for (const row of [
    `| breach determined | \`${ahead.determinedAt}\` |`, `| notice deadline | \`${ahead.deadline}\` |`, `| rule setting the deadline | \`${rule}\` |`,
    `| first notice sent | \`${notices[0] ?? ''}\` |`, `| last notice sent | \`${notices[1] ?? ''}\` |`,
    '| notified by the deadline | 2 (28.6%) |', '| notified after the deadline | 0 |', '| deadline | on track: the wave is running and, at its pace, finishes before the deadline |',
  ]) assert.ok(md.includes(row), `${row}\n${md}`);
  const html = (await readAll(ledger, waveId, 'html')).text;
  assert.ok(html.includes('<h2>Regulatory clock</h2>'));
  assert.ok(html.includes(`<tr><td>rule setting the deadline</td><td><code>${rule}</code></td></tr>`), html);
  assert.ok(html.includes('<tr><td>notified by the deadline</td><td>2 (28.6%)</td></tr>'), html);

  // The same wave against a deadline already past: both notices were late, and it is missed.
  const past = { determinedAt: new Date(Date.now() - 40 * day).toISOString(), deadline: new Date(Date.now() - 10 * day).toISOString() };
  const late = await buildWave(t, past);
  const l = await summariseWave({ ledger: late.ledger, waveId: late.waveId });
  assert.equal(l.regulatory?.notifiedByDeadline, 0);
  assert.equal(l.regulatory?.notifiedAfterDeadline, 2);
  assert.equal(l.regulatory?.verdict, 'missed');
  assert.match((await readAll(late.ledger, late.waveId, 'md')).text, /\| rule setting the deadline \| not named in the manifest \|[\s\S]*\| deadline \| MISSED: /);

  // Due within the day with nothing finished at all: at risk.
  const soon = { determinedAt: new Date(Date.now() - 29 * day).toISOString(), deadline: new Date(Date.now() + 3_600_000).toISOString() };
  const prefix = `rp${randomBytes(3).toString('hex')}`;
  const idle = createLedger({ redis: db.redis, prefix });
  await idle.createWave({ waveId: 'w2', createdAt: new Date().toISOString(), source: 'x.csv', brand: 'B', helpUrl: 'https://h.example.com', rules: {}, regulatory: soon }, { rows: 1, accepted: 1, rejected: 0 }, {});
  await idle.setWaveStatus('w2', 'feeding', 'feeder');
  await idle.initAccounts('w2', 'feeder', [{ accountId: 'Z1', actions: ['notify'], ordinal: 0 }]);
  assert.equal((await summariseWave({ ledger: idle, waveId: 'w2' })).regulatory?.verdict, 'at risk');
});

test('a cancelled wave: accounts never queued read cancelled, as its progress counts them; once every account is terminal, a deadline kept is met', async (t) => {
  const day = 86_400_000;
  const { ledger, waveId } = await buildWave(t, { determinedAt: new Date(Date.now() - day).toISOString(), deadline: new Date(Date.now() + 29 * day).toISOString() });
  // The six queued accounts were fed; the one still open ends, then the wave is cancelled before Q8 is fed.
  await db.redis.hset(ledger.keys.wave(waveId), 'fed', '6');
  await finish(ledger, waveId, '+1', 'notify', 'done', { ch: 'email', pid: '<m2@mail.example>' });
  await ledger.control('cancel', waveId, 'operator:test');
  const progress = await waveProgress(ledger, waveId);
  assert.equal(progress.cancelledUnfed, 1);
  assert.equal(progress.complete, true);

  const rows = csvRows((await readAll(ledger, waveId, 'csv')).text);
  const q8 = rows.find((r) => r.account_id === 'Q8');
  assert.equal(q8?.issue_code, 'cancelled');
  assert.equal(q8?.notify, 'cancelled');
  assert.ok(!rows.some((r) => Object.values(r).includes('not-queued')), 'nothing reads not-queued in a cancelled wave');
  const cancelledUnfed = rows.filter((r) => r.notify === 'cancelled' && r.first_at === '').length;
  assert.equal(cancelledUnfed, progress.cancelledUnfed, 'the export and wave status count the same accounts never queued');
  const jsonl = (await readAll(ledger, waveId, 'jsonl')).text.trim().split('\n').map((l) => JSON.parse(l) as { account_id: string; actions: Record<string, { state: string }> });
  assert.equal(jsonl.find((o) => o.account_id === 'Q8')?.actions.notify?.state, 'cancelled');

  const s = await summariseWave({ ledger, waveId });
  assert.deepEqual(s.byAction['issue-code'], { done: 1, cancelled: 1 });
  assert.equal(s.regulatory?.verdict, 'met');
  assert.equal(s.regulatory?.notNotified, 4, 'two failed, one skipped, one never fed');
  assert.equal(s.regulatory?.notifiedByDeadline, 3);
});
