/**
 * Baseline, measured against the same Redis in the same run: bare BullMQ, no breachwave code on
 * the path. (1) `addBulk` jobs/s, in batches the size of the feeder's, with the job options and
 * payload shape breachwave uses; (2) the same jobs processed by one Worker with a no-op processor
 * at the notifier's concurrency, jobs/s from start to the last completion; (3) with `sendJobs`,
 * that many jobs again, each processor making one bare `client.messages.create` call through the
 * real `twilio` SDK to the loopback Twilio-compatible server (in its own process, as in the
 * end-to-end sections) — what a notice costs before breachwave adds anything: the ceiling the
 * notice path can reach on this machine. Phase (3) runs twice on the same server: with the client
 * breachwave builds (`createTwilioClient`, its `TwilioHttpClient` under the SDK) and with the
 * reference copy of the client before it (the SDK's default axios `RequestClient`), each warmed
 * up first; the reference is measured first.
 *
 * Params: { url, jobs, batch, concurrency, sendJobs?, sendWarmup? }. Prints { addBulkPerSec, noopPerSec, sendPerSec?, sendV0PerSec?, … }.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { createTwilioClient } from '@breachwave/adapter-twilio';
import { DEFAULT_JOB_OPTIONS } from '@breachwave/jobs';
import { createTwilioClientV0, type TwilioModuleV0 } from './reference/twilio-client-v0.js';
import { BENCH_DIR, childParams, deletePrefix, emit, importFromPackage, randomId, round, startService, type ServiceProcess } from './common.js';

interface Params {
  readonly url: string;
  readonly jobs: number;
  readonly batch: number;
  readonly concurrency: number;
  /** Jobs for phase (3), no-op plus one SDK send each; 0 or absent skips it. */
  readonly sendJobs?: number;
  /** Sends through each client before phase (3) is measured (default 500; rounded up to whole rounds of `concurrency`). */
  readonly sendWarmup?: number;
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

/** Adds `jobs` jobs in batches of `batch`, as the feeder does; returns the milliseconds taken. */
async function addJobs(jobs: number, tag: string): Promise<number> {
  const queue = new Queue(name, { connection: { url: p.url, maxRetriesPerRequest: null }, prefix });
  await queue.waitUntilReady();
  const t0 = performance.now();
  for (let i = 0; i < jobs; i += p.batch) {
    const list = [];
    for (let j = i; j < Math.min(jobs, i + p.batch); j++) {
      const data = { waveId: tag, accountId: `ACCT-${String(j).padStart(8, '0')}` };
      list.push({ name, data, opts: { ...DEFAULT_JOB_OPTIONS, jobId: `notify.${tag}.${data.accountId}` } });
    }
    await queue.addBulk(list);
  }
  const ms = performance.now() - t0;
  await queue.close();
  return ms;
}

/** Processes `jobs` waiting jobs with one Worker at the notifier's concurrency; returns the milliseconds taken. */
async function processJobs(jobs: number, processor: () => Promise<void>): Promise<number> {
  let done = 0;
  let resolveAll: () => void = () => {};
  const all = new Promise<void>((r) => {
    resolveAll = r;
  });
  const worker = new Worker(name, processor, {
    connection: { url: p.url, maxRetriesPerRequest: null },
    prefix,
    concurrency: p.concurrency,
    autorun: false,
  });
  worker.on('completed', () => {
    if (++done === jobs) resolveAll();
  });
  worker.on('error', (err) => process.stderr.write(`baseline worker error: ${String(err)}\n`));
  worker.on('failed', (_job, err) => process.stderr.write(`baseline job failed: ${String(err)}\n`));
  await worker.waitUntilReady();
  const t1 = performance.now();
  void worker.run();
  await all;
  const ms = performance.now() - t1;
  await worker.close();
  return ms;
}

let sinks: ServiceProcess | undefined;
const dir = mkdtempSync(join(tmpdir(), 'bw-bench-base-'));
try {
  const addMs = await addJobs(p.jobs, 'wbench');
  const noopMs = await processJobs(p.jobs, async () => {});

  const send: Record<string, number> = {};
  if (p.sendJobs) {
    sinks = await startService(join(BENCH_DIR, 'proc-sinks.ts'), { ...process.env } as Record<string, string>, join(dir, 'sinks.log'), '{', { params: { latencyMs: 0 } });
    const s = sinks.results[0] as { twilio: { url: string; accountSid: string; authToken: string } };
    const options = { accountSid: s.twilio.accountSid, authToken: s.twilio.authToken, baseUrl: s.twilio.url, timeoutMs: 10_000 };
    type SendClient = ReturnType<typeof createTwilioClient>;
    const clients: [string, SendClient][] = [
      ['sendV0', createTwilioClientV0<SendClient>(await importFromPackage<TwilioModuleV0>('packages/adapter-twilio', 'twilio'), options)],
      ['send', createTwilioClient(options)],
    ];
    // A notice-sized body; the number is a fictional 555-01xx one.
    const body = 'Example Mobile: your account was in a data breach. We reset your PIN. Details and free identity protection: https://example.com/breach Reply STOP to opt out.';
    const create = (client: SendClient) => client.messages.create({ to: '+12025550123', from: '+15005550006', body });
    const warmup = p.sendWarmup ?? 500;
    for (const [, client] of clients) {
      for (let i = 0; i < warmup; i += p.concurrency) await Promise.all(Array.from({ length: p.concurrency }, () => create(client)));
    }
    const warmups = clients.length * Math.ceil(warmup / p.concurrency) * p.concurrency;
    for (const [key, client] of clients) {
      await addJobs(p.sendJobs, `w${key}`);
      const cpu0 = process.cpuUsage();
      const sendMs = await processJobs(p.sendJobs, async () => {
        await create(client);
      });
      const cpu = process.cpuUsage(cpu0);
      // This process's CPU per job: BullMQ and the SDK call, the part a notifier process would pay.
      send[`${key}Ms`] = round(sendMs);
      send[`${key}PerSec`] = round((p.sendJobs / sendMs) * 1000);
      send[`${key}WorkerCpuUsPerJob`] = round((cpu.user + cpu.system) / p.sendJobs);
    }
    // The rates count only if every call reached the server (it reports what it received on stop).
    const server = sinks;
    sinks = undefined;
    await server.stop();
    const expected = warmups + clients.length * p.sendJobs;
    const received = (server.results[1] as { sms?: number } | undefined)?.sms ?? -1;
    if (received !== expected) throw new Error(`bare send: the loopback server received ${received} messages for ${expected} calls`);
    send.sendJobs = p.sendJobs;
  }
  emit({
    jobs: p.jobs,
    batch: p.batch,
    concurrency: p.concurrency,
    addBulkMs: round(addMs),
    addBulkPerSec: round((p.jobs / addMs) * 1000),
    noopMs: round(noopMs),
    noopPerSec: round((p.jobs / noopMs) * 1000),
    ...send,
  });
} finally {
  await sinks?.stop();
  rmSync(dir, { recursive: true, force: true });
  await deletePrefix(redis, prefix);
  await redis.quit();
}
