/**
 * End to end: one wave through the real services on loopback, each in its own process as the
 * deployment runs them — the notifier (`runNotifier`, real `twilio` SDK and nodemailer), the
 * audit writer, and for the full path the pin-rotator and code-issuer — with the feeder in this
 * process and the providers (Twilio-compatible server answering after `latencyMs`, SMTP sink) in
 * another. Measures accepted accounts/s from the start of the feed to the last notice recorded.
 *
 * Workload: `accounts` synthetic prepaid accounts, every one with a mobile number (the SMTP sink
 * has no latency knob, so the wave is SMS-only and the latency run's ceiling is exact), exposed
 * `name;phone;pin;ssn`, not consolidated (one message per account, like the bare send).
 * `mode: notice` — notify only; `mode: full` — rotate PIN (vault store, temporary PIN by SMS) →
 * issue code (generated) → notice with PIN and code, all audited.
 *
 * Params: see {@link Params}. Prints { accounts, ms, perSec, ceilingPerSec?, redis: {...}, … }; with
 * `runs` (smoke runs), an array of those, one per run.
 */
import { createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { loadConfig } from '@breachwave/config';
import { DEFAULT_ACTION_RULES } from '@breachwave/domain';
import { createFeeder, createWave } from '@breachwave/feeder';
import { createLedger, waveProgress } from '@breachwave/ledger';
import { createLogger } from '@breachwave/logging';
import { createEnvelope, generateKey, parseKey } from '@breachwave/secrets';
import {
  BENCH_DIR, ROOT, childParams, commandStats, deletePrefix, diffCommandStats, emit, note, procCpuMs, randomId, redisCpuMs, round, startService, type ServiceProcess,
} from './common.js';

/** One end-to-end run: the path taken, the providers' latency, the wave's size. */
export interface Run {
  readonly mode: 'notice' | 'full';
  readonly latencyMs: number;
  readonly accounts: number;
}

interface Shared {
  readonly url: string;
  /** Jobs in flight per worker process (notifier, and for the full path pin-rotator and code-issuer). */
  readonly concurrency: number;
  readonly window: number;
  readonly batch: number;
  /** Accounts per first-action job the feeder adds (`BW_JOB_ACCOUNTS`). */
  readonly accountsPerJob: number;
  /** First-action jobs a wave is cut into at least (`BW_FEED_MIN_JOBS`). */
  readonly minJobs: number;
  readonly logLevel: string;
  /** When set, the notifier runs with `--cpu-prof` into this directory. */
  readonly profileDir?: string;
}

/**
 * One run, every process of it started for it alone (what `pnpm bench` measures); or, for a smoke
 * run, `runs` one after another in this process (notice-only runs first), sharing the processes
 * they can: one providers process (a Twilio-compatible server per latency behind one address,
 * switched between runs), the audit writer, one notifier per mode, and the pin-rotator and
 * code-issuer. Every figure of every run, for a fraction of the process starts.
 */
export type Params = Shared & (Run | { readonly runs: readonly Run[] });

const AREA_CODES = ['202', '212', '213', '305', '312', '415', '503', '512', '602', '617', '702', '713', '808', '907'];

/** Synthetic, fictional accounts (US 555-01xx numbers, example.com addresses). */
async function writeWaveFile(file: string, n: number): Promise<void> {
  const out = createWriteStream(file);
  out.write('account_id,segment,name,phone,email,time_zone,locale,exposed\n');
  let buf = '';
  for (let i = 1; i <= n; i++) {
    const area = AREA_CODES[i % AREA_CODES.length] as string;
    buf += `ACCT-${String(i).padStart(8, '0')},prepaid-active,Ana Lopez,(${area}) 555-01${String(i % 100).padStart(2, '0')},acct${i}@example.com,America/Chicago,${i % 5 === 0 ? 'es' : 'en'},name;phone;pin;ssn\n`;
    if (buf.length > 64 * 1024) {
      if (!out.write(buf)) await once(out, 'drain');
      buf = '';
    }
  }
  out.end(buf);
  await once(out, 'finish');
}

const p = childParams<Params>();
const together = 'runs' in p;
const given: readonly Run[] = 'runs' in p ? p.runs : [p];
// Together, the runs of one mode follow each other, so that one notifier serves them all; the
// results are printed in the order given.
const runs = [...given].sort((a, b) => Number(a.mode === 'full') - Number(b.mode === 'full'));
const dir = mkdtempSync(join(tmpdir(), 'bw-bench-e2e-'));
const prefix = `bwbench-e2e-${randomId()}`;
const redis = new Redis(p.url, { maxRetriesPerRequest: null });
const procs: ServiceProcess[] = [];

interface Received {
  readonly sms: number;
  readonly email: number;
}

try {
  const first = runs[0];
  if (!first) throw new Error('no run to make');
  const sinks = await startService(join(BENCH_DIR, 'proc-sinks.ts'), { ...process.env } as Record<string, string>, join(dir, 'sinks.log'), '{',
    { params: { latencyMs: first.latencyMs, ...(together ? { then: runs.slice(1).map((r) => r.latencyMs) } : {}) } });
  procs.push(sinks);
  const s = sinks.results[0] as { twilio: { url: string; accountSid: string; authToken: string }; smtpPort: number };
  /** Runs together: what the providers received so far, all runs together; they then move on to the next run's latency. */
  const receivedSoFar = async (): Promise<Received> => {
    const n = sinks.results.length;
    if (sinks.pid !== undefined) process.kill(sinks.pid, 'SIGUSR2');
    const asked = performance.now();
    while (sinks.results.length === n) {
      if (performance.now() - asked > 30_000) throw new Error('the providers did not say what they received');
      await new Promise((r) => setTimeout(r, 10));
    }
    return sinks.results.at(-1) as Received;
  };

  const keys = {
    BW_ENVELOPE_KEY: generateKey(),
    BW_HMAC_KEY: generateKey(),
    BW_PIN_VERIFIER_KEY: generateKey(),
    BW_PIN_HOLD_KEY: generateKey(),
    BW_CODE_KEY: generateKey(),
  };
  /** The services' environment for a run on `mode`'s path. */
  const envFor = (mode: Run['mode']): Record<string, string> => ({
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    // With HTTP_PROXY the notifier's Twilio client is the SDK's own RequestClient (an A/B switch).
    ...(process.env.HTTP_PROXY ? { HTTP_PROXY: process.env.HTTP_PROXY } : {}),
    REDIS_URL: p.url,
    BW_PREFIX: prefix,
    BW_DATA_DIR: dir,
    BW_ENVELOPE_KEY: keys.BW_ENVELOPE_KEY,
    BW_HMAC_KEY: keys.BW_HMAC_KEY,
    TWILIO_ACCOUNT_SID: s.twilio.accountSid,
    TWILIO_AUTH_TOKEN: s.twilio.authToken,
    TWILIO_BASE_URL: s.twilio.url,
    TWILIO_FROM: '+15005550006',
    SMTP_HOST: '127.0.0.1',
    SMTP_PORT: String(s.smtpPort),
    LOG_LEVEL: p.logLevel,
    BW_NOTIFY_CONCURRENCY: String(p.concurrency),
    BW_PIN_VERIFIER_KEY: keys.BW_PIN_VERIFIER_KEY,
    BW_PIN_HOLD_KEY: keys.BW_PIN_HOLD_KEY,
    BW_PIN_CONCURRENCY: String(p.concurrency),
    BW_CODE_KEY: keys.BW_CODE_KEY,
    BW_CODE_CONCURRENCY: String(p.concurrency),
    BW_CODE_LOW_WATERMARK: '0',
    BW_AUDIT_DIR: join(dir, 'audit'),
    BW_BENCH_FULL: mode === 'full' ? '1' : '0',
  });
  const config = loadConfig(envFor(first.mode));
  const log = createLogger({ name: 'bench-feeder', level: p.logLevel, destination: (await import('pino')).pino.destination({ dest: join(dir, 'feeder.log'), sync: false }) });
  const ledger = createLedger({ redis, prefix });
  const envelope = createEnvelope(config.envelopeKeys.map((k) => parseKey(k.id, k.base64)));
  const service = (name: string): string => join(ROOT, 'services', name, 'src', 'main.ts');
  const names = ['audit-writer', 'notifier', 'pin-rotator', 'code-issuer'] as const;
  /** The services up now, by name (runs together keep them for the next run, the notifier while the mode stays the same). */
  const running = new Map<string, ServiceProcess>();
  let receivedBefore: Received = { sms: 0, email: 0 };

  const measureRun = async (run: Run, next: Run | undefined): Promise<unknown> => {
    const full = run.mode === 'full';
    const file = join(dir, `accounts-${run.mode}-${run.latencyMs}ms.csv`);
    await writeWaveFile(file, run.accounts);
    const env = envFor(run.mode);
    const wave = await createWave({
      ledger, file, brand: config.brand, helpUrl: config.helpUrl, dataDir: dir, envelope, log,
      // One notice, one message per account, as in the bare-send baseline: the synthetic numbers
      // (555-01xx, 700 distinct) would otherwise fold ~10 accounts into each consolidated message.
      consolidate: false,
      ...(full ? { rules: DEFAULT_ACTION_RULES, pinDelivery: 'sms-temporary' as const, codeSource: { kind: 'generated' as const }, enrollBy: '2099-12-31' } : { rules: {} }),
    });
    if (wave.stats.accepted !== run.accounts) throw new Error(`expected ${run.accounts} accepted accounts, got ${wave.stats.accepted}`);

    const profileArgs = (name: string): { nodeArgs?: string[] } =>
      p.profileDir ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${p.profileDir}`, `--cpu-prof-name=${name}-${run.mode}-${run.latencyMs}ms-${process.pid}.cpuprofile`] } : {};
    const start: Record<(typeof names)[number], () => Promise<ServiceProcess>> = {
      'audit-writer': () => startService(service('audit-writer'), env, join(dir, 'audit-writer.log'), 'audit writer started', profileArgs('audit-writer')),
      notifier: () => startService(join(BENCH_DIR, 'proc-notifier.ts'), env, join(dir, 'notifier.log'), 'notifier started', profileArgs('notifier')),
      'pin-rotator': () => startService(service('pin-rotator'), env, join(dir, 'pin-rotator.log'), 'pin-rotator started', profileArgs('pin-rotator')),
      'code-issuer': () => startService(service('code-issuer'), env, join(dir, 'code-issuer.log'), 'code-issuer started', profileArgs('code-issuer')),
    };
    const needed = names.filter((n) => full || (n !== 'pin-rotator' && n !== 'code-issuer'));
    const starting = needed.filter((n) => !running.has(n));
    const settled = await Promise.allSettled(starting.map((n) => start[n]()));
    settled.forEach((r, i) => {
      if (r.status !== 'fulfilled') return;
      procs.push(r.value);
      running.set(starting[i] as string, r.value);
    });
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
    const named = new Map<string, ServiceProcess>([['sinks', sinks], ...needed.map((n) => [n, running.get(n) as ServiceProcess] as const)]);

    const feeder = createFeeder({ ledger, connection: redis, prefix, window: p.window, batch: p.batch, accountsPerJob: p.accountsPerJob, minJobs: p.minJobs, log });
    // CPU each part of the pipeline spends per account: on a box with a couple of cores the wave is
    // CPU-bound, so this says where the time goes (Linux /proc; Redis from INFO cpu).
    const cpu = (): Record<string, number | undefined> => {
      const out: Record<string, number | undefined> = {};
      for (const [n, proc] of named) out[n] = proc.pid === undefined ? undefined : procCpuMs(proc.pid);
      const own = process.cpuUsage();
      out.feeder = (own.user + own.system) / 1000;
      return out;
    };
    const statsBefore = await commandStats(redis);
    const cpuBefore = cpu();
    const redisCpuBefore = await redisCpuMs(redis);
    const t0 = performance.now();
    const feeding = feeder.feed(wave.waveId);
    let progress = await waveProgress(ledger, wave.waveId);
    let lastNote = t0;
    while (!progress.complete) {
      await new Promise((r) => setTimeout(r, 50));
      progress = await waveProgress(ledger, wave.waveId);
      if (performance.now() - lastNote > 5000) {
        lastNote = performance.now();
        note(`${run.mode} ${run.latencyMs} ms: ${progress.finished}/${progress.accepted}`);
      }
    }
    const ms = performance.now() - t0;
    const cpuAfter = cpu();
    const redisCpuAfter = await redisCpuMs(redis);
    const statsAfter = await commandStats(redis);
    await feeding;
    await feeder.close();

    // The audit stream drains behind the wave; how far behind is worth knowing, not part of the rate.
    const t1 = performance.now();
    const auditKey = `${prefix}:audit`;
    while ((await redis.xlen(auditKey)) > 0 && performance.now() - t1 < 60_000) await new Promise((r) => setTimeout(r, 50));
    const auditDrainMs = performance.now() - t1;

    let received: Received;
    if (!together) {
      // Services drain and stop; the sinks report what they received.
      await Promise.all(procs.filter((x) => x !== sinks).map((x) => x.stop()));
      await sinks.stop();
      received = (sinks.results[1] ?? { sms: -1, email: -1 }) as Received;
    } else {
      // What the providers received since the last run is this run's; the next run on another path
      // has a notifier of its own.
      if (next?.mode !== run.mode) {
        await running.get('notifier')?.stop();
        running.delete('notifier');
      }
      const now = await receivedSoFar();
      received = { sms: now.sms - receivedBefore.sms, email: now.email - receivedBefore.email };
      receivedBefore = now;
    }

    const redisCmds = diffCommandStats(statsBefore, statsAfter);
    const accounts = progress.accepted;
    const calls = redisCmds.reduce((a, c) => a + c.calls, 0);
    const usec = redisCmds.reduce((a, c) => a + c.usec, 0);
    const counts = await ledger.counts(wave.waveId);
    const perSec = (accounts / ms) * 1000;
    const ceiling = run.latencyMs > 0 ? (p.concurrency * 1000) / run.latencyMs : null;
    return {
      mode: run.mode,
      latencyMs: run.latencyMs,
      concurrency: p.concurrency,
      accounts,
      ms: round(ms),
      perSec: round(perSec),
      ceilingPerSec: ceiling,
      vsCeiling: ceiling ? round(perSec / ceiling, 3) : null,
      sent: progress.sent,
      failed: progress.actions.notify?.failed ?? 0,
      received,
      reconciled: received.sms + received.email === progress.sent.sms + progress.sent.email && progress.sent.sms + progress.sent.email === accounts,
      actions: progress.actions,
      rotated: counts['rotate-pin:done'] ?? 0,
      codes: counts['issue-code:done'] ?? 0,
      auditDrainMs: round(auditDrainMs),
      cpuUsPerAccount: {
        ...Object.fromEntries(Object.keys(cpuAfter).map((k) => {
          const a = cpuAfter[k];
          const b = cpuBefore[k];
          return [k, a === undefined || b === undefined ? null : round(((a - b) * 1000) / accounts)];
        })),
        redis: round(((redisCpuAfter - redisCpuBefore) * 1000) / accounts),
      },
      redis: {
        callsPerAccount: round(calls / accounts, 1),
        usecPerAccount: round(usec / accounts, 1),
        top: redisCmds.slice(0, 8).map((c) => ({ command: c.command, perAccount: round(c.calls / accounts, 2), usecPerAccount: round(c.usec / accounts, 1) })),
      },
    };
  };

  const results = new Map<Run, unknown>();
  for (const [i, run] of runs.entries()) results.set(run, await measureRun(run, runs[i + 1]));
  if (together) {
    await Promise.all(procs.filter((x) => x !== sinks).map((x) => x.stop()));
    await sinks.stop();
  }
  emit(together ? given.map((run) => results.get(run)) : results.get(first));
} finally {
  for (const x of procs) await x.stop('SIGKILL').catch(() => null);
  await deletePrefix(redis, prefix);
  await redis.quit();
  if (!process.env.BW_BENCH_KEEP) rmSync(dir, { recursive: true, force: true });
  else note(`kept ${dir}`);
}
