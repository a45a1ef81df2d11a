/**
 * A wave at scale, for memory: this process is the feeder — `wave create` (`createWave` on the
 * N-row file) and `wave start` (`createFeeder` feeding every accepted account) — while the audit
 * writer drains the audit stream and no-op processors (`proc-drain.ts`: a BullMQ worker on the
 * notify queue that takes each account through the ledger's normal claimed → done transitions,
 * sending nothing) finish the accounts. What it reports:
 *
 * - the feeder's peak RSS (sampled, and the kernel's high-water mark `maxRSS`): this process's own;
 * - Redis `used_memory` before the wave, at its peak (sampled here; the parent samples it too) and
 *   once every account is finished and the audit stream drained;
 * - Redis bytes per finished account: (after − before) ÷ accounts, and what that slope projects
 *   for a 54,000,000-account wave.
 *
 * Params: { url, file, window, batch, accountsPerJob, minJobs, drains, concurrency }.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { createFeeder, createWave } from '@breachwave/feeder';
import { createLedger, waveProgress } from '@breachwave/ledger';
import { createLogger } from '@breachwave/logging';
import { createEnvelope, generateKey, parseKey } from '@breachwave/secrets';
import { childParams, deletePrefix, emit, mb, note, randomId, round, startDrains, startRedisMemorySampler, startRssSampler, type ServiceProcess, type WaveSectionParams } from './common.js';

type Params = WaveSectionParams;

/** The size the projection is made for: the largest carrier breach the pipeline is sized for. */
const PROJECTED_ACCOUNTS = 54_000_000;

const p = childParams<Params>();
const dir = mkdtempSync(join(tmpdir(), 'bw-bench-scale-'));
const prefix = `bwbench-scale-${randomId()}`;
const redis = new Redis(p.url, { maxRetriesPerRequest: null });
const procs: ServiceProcess[] = [];
const rss = startRssSampler(50);
const usedMemory = async (): Promise<number> => Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1] ?? NaN);
const redisMemory = startRedisMemorySampler(redis, 200);
try {
  const log = createLogger({ name: 'bench-feeder', level: 'warn' });
  const ledger = createLedger({ redis, prefix });
  const envelope = createEnvelope([parseKey('k1', generateKey())]);
  const before = await usedMemory();

  const t0 = performance.now();
  const wave = await createWave({ ledger, file: p.file, brand: 'Example Wireless', helpUrl: 'https://help.example.com', dataDir: dir, envelope, log, onProgress: rss.sample });
  const ingestMs = performance.now() - t0;
  const ingestRss = rss.stop();
  note(`scale: ${wave.stats.accepted} of ${wave.stats.rows} rows accepted in ${round(ingestMs / 1000, 1)} s (feeder peak RSS so far ${ingestRss.peakMb} MB); feeding`);

  await startDrains({ url: p.url, prefix, dir, concurrency: p.concurrency, drains: p.drains }, procs);

  const feedRss = startRssSampler(50);
  const feeder = createFeeder({ ledger, connection: redis, prefix, window: p.window, batch: p.batch, accountsPerJob: p.accountsPerJob, minJobs: p.minJobs, log });
  const t1 = performance.now();
  const feeding = feeder.feed(wave.waveId);
  let failedFeed: Error | undefined;
  feeding.catch((err: unknown) => (failedFeed = err instanceof Error ? err : new Error(String(err))));
  let progress = await waveProgress(ledger, wave.waveId);
  let lastNote = t1;
  while (!progress.complete) {
    if (failedFeed) throw failedFeed;
    await new Promise((r) => setTimeout(r, 250));
    progress = await waveProgress(ledger, wave.waveId);
    if (performance.now() - lastNote > 15_000) {
      lastNote = performance.now();
      note(`scale: ${progress.finished}/${progress.accepted} finished, feeder RSS ${mb(process.memoryUsage().rss)} MB, Redis ${redisMemory.peakMb()} MB peak`);
    }
  }
  const feedMs = performance.now() - t1;
  await feeding;
  await feeder.close();
  const auditKey = `${prefix}:audit`;
  const t2 = performance.now();
  while ((await redis.xlen(auditKey)) > 0 && performance.now() - t2 < 120_000) await new Promise((r) => setTimeout(r, 100));
  const feedRssResult = feedRss.stop();
  const after = await usedMemory();
  const { peakMb } = await redisMemory.stop();

  const accounts = Math.max(1, progress.finished);
  const bytesPerAccount = (after - before) / accounts;
  // The kernel's high-water mark of this process, in kB on Linux.
  const maxRssMb = mb(process.resourceUsage().maxRSS * 1024);
  emit({
    rows: wave.stats.rows,
    accepted: wave.stats.accepted,
    finished: progress.finished,
    ingestMs: round(ingestMs),
    ingestRowsPerSec: round((wave.stats.rows / ingestMs) * 1000),
    feedMs: round(feedMs),
    finishedPerSec: round((progress.finished / feedMs) * 1000),
    feeder: {
      startMb: ingestRss.startMb,
      ingestPeakMb: Math.max(ingestRss.peakMb, ingestRss.hwmMb ?? 0),
      feedPeakMb: feedRssResult.peakMb,
      maxRssMb,
      peakMb: Math.max(ingestRss.peakMb, feedRssResult.peakMb, maxRssMb),
    },
    redis: {
      beforeMb: mb(before),
      peakMb,
      afterMb: mb(after),
      bytesPerAccount: round(bytesPerAccount),
      projectedAccounts: PROJECTED_ACCOUNTS,
      projectedMb: round((before + bytesPerAccount * PROJECTED_ACCOUNTS) / (1024 * 1024)),
      auditBacklog: await redis.xlen(auditKey),
    },
  });
} finally {
  await redisMemory.stop();
  for (const x of procs) await x.stop().catch(() => null);
  await deletePrefix(redis, prefix);
  await redis.quit();
  rmSync(dir, { recursive: true, force: true });
}
