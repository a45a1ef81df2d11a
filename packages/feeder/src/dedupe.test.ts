import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { silentLogger } from '@breachwave/logging';
import { writeAccountsFile } from '@breachwave/synth';
import { ExternalSorter } from './external-sort.js';
import { ingestFile, type IngestOptions } from './ingest.js';
import { tempDir, testEnvelope } from './test-support.js';

/** A small deterministic generator. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s;
  };
}

test('an external sort written out in many runs gives the records in the order an in-memory sort does, equal records in the order added', async (t) => {
  const dir = await tempDir(t);
  const sorter = new ExternalSorter({ dir, name: '.t', runBytes: 128 * 1024 });
  const rnd = rng(11);
  const alphabet = 'ABCab019_-';
  const added: { primary: number; key: string; a: number; b: number; c: number; payload: string }[] = [];
  for (let i = 0; i < 20_000; i++) {
    // Few primaries and short keys: many ties on primary, on key, and on all three.
    let key = '';
    for (let k = rnd() % 4; k > 0; k--) key += alphabet[rnd() % alphabet.length];
    // Now and then a payload, some of them longer than a merge's read buffer, some not ASCII.
    const payload = i % 3 === 0 ? '' : i % 997 === 0 ? `ç${'x'.repeat(70_000)}` : `{"n":${i},"é":"${key}"}`;
    const r = { primary: rnd() % 7 === 0 ? 0xffffffff : rnd() % 13, key, a: rnd() % 5, b: i, c: rnd(), payload };
    added.push(r);
    sorter.add(r.primary, r.key, r.a, r.b, r.c, r.payload);
  }
  assert.ok(sorter.runCount > 10, `${sorter.runCount} runs`);
  const expected = [...added].sort((x, y) => x.primary - y.primary || (x.key < y.key ? -1 : x.key > y.key ? 1 : 0) || x.a - y.a || x.b - y.b);
  const got: typeof added = [];
  await sorter.forEach((r) => got.push({ ...r }));
  assert.deepEqual(got, expected);
  // Read twice: the runs stay until disposed.
  let again = 0;
  await sorter.forEach(() => again++);
  assert.equal(again, added.length);
  const runs = (await readdir(dir)).filter((f) => f.startsWith('.t.run'));
  assert.equal(runs.length, sorter.runCount);
  for (const f of runs) assert.equal((await stat(join(dir, f))).mode & 0o777, 0o600, `${f} is owner-only`);
  sorter.dispose();
  assert.deepEqual(await readdir(dir), [], 'no run left behind');
});

test('a sort that fits in memory writes nothing to disk', async (t) => {
  const dir = await tempDir(t);
  const sorter = new ExternalSorter({ dir, name: '.t' });
  for (const [p, k] of [[2, 'b'], [1, 'z'], [2, 'a'], [1, 'z']] as const) sorter.add(p, k, 0, 0, 0);
  const got: string[] = [];
  await sorter.forEach((r) => got.push(`${r.primary}${r.key}`));
  assert.deepEqual(got, ['1z', '1z', '2a', '2b']);
  assert.deepEqual(await readdir(dir), []);
  assert.throws(() => sorter.add(0, 'x'.repeat(256), 0, 0, 0), RangeError);
  assert.throws(() => sorter.add(0, 'a\u0101', 0, 0, 0), RangeError);
  assert.throws(() => new ExternalSorter({ dir, name: '.u', runBytes: 4096 }).add(0, 'k', 0, 0, 0, 'x'.repeat(5000)), RangeError, 'a record larger than a run');
});

/**
 * Ingests `file` three ways — ids in memory throughout, in sorted runs of 4 KiB on disk from the
 * start, and moving from memory to disk part way (after `switchAt` ids) — and asserts the same
 * counters, the same rejects report byte for byte and the same spool (but for the sealed contact
 * points, whose IVs are random), with no helper file left in any spool directory.
 */
