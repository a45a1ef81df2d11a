import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { NO_REACHABLE_CHANNEL, parseAccountRow, type AffectedAccount, type RawRow } from '@breachwave/domain';
import { generateLines, writeAccountsFile, type GenerateOptions } from '@breachwave/synth';
import { ingestFile, type IngestOptions, type IngestResult, type SpoolEntry } from './ingest.js';
import { CsvRecords, parseCsvLine, type CsvRecord } from './csv.js';
import { TOO_LONG, splitLines } from './lines.js';
import { captureLog } from '@breachwave/testkit';
import { tempDir, testEnvelope } from './test-support.js';

const WAVE = 'w20250101T000000Z-abc123';
const SYN = /SYN-(SSN|DOB)-/;

/** What the feeder must accept: the JSONL twin of a synthetic file, parsed, first accepted id wins. */
function expectedAccounts(options: GenerateOptions): Map<string, AffectedAccount> {
  const out = new Map<string, AffectedAccount>();
  for (const l of generateLines({ ...options, format: 'jsonl' })) {
    let row: unknown;
    try {
      row = JSON.parse(l.text);
    } catch {
      continue;
    }
    if (!row || typeof row !== 'object' || Array.isArray(row)) continue;
    const r = parseAccountRow(row as RawRow);
    if (r.ok && !out.has(r.account.accountId)) out.set(r.account.accountId, r.account);
  }
  return out;
}

