/**
 * A whole wave through Redis, for memory: this process is the feeder — it ingests the file
 * (`createWave`) and feeds every accepted account into the notify queue in its bounded window
 * (`createFeeder`), while the audit writer drains the audit stream and stand-in notifiers
 * (`proc-drain.ts`: the notice path's ledger writes, no provider) finish the jobs. The parent
 * samples Redis `used_memory` throughout; this process samples its own RSS (the feeder's).
 *
 * Finished accounts are compacted as the recovery sweep does (`ledger.compact`), here every
 * second and with no wait after their last change, so the wave ends with nothing per account in
 * the ledger hash. `redisBytesPerAccount` is the slope of Redis `used_memory` over the whole wave:
 * sampled once the wave is ingested (nothing queued yet) and again once every account is finished
 * and compacted and the audit stream drained, over the accounts.
 *
 * Params: { url, file, window, batch, drains, concurrency, compact? (default true) }.
 * Prints { rows, accepted, ingestMs, feedMs, fedPerSec, rss, redisBytesPerAccount, redisAtEnd: {...} }.
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
import { childParams, deletePrefix, emit, mb, note, randomId, round, startDrains, startRssSampler, type ServiceProcess, type WaveSectionParams } from './common.js';

interface Params extends WaveSectionParams {
  /** Compact finished accounts during and after the wave (default true; false shows what the ledger alone keeps). */
  readonly compact?: boolean;
}

const p = childParams<Params>();
const dir = mkdtempSync(join(tmpdir(), 'bw-bench-wave-'));
const prefix = `bwbench-wave-${randomId()}`;
const redis = new Redis(p.url, { maxRetriesPerRequest: null });
const procs: ServiceProcess[] = [];
const rss = startRssSampler(50);
try {
  const log = createLogger({ name: 'bench-feeder', level: 'warn' });
  const ledger = createLedger({ redis, prefix });
  const envelope = createEnvelope([parseKey('k1', generateKey())]);
  const t0 = performance.now();
  const wave = await createWave({ ledger, file: p.file, brand: 'Example Wireless', helpUrl: 'https://help.example.com', dataDir: dir, envelope, log, onProgress: rss.sample });
  const ingestMs = performance.now() - t0;
  note(`wave: ${wave.stats.accepted} accounts ingested in ${round(ingestMs / 1000, 1)} s; feeding (window ${p.window})`);

  await startDrains({ url: p.url, prefix, dir, concurrency: p.concurrency, drains: p.drains }, procs);

  const usedMemory = async (): Promise<number> => Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1] ?? 0);
  const compact = p.compact !== false;
  const memoryBefore = await usedMemory();
  let compacted = 0;
  const feeder = createFeeder({ ledger, connection: redis, prefix, window: p.window, batch: p.batch, accountsPerJob: p.accountsPerJob, minJobs: p.minJobs, log });
  const t1 = performance.now();
  const feeding = feeder.feed(wave.waveId);
  let progress = await waveProgress(ledger, wave.waveId);
  let lastNote = t1;
  let lastCompact = t1;
  while (!progress.complete) {
    await new Promise((r) => setTimeout(r, 250));
    progress = await waveProgress(ledger, wave.waveId);
    if (compact && performance.now() - lastCompact > 1000) {
      compacted += await ledger.compact(wave.waveId);
      lastCompact = performance.now();
    }
    if (performance.now() - lastNote > 15_000) {
      lastNote = performance.now();
      note(`wave: ${progress.finished}/${progress.accepted} finished, feeder RSS ${mb(process.memoryUsage().rss)} MB`);
    }
  }
  const feedMs = performance.now() - t1;
  await feeding;
  await feeder.close();
  if (compact) compacted += await ledger.compact(wave.waveId);
  const auditKey = `${prefix}:audit`;
  const t2 = performance.now();
  while ((await redis.xlen(auditKey)) > 0 && performance.now() - t2 < 120_000) await new Promise((r) => setTimeout(r, 100));
  const rssResult = rss.stop();

  // What a finished wave leaves in Redis: its ledger (one entry per account, kept for the
  // exactly-once guarantee), its counters, and whatever the audit writer has not drained yet.
  const ledgerBytes = Number(await redis.call('MEMORY', 'USAGE', ledger.keys.ledger(wave.waveId), 'SAMPLES', '1000') ?? 0);
  const compactBytes = await redis.strlen(ledger.keys.compact(wave.waveId));
  const info = await redis.info('memory');
  const memoryAfter = Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0);
  // What stays in Redis after the wave, by key (the largest): what the slope is made of.
  const left: [string, number][] = [];
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    for (const key of found) left.push([key.slice(prefix.length + 1), Number(await redis.call('MEMORY', 'USAGE', key, 'SAMPLES', '0') ?? 0)]);
  } while (cursor !== '0');
  left.sort((a, b) => b[1] - a[1]);
  const queueBytes = left.filter(([key]) => key.startsWith('bw-')).reduce((n, [, b]) => n + b, 0);
  emit({
    rows: wave.stats.rows,
    accepted: wave.stats.accepted,
    ingestMs: round(ingestMs),
    ingestRowsPerSec: round((wave.stats.rows / ingestMs) * 1000),
    feedMs: round(feedMs),
    fedPerSec: round((progress.accepted / feedMs) * 1000),
    window: p.window,
    drains: p.drains,
    rss: rssResult,
    redisBytesPerAccount: round((memoryAfter - memoryBefore) / Math.max(1, progress.accepted), 1),
    // The same without what BullMQ keeps whatever the wave's size (its events stream, capped, and
    // the last 1,000 completed jobs): what grows with the number of accounts.
    redisBytesPerAccountBeyondQueues: round((memoryAfter - memoryBefore - queueBytes) / Math.max(1, progress.accepted), 1),
    compacted,
    redisAtEnd: {
      usedMb: mb(Number(/used_memory:(\d+)/.exec(info)?.[1] ?? 0)),
      ledgerMb: mb(ledgerBytes),
      ledgerBytesPerAccount: round(ledgerBytes / Math.max(1, progress.accepted)),
      compactMb: mb(compactBytes),
      keys: left.length,
      keysMb: mb(left.reduce((n, [, b]) => n + b, 0)),
      largestKeys: Object.fromEntries(left.slice(0, 6).map(([key, b]) => [key.replace(wave.waveId, '<wave>'), b])),
      auditBacklog: await redis.xlen(auditKey),
    },
  });
} finally {
  for (const x of procs) await x.stop().catch(() => null);
  await deletePrefix(redis, prefix);
  await redis.quit();
  rmSync(dir, { recursive: true, force: true });
}
