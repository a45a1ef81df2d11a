/**
 * Shared plumbing of the benchmark: child processes that each measure one section and print one
 * JSON line, Redis discovery and sampling, RSS sampling, medians. No measurement logic lives here.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import { entryArgs } from '@breachwave/testkit/entry';

/** Repository root. */
export const ROOT = resolve(import.meta.dirname, '..', '..');
/** This folder. */
export const BENCH_DIR = import.meta.dirname;

const MB = 1024 * 1024;
export const mb = (bytes: number): number => Math.round((bytes / MB) * 10) / 10;
export const round = (n: number, digits = 0): number => Number(n.toFixed(digits));

/** Median of the finite numbers in `xs`; `null` when there are none. */
export function median(xs: readonly (number | null | undefined)[]): number | null {
  const v = xs.filter((x): x is number => typeof x === 'number' && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = v.length >> 1;
  return v.length % 2 === 1 ? (v[mid] as number) : ((v[mid - 1] as number) + (v[mid] as number)) / 2;
}

// ------------------------------------------------------------------------------------------------
// Children

/** Parameters a section child receives (JSON in `BW_BENCH_PARAMS`). */
export function childParams<T>(): T {
  const raw = process.env.BW_BENCH_PARAMS;
  if (!raw) throw new Error('BW_BENCH_PARAMS is not set: run this file through test/bench/main.ts');
  return JSON.parse(raw) as T;
}

/** A child's result: the one JSON line it prints last on stdout. */
export function emit(result: unknown): void {
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

/**
 * A section process's result: one variant's (a full run gives each variant a process of its own),
 * or, given several (a smoke run's variants share a process), theirs one after another, as a list.
 */
export async function emitVariants<V>(p: { readonly variant: V } | { readonly variants: readonly V[] }, measure: (variant: V) => Promise<unknown>): Promise<void> {
  if ('variants' in p) {
    const results: unknown[] = [];
    for (const variant of p.variants) results.push(await measure(variant));
    emit(results);
  } else {
    emit(await measure(p.variant));
  }
}

/** A progress note from a child (stderr, shown by the parent unless `--json`). */
export function note(text: string): void {
  process.stderr.write(`    ${text}\n`);
}

export interface ChildOptions {
  /** Extra environment (REDIS_URL, …) on top of the parent's. */
  readonly env?: Readonly<Record<string, string>>;
  /** Extra `node` flags, e.g. `--cpu-prof`. */
  readonly nodeArgs?: readonly string[];
  /** Run with plain `node` (the script is plain JavaScript), not through tsx. */
  readonly plainNode?: boolean;
  readonly args?: readonly string[];
  readonly timeoutMs?: number;
  /** Called with each stderr line (progress). */
  readonly onStderr?: (line: string) => void;
  /** Called once the child is spawned, with its pid (RSS sampling from outside). */
  readonly onSpawn?: (pid: number) => void;
}

/** Runs `script` in its own Node process (through tsx) and returns the JSON of its last stdout line. */
export async function runChild<T>(script: string, params: unknown, options: ChildOptions = {}): Promise<T> {
  const args = [
    ...(options.nodeArgs ?? []),
    ...(options.plainNode ? [script] : entryArgs(script)),
    ...(options.args ?? []),
  ];
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, ...options.env, BW_BENCH_PARAMS: JSON.stringify(params) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (child.pid !== undefined) options.onSpawn?.(child.pid);
  let stdout = '';
  let stderrTail = '';
  let partial = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => {
    stdout += s;
  });
  child.stderr.setEncoding('utf8').on('data', (s: string) => {
    stderrTail = (stderrTail + s).slice(-8000);
    partial += s;
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) options.onStderr?.(l);
  });
  const timer = options.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), options.timeoutMs) : undefined;
  const code = await new Promise<number | null>((res, rej) => {
    child.once('error', rej);
    child.once('close', (c, signal) => res(c ?? (signal ? 128 : null)));
  });
  if (timer) clearTimeout(timer);
  const last = stdout.trim().split('\n').at(-1) ?? '';
  if (code !== 0) throw new Error(`${script} exited with ${code}:\n${stderrTail.slice(-3000)}`);
  try {
    return JSON.parse(last) as T;
  } catch {
    throw new Error(`${script} printed no JSON result (last line: ${last.slice(0, 200)})\n${stderrTail.slice(-2000)}`);
  }
}