async function readSpool(r: IngestResult): Promise<SpoolEntry[]> {
  return (await readFile(r.spoolPath, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as SpoolEntry);
}

async function readRejects(r: IngestResult): Promise<string[][]> {
  const lines = (await readFile(r.rejectsPath, 'utf8')).split('\n').filter(Boolean);
  return lines.map((l) => {
    const p = parseCsvLine(l);
    assert.ok(p.ok, l);
    return p.fields;
  });
}

async function ingest(dir: string, file: string, log = captureLog().log, extra: Pick<IngestOptions, 'maxLineBytes' | 'columns' | 'ignoreColumns'> = {}) {
  const envelope = testEnvelope();
  const result = await ingestFile({ file, waveId: WAVE, envelope, log, spoolDir: join(dir, 'spool'), ...extra });
  assert.equal(result.rows, result.accepted + result.rejected, 'rows === accepted + rejected');
  return { result, envelope };
}

async function writeLines(path: string, lines: readonly string[], eol = '\n'): Promise<string> {
  await writeFile(path, lines.map((l) => l + eol).join(''));
  return path;
}

const HEADER = 'account_id,segment,name,phone,email,time_zone,locale,exposed';

for (const format of ['csv', 'jsonl'] as const) {
  test(`a synthetic ${format} file: valid rows accepted and sealed, bad and duplicate rows rejected, forbidden columns dropped unseen`, async (t) => {
    const dir = await tempDir(t);
    const options: GenerateOptions = { rows: 3000, seed: 21, malformedRate: 0.04, duplicateRate: 0.03, format };
    const file = join(dir, `accounts.${format}`);
    const synth = await writeAccountsFile(file, options);
    const cap = captureLog();
    const { result, envelope } = await ingest(dir, file, cap.log);

    assert.equal(result.format, format);
    assert.equal(result.rows, 3000);
    assert.equal(result.accepted, synth.expected.valid);
    assert.equal(result.duplicates, synth.expected.duplicates);
    assert.equal(result.rejected, synth.expected.malformed + synth.expected.duplicates);
    assert.deepEqual(result.droppedColumns, ['ssn', 'dob']);

    // Each forbidden column is named once in a warning, and never its values.
    const warnings = cap.lines().filter((l) => l.column !== undefined);
    assert.deepEqual(warnings.map((l) => l.column), ['ssn', 'dob']);
    const logText = cap.text();
    const spoolText = await readFile(result.spoolPath, 'utf8');
    const rejectsText = await readFile(result.rejectsPath, 'utf8');
    for (const [what, text] of [['log', logText], ['spool', spoolText], ['rejects', rejectsText]] as const) {
      assert.doesNotMatch(text, SYN, `no forbidden value in the ${what}`);
      assert.doesNotMatch(text, /@example\./i, `no email address in the ${what}`);
      assert.doesNotMatch(text, /555[-. ]?01\d\d/, `no phone number in the ${what}`);
      assert.doesNotMatch(text, /\+1\d{10}/, `no E.164 number in the ${what}`);
      assert.doesNotMatch(text, /(Maria|James|Linda|Wei|Kevin) [A-Z]/, `no name in the ${what}`);
    }

    // The spool holds exactly the expected accounts, contact points only inside the envelope.
    const expected = expectedAccounts(options);
    const spool = await readSpool(result);
    assert.equal(spool.length, expected.size);
    for (const e of spool) {
      const a = expected.get(e.accountId);
      assert.ok(a, e.accountId);
      assert.equal(e.record.line, e.line);
      assert.equal(e.record.segment, a.segment);
      assert.equal(e.record.locale, a.locale);
      assert.equal(e.record.timeZone, a.timeZone);
      assert.deepEqual(e.record.exposed, a.exposed);
      assert.equal(e.record.hasPhone, a.phone !== undefined);
      assert.equal(e.record.hasEmail, a.email !== undefined);
      const contact = envelope.openJson<{ name?: string; phone?: string; email?: string }>(e.record.contact, `${WAVE}:${e.accountId}`);
      assert.deepEqual(contact, { ...(a.name ? { name: a.name } : {}), ...(a.phone ? { phone: a.phone } : {}), ...(a.email ? { email: a.email } : {}) });
      assert.throws(() => envelope.openJson(e.record.contact, `${WAVE}:someone-else`), { code: 'BW_ENVELOPE_INVALID' });
    }

    // Rejects: line, field, reason; duplicates point at the accepted line.
    const rejects = await readRejects(result);
    assert.deepEqual(rejects[0], ['line', 'field', 'reason', 'account_id']);
    assert.equal(rejects.length - 1, result.rejected);
    const acceptedLine = new Map(spool.map((e) => [e.accountId, e.line]));
    const dups = rejects.filter((r) => r[2]?.startsWith('duplicate account_id'));
    assert.equal(dups.length, result.duplicates);
    for (const r of rejects.slice(1)) assert.equal(r.length, 4);
    // A duplicate names its account_id (an id, not contact data).
    for (const d of dups) assert.match(d[3] ?? '', /^ACCT-\d{8}$/);
    for (const d of dups) {
      const m = /first seen on line (\d+)\)$/.exec(d[2] ?? '');
      assert.ok(m, d[2]);
      assert.ok([...acceptedLine.values()].includes(Number(m[1])));
      assert.ok(Number(d[0]) > Number(m[1]));
    }
    const reasons = new Set(rejects.slice(1).map((r) => r[2]?.replace(/\(.*$/, '').trim()));
    for (const reason of ['unknown segment', 'invalid phone number', 'invalid email address', 'no phone or email: nobody to notify', 'duplicate account_id']) {
      assert.ok(reasons.has(reason), `${reason} in ${[...reasons].join(' | ')}`);
    }
    assert.ok([...reasons].some((r) => r?.startsWith(format === 'csv' ? 'wrong number of fields' : 'not')), [...reasons].join(' | '));
  });
}

test('a missing file is BW_INPUT_FILE; an empty one is BW_INPUT_INVALID; neither leaves a spool', async (t) => {
  const dir = await tempDir(t);
  await assert.rejects(ingest(dir, join(dir, 'nope.csv')), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'BW_INPUT_FILE');
    assert.match(e.message, /file not found/);
    return true;
  });
  await assert.rejects(ingest(dir, dir), { code: 'BW_INPUT_FILE' });
  const empty = join(dir, 'empty.csv');
  await writeFile(empty, '');
  await assert.rejects(ingest(dir, empty), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'BW_INPUT_INVALID');
    assert.match(e.message, /file is empty/);
    return true;
  });
  const blank = join(dir, 'blank.csv');
  await writeFile(blank, '\n\r\n  \n');
  await assert.rejects(ingest(dir, blank), /file is empty/);
  assert.equal(existsSync(join(dir, 'spool', 'accounts.jsonl')), false);
});

