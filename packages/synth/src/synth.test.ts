import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { normalisePhone, parseAccountRow, type RawRow } from '@breachwave/domain';
import { AREA_CODES, createPrng, generateAccounts, generateLines, synthColumns, writeAccountsFile } from './index.js';

/** Minimal RFC 4180 splitter for one line, enough to check what the generator wrote. */
function splitCsv(line: string): string[] {
  const out: string[] = [];
  let i = 0;
  for (;;) {
    let v = '';
    if (line[i] === '"') {
      i++;
      for (;;) {
        const q = line.indexOf('"', i);
        assert.ok(q >= 0, 'unterminated quote');
        v += line.slice(i, q);
        if (line[q + 1] === '"') { v += '"'; i = q + 2; } else { i = q + 1; break; }
      }
    } else {
      const c = line.indexOf(',', i);
      v = line.slice(i, c < 0 ? line.length : c);
      i = c < 0 ? line.length : c;
    }
    out.push(v);
    if (line[i] !== ',') return out;
    i++;
  }
}

async function collect(it: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const l of it) out.push(l);
  return out;
}

test('the PRNG is deterministic per seed', () => {
  const a = createPrng(42);
  const b = createPrng(42);
  const c = createPrng(43);
  const xs = Array.from({ length: 5 }, () => a.next());
  assert.deepEqual(xs, Array.from({ length: 5 }, () => b.next()));
  assert.notDeepEqual(xs, Array.from({ length: 5 }, () => c.next()));
  for (const x of xs) assert.ok(x >= 0 && x < 1);
});

test('every area code the generator uses gives valid numbers for all of 555-0100..0199', () => {
  for (const area of AREA_CODES) {
    for (let n = 0; n < 100; n++) {
      const r = normalisePhone(`(${area}) 555-01${String(n).padStart(2, '0')}`);
      assert.ok(r, `${area} ${n}`);
      assert.match(r.e164, /^\+1\d{10}$/);
    }
  }
});

test('same seed, same lines; a different seed, different lines', async () => {
  const a = await collect(generateAccounts({ rows: 300, seed: 7 }));
  const b = await collect(generateAccounts({ rows: 300, seed: 7 }));
  const c = await collect(generateAccounts({ rows: 300, seed: 8 }));
  assert.equal(a.length, 301);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  assert.equal(a[0], synthColumns().join(','));
  assert.equal(a[0], 'account_id,segment,name,ssn,phone,email,dob,time_zone,locale,exposed');
});

test('each row is what it claims: valid rows parse, malformed rows do not, duplicates repeat an earlier id', () => {
  const csv = [...generateLines({ rows: 5000, seed: 3, malformedRate: 0.05, duplicateRate: 0.03 })];
  const jsonl = [...generateLines({ rows: 5000, seed: 3, malformedRate: 0.05, duplicateRate: 0.03, format: 'jsonl' })];
  const header = csv[0]?.text.split(',') ?? [];
  assert.equal(jsonl.length, 5000);
  assert.equal(csv.length, 5001);
  const accepted = new Set<string>();
  const counts = { valid: 0, malformed: 0, duplicate: 0 };
  let prepaid = 0;
  let es = 0;
  for (let i = 0; i < jsonl.length; i++) {
    const j = jsonl[i];
    const c = csv[i + 1];
    assert.ok(j && c && j.kind && j.kind === c.kind);
    counts[j.kind]++;
    const fields = splitCsv(c.text);
    let obj: unknown;
    try {
      obj = JSON.parse(j.text);
    } catch {
      obj = undefined;
    }
    if (!obj || typeof obj !== 'object' || Array.isArray(obj)) {
      // JSONL's stand-in for a wrong column count; the CSV twin really has a field missing.
      assert.equal(j.kind, 'malformed');
      assert.equal(fields.length, header.length - 1);
      continue;
    }
    const row = obj as RawRow;
    // The two formats carry the same row.
    assert.deepEqual(Object.fromEntries(header.map((h, k) => [h, fields[k]])), row);
    const parsed = parseAccountRow(row);
    if (j.kind === 'malformed') {
      assert.equal(parsed.ok, false, j.text);
      continue;
    }
    assert.ok(parsed.ok, `${j.kind}: ${j.text}`);
    const id = parsed.account.accountId;
    if (j.kind === 'valid') {
      assert.ok(!accepted.has(id));
      accepted.add(id);
      if (parsed.account.segment === 'prepaid-active') prepaid++;
      if (parsed.account.locale === 'es') es++;
    } else {
      assert.ok(accepted.has(id), 'a duplicate repeats an earlier valid id');
    }
  }
  assert.ok(counts.malformed > 150 && counts.malformed < 350, JSON.stringify(counts));
  assert.ok(counts.duplicate > 80 && counts.duplicate < 220, JSON.stringify(counts));
  assert.ok(prepaid / counts.valid > 0.25 && prepaid / counts.valid < 0.35, String(prepaid / counts.valid));
  assert.ok(es / counts.valid > 0.15 && es / counts.valid < 0.25, String(es / counts.valid));
});

test('forbidden columns carry obvious markers, never an SSN-shaped value; they can be left out', async () => {
  const lines = await collect(generateAccounts({ rows: 2000, seed: 5 }));
  const text = lines.join('\n');
  assert.doesNotMatch(text, /\b\d{3}-\d{2}-\d{4}\b/);
  assert.match(text, /SYN-SSN-\d{8}/);
  assert.match(text, /SYN-DOB-\d{8}/);
  const without = await collect(generateAccounts({ rows: 200, seed: 5, includeForbiddenColumns: false }));
  assert.doesNotMatch(without.join('\n'), /SYN-/);
  assert.equal(without[0], 'account_id,segment,name,phone,email,time_zone,locale,exposed');
});

test('contact mix: most rows have both, some phone only, some email only', () => {
  let both = 0;
  let phoneOnly = 0;
  let emailOnly = 0;
  for (const l of generateLines({ rows: 3000, seed: 9, malformedRate: 0, duplicateRate: 0, format: 'jsonl' })) {
    const r = JSON.parse(l.text) as Record<string, string>;
    if (r.phone && r.email) both++;
    else if (r.phone) phoneOnly++;
    else if (r.email) emailOnly++;
    assert.match(r.email || 'x@example.com', /@example\.(com|net)$/i);
  }
  assert.equal(both + phoneOnly + emailOnly, 3000);
  assert.ok(both > 2000 && phoneOnly > 200 && emailOnly > 100, JSON.stringify({ both, phoneOnly, emailOnly }));
});

test('writeAccountsFile streams the same lines and reports what to expect', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'bw-synth-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'a.csv');
  const written = await writeAccountsFile(path, { rows: 20_000, seed: 11 });
  assert.equal(written.rows, 20_000);
  assert.equal(written.expected.valid + written.expected.malformed + written.expected.duplicates, 20_000);
  const lines = await collect(generateAccounts({ rows: 20_000, seed: 11 }));
  assert.equal(await readFile(path, 'utf8'), lines.join('\n') + '\n');

  const crlf = await writeAccountsFile(join(dir, 'b.csv'), { rows: 10, seed: 11, lineEnding: '\r\n', format: 'csv' });
  const text = await readFile(crlf.path, 'utf8');
  assert.equal(text.split('\r\n').length, 12);
});