// ------------------------------------------------------------------------------------------------
// Memory

/** Resident set size of a process (kB fields of /proc/<pid>/status, Linux), or undefined. */
export function procStatus(pid: number | 'self'): { rss: number; hwm: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN) * 1024;
    const rss = kb('VmRSS');
    const hwm = kb('VmHWM');
    return Number.isFinite(rss) ? { rss, hwm: Number.isFinite(hwm) ? hwm : rss } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Samples this process's RSS every `intervalMs` (50 ms by default) and, on Linux, also reads the
 * kernel's high-water mark (VmHWM), which catches peaks between samples.
 */
export function startRssSampler(intervalMs = 50): { sample(): void; stop(): { startMb: number; peakMb: number; hwmMb: number | null } } {
  const start = process.memoryUsage().rss;
  let peak = start;
  const sample = (): void => {
    peak = Math.max(peak, process.memoryUsage().rss);
  };
  const timer = setInterval(sample, intervalMs);
  return {
    sample,
    stop: () => {
      clearInterval(timer);
      sample();
      const hwm = procStatus('self')?.hwm;
      return { startMb: mb(start), peakMb: mb(peak), hwmMb: hwm === undefined ? null : mb(hwm) };
    },
  };
}

/** Peak and start of Redis `used_memory` while a section runs (INFO memory every `intervalMs`). */
export interface RedisMemory {
  readonly startMb: number;
  readonly peakMb: number;
  /** `peakMb - startMb`: what the section itself added at its worst moment. */
  readonly growthMb: number;
  readonly samples: number;
}

export function startRedisMemorySampler(redis: Redis, intervalMs = 100): { peakMb(): number; stop(): Promise<RedisMemory> } {
  let start: number | undefined;
  let peak = 0;
  let samples = 0;
  let stopped = false;
  const read = async (): Promise<void> => {
    const info = await redis.info('memory');
    const used = Number(/used_memory:(\d+)/.exec(info)?.[1] ?? NaN);
    if (!Number.isFinite(used)) return;
    start ??= used;
    peak = Math.max(peak, used);
    samples++;
  };
  const loop = (async () => {
    while (!stopped) {
      await read().catch(() => {});
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  })();
  return {
    /** The peak so far, for progress lines. */
    peakMb: () => mb(peak),
    stop: async () => {
      stopped = true;
      await loop;
      await read().catch(() => {});
      const s = start ?? 0;
      return { startMb: mb(s), peakMb: mb(peak), growthMb: mb(Math.max(0, peak - s)), samples };
    },
  };
}

// ------------------------------------------------------------------------------------------------
// Redis

/** Redis for the run: `REDIS_URL`, else a container (testcontainers), else 127.0.0.1:6379. */
export interface BenchRedis {
  readonly url: string;
  readonly source: string;
  stop(): Promise<void>;
}

async function answers(url: string): Promise<boolean> {
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, connectTimeout: 1000, retryStrategy: () => null });
  probe.on('error', () => {});
  try {
    await probe.connect();
    return (await probe.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    probe.disconnect();
  }
}

/**
 * `REDIS_URL` when set. Otherwise a fresh container through testcontainers when a container
 * runtime is configured (`DOCKER_HOST`, as `scripts/container-runtime.sh` exports it), so the
 * memory figures are the benchmark's alone; else the server on 127.0.0.1:6379 if it answers
 * (shared with whatever else uses it: the Redis figures then include their traffic); else a
 * container anyway.
 */
