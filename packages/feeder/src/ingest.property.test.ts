/**
 * Property: whatever the records of a well-quoted RFC 4180 file hold (commas, quotes, line
 * breaks, junk columns, bad values, repeated ids, a missing field), every record comes back from
 * the ingest exactly once — accepted, or rejected with a reason — under its own first line, and
 * never merged with a neighbour or lost. The files are written by csv-stringify, an independent
 * RFC 4180 writer, and each record's expected outcome comes from parseAccountRow on the values
 * that were written. And, of parseAccountRow itself: a row with a working channel is accepted,
 * whatever else it holds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'csv-stringify/sync';
import fc from 'fast-check';
import { SEGMENTS, parseAccountRow } from '@breachwave/domain';
import { silentLogger } from '@breachwave/logging';
import { parseCsvLine } from './csv.js';
import { ingestFile, type SpoolEntry } from './ingest.js';
import { tempDir, testEnvelope } from './test-support.js';

const WAVE = 'wprop';
/** Kept columns mixed with a forbidden one (address) and one declared ignored (notes), as exports have them. */
const HEADER = ['account_id', 'segment', 'name', 'notes', 'phone', 'email', 'address', 'time_zone', 'exposed'] as const;

const MESS = ['a', 'B', 'x', 'é', 'ñ', ' ', '\t', ',', ';', '"', "'", '\n', '\r\n', '\r'];
const messy = fc.array(fc.constantFrom(...MESS), { maxLength: 24 }).map((a) => a.join(''));

const record = fc.record({
  account_id: fc.oneof({ weight: 8, arbitrary: fc.integer({ min: 1, max: 40 }).map((n) => `ID-${n}`) }, { weight: 1, arbitrary: messy }),
  segment: fc.oneof({ weight: 6, arbitrary: fc.constantFrom(...SEGMENTS) }, { weight: 1, arbitrary: fc.constantFrom('VIP', ' Former ', '', 'former\n') }),
  name: messy,
  notes: messy,
  phone: fc.constantFrom('', '(202) 555-0143', '+1 312 555 0199', '555-CALL-NOW', '(800) 555-0199', '+52 1 55 1234 5678', '12345'),
  email: fc.constantFrom('', 'a@example.com', 'Pat@Example.COM', 'bad@@example.com', 'a@example.com; b@example.net', 'p@müller.de', 'n/a'),
  address: messy,
  time_zone: fc.constantFrom('', 'America/Chicago', 'US/Eastern', 'Mars/Olympus', 'UTC'),
  exposed: fc.constantFrom('', 'name;phone', 'ssn', 'soul'),
  // Now and then a record one field short: rejected, and still counted once.
  short: fc.integer({ min: 0, max: 14 }).map((n) => n === 0),
});