test('a header-only file is not an error: zero rows and a warning', async (t) => {
  const dir = await tempDir(t);
  const cap = captureLog();
  const { result } = await ingest(dir, await writeLines(join(dir, 'h.csv'), [`${HEADER},ssn`]), cap.log);
  assert.deepEqual({ rows: result.rows, accepted: result.accepted, rejected: result.rejected }, { rows: 0, accepted: 0, rejected: 0 });
  assert.deepEqual(result.droppedColumns, ['ssn']);
  assert.equal(await readFile(result.spoolPath, 'utf8'), '');
  assert.equal(await readFile(result.rejectsPath, 'utf8'), 'line,field,reason,account_id\n');
  assert.match(cap.text(), /no data rows/);
});

test('a header without the required columns names what is missing and what was found', async (t) => {
  const dir = await tempDir(t);
  const file = await writeLines(join(dir, 'bad.csv'), ['Account ID,Name,Phone Number', 'A1,Pat Doe,(202) 555-0143']);
  await assert.rejects(ingest(dir, file), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'BW_INPUT_INVALID');
    assert.match(e.message, /missing required column segment/);
    assert.match(e.message, /columns found: account_id, name, phone_number/);
    return true;
  });
  // No header at all: line 1 is data, and must not be echoed into the error.
  const noHeader = await writeLines(join(dir, 'nohdr.csv'), ['A1,prepaid-active,Pat Doe,(202) 555-0143,pat.doe@example.com,,en,']);
  await assert.rejects(ingest(dir, noHeader), (e: Error) => {
    assert.match(e.message, /missing required columns account_id, segment/);
    assert.match(e.message, /looks like data/);
    assert.ok(!/Pat|555|example/.test(e.message), e.message);
    return true;
  });
  const nameOnly = await writeLines(join(dir, 'nohdr2.csv'), ['A1,Prepaid-Active,Pat Doe,,,,en,']);
  await assert.rejects(ingest(dir, nameOnly), (e: Error) => {
    assert.match(e.message, /looks like data/);
    assert.ok(!/pat/i.test(e.message), e.message);
    return true;
  });
  assert.equal(existsSync(join(dir, 'spool')), false);
});

test('a line that is not UTF-8 is rejected on its own; the lines around it are accepted', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'bytes.csv');
  const good = (id: string) => Buffer.from(`${id},prepaid-active,José Peña,(202) 555-0143,,America/Chicago,es,name;phone;pin\n`);
  await writeFile(file, Buffer.concat([
    Buffer.from(`${HEADER}\n`), good('A1'),
    Buffer.from('A2,prepaid-active,Jos'), Buffer.from([0xff, 0xfe]), Buffer.from(',(202) 555-0144,,,en,\n'),
    good('A3'),
  ]));
  const { result, envelope } = await ingest(dir, file);
  assert.deepEqual({ rows: result.rows, accepted: result.accepted, rejected: result.rejected }, { rows: 3, accepted: 2, rejected: 1 });
  assert.deepEqual((await readRejects(result))[1], ['3', '', 'not valid UTF-8', '']);
  const spool = await readSpool(result);
  assert.deepEqual(spool.map((e) => [e.accountId, e.line]), [['A1', 2], ['A3', 4]]);
  const first = spool[0];
  assert.ok(first);
  assert.equal(envelope.openJson<{ name: string }>(first.record.contact, `${WAVE}:A1`).name, 'José Peña');
});