async function sameBothWays(dir: string, file: string, extra: Partial<IngestOptions> = {}, switchAt = 100): Promise<Awaited<ReturnType<typeof ingestFile>>> {
  const common = { file, waveId: 'wdup', envelope: testEnvelope(), log: silentLogger(), ...extra };
  const memory = await ingestFile({ ...common, spoolDir: join(dir, 'memory') });
  const text = async (p: string): Promise<string> => (await readFile(p, 'utf8')).replace(/"contact":"[^"]*"/g, '"contact":""');
  for (const [name, memoryIds] of [['disk', 0], ['switch', switchAt]] as const) {
    const other = await ingestFile({ ...common, spoolDir: join(dir, name), sortRunBytes: 4096, memoryIds });
    assert.deepEqual({ ...other, spoolPath: '', rejectsPath: '' }, { ...memory, spoolPath: '', rejectsPath: '' }, name);
    assert.equal(await readFile(other.rejectsPath, 'utf8'), await readFile(memory.rejectsPath, 'utf8'), name);
    assert.equal(await text(other.spoolPath), await text(memory.spoolPath), name);
  }
  for (const d of ['memory', 'disk', 'switch']) assert.deepEqual((await readdir(join(dir, d))).sort(), ['accounts.jsonl', 'rejects.csv'], `${d}: no helper file left`);
  return memory;
}

test('duplicates found through sorted runs on disk, or in memory and then on disk: the same first occurrences, rejects report and spool as in memory', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'accounts.csv');
  const synth = await writeAccountsFile(file, { rows: 10_000, seed: 4, duplicateRate: 0.08, malformedRate: 0.05 });
  const r = await sameBothWays(dir, file);
  assert.equal(r.duplicates, synth.expected.duplicates);
  assert.equal(r.accepted, synth.expected.valid);
  // Every duplicate points at the first line its id was accepted on.
  const spool = (await readFile(r.spoolPath, 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { line: number; accountId: string });
  const firstLine = new Map(spool.map((e) => [e.accountId, e.line]));
  const dups = (await readFile(r.rejectsPath, 'utf8')).trim().split('\n').filter((l) => l.includes('duplicate account_id'));
  assert.equal(dups.length, r.duplicates);
  for (const l of dups) {
    const [line, , reason, id] = l.split(',');
    const first = firstLine.get(id ?? '');
    assert.equal(reason, `duplicate account_id (first seen on line ${first})`);
    assert.ok(first !== undefined && first < Number(line));
  }
});

test('a duplicate with warnings is not counted among the warned; a later file repeating ids of the wave is refused them, ids repeated within it point at the wave', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'a.csv');
  const rows = ['account_id,segment,phone,email,exposed'];
  // Ids A-0..A-299 twice (the second time with an invalid email: a warning), families of three on one phone.
  for (let i = 0; i < 600; i++) rows.push(`A-${i % 300},former,+1 312 555 ${String(1000 + Math.floor((i % 300) / 3))},${i >= 300 ? 'bad@@example.com' : ''},name`);
  await writeFile(file, `${rows.join('\n')}\n`);
  const first = await sameBothWays(dir, file, { consolidate: true });
  assert.deepEqual([first.accepted, first.duplicates, first.warned, first.warnings], [300, 300, 0, {}]);
  assert.deepEqual(first.groups, { groups: 100, grouped: 300 });

  const later = join(dir, 'b.csv');
  await writeFile(later, 'account_id,segment,phone,exposed\nA-5,former,+1 312 555 2000,name\nB-1,former,+1 312 555 2001,name\nA-5,former,+1 312 555 2000,name\nB-1,former,+1 312 555 2001,name\n');
  const added = await sameBothWays(join(dir, 'add'), later, { existingSpool: first.spoolPath });
  // The wave's ids alone are more than the index holds: the move to disk comes before the file's first row.
  const spilled = await sameBothWays(join(dir, 'add-spilled'), later, { existingSpool: first.spoolPath }, 10);
  assert.deepEqual([spilled.accepted, spilled.duplicates], [1, 3]);
  assert.equal(await readFile(spilled.rejectsPath, 'utf8'), await readFile(added.rejectsPath, 'utf8'));
  assert.deepEqual([added.accepted, added.duplicates], [1, 3]);
  assert.equal(await readFile(added.rejectsPath, 'utf8'), [
    'line,field,reason,account_id',
    '2,account_id,duplicate account_id (already in the wave),A-5',
    '4,account_id,duplicate account_id (already in the wave),A-5',
    '5,account_id,duplicate account_id (first seen on line 3),B-1',
    '',
  ].join('\n'));
});
