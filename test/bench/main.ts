/**
 * `pnpm bench` — breachwave's benchmark, with its baseline measured in the same run.
 *
 * Options: `pnpm bench --help` (USAGE below); `--from bench-results/<stamp>.json` re-renders a saved run.
 *
 * Every section runs in its own process (RSS is then the process's own; a full run gives each
 * variant of a section its own, a smoke run one for all of them) against one Redis:
 * `REDIS_URL`, else a container (testcontainers), else 127.0.0.1:6379 — see `findRedis`.
 * Sections, each a median of `--runs` runs, interleaved so drift on a shared machine spreads
 * over all of them:
 *   baseline — bare BullMQ addBulk jobs/s and no-op jobs processed/s (same Redis, same concurrency),
 *              and no-op plus one bare `twilio` SDK send per job (`--send-jobs N`, 0 skips it), through
 *              breachwave's `TwilioHttpClient` and through the SDK's default client (reference copy);
 *   ingest   — the feeder on an N-row file: rows/s, peak RSS (and the reference implementation);
 *   micro    — each ingest optimisation alone, reference vs current (phone, parse, seal, dedupe);
 *   ledger   — the notice path's ledger traffic alone (reference / current / folded round trips);
 *   e2e      — accounts/s, notice only and full path, providers answering at once and after 100 ms;
 *   pacing   — configured vs measured messages/s for one sender shared by 4 processes;
 *   pin      — CPU per PIN generated plus its verifier.
 * And once: wave — the N-row file fed through Redis in its window: feeder RSS, Redis peak used_memory.
 * Only when asked (`--only scale`): scale — `wave create` and `wave start` of an N-row file, every
 * account finished by no-op processors: feeder peak RSS, Redis peak used_memory and bytes per
 * finished account, projected to 54M accounts.
 *
 * Results: `bench-results/<timestamp>.json` and `.md`; the Markdown table on stdout (on stderr
 * with `--json`, whose stdout is one JSON object on one line). `--update-docs` rewrites the
 * generated sections of docs/PERFORMANCE.md from this run.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { DEFAULT_ACCOUNTS_PER_JOB, MIN_JOBS_PER_SLOT } from '@breachwave/jobs';
import { writeAccountsFile } from '@breachwave/synth';
import { BENCH_DIR, ROOT, findRedis, round, runChild, startRedisMemorySampler, type RedisMemory } from './common.js';
import { summarizeProfiles } from './profile.js';
import { buildReport, renderMarkdown, updateDocs, type BenchReport, type RunRecord } from './report.js';

const USAGE = `pnpm bench — breachwave's benchmark, every figure beside a baseline measured in the same run.

  pnpm bench [options]
  pnpm bench --from bench-results/<stamp>.json [--update-docs]   re-render a saved run

Options:
  --rows N          rows in the ingest file and the Redis wave (default 1,000,000)
  --runs K          runs per section; medians are reported (default 3)
  --jobs N          jobs in the bare BullMQ baseline (default 50,000)
  --send-jobs N     jobs in the bare-send baseline, one real twilio SDK call each, run once through
                    breachwave's client and once through the SDK's default one (default 10,000; 0 skips it)
  --accounts N      accounts per end-to-end run, providers answering at once (default 20,000)
  --latency-accounts N  accounts per end-to-end run with provider latency (default 5,000)
  --latency MS      the provider latency of those runs (default 100)
  --concurrency N   jobs in flight per worker (default 50)
  --accounts-per-job N  accounts per first-action job the feeder adds in the end-to-end and wave
                    sections (BW_JOB_ACCOUNTS; default 20; 1 = one job per account)
  --min-jobs N      first-action jobs a wave is cut into at least: fewer accounts per job for a
                    smaller wave (BW_FEED_MIN_JOBS; default 5 × --concurrency; 1 = always
                    --accounts-per-job)
  --only a,b        sections: baseline, ingest, micro, ledger, e2e, pacing, pin, wave (the default
                    set), and scale: a whole --rows wave created, fed and finished by no-op
                    processors — feeder peak RSS, Redis bytes per account (minutes at 1M rows)
  --wave-runs N     Redis-wave runs (default 1; 0 skips it)
  --log-level L     log level of the services under test (default info)
  --profile         keep CPU profiles of the ingest and every end-to-end service
  --json            stdout: one JSON object (ratios, rss_mb, redis_mb, pin_ms, …); the table goes to stderr
  --smoke           tiny sizes, short warm-ups, one process per section where a full run starts one
                    per variant; under a minute; figures are not meaningful (what CI runs)
  --out DIR         where results go (default bench-results/)
  --update-docs     rewrite the generated part of docs/PERFORMANCE.md from this run
Redis: REDIS_URL, else a fresh container (testcontainers), else 127.0.0.1:6379.
`;

const { values } = parseArgs({
  options: {
    help: { type: 'boolean', short: 'h', default: false },
    json: { type: 'boolean', default: false },
    smoke: { type: 'boolean', default: false },
    rows: { type: 'string' },
    runs: { type: 'string' },
    jobs: { type: 'string' },
    accounts: { type: 'string' },
    'send-jobs': { type: 'string' },
    'latency-accounts': { type: 'string' },
    concurrency: { type: 'string' },
    'accounts-per-job': { type: 'string' },
    'min-jobs': { type: 'string' },
    latency: { type: 'string' },
    only: { type: 'string' },
    'wave-runs': { type: 'string' },
    'log-level': { type: 'string' },
    profile: { type: 'boolean', default: false },
    'update-docs': { type: 'boolean', default: false },
    out: { type: 'string' },
    from: { type: 'string' },
  },
  strict: true,
});

if (values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}

// `--from FILE`: no measuring — re-render a saved run (and with --update-docs, the docs) from its JSON.
if (values.from) {
  const loaded = JSON.parse(readFileSync(values.from, 'utf8')) as BenchReport;
  // Rebuilt from the run's raw records, so figures the report code learned since are filled in;
  // profiles are summarised again from the files when they are still there.
  const saved: BenchReport = buildReport({
    ...loaded,
    ...(loaded.profileDir && existsSync(loaded.profileDir) ? { profiles: summarizeProfiles(loaded.profileDir) } : {}),
  });
  const md = renderMarkdown(saved);
  if (values['update-docs']) {
    const docs = join(ROOT, 'docs', 'PERFORMANCE.md');
    writeFileSync(docs, updateDocs(existsSync(docs) ? readFileSync(docs, 'utf8') : '', saved));
    process.stderr.write(`bench: updated ${docs} from ${values.from}\n`);
  }
  // Nothing else to do: exit once stdout has been flushed (a pipe may still hold the report).
  await new Promise<void>((res) => process.stdout.write(values.json ? `${JSON.stringify(saved)}\n` : md, () => res()));
  process.exit(0);
}

const smoke = values.smoke;
const int = (v: string | undefined, def: number, min = 1): number => {
  if (v === undefined) return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`expected an integer ≥ ${min}, got ${v}`);
  return n;
};
const settings = {
  rows: int(values.rows, smoke ? 1_000 : 1_000_000),
  runs: int(values.runs, smoke ? 1 : 3),
  jobs: int(values.jobs, smoke ? 500 : 50_000),
  accounts: int(values.accounts, smoke ? 100 : 20_000),
  sendJobs: int(values['send-jobs'], smoke ? 100 : 10_000, 0),
  latencyAccounts: int(values['latency-accounts'], smoke ? 50 : 5_000),
  concurrency: int(values.concurrency, 50),
  latencyMs: int(values.latency, 100),
  waveRuns: int(values['wave-runs'], 1, 0),
  window: 5_000,
  batch: 500,
  accountsPerJob: int(values['accounts-per-job'], DEFAULT_ACCOUNTS_PER_JOB),
  minJobs: int(values['min-jobs'], MIN_JOBS_PER_SLOT * int(values.concurrency, 50)),
  drains: smoke ? 1 : 2,
  /** Bare sends through each client before the bare-send baseline is measured. */
  sendWarmup: smoke ? 50 : 500,
  pacing: { processes: smoke ? 2 : 4, rate: smoke ? 100 : 500, seconds: smoke ? 1 : 5 },
  pins: smoke ? 5_000 : 100_000,
  logLevel: values['log-level'] ?? 'info',
  smoke,
};
const SECTIONS = ['baseline', 'ingest', 'micro', 'ledger', 'e2e', 'pacing', 'pin', 'wave', 'scale'] as const;
type Section = (typeof SECTIONS)[number];
/** Run without `--only`: every section but `scale`, which takes minutes at the default size. */
const DEFAULT_SECTIONS: readonly Section[] = SECTIONS.filter((s) => s !== 'scale');
const only = new Set<Section>((values.only?.split(',').map((s) => s.trim()) ?? [...DEFAULT_SECTIONS]) as Section[]);
for (const s of only) if (!(SECTIONS as readonly string[]).includes(s)) throw new Error(`unknown section ${s} (expected ${SECTIONS.join(', ')})`);

