import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { silentLogger } from '@breachwave/logging';
import { writeAccountsFile } from '@breachwave/synth';
import { ingestFile } from './ingest.js';
import { tempDir, testEnvelope } from './test-support.js';

const MB = 1024 * 1024;

test('ingesting 200,000 rows grows RSS by less than 150 MB', async (t) => {
  const dir = await tempDir(t);
  const synth = await writeAccountsFile(join(dir, 'big.csv'), { rows: 200_000, seed: 99 });
  const base = process.memoryUsage().rss;
  let peak = base;
  const sample = (): void => {
    peak = Math.max(peak, process.memoryUsage().rss);
  };
  const timer = setInterval(sample, 50);
  try {
    const r = await ingestFile({ file: synth.path, waveId: 'wmem', envelope: testEnvelope(), log: silentLogger(), spoolDir: join(dir, 'spool'), onProgress: sample });
    assert.equal(r.rows, 200_000);
    assert.equal(r.accepted, synth.expected.valid);
  } finally {
    clearInterval(timer);
  }
  sample();
  const growth = (peak - base) / MB;
  t.diagnostic(`RSS ${Math.round(base / MB)} MB -> peak ${Math.round(peak / MB)} MB (+${growth.toFixed(1)} MB)`);
  assert.ok(growth < 150, `RSS grew by ${growth.toFixed(1)} MB`);
});