test('CRLF line endings and a BOM are accepted', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'crlf.csv');
  await writeFile(file, '\uFEFF' + [HEADER, 'A1,former,Pat Doe,,pat@example.com,,en,name;dob', 'A2,Former,Lee Kim,202-555-0101,,,,name;dob'].join('\r\n') + '\r\n');
  const { result } = await ingest(dir, file);
  assert.deepEqual({ rows: result.rows, accepted: result.accepted }, { rows: 2, accepted: 2 });
  const spool = await readSpool(result);
  assert.deepEqual(spool.map((e) => e.record.exposed), [['name', 'dob'], ['name', 'dob']]);
  // A synthetic CRLF file ingests like its LF twin.
  const lf = await writeAccountsFile(join(dir, 'lf.csv'), { rows: 500, seed: 4 });
  const crlf = await writeAccountsFile(join(dir, 'crlf2.csv'), { rows: 500, seed: 4, lineEnding: '\r\n' });
  const a = (await ingest(dir, lf.path)).result;
  const b = (await ingest(dir, crlf.path)).result;
  assert.deepEqual([b.accepted, b.rejected, b.duplicates], [a.accepted, a.rejected, a.duplicates]);
  assert.equal(b.accepted, crlf.expected.valid);
});

test('CSV quoting: commas and quotes inside quoted fields; broken quoting and wrong field counts are rejected', async (t) => {
  const dir = await tempDir(t);
  const file = await writeLines(join(dir, 'q.csv'), [
    'account_id,segment,name,phone,email,exposed',
    'A1,prospective,"Doe, Pat",,pat@example.com,"name;email"',
    'A2,prospective,"Pat ""PJ"" Doe",,pj@example.com,name',
    'A3,prospective,"Doe, Pat,,pat3@example.com,name',
    'A4,prospective,Pat "PJ" Doe,,pj4@example.com,name',
    'A5,prospective,Pat Doe,,pat5@example.com',
    'A6,prospective,Pat Doe,,pat6@example.com,name,extra',
    'A7,prospective,"Pat"x,,pat7@example.com,name',
    '',
    'A8,prospective,,,pat8@example.com,',
  ]);
  const { result, envelope } = await ingest(dir, file);
  assert.equal(result.rows, 8, 'the blank line is not a row');
  assert.equal(result.accepted, 3);
  const spool = await readSpool(result);
  assert.deepEqual(spool.map((e) => envelope.openJson<{ name?: string }>(e.record.contact, `${WAVE}:${e.accountId}`).name), ['Doe, Pat', 'Pat "PJ" Doe', undefined]);
  assert.deepEqual((await readRejects(result)).slice(1), [
    ['4', '', 'unterminated quoted field', ''],
    ['5', '', 'quote inside an unquoted field', ''],
    ['6', '', 'wrong number of fields (expected 6, found 5)', ''],
    ['7', '', 'wrong number of fields (expected 6, found 7)', ''],
    ['8', '', 'unexpected text after a closing quote', ''],
  ]);
});

