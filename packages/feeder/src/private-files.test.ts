import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { captureLog } from '@breachwave/testkit';
import { REJECTS_FILE, SPOOL_FILE, ingestFile } from './ingest.js';
import { tempDir, testEnvelope } from './test-support.js';

const mode = async (path: string): Promise<number> => (await stat(path)).mode & 0o777;

/** Runs `fn` with a umask that would leave new files world-readable, so only explicit modes pass. */
async function withOpenUmask(fn: () => Promise<void>): Promise<void> {
  const old = process.umask(0);
  try {
    await fn();
  } finally {
    process.umask(old);
  }
}

const CSV = [
  'account_id,segment,name,phone,email',
  'A-1,prepaid-active,Ann,+14155550101,',
  'A-2,no-such-segment,Bob,+14155550102,',
].join('\n');

test('ingest: the spool, the rejects report and their directory are owner-only, whatever the umask', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'accounts.csv');
  await writeFile(file, `${CSV}\n`);
  const spoolDir = join(dir, 'waves', 'w1');
  await withOpenUmask(async () => {
    const result = await ingestFile({ file, waveId: 'w20250101T000000Z-abc123', envelope: testEnvelope(), log: captureLog().log, spoolDir });
    assert.equal(result.accepted, 1);
    assert.equal(result.rejected, 1);
  });
  assert.equal(await mode(join(spoolDir, SPOOL_FILE)), 0o600);
  assert.equal(await mode(join(spoolDir, REJECTS_FILE)), 0o600);
  assert.equal(await mode(spoolDir), 0o700);
  assert.equal(await mode(join(dir, 'waves')), 0o700, 'a parent the ingest created');
});

test('ingest: an existing spool, rejects report and directory are tightened to owner-only', async (t) => {
  const dir = await tempDir(t);
  const file = join(dir, 'accounts.csv');
  await writeFile(file, `${CSV}\n`);
  const spoolDir = join(dir, 'spool');
  await mkdir(spoolDir, { mode: 0o755 });
  await chmod(spoolDir, 0o755);
  for (const name of [SPOOL_FILE, REJECTS_FILE]) {
    await writeFile(join(spoolDir, name), 'old\n');
    await chmod(join(spoolDir, name), 0o644);
  }
  await ingestFile({ file, waveId: 'w20250101T000000Z-abc123', envelope: testEnvelope(), log: captureLog().log, spoolDir });
  assert.equal(await mode(join(spoolDir, SPOOL_FILE)), 0o600);
  assert.equal(await mode(join(spoolDir, REJECTS_FILE)), 0o600);
  assert.equal(await mode(spoolDir), 0o700);
});
