/**
 * The ingest optimisations (an off-heap duplicate index, phone type computed once, IVs
 * drawn in bulk) must not change what the feeder accepts or rejects: the current feeder and the
 * frozen reference in `reference/` ingest the same synthetic file to the same spool (contact
 * envelopes aside: their IVs are random) and the same rejects (line, field and reason).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ingestFile, parseCsvLine } from '@breachwave/feeder';
import { silentLogger } from '@breachwave/logging';
import { createEnvelope } from '@breachwave/secrets';
import { writeAccountsFile } from '@breachwave/synth';
import { createEnvelopeV0 } from './reference/envelope-v0.js';
import { ingestFileV0 } from './reference/ingest-v0.js';

test('current and reference ingests accept, reject and report the same rows', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bw-bench-equiv-'));
  try {
    const file = join(dir, 'accounts.csv');
    const synth = await writeAccountsFile(file, { rows: 20_000, seed: 6, duplicateRate: 0.05, malformedRate: 0.05 });
    const key = [{ id: 'k', key: randomBytes(32) }];
    const common = { file, waveId: 'w', log: silentLogger() };
    const a = await ingestFile({ ...common, envelope: createEnvelope(key), spoolDir: join(dir, 'a') });
    const b = await ingestFileV0({ ...common, envelope: createEnvelopeV0(key), spoolDir: join(dir, 'b') });
    // The reference predates warnings on accepted rows (the synthetic file has none: a malformed
    // row there has no working contact point), the report's account_id column and the list of
    // columns declared ignored (the synthetic file has only known and forbidden ones).
    const { warned, warnings, ignoredColumns, ...current } = a;
    assert.deepEqual([warned, warnings, ignoredColumns], [0, {}, []]);
    assert.deepEqual({ ...current, spoolPath: '', rejectsPath: '' }, { ...b, spoolPath: '', rejectsPath: '' });
    assert.equal(a.accepted, synth.expected.valid);
    assert.equal(a.duplicates, synth.expected.duplicates);
    const report = (p: string) => readFileSync(p, 'utf8').trim().split('\n').slice(1).map((l) => {
      const parsed = parseCsvLine(l);
      assert.ok(parsed.ok, l);
      return parsed.fields.slice(0, 3);
    });
    assert.deepEqual(report(a.rejectsPath), report(b.rejectsPath));
    const envelope = createEnvelope(key);
    const spool = (p: string) => readFileSync(p, 'utf8').trim().split('\n').map((l) => {
      const e = JSON.parse(l) as { accountId: string; record: { contact: string } };
      return { ...e, record: { ...e.record, contact: envelope.openJson(e.record.contact, `w:${e.accountId}`) } };
    });
    assert.deepEqual(spool(a.spoolPath), spool(b.spoolPath));
    // Byte for byte, but for the contact envelopes (random IVs).
    const text = (p: string) => readFileSync(p, 'utf8').replace(/"contact":"[^"]*"/g, '"contact":""');
    assert.equal(text(a.spoolPath), text(b.spoolPath));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('sealed contact points never share an IV, across many refills of the IV pool', () => {
  const envelope = createEnvelope([{ id: 'k', key: randomBytes(32) }]);
  const ivs = new Set<string>();
  const n = 20_000; // ~20 draws of the pool
  for (let i = 0; i < n; i++) {
    const sealed = envelope.seal('+12025550143', `w:${i}`);
    const iv = sealed.split('.')[2] ?? '';
    assert.equal(Buffer.from(iv, 'base64url').length, 12);
    ivs.add(iv);
    assert.equal(envelope.open(sealed, `w:${i}`), '+12025550143');
  }
  assert.equal(ivs.size, n);
});