test('JSONL: format by extension or first byte; non-objects rejected; keys normalised; forbidden keys dropped', async (t) => {
  const dir = await tempDir(t);
  const cap = captureLog();
  const lines = [
    JSON.stringify({ account_id: 'J1', segment: 'prepaid-active', phone: '(202) 555-0143', SSN: 'SYN-SSN-1', exposed: ['name', 'pin'] }),
    '{"account_id": "J2", "segment": "former", "email": "a@example.com", "dob": "SYN-DOB-2", "Favourite Colour": "blue"}',
    '[1, 2, 3]',
    '{"account_id": "J3", "segment": ',
    '"a string"',
    JSON.stringify({ account_id: 'J4', segment: 'former', email: { nested: true } }),
    JSON.stringify({ account_id: 123, segment: 'former', email: 'n@example.com', time_zone: null, ssn: 'SYN-SSN-5' }),
    JSON.stringify({ account_id: 'J6', segment: 'vip', phone: ['(202) 555-0143', 7], name: { first: 'Pat' } }),
  ];
  const { result } = await ingest(dir, await writeLines(join(dir, 'a.ndjson'), lines), cap.log, { ignoreColumns: ['Favourite Colour'] });
  assert.equal(result.format, 'jsonl');
  assert.deepEqual([result.rows, result.accepted, result.rejected], [8, 3, 5]);
  assert.deepEqual(result.droppedColumns, ['ssn', 'dob']);
  assert.deepEqual((await readRejects(result)).slice(1), [
    ['3', '', 'not a JSON object', ''],
    ['4', '', 'not valid JSON', ''],
    ['5', '', 'not a JSON object', ''],
    ['6', 'email', 'must be a string', 'J4'],
    ['8', 'phone;name;segment', 'must be a string; must be a string; unknown segment (expected one of prepaid-active, postpaid-current, former, prospective)', 'J6'],
  ]);
  assert.deepEqual((await readSpool(result)).map((e) => [e.accountId, e.record.exposed]), [['J1', ['name', 'pin']], ['J2', []], ['123', []]]);
  const warned = cap.lines().filter((l) => l.column !== undefined).map((l) => l.column);
  assert.deepEqual(warned, ['ssn', 'dob', 'favourite_colour']);
  assert.doesNotMatch(cap.text() + (await readFile(result.spoolPath, 'utf8')) + (await readFile(result.rejectsPath, 'utf8')), SYN);

  // No telling extension: the first byte decides.
  const sniffJson = (await ingest(dir, await writeLines(join(dir, 'list.txt'), lines.slice(0, 2)), captureLog().log, { ignoreColumns: ['Favourite Colour'] })).result;
  assert.equal(sniffJson.format, 'jsonl');
  const sniffCsv = (await ingest(dir, await writeLines(join(dir, 'list2.txt'), [HEADER, 'C1,former,,,c@example.com,,,']))).result;
  assert.deepEqual([sniffCsv.format, sniffCsv.accepted], ['csv', 1]);
});

test('columns declared ignored are skipped, one log line each; a line over the limit is rejected without being held', async (t) => {
  const dir = await tempDir(t);
  const cap = captureLog();
  const file = await writeLines(join(dir, 'u.csv'), [
    'account_id,segment,email,notes,Street',
    'U1,former,u1@example.com,hello,SYN-ADDR',
    `U2,former,u2@example.com,${'x'.repeat(5000)},`,
    'U3,former,u3@example.com,,',
  ]);
  const { result } = await ingest(dir, file, cap.log, { maxLineBytes: 1024, ignoreColumns: ['Notes'] });
  assert.deepEqual([result.rows, result.accepted, result.rejected], [3, 2, 1]);
  assert.deepEqual(result.droppedColumns, ['street']);
  assert.deepEqual(result.ignoredColumns, ['notes']);
  assert.deepEqual((await readRejects(result))[1], ['3', '', 'line longer than 1024 bytes', '']);
  assert.deepEqual(cap.lines().filter((l) => l.column !== undefined).map((l) => l.column), ['notes', 'street']);
  assert.ok(!cap.text().includes('SYN-ADDR'));
});

test('progress is reported, throttled, and ends at the full size', async (t) => {
  const dir = await tempDir(t);
  const synth = await writeAccountsFile(join(dir, 'p.csv'), { rows: 20_000, seed: 2 });
  const calls: { bytes: number; totalBytes: number; rows: number; at: number }[] = [];
  const result = await ingestFile({
    file: synth.path, waveId: WAVE, envelope: testEnvelope(), log: captureLog().log, spoolDir: join(dir, 'spool'),
    onProgress: (p) => calls.push({ ...p, at: Date.now() }),
  });
  const last = calls.at(-1);
  assert.ok(last);
  assert.equal(last.bytes, last.totalBytes);
  assert.equal(last.rows, result.rows);
  // The ingest reads the clock just before each call and this callback just after, so two calls
  // 100 ms apart by the ingest's reading may be 99 ms apart by these (the millisecond can turn between).
  for (let i = 1; i < calls.length - 1; i++) assert.ok((calls[i]?.at ?? 0) - (calls[i - 1]?.at ?? 0) >= 99, 'at most ~10 per second');
  for (let i = 1; i < calls.length; i++) assert.ok((calls[i]?.rows ?? 0) >= (calls[i - 1]?.rows ?? 0));
});

