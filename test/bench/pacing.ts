/**
 * Pacing benchmark: N processes share one sender's pace for T seconds; prints configured vs
 * measured messages/s and the busiest 1-second window as JSON.
 *
 *   node --import tsx test/bench/pacing.ts [--processes 4] [--rate 200] [--seconds 5]
 *        [--concurrency 8] [--burst 1]
 *
 * Uses REDIS_URL when set, else starts Redis through testcontainers (like the tests).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { entryArgs } from '@breachwave/testkit/entry';
import { DEFAULT_HEADROOM, createPacer, paceKey, type Pacer, type PacerStats } from '@breachwave/pacing';

/** Something to do to the pace while the bench runs (change the rate, penalise…). */
export interface BenchStep {
  /** When, in ms after the start. */
  readonly atMs: number;
  run(pacer: Pacer): Promise<void>;
}

/** Options of {@link runBench}. */
export interface BenchOptions {
  readonly url: string;
  readonly processes: number;
  /** Configured rate, messages/s. */
  readonly rate: number;
  readonly seconds: number;
  /** Concurrent acquirers per process, default 8. */
  readonly concurrency?: number;
  readonly burst?: number;
  readonly horizonMs?: number;
  /** Most slots one reservation takes per process (the pacer's `maxBatch`). */
  readonly maxBatch?: number;
  /** The pacer's `preciseWake` (default: the pacer's default). */
  readonly preciseWake?: boolean;
  readonly steps?: readonly BenchStep[];
}

/** Figures of a run. Times are ms since the start. */
export interface BenchResult {
  readonly processes: number;
  /** Configured messages/s. */
  readonly configured: number;
  /** Measured messages/s, first send to last. */
  readonly measured: number;
  /** (measured − configured) / configured, in %. */
  readonly errorPct: number;
  /** Most sends in any half-open 1-second window. */
  readonly maxWindow: number;
  /** What the pacer promises for that window: ⌈rate⌉ + burst. */
  readonly windowLimit: number;
  readonly count: number;
  /** Every send, sorted. */
  readonly stamps: readonly number[];
  /** When each step ran. */
  readonly stepTimes: readonly number[];
  readonly stats: readonly PacerStats[];
  /**
   * Where the configured rate went, in % of it over the first-to-last span: the headroom kept
   * unused, slots released too late (`wasted`), grid slots nobody reserved in time (`skipped`),
   * and the rest (`other`: a slot's share of the span's ends, rounding). The mean wake-up
   * latency (ms after a slot's time that it was handed out) is what stalls had left of its
   * tolerance.
   */
  readonly lost: { readonly headroomPct: number; readonly wastedPct: number; readonly skippedPct: number; readonly otherPct: number; readonly meanLateMs: number };
}

/** Most stamps (sorted, ms) in any half-open window `[t, t + windowMs)`. */
export function maxInWindow(stamps: readonly number[], windowMs = 1000): number {
  let best = 0;
  let j = 0;
  for (let i = 0; i < stamps.length; i++) {
    while (j < stamps.length && (stamps[j] as number) < (stamps[i] as number) + windowMs) j++;
    best = Math.max(best, j - i);
  }
  return best;
}

/** Sends per second between the first and the last stamp (sorted, ms) of `[from, to)`. */
export function rateBetween(stamps: readonly number[], from = -Infinity, to = Infinity): number {
  const inside = stamps.filter((s) => s >= from && s < to);
  const first = inside[0];
  const last = inside.at(-1);
  if (first === undefined || last === undefined || last === first) return 0;
  return ((inside.length - 1) * 1000) / (last - first);
}

/** CLOCK_MONOTONIC in ms, shared by every process on the host (see pacing-worker.ts). */
const hostNow = (): number => Number(process.hrtime.bigint()) / 1e6;
const WORKER = fileURLToPath(new URL('./pacing-worker.ts', import.meta.url));

function lineReader(child: ChildProcess, what: string): () => Promise<string> {
  const lines = createInterface({ input: child.stdout as NonNullable<ChildProcess['stdout']> });
  const queue: string[] = [];
  const waiting: ((line: string) => void)[] = [];
  const state: { failure?: Error } = {};
  const failAll = (err: Error) => {
    state.failure = err;
    for (const w of waiting.splice(0)) w('');
  };
  lines.on('line', (l) => {
    const w = waiting.shift();
    if (w) w(l);
    else queue.push(l);
  });
  child.on('exit', (code, signal) => {
    if (code !== 0) failAll(new Error(`${what} exited with ${code ?? signal}`));
  });
  child.on('error', failAll);
  return async () => {
    const queued = queue.shift();
    if (queued !== undefined) return queued;
    const failed = (): Error | undefined => state.failure;
    const early = failed();
    if (early) throw early;
    const line = await new Promise<string>((resolve) => waiting.push(resolve));
    const err = failed();
    if (err) throw err;
    return line;
  };
}

