/**
 * One "notifier process" for the pacing bench and its test, spawned by `runBench` as
 * `node --import tsx pacing-worker.ts` with its settings in the `BW_PACE_WORKER` environment
 * variable (JSON: url, prefix, sender, concurrency, horizonMs?, maxBatch?, preciseWake?).
 *
 * Protocol, one JSON line each way: the worker prints `{"ready":true}` once connected; the parent
 * answers `{"startAt": <host ms>, "stopAt": <host ms>}`; from `startAt` the worker runs
 * `concurrency` loops that each acquire a slot and record the time (host monotonic ms,
 * sub-millisecond) until `stopAt`, prints
 * `{"stamps":[…],"stats":{…}}` (the pacer's counters as of `stopAt`) and exits.
 */
import { once, setMaxListeners } from 'node:events';
import { createInterface } from 'node:readline';
import { Redis } from 'ioredis';
import { createPacer } from '@breachwave/pacing';

interface WorkerConfig {
  readonly url: string;
  readonly prefix: string;
  readonly sender: string;
  readonly concurrency: number;
  readonly horizonMs?: number;
  readonly maxBatch?: number;
  readonly preciseWake?: boolean;
}

/**
 * CLOCK_MONOTONIC in ms: one clock for every process on the host (each process's
 * `performance.timeOrigin` is sampled separately at its start, which can skew by a millisecond).
 */
const hostNow = (): number => Number(process.hrtime.bigint()) / 1e6;

const config = JSON.parse(process.env.BW_PACE_WORKER ?? '{}') as WorkerConfig;
const redis = new Redis(config.url, { maxRetriesPerRequest: null });
const pacer = createPacer({
  redis,
  prefix: config.prefix,
  sender: config.sender,
  ...(config.horizonMs ? { horizonMs: config.horizonMs } : {}),
  ...(config.maxBatch ? { maxBatch: config.maxBatch } : {}),
  ...(config.preciseWake !== undefined ? { preciseWake: config.preciseWake } : {}),
});
await redis.ping();

const lines = createInterface({ input: process.stdin });
process.stdout.write(`${JSON.stringify({ ready: true })}\n`);
const [line] = (await once(lines, 'line')) as [string];
lines.close();
const { startAt, stopAt } = JSON.parse(line) as { startAt: number; stopAt: number };
await new Promise((resolve) => setTimeout(resolve, Math.max(0, startAt - hostNow())));

const stamps: number[] = [];
const stop = new AbortController();
setMaxListeners(config.concurrency + 10, stop.signal);
// The counters as the run ends: slots still held then are not "wasted" to a stall.
let atStop: ReturnType<typeof pacer.stats> | undefined;
const timer = setTimeout(() => {
  atStop = pacer.stats();
  stop.abort();
}, Math.max(0, stopAt - hostNow()));
const loop = async (): Promise<void> => {
  while (!stop.signal.aborted) {
    try {
      await pacer.acquire(stop.signal);
    } catch {
      return; // aborted at stopAt
    }
    stamps.push(Math.round(hostNow() * 1000) / 1000);
  }
};
await Promise.all(Array.from({ length: config.concurrency }, loop));
clearTimeout(timer);
pacer.close();
await redis.quit();
process.stdout.write(`${JSON.stringify({ stamps, stats: atStop ?? pacer.stats() })}\n`);