export async function findRedis(): Promise<BenchRedis> {
  if (process.env.REDIS_URL) return { url: process.env.REDIS_URL, source: 'REDIS_URL', stop: async () => {} };
  const container = async (): Promise<BenchRedis> => {
    const { startRedis } = await import('@breachwave/testkit');
    const started = await startRedis();
    return { url: started.url, source: 'container (testcontainers)', stop: () => started.stop() };
  };
  if (process.env.DOCKER_HOST) {
    try {
      return await container();
    } catch (err) {
      process.stderr.write(`bench: no container Redis (${err instanceof Error ? err.message.split('\n')[0] : String(err)}); trying 127.0.0.1:6379\n`);
    }
  }
  const local = 'redis://127.0.0.1:6379';
  if (await answers(local)) return { url: local, source: 'local server 127.0.0.1:6379 (shared)', stop: async () => {} };
  return container();
}

/** Deletes every key under `prefix:` (a section's ledger, queues and records). */
export async function deletePrefix(redis: Redis, prefix: string): Promise<number> {
  let cursor = '0';
  let n = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 5000);
    cursor = next;
    if (keys.length > 0) n += await redis.unlink(...keys);
  } while (cursor !== '0');
  return n;
}

/** `INFO commandstats` as command → { calls, usec }. */
export async function commandStats(redis: Redis): Promise<Map<string, { calls: number; usec: number }>> {
  const info = await redis.info('commandstats');
  const out = new Map<string, { calls: number; usec: number }>();
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+),usec=(\d+)/gm)) {
    out.set(m[1] as string, { calls: Number(m[2]), usec: Number(m[3]) });
  }
  return out;
}

/** Difference of two commandstats snapshots, busiest (by usec) first. */
export function diffCommandStats(
  before: Map<string, { calls: number; usec: number }>,
  after: Map<string, { calls: number; usec: number }>,
): { command: string; calls: number; usec: number }[] {
  const rows: { command: string; calls: number; usec: number }[] = [];
  for (const [command, a] of after) {
    const b = before.get(command) ?? { calls: 0, usec: 0 };
    if (a.calls > b.calls) rows.push({ command, calls: a.calls - b.calls, usec: a.usec - b.usec });
  }
  return rows.sort((x, y) => y.usec - x.usec);
}

// ------------------------------------------------------------------------------------------------
// Modules the test package does not depend on directly

/**
 * Loads a dependency of a workspace package (e.g. `bullmq`, which `@breachwave/actions` depends
 * on) — the exact copy that package uses, as an ES module.
 */
export async function importFromPackage<T>(pkgDir: string, specifier: string): Promise<T> {
  const req = createRequire(join(ROOT, pkgDir, 'package.json'));
  const cjs = req.resolve(specifier);
  const esm = cjs.replace(`${join('dist', 'cjs')}`, join('dist', 'esm'));
  try {
    return (await import(pathToFileURL(esm).href)) as T;
  } catch {
    return (await import(pathToFileURL(cjs).href)) as T;
  }
}

/** A short random id for key prefixes. */
export function randomId(): string {
  return Math.random().toString(36).slice(2, 8);
}

// ------------------------------------------------------------------------------------------------
// Long-running helper processes (services, sinks)