test('splitLines: lines across chunk boundaries, no final newline, oversized lines', async () => {
  const text = 'ab\ncdef\n\nghijklmnop\nqr';
  const bytes = Buffer.from(text);
  const chunks = Array.from({ length: bytes.length }, (_, i) => bytes.subarray(i, i + 1));
  const out: (string | null)[] = [];
  let consumed = 0;
  for await (const b of splitLines(Readable.from(chunks), 5)) {
    for (const l of b.lines) out.push(l === TOO_LONG ? null : l.toString());
    consumed = b.bytes;
  }
  assert.deepEqual(out, ['ab', 'cdef', '', null, 'qr']);
  assert.equal(consumed, bytes.length);
});

test('an Excel-style export: CRLF, a quoted comma, a quoted line break: every record read once, by its first line', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'excel.csv');
  await writeFile(file, [
    'account_id,segment,name,phone,email,address,exposed',
    'X1,former,"Doe, Pat",(202) 555-0143,,"1 Main St\r\nApt 2",name;address',
    'X2,prospective,Lee Kim,,lee@example.com,"PO Box 9",name',
    'X3,former,"Multi\nLine\r\n\r\nName",,x3@example.com,,name',
  ].join('\r\n') + '\r\n');
  const { result, envelope } = await ingest(dir, file);
  assert.deepEqual([result.rows, result.accepted, result.rejected], [3, 3, 0]);
  const spool = await readSpool(result);
  assert.deepEqual(spool.map((e) => [e.accountId, e.line]), [['X1', 2], ['X2', 4], ['X3', 5]]);
  const name = (e: SpoolEntry | undefined) => e && envelope.openJson<{ name?: string }>(e.record.contact, `${WAVE}:${e.accountId}`).name;
  assert.equal(name(spool[0]), 'Doe, Pat');
  assert.equal(name(spool[2]), 'Multi Line Name', 'line breaks in a name collapse to spaces');
  assert.deepEqual(result.droppedColumns, ['address']);
});

test('a stray quote does not swallow the records after it; a record over the limit is rejected, not held', async (t) => {
  const dir = await tempDir(t);
  const file = await writeLines(join(dir, 'stray.csv'), [
    'account_id,segment,name,email',
    'S1,former,"Pat Doe,s1@example.com', // never closed: the lines after it are records of their own
    'S2,former,Lee,s2@example.com',
    'S3,former,"Kim, Lee",s3@example.com',
    'S4,former,"Open',
    'still open',
    'S5,former,Ana,s5@example.com',
  ]);
  const { result } = await ingest(dir, file);
  assert.deepEqual((await readSpool(result)).map((e) => [e.accountId, e.line]), [['S2', 3], ['S3', 4], ['S5', 7]]);
  assert.deepEqual((await readRejects(result)).slice(1), [
    ['2', '', 'unterminated quoted field', ''],
    ['5', '', 'unterminated quoted field', ''],
    ['6', '', 'wrong number of fields (expected 4, found 1)', ''],
  ]);

  // A quoted field open past maxLineBytes: its first line is rejected once the limit is passed, and
  // the lines after it are read again; no line is lost and none is buffered past the limit.
  const filler = Array.from({ length: 40 }, (_, i) => `filler line ${i} of a long quoted note`);
  const long = await writeLines(join(dir, 'long.csv'), ['account_id,segment,email,notes', 'L1,former,l1@example.com,"a long note', ...filler, 'end of note"', 'L2,former,l2@example.com,']);
  const r = (await ingest(dir, long, captureLog().log, { maxLineBytes: 512, ignoreColumns: ['notes'] })).result;
  const rejects = (await readRejects(r)).slice(1);
  assert.deepEqual(rejects[0], ['2', '', 'unterminated quoted field (no closing quote within 512 bytes)', '']);
  assert.equal(r.rows, 1 + filler.length + 1 + 1);
  assert.deepEqual((await readSpool(r)).map((e) => [e.accountId, e.line]), [['L2', 44]]);
  // Within the limit the same record is one record.
  const ok = (await ingest(dir, long, captureLog().log, { maxLineBytes: 4096, ignoreColumns: ['notes'] })).result;
  assert.deepEqual([ok.rows, ok.accepted], [2, 2]);
});

