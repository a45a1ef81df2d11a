/**
 * Ingest benchmark: `node --import tsx test/bench/ingest.ts [ROWS] [FILE]`.
 * Writes a synthetic CSV of ROWS rows (default 100,000; or ingests FILE when given), ingests it
 * into a temporary spool and prints `{ rows, ms, rowsPerSec, peakRssMb }` as JSON on stdout.
 * Only the ingest is timed; RSS is sampled every 50 ms while it runs.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import { silentLogger } from '@breachwave/logging';
import { createEnvelope } from '@breachwave/secrets';
import { writeAccountsFile } from '@breachwave/synth';
import { ingestFile } from '@breachwave/feeder';

/** Figures printed by the benchmark. */
export interface IngestBench {
  readonly rows: number;
  readonly accepted: number;
  readonly ms: number;
  readonly rowsPerSec: number;
  readonly peakRssMb: number;
  readonly startRssMb: number;
}

/** Generates (unless `file` is given) and ingests `rows` rows, measuring time and peak RSS. */
export async function benchIngest(rows: number, file?: string): Promise<IngestBench> {
  const dir = await mkdtemp(join(tmpdir(), 'bw-bench-ingest-'));
  try {
    const input = file ?? join(dir, 'accounts.csv');
    if (!file) await writeAccountsFile(input, { rows, seed: 1 });
    const envelope = createEnvelope([{ id: 'bench', key: randomBytes(32) }]);
    const mb = (n: number): number => Math.round((n / 1024 / 1024) * 10) / 10;
    const startRss = process.memoryUsage().rss;
    let peak = startRss;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 50);
    const t0 = performance.now();
    try {
      const r = await ingestFile({ file: input, waveId: 'bench', envelope, log: silentLogger(), spoolDir: join(dir, 'spool') });
      const ms = performance.now() - t0;
      peak = Math.max(peak, process.memoryUsage().rss);
      return { rows: r.rows, accepted: r.accepted, ms: Math.round(ms), rowsPerSec: Math.round((r.rows / ms) * 1000), peakRssMb: mb(peak), startRssMb: mb(startRss) };
    } finally {
      clearInterval(sampler);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const rows = Number(process.argv[2] ?? 100_000);
  if (!Number.isInteger(rows) || rows < 1) {
    process.stderr.write('usage: test/bench/ingest.ts [ROWS] [FILE]\n');
    process.exitCode = 2;
  } else {
    process.stdout.write(`${JSON.stringify(await benchIngest(rows, process.argv[3]))}\n`);
  }
}