const say = (s: string): void => {
  process.stderr.write(`${s}\n`);
};
const startedAt = new Date();
const stamp = startedAt.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
const outDir = values.out ?? join(ROOT, 'bench-results');
const profileDir = values.profile ? join(outDir, `${stamp}-profiles`) : undefined;
const work = mkdtempSync(join(tmpdir(), 'bw-bench-'));

const redisInfo = await findRedis();
// Interrupted: stop the Redis container this run started (children exit with their pipes).
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    say(`bench: ${signal}: stopping`);
    void redisInfo.stop().finally(() => process.exit(130));
  });
}
const redis = new Redis(redisInfo.url, { maxRetriesPerRequest: 2 });
const policy = /maxmemory_policy:(\S+)/.exec(await redis.info('memory'))?.[1];
if (policy !== 'noeviction') throw new Error(`Redis at ${redisInfo.url} has maxmemory-policy ${policy ?? '?'}; breachwave needs noeviction`);
const redisVersion = /redis_version:(\S+)/.exec(await redis.info('server'))?.[1] ?? 'unknown';
say(`bench: redis ${redisVersion} (${redisInfo.source}); ${settings.runs} run(s); rows ${settings.rows}`);

const records: RunRecord[] = [];
/**
 * Runs one section child, with Redis memory sampled while it runs, and records `variants.length`
 * results from what it prints: one variant's result, or (a child measuring several variants, as
 * smoke runs do) a list with one per variant. Each is recorded as its own run of the section, with
 * the child's time and Redis memory. Failures are recorded, not fatal.
 */