test('a multi-line record with bytes that are not UTF-8 is rejected at its first line; its neighbours are read', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'latin1.csv');
  await writeFile(file, Buffer.concat([
    Buffer.from('account_id,segment,email,address\nB1,former,b1@example.com,"Calle '), Buffer.from([0xf1]), Buffer.from('\nPiso 2"\n'),
    Buffer.from('B2,former,b2@example.com,"x\ny"\n'),
  ]));
  const { result } = await ingest(dir, file);
  assert.deepEqual([result.rows, result.accepted, result.rejected], [2, 1, 1]);
  assert.deepEqual((await readRejects(result))[1], ['2', '', 'not valid UTF-8', '']);
  assert.deepEqual((await readSpool(result)).map((e) => [e.accountId, e.line]), [['B2', 4]]);
});

test('a reachable person is accepted with warnings counted by kind; an unreachable row is rejected once, with every problem and its account_id', async (t) => {
  const dir = await tempDir(t);
  const file = await writeLines(join(dir, 'mess.csv'), [
    'account_id,segment,name,phone,email,time_zone,exposed',
    'W1,former,Pat,555-CALL-NOW,w1@example.com,,name',
    'W2,former,Pat,(202) 555-0143,not-an-email,,name',
    'W3,former,Pat,(202) 555-0144,"w3@example.com; other@example.com",US/Eastern,name',
    'W4,former,Pat,(202) 555-0145,,Mars/Olympus,name',
    'W5,former,Pat,+52 1 55 1234 5678,,Asia/Kolkata,name',
    'W6,former,Pat,,Pat@Müller.de,UTC,name',
    'W7,former,Pat,(800) 555-0199,,,name',
    'W8,vip,Pat,12345,bad@@example.com,,soul',
    ',former,Pat,,,,',
  ]);
  const { result, envelope } = await ingest(dir, file);
  assert.deepEqual([result.rows, result.accepted, result.rejected], [9, 6, 3]);
  assert.equal(result.warned, 4);
  assert.deepEqual(result.warnings, { phone_invalid: 1, email_invalid: 1, email_multiple: 1, time_zone_unknown: 1 });
  const spool = await readSpool(result);
  const contact = (id: string) => {
    const e = spool.find((x) => x.accountId === id);
    assert.ok(e, id);
    return { ...envelope.openJson<{ phone?: string; email?: string }>(e.record.contact, `${WAVE}:${id}`), timeZone: e.record.timeZone };
  };
  assert.deepEqual(contact('W1'), { name: 'Pat', email: 'w1@example.com', timeZone: undefined });
  assert.deepEqual(contact('W3'), { name: 'Pat', phone: '+12025550144', email: 'w3@example.com', timeZone: 'US/Eastern' });
  assert.deepEqual(contact('W4'), { name: 'Pat', phone: '+12025550145', timeZone: undefined });
  assert.deepEqual(contact('W5'), { name: 'Pat', phone: '+525512345678', timeZone: 'Asia/Kolkata' });
  assert.deepEqual(contact('W6'), { name: 'Pat', email: 'pat@xn--mller-kva.de', timeZone: 'UTC' });
  const rejects = await readRejects(result);
  assert.deepEqual(rejects.slice(1), [
    ['8', 'phone', NO_REACHABLE_CHANNEL, 'W7'],
    ['9', 'segment;phone;email;exposed', `${rejects[2]?.[2]}`, 'W8'],
    ['10', 'account_id;phone', 'account_id must be 1–64 letters, digits, "-" or "_"; no phone or email: nobody to notify', ''],
  ]);
  assert.match(rejects[2]?.[2] ?? '', /^unknown segment .*; invalid phone number; invalid email address; unknown data category/);
  const text = await readFile(result.rejectsPath, 'utf8');
  assert.doesNotMatch(text, /example\.com|555|12345|Müller|Pat/, 'no contact data in the report');
});