export interface ServiceProcess {
  readonly pid: number | undefined;
  /** Lines the process printed on stdout that parse as JSON objects with no pino `level`. */
  readonly results: unknown[];
  /** Sends `signal` (SIGTERM by default) and resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts `script` (compiled when the test runner compiled it, else through tsx: `entryArgs`) with `env`, its output appended to `logFile`, and resolves once
 * its output contains `marker` (a log message such as `notifier started`, or `{` for a process
 * that prints a JSON line when ready).
 */
export async function startService(script: string, env: Readonly<Record<string, string>>, logFile: string,
  marker: string, options: { nodeArgs?: readonly string[]; params?: unknown; timeoutMs?: number } = {}): Promise<ServiceProcess> {
  const { createWriteStream } = await import('node:fs');
  const out = createWriteStream(logFile, { flags: 'a' });
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), ...entryArgs(script)], {
    cwd: ROOT,
    env: { ...env, ...(options.params === undefined ? {} : { BW_BENCH_PARAMS: JSON.stringify(options.params) }) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const results: unknown[] = [];
  let seen = '';
  let partial = '';
  let ready: () => void = () => {};
  let failed: (err: Error) => void = () => {};
  const readyP = new Promise<void>((res, rej) => {
    ready = res;
    failed = rej;
  });
  child.stdout.setEncoding('utf8').on('data', (s: string) => {
    out.write(s);
    partial += s;
    const lines = partial.split('\n');
    partial = lines.pop() ?? '';
    for (const l of lines) {
      if (l.startsWith('{')) {
        try {
          const v = JSON.parse(l) as Record<string, unknown>;
          if (!('level' in v)) results.push(v);
        } catch {
          // a log line cut short: ignore
        }
      }
    }
    if (seen.length < 1_000_000) seen += s;
    if (seen.includes(marker)) ready();
  });
  child.stderr.setEncoding('utf8').on('data', (s: string) => {
    out.write(s);
  });
  const exited = new Promise<number | null>((res) => {
    child.once('close', (code, signal) => {
      out.end();
      failed(new Error(`${script} exited (${code ?? signal}) before "${marker}"; see ${logFile}`));
      res(code ?? (signal ? 128 : null));
    });
  });
  const timer = setTimeout(() => failed(new Error(`${script}: no "${marker}" within ${options.timeoutMs ?? 60_000} ms; see ${logFile}`)), options.timeoutMs ?? 60_000);
  try {
    await readyP;
  } catch (err) {
    if (child.exitCode === null) child.kill('SIGKILL');
    throw err;
  } finally {
    clearTimeout(timer);
  }
  return {
    pid: child.pid,
    results,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** CPU time (user + system, ms) a process has used so far (/proc/<pid>/stat, Linux), or undefined. */
export function procCpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) — utime and stime are the 14th and 15th.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(rest[11]) + Number(rest[12]);
    return Number.isFinite(ticks) ? ticks * 10 : undefined; // USER_HZ is 100 on Linux
  } catch {
    return undefined;
  }
}

/** Redis's own CPU time so far (INFO cpu: used_cpu_user + used_cpu_sys, main thread and children), ms. */
export async function redisCpuMs(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const f = (k: string): number => Number(new RegExp(`^${k}:([\\d.]+)`, 'm').exec(info)?.[1] ?? 0);
  return (f('used_cpu_user') + f('used_cpu_sys')) * 1000;
}

/**
 * Starts what a wave section needs beside its feeder: the audit writer and `drains` no-op workers
 * (`proc-drain.ts`: each action claimed and marked done through the ledger). Every process that
 * started is pushed to `procs`, for the caller to stop, even when another failed to start.
 */
export async function startDrains(o: { url: string; prefix: string; dir: string; concurrency: number; drains: number }, procs: ServiceProcess[]): Promise<void> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp',
    REDIS_URL: o.url, BW_PREFIX: o.prefix, BW_AUDIT_DIR: join(o.dir, 'audit'), LOG_LEVEL: 'warn', BW_NOTIFY_CONCURRENCY: String(o.concurrency),
  };
  const settled = await Promise.allSettled([
    startService(join(ROOT, 'services', 'audit-writer', 'src', 'main.ts'), { ...env, LOG_LEVEL: 'info' }, join(o.dir, 'audit-writer.log'), 'audit writer started'),
    ...Array.from({ length: o.drains }, (_, i) => startService(join(BENCH_DIR, 'proc-drain.ts'), env, join(o.dir, `drain-${i}.log`), 'drain started')),
  ]);
  for (const r of settled) if (r.status === 'fulfilled') procs.push(r.value);
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
}

/** What the parent gives a whole-wave section (`section-wave.ts`, `section-scale.ts`). */
export interface WaveSectionParams {
  readonly url: string;
  readonly file: string;
  readonly window: number;
  readonly batch: number;
  /** Accounts per first-action job (`BW_JOB_ACCOUNTS`). */
  readonly accountsPerJob: number;
  /** First-action jobs a wave is cut into at least (`BW_FEED_MIN_JOBS`). */
  readonly minJobs: number;
  readonly drains: number;
  readonly concurrency: number;
}