async function runSection(section: string, variants: readonly string[], run: number, script: string, params: unknown, options: Parameters<typeof runChild>[2] = {}): Promise<unknown[] | undefined> {
  const sampler = startRedisMemorySampler(redis, 100);
  const t0 = Date.now();
  let results: unknown[] | undefined;
  let error: string | undefined;
  try {
    const printed = await runChild<unknown>(script, params, { ...options, onStderr: (l) => say(l) });
    if (variants.length === 1) results = [printed];
    else if (Array.isArray(printed) && printed.length === variants.length) results = printed;
    else throw new Error(`${script} printed ${JSON.stringify(printed).slice(0, 200)}, not ${variants.length} results`);
  } catch (err) {
    error = err instanceof Error ? err.message : String(err);
    say(`  ${section}/${variants.join(',')} failed: ${error.split('\n').slice(0, 6).join('\n')}`);
  }
  const redisMemory: RedisMemory = await sampler.stop();
  const ms = Date.now() - t0;
  variants.forEach((variant, i) => {
    const result: unknown = results?.[i];
    records.push({ section, variant, run, ms, ...(result === undefined ? { error: error ?? 'failed' } : { result: compact(result) }), redisMemory });
    if (result !== undefined) say(`  ${section}/${variant} #${run}: ${JSON.stringify(result).slice(0, 240)}`);
  });
  return results;
}