/**
 * Runs `processes` worker processes acquiring from one sender at `rate` for `seconds`, and
 * measures what they got. The sender's key is random and deleted afterwards.
 */
export async function runBench(options: BenchOptions): Promise<BenchResult> {
  const prefix = `bench${randomBytes(4).toString('hex')}`;
  const sender = 'bench-sender';
  const burst = options.burst ?? 1;
  const redis = new Redis(options.url, { maxRetriesPerRequest: null });
  const pacer = createPacer({ redis, prefix, sender });
  const children: ChildProcess[] = [];
  const timers: NodeJS.Timeout[] = [];
  try {
    await pacer.setRate(options.rate, { burst });
    const config = JSON.stringify({ url: options.url, prefix, sender, concurrency: options.concurrency ?? 8, horizonMs: options.horizonMs, maxBatch: options.maxBatch, preciseWake: options.preciseWake });
    const readers = Array.from({ length: options.processes }, (_, i) => {
      const child = spawn(process.execPath, entryArgs(WORKER), {
        stdio: ['pipe', 'pipe', 'inherit'],
        env: { ...process.env, BW_PACE_WORKER: config },
      });
      children.push(child);
      return lineReader(child, `pacing worker ${i}`);
    });
    for (const read of readers) {
      const hello = JSON.parse(await read()) as { ready?: boolean };
      if (!hello.ready) throw new Error('pacing worker did not report ready');
    }
    // Every worker starts at the same moment, a little after the last one hears about it.
    const start = hostNow() + 50;
    const stopAt = start + options.seconds * 1000;
    for (const child of children) child.stdin?.end(`${JSON.stringify({ startAt: start, stopAt })}\n`);
    const stepTimes: number[] = [];
    const stepsDone = (options.steps ?? []).map(
      (step) =>
        new Promise<void>((resolve, reject) => {
          timers.push(
            setTimeout(() => {
              stepTimes.push(hostNow() - start);
              step.run(pacer).then(resolve, reject);
            }, Math.max(0, start + step.atMs - hostNow())),
          );
        }),
    );
    const outputs = await Promise.all(readers.map(async (read) => JSON.parse(await read()) as { stamps: number[]; stats: PacerStats }));
    await Promise.all(stepsDone);
    const stamps = outputs.flatMap((o) => o.stamps.map((s) => s - start)).sort((a, b) => a - b);
    const measured = rateBetween(stamps);
    const span = stamps.length > 1 ? ((stamps.at(-1) as number) - (stamps[0] as number)) / 1000 : 0;
    const sum = (f: (s: PacerStats) => number) => outputs.reduce((n, o) => n + f(o.stats), 0);
    const pct = (n: number) => (span > 0 ? Math.round((n / (options.rate * span)) * 10_000) / 100 : 0);
    const headroomPct = DEFAULT_HEADROOM * 100;
    const wastedPct = pct(sum((x) => x.wasted));
    const skippedPct = pct(sum((x) => x.skipped));
    const errorPct = Math.round(((measured - options.rate) / options.rate) * 10_000) / 100;
    const granted = sum((x) => x.granted);
    return {
      processes: options.processes,
      configured: options.rate,
      measured: Math.round(measured * 100) / 100,
      errorPct,
      maxWindow: maxInWindow(stamps),
      windowLimit: Math.ceil(options.rate) + burst,
      count: stamps.length,
      stamps,
      stepTimes,
      stats: outputs.map((o) => o.stats),
      lost: {
        headroomPct, wastedPct, skippedPct,
        otherPct: Math.round((-errorPct - headroomPct - wastedPct - skippedPct) * 100) / 100,
        meanLateMs: granted > 0 ? Math.round((sum((x) => x.lateMs) / granted) * 1000) / 1000 : 0,
      },
    };
  } finally {
    for (const t of timers) clearTimeout(t);
    for (const child of children) if (child.exitCode === null) child.kill();
    pacer.close();
    await redis.del(paceKey(prefix, sender));
    await redis.quit();
  }
}

// Run by hand, or as the bench's pacing section (its children get BW_BENCH_PARAMS), possibly compiled.
if (process.env.BW_BENCH_PARAMS !== undefined || (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href)) {
  const { values } = parseArgs({
    options: {
      processes: { type: 'string', default: '4' },
      rate: { type: 'string', default: '200' },
      seconds: { type: 'string', default: '5' },
      concurrency: { type: 'string', default: '8' },
      burst: { type: 'string', default: '1' },
    },
  });
  // REDIS_URL as it is (the benchmark always sets it), without loading the test kit for it.
  const server = process.env.REDIS_URL
    ? { url: process.env.REDIS_URL, stop: async () => {} }
    : await (await import('@breachwave/testkit')).startRedis();
  try {
    const { stamps: _stamps, stepTimes: _steps, ...result } = await runBench({
      url: server.url,
      processes: Number(values.processes),
      rate: Number(values.rate),
      seconds: Number(values.seconds),
      concurrency: Number(values.concurrency),
      burst: Number(values.burst),
    });
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    await server.stop();
  }
}