test('CsvRecords: blank lines inside a quoted field belong to it; a record completed on a later line keeps its first line', () => {
  const out: CsvRecord[] = [];
  const records = new CsvRecords(1024, (r) => out.push(r));
  records.expectFields(2);
  const lines = ['a,"x', '', 'y"', '', 'b,c', 'd,"open', 'e,f'];
  lines.forEach((text, i) => records.push({ line: i + 1, text, crlf: false, bytes: Buffer.byteLength(text), badUtf8: false }));
  records.end();
  assert.deepEqual(out, [
    { ok: true, line: 1, fields: ['a', 'x\n\ny'], badUtf8: false },
    { ok: true, line: 5, fields: ['b', 'c'], badUtf8: false },
    { ok: false, line: 6, reason: 'unterminated quoted field' },
    { ok: true, line: 7, fields: ['e', 'f'], badUtf8: false },
  ]);

  // A well-quoted record a field short stays one record (its field count is for the ingest to
  // reject); a stray quote whose next line is a full record does not swallow it.
  const out3: CsvRecord[] = [];
  const three = new CsvRecords(1024, (r) => out3.push(r));
  three.expectFields(3);
  ['a,"x', '",', 'b,"stray', 'c,d,e', 'f,g",h,i', 'j,k,l'].forEach((text, i) => three.push({ line: i + 1, text, crlf: false, bytes: text.length, badUtf8: false }));
  three.end();
  assert.deepEqual(out3, [
    { ok: true, line: 1, fields: ['a', 'x\n', ''], badUtf8: false },
    { ok: false, line: 3, reason: 'unterminated quoted field' },
    { ok: true, line: 4, fields: ['c', 'd', 'e'], badUtf8: false },
    { ok: false, line: 5, reason: 'quote inside an unquoted field' },
    { ok: true, line: 6, fields: ['j', 'k', 'l'], badUtf8: false },
  ]);
});

test('parseCsvLine follows RFC 4180 on one line', () => {
  assert.deepEqual(parseCsvLine('a,b,,c'), { ok: true, fields: ['a', 'b', '', 'c'] });
  assert.deepEqual(parseCsvLine('"a,1","b""q""",""'), { ok: true, fields: ['a,1', 'b"q"', ''] });
  assert.deepEqual(parseCsvLine('a,"b",'), { ok: true, fields: ['a', 'b', ''] });
  assert.deepEqual(parseCsvLine(''), { ok: true, fields: [''] });
  assert.equal(parseCsvLine('"abc').ok, false);
  assert.equal(parseCsvLine('a"b,c').ok, false);
  assert.equal(parseCsvLine('"a" ,b').ok, false);
});

test('the rejects report cannot carry a formula into a spreadsheet: a cell starting with = + - @ is shown as text', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'formula.csv');
  // A valid id that begins with '-', on a row with no contact point: rejected, and named in the report.
  await writeFile(file, `${HEADER}\n-A1,former,Ann Lee,,,,en,name\n`);
  const { result } = await ingest(dir, file);
  assert.equal(result.rejected, 1);
  const row = (await readRejects(result))[1];
  assert.equal(row?.[3], "'-A1", 'the id is kept, made inert with a leading quote');
  assert.ok(row?.every((cell) => !/^[=+\-@\t\r]/.test(cell)), `no cell starts a formula: ${JSON.stringify(row)}`);
});