test('every record of an RFC 4180 file is accepted or rejected with a reason exactly once, under its first line', async (t) => {
  const dir = await tempDir(t);
  const envelope = testEnvelope();
  let n = 0;
  await fc.assert(
    fc.asyncProperty(fc.array(record, { minLength: 1, maxLength: 30 }), fc.boolean(), async (recs, crlf) => {
      n++;
      const options = { record_delimiter: crlf ? 'windows' : 'unix', quoted_match: /[\r\n]/ } as const;
      let text = stringify([[...HEADER]], options);
      let line = 2;
      const firstLines: number[] = [];
      for (const r of recs) {
        const values = HEADER.map((c) => r[c]);
        const chunk = stringify([r.short ? values.slice(0, -1) : values], options);
        firstLines.push(line);
        line += chunk.split('\n').length - 1;
        text += chunk;
      }
      const file = join(dir, `p${n}.csv`);
      await writeFile(file, text);
      const result = await ingestFile({ file, waveId: WAVE, envelope, log: silentLogger(), spoolDir: join(dir, `s${n}`), ignoreColumns: ['notes'] });

      assert.equal(result.rows, recs.length, 'rows are records');
      assert.equal(result.accepted + result.rejected, result.rows);
      const spool = (await readFile(result.spoolPath, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as SpoolEntry);
      const rejects = new Map<number, string[]>();
      for (const l of (await readFile(result.rejectsPath, 'utf8')).split('\n').slice(1).filter(Boolean)) {
        const p = parseCsvLine(l);
        assert.ok(p.ok, l);
        const at = Number(p.fields[0]);
        assert.ok(!rejects.has(at), `line ${at} rejected once`);
        rejects.set(at, p.fields);
      }
      const accepted = new Map(spool.map((e) => [e.line, e]));
      assert.equal(accepted.size, spool.length, 'accepted once');

      const seen = new Set<string>();
      recs.forEach((r, i) => {
        const at = firstLines[i] as number;
        const entry = accepted.get(at);
        const rejected = rejects.get(at);
        assert.ok((entry === undefined) !== (rejected === undefined), `record ${i} (line ${at}): exactly one outcome`);
        if (r.short) {
          assert.match(rejected?.[2] ?? '', /^wrong number of fields/);
          return;
        }
        const parsed = parseAccountRow(Object.fromEntries(HEADER.map((c) => [c, r[c]])));
        if (!parsed.ok) {
          assert.deepEqual(rejected, [String(at), parsed.problems.map((p) => p.field).join(';'), parsed.problems.map((p) => p.reason).join('; '), parsed.accountId ?? '']);
          return;
        }
        const a = parsed.account;
        if (seen.has(a.accountId)) {
          assert.match(rejected?.[2] ?? '', /^duplicate account_id/);
          assert.equal(rejected?.[3], a.accountId);
          return;
        }
        seen.add(a.accountId);
        assert.ok(entry, `record ${i} (line ${at}) accepted`);
        assert.equal(entry.accountId, a.accountId);
        // The contact holds this record's own values: nothing merged in from a neighbour.
        const contact = envelope.openJson<Record<string, string>>(entry.record.contact, `${WAVE}:${a.accountId}`);
        assert.deepEqual(contact, { ...(a.name ? { name: a.name } : {}), ...(a.phone ? { phone: a.phone } : {}), ...(a.email ? { email: a.email } : {}) });
        assert.equal(entry.record.timeZone, a.timeZone);
      });
      for (const at of [...accepted.keys(), ...rejects.keys()]) assert.ok(firstLines.includes(at), `line ${at} starts a record`);
    }),
    { numRuns: 150 },
  );
});

test('a person with a working channel is never rejected for another field: bad contact points, zones, names and locales are warnings at most', () => {
  const mobile = fc.constantFrom('(202) 555-0143', '+1 312 555 0199', '212.555.0100', '+52 1 55 1234 5678', '+52 55 1234 5678');
  const email = fc.constantFrom('a@example.com', ' Pat.Doe@Example.COM ', 'p@müller.de', 'x@example.com; y@example.net', 'n/a, z@example.org');
  const junk = fc.oneof(messy, fc.constantFrom('555-CALL-NOW', '12345', 'bad@@example.com', '(800) 555-0199', '+44 20 7946 0958', 'n/a'));
  const zone = fc.oneof(messy, fc.constantFrom('UTC', 'US/Eastern', 'EST', 'Asia/Kolkata', 'America/Indiana/Indianapolis', 'Mars/Olympus', '+05:00'));
  fc.assert(
    fc.property(
      fc.oneof(
        fc.record({ phone: mobile, email: fc.oneof(junk, email, fc.constant('')) }),
        fc.record({ phone: fc.oneof(junk, mobile, fc.constant('')), email }),
      ),
      fc.record({ name: messy, time_zone: zone, locale: messy, segment: fc.constantFrom(...SEGMENTS), exposed: fc.constantFrom('', 'name;phone', 'ssn|pin') }),
      (contact, rest) => {
        const r = parseAccountRow({ account_id: 'A-1', ...rest, ...contact });
        assert.ok(r.ok, r.ok ? '' : r.problems.map((p) => p.reason).join('; '));
        assert.ok(r.account.phoneIsMobile || r.account.email, 'a working channel kept');
        // A zone kept is one the runtime can format: quiet hours can use it.
        if (r.account.timeZone) assert.doesNotThrow(() => new Intl.DateTimeFormat('en-US', { timeZone: r.account.timeZone }));
        else if (rest.time_zone.trim() !== '') assert.ok(r.warnings.includes('time_zone_unknown'));
      },
    ),
    { numRuns: 500 },
  );
});