/** One variant of a section in a child of its own: its result, undefined when it failed. */
async function measure<T>(section: string, variant: string, run: number, script: string, params: unknown, options: Parameters<typeof runChild>[2] = {}): Promise<T | undefined> {
  return (await runSection(section, [variant], run, script, params, options))?.[0] as T | undefined;
}

/**
 * Several variants of a section in one child (smoke runs: a full run gives each its own process,
 * so that none inherits another's memory, compiled code or connections). The child, given
 * `params` naming the variants, prints one result per variant, in order.
 */
async function measureTogether(section: string, variants: readonly string[], run: number, script: string, params: unknown): Promise<void> {
  await runSection(section, variants, run, script, params);
}

/** A result as kept in the report: long arrays (per-send timestamps, …) summarised by their length. */
function compact(v: unknown): unknown {
  if (Array.isArray(v)) return v.length > 20 ? `[${v.length} items]` : v.map(compact);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, compact(x)]));
  return v;
}

const script = (name: string): string => join(BENCH_DIR, name);
const available = (rel: string): boolean => existsSync(join(ROOT, rel));

try {
  // One file for the ingest and the wave, generated once (synthetic: fictional numbers, example.com).
  const file = join(work, 'accounts.csv');
  if (only.has('ingest') || only.has('wave') || only.has('micro') || only.has('scale')) {
    say(`bench: writing ${settings.rows} synthetic rows`);
    await writeAccountsFile(file, { rows: settings.rows, seed: 1 });
  }
  const url = redisInfo.url;
  for (let run = 1; run <= settings.runs; run++) {
    say(`bench: run ${run}/${settings.runs}`);
    if (only.has('baseline')) {
      await measure('baseline', 'bullmq', run, script('section-baseline.ts'), { url, jobs: settings.jobs, batch: settings.batch, concurrency: settings.concurrency, sendJobs: settings.sendJobs, sendWarmup: settings.sendWarmup });
    }
    if (only.has('ingest') && smoke && !profileDir) {
      await measureTogether('ingest', ['idle', 'reference', 'current'], run, script('section-ingest.ts'), { file, variants: ['idle', 'reference', 'current'] });
    } else if (only.has('ingest')) {
      await measure('ingest', 'idle', run, script('section-ingest.ts'), { file, variant: 'idle' });
      await measure('ingest', 'reference', run, script('section-ingest.ts'), { file, variant: 'reference' });
      await measure('ingest', 'current', run, script('section-ingest.ts'), { file, variant: 'current' },
        profileDir && run === 1 ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, '--cpu-prof-name=ingest.cpuprofile'] } : {});
    }
    if (only.has('micro')) {
      await measure('micro', 'ingest-parts', run, script('section-micro.ts'), { file, rows: Math.min(settings.rows, 200_000), ids: smoke ? 20_000 : 1_000_000 }, { nodeArgs: ['--expose-gc'] });
    }
    if (only.has('ledger')) {
      const variants = ['reference', 'current', 'folded', 'current-autopipeline', 'folded-autopipeline'];
      const params = { url, accounts: Math.max(200, Math.min(settings.jobs, 50_000)), concurrency: settings.concurrency };
      if (smoke) await measureTogether('ledger', variants, run, script('section-ledger.ts'), { ...params, variants });
      else for (const variant of variants) await measure('ledger', variant, run, script('section-ledger.ts'), { ...params, variant });
    }
    if (only.has('e2e')) {
      const fullAvailable = available('services/pin-rotator/src/run.ts') && available('services/code-issuer/src/run.ts');
      const runs = ([['notice', 0], ['full', 0], ['notice', settings.latencyMs], ['full', settings.latencyMs]] as const)
        .filter(([mode]) => mode !== 'full' || fullAvailable)
        .map(([mode, latencyMs]) => ({ mode, latencyMs, accounts: latencyMs > 0 ? settings.latencyAccounts : settings.accounts }));
      const shared = {
        url, concurrency: settings.concurrency, window: settings.window, batch: settings.batch, accountsPerJob: settings.accountsPerJob, minJobs: settings.minJobs, logLevel: settings.logLevel,
        ...(profileDir && run === 1 ? { profileDir } : {}),
      };
      if (smoke) await measureTogether('e2e', runs.map((r) => `${r.mode}-${r.latencyMs}ms`), run, script('section-e2e.ts'), { ...shared, runs });
      else for (const r of runs) await measure('e2e', `${r.mode}-${r.latencyMs}ms`, run, script('section-e2e.ts'), { ...shared, ...r });
    }
    if (only.has('pacing') && available('test/bench/pacing.ts')) {
      const { processes, rate, seconds } = settings.pacing;
      await measure('pacing', `${processes}x`, run, script('pacing.ts'), {}, {
        env: { REDIS_URL: url }, args: ['--processes', String(processes), '--rate', String(rate), '--seconds', String(seconds)],
      });
    }
    if (only.has('pin') && available('test/bench/pin.ts')) {
      await measure('pin', 'cpu', run, script('pin.ts'), {}, { args: [String(settings.pins), ...(smoke ? ['--smoke'] : [])] });
    }
  }
  if (only.has('wave')) {
    for (let run = 1; run <= settings.waveRuns; run++) {
      say(`bench: wave of ${settings.rows} rows through Redis (${run}/${settings.waveRuns})`);
      await measure('wave', 'feed', run, script('section-wave.ts'), {
        url: redisInfo.url, file, window: settings.window, batch: settings.batch, accountsPerJob: settings.accountsPerJob, minJobs: settings.minJobs, drains: settings.drains, concurrency: settings.concurrency,
      });
    }
  }
  if (only.has('scale')) {
    say(`bench: scale: a wave of ${settings.rows} rows created, fed and finished by no-op processors`);
    await measure('scale', 'wave', 1, script('section-scale.ts'), {
      url: redisInfo.url, file, window: settings.window, batch: settings.batch, accountsPerJob: settings.accountsPerJob, minJobs: settings.minJobs, drains: settings.drains, concurrency: settings.concurrency,
    });
  }
} finally {
  await redis.quit();
  await redisInfo.stop();
  rmSync(work, { recursive: true, force: true });
}

