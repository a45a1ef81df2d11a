/**
 * Baseline, measured against the same Redis in the same run: bare BullMQ, no breachwave code on
 * the path. (1) `addBulk` jobs/s, in batches the size of the feeder's, with the job options and
 * payload shape breachwave uses; (2) the same jobs processed by one Worker with a no-op processor
 * at the notifier's concurrency, jobs/s from start to the last completion.
 *
 * Params: { url, jobs, batch, concurrency }. Prints { addBulkPerSec, noopPerSec, … }.
 */
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { DEFAULT_JOB_OPTIONS } from '@breachwave/jobs';
import { childParams, deletePrefix, emit, importFromPackage, randomId, round } from './common.js';

interface Params {
  readonly url: string;
  readonly jobs: number;
  readonly batch: number;
  readonly concurrency: number;
}

/** The slice of BullMQ this file uses (the test package does not depend on bullmq directly). */
interface BullQueue {
  addBulk(jobs: { name: string; data: unknown; opts?: Record<string, unknown> }[]): Promise<unknown[]>;
  waitUntilReady(): Promise<unknown>;
  close(): Promise<void>;
}
interface BullWorker {
  on(event: 'completed', fn: () => void): void;
  on(event: 'error' | 'failed', fn: (...args: unknown[]) => void): void;
  waitUntilReady(): Promise<unknown>;
  run(): Promise<void>;
  close(): Promise<void>;
}
interface BullMq {
  Queue: new (name: string, opts: Record<string, unknown>) => BullQueue;
  Worker: new (name: string, processor: () => Promise<void>, opts: Record<string, unknown>) => BullWorker;
}

const p = childParams<Params>();
const { Queue, Worker } = await importFromPackage<BullMq>('packages/actions', 'bullmq');
const prefix = `bwbench-base-${randomId()}`;
const redis = new Redis(p.url, { maxRetriesPerRequest: null });
const name = 'notify';

try {
  const queue = new Queue(name, { connection: { url: p.url, maxRetriesPerRequest: null }, prefix });
  await queue.waitUntilReady();
  const t0 = performance.now();
  for (let i = 0; i < p.jobs; i += p.batch) {
    const list = [];
    for (let j = i; j < Math.min(p.jobs, i + p.batch); j++) {
      const data = { waveId: 'wbench', accountId: `ACCT-${String(j).padStart(8, '0')}` };
      list.push({ name, data, opts: { ...DEFAULT_JOB_OPTIONS, jobId: `notify.wbench.${data.accountId}` } });
    }
    await queue.addBulk(list);
  }
  const addMs = performance.now() - t0;
  await queue.close();

  let done = 0;
  let resolveAll: () => void = () => {};
  const all = new Promise<void>((r) => {
    resolveAll = r;
  });
  const worker = new Worker(name, async () => {}, {
    connection: { url: p.url, maxRetriesPerRequest: null },
    prefix,
    concurrency: p.concurrency,
    autorun: false,
  });
  worker.on('completed', () => {
    if (++done === p.jobs) resolveAll();
  });
  worker.on('error', (err) => process.stderr.write(`baseline worker error: ${String(err)}\n`));
  await worker.waitUntilReady();
  const t1 = performance.now();
  void worker.run();
  await all;
  const noopMs = performance.now() - t1;
  await worker.close();
  emit({
    jobs: p.jobs,
    batch: p.batch,
    concurrency: p.concurrency,
    addBulkMs: round(addMs),
    addBulkPerSec: round((p.jobs / addMs) * 1000),
    noopMs: round(noopMs),
    noopPerSec: round((p.jobs / noopMs) * 1000),
  });
} finally {
  await deletePrefix(redis, prefix);
  await redis.quit();
}