const report: BenchReport = buildReport({
  startedAt: startedAt.toISOString(),
  finishedAt: new Date().toISOString(),
  settings,
  sections: [...only],
  environment: {
    node: process.version,
    redis: redisVersion,
    redisSource: redisInfo.source,
    cpus: (await import('node:os')).cpus().length,
    loadAverage: (await import('node:os')).loadavg().map((x) => round(x, 2)),
    pacingAvailable: available('test/bench/pacing.ts'),
    pinAvailable: available('test/bench/pin.ts'),
    fullPathAvailable: available('services/pin-rotator/src/run.ts') && available('services/code-issuer/src/run.ts'),
  },
  records,
  ...(profileDir ? { profileDir, profiles: summarizeProfiles(profileDir) } : {}),
});
const markdown = renderMarkdown(report);
mkdirSync(outDir, { recursive: true });
const base = join(outDir, stamp);
writeFileSync(`${base}.json`, `${JSON.stringify(report, null, 2)}\n`);
writeFileSync(`${base}.md`, markdown);
if (values['update-docs']) {
  const docs = join(ROOT, 'docs', 'PERFORMANCE.md');
  writeFileSync(docs, updateDocs(existsSync(docs) ? readFileSync(docs, 'utf8') : '', report));
  say(`bench: updated ${docs}`);
}
say(`bench: wrote ${base}.json and ${base}.md`);
if (values.json) {
  say(markdown);
  process.stdout.write(`${JSON.stringify(report)}\n`);
} else {
  process.stdout.write(markdown);
}
if (records.some((r) => r.error)) process.exitCode = 1;
