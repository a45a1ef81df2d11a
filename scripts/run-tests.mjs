#!/usr/bin/env node
// Runs the node:test suites through tsx. Node 20's --test takes no globs, so files are found here.
//   node scripts/run-tests.mjs [DIR|FILE…] [--unit]   (--unit: skip test/ end-to-end suites)
// Environment: BW_TEST_CONCURRENCY (2 files at a time), BW_TEST_TIMEOUT_MS and BW_TEST_RUN_TIMEOUT_MS
// (below), BW_TEST_TIMES=FILE (each file's wall time), BW_TEST_TSX=1 (spawned processes through tsx).
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { spawn } from 'node:child_process';
import { clearTimeout, setTimeout } from 'node:timers';

const root = resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);
const unit = args.includes('--unit');
const dirs = args.filter((a) => !a.startsWith('--'));
const starts = dirs.length ? dirs.map((d) => resolve(d)) : ['packages', 'services', ...(unit ? [] : ['test'])].map((d) => join(root, d));

const files = [];
const walk = (dir) => {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.ts')) files.push(p);
  }
};
for (const s of starts) if (statSync(s).isDirectory()) walk(s); else files.push(s);
files.sort();
if (files.length === 0) {
  console.error('no test files found under', starts.map((s) => relative(root, s)).join(', '));
  process.exit(1);
}
// Timing-sensitive suites (`*.serial.test.ts`: pace measurements across processes) run alone,
// after the rest, so other suites' load cannot skew what they measure.
const serial = files.filter((f) => f.endsWith('.serial.test.ts'));
const parallel = files.filter((f) => !f.endsWith('.serial.test.ts'));
const concurrency = process.env.BW_TEST_CONCURRENCY ?? '2';
// A hang must fail the run, never stall it: one test may take at most 5 minutes (the slowest takes
// well under one on a quiet machine), and each of the two runs at most 20 minutes (the parallel
// run takes under ten on a quiet 2-core machine, the serial one under one; a machine loaded with
// other work can take twice that: raise BW_TEST_RUN_TIMEOUT_MS there).
const testTimeoutMs = Number(process.env.BW_TEST_TIMEOUT_MS ?? 300_000);
const runTimeoutMs = Number(process.env.BW_TEST_RUN_TIMEOUT_MS ?? 1_200_000);
// BW_TEST_TIMES=FILE: also writes each test file's wall time to FILE (FILE.serial for the serial
// run), slowest first.
const timesFile = process.env.BW_TEST_TIMES;
const reporters = (suffix) => ['--test-reporter=spec', '--test-reporter-destination=stdout',
  ...(timesFile ? [`--test-reporter=${join(root, 'scripts', 'test-times.mjs')}`, `--test-reporter-destination=${resolve(timesFile)}${suffix}`] : [])];
// Interrupted (Ctrl-C, SIGTERM): the signal goes on to the test run, which ends its files; then
// nothing more starts and the cleanup below still runs.
let child;
let interrupted;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    interrupted = signal;
    child?.kill(signal);
  });
}
const run = (list, n, suffix = '') => new Promise((done) => {
  child = spawn(process.execPath, ['--import', 'tsx', '--test', `--test-concurrency=${n}`, `--test-timeout=${testTimeoutMs}`, ...reporters(suffix), ...list], { stdio: 'inherit', cwd: root });
  const timer = setTimeout(() => {
    console.error(`test run stopped: over its limit of ${runTimeoutMs} ms (BW_TEST_RUN_TIMEOUT_MS)`);
    child.kill('SIGKILL');
  }, runTimeoutMs);
  child.once('error', (err) => console.error(`test run failed to start: ${err.message}`));
  child.once('close', (code) => {
    clearTimeout(timer);
    child = undefined;
    done(code ?? 1);
  });
});
let status = 0;
let entriesDir;
let stopRedis = async () => {};
try {
  // The processes the tests start (every service's main.ts, the CLI's, the crash-point entries in
  // test/e2e/faulty/) are compiled once for the run with esbuild, as the production build does, into
  // a temporary directory named to the tests in BW_TEST_ENTRIES and removed at the end; the tests
  // start them with `entryArgs` (packages/testkit/src/entry.ts). Through tsx each of the few hundred
  // starts compiled its modules again and took about twice as long to become ready, with more CPU.
  // The workspace's packages are compiled in; npm packages stay imports, by the absolute path Node
  // would resolve from the importing package, so the compiled process loads the same files.
  // BW_TEST_TSX=1 leaves them to tsx.
  if (process.env.BW_TEST_TSX !== '1') {
    const { build } = await import('esbuild');
    const PREFIX = 'bw-test-entries-';
    // Directories left by a run that was killed before it could remove its own (its pid is gone).
    for (const name of readdirSync(tmpdir())) {
      const pid = Number(name.startsWith(PREFIX) ? name.slice(PREFIX.length).split('-')[0] : Number.NaN);
      if (!Number.isInteger(pid) || pid <= 0) continue;
      try {
        process.kill(pid, 0);
      } catch (err) {
        if (err.code === 'ESRCH') rmSync(join(tmpdir(), name), { recursive: true, force: true });
      }
    }
    entriesDir = mkdtempSync(join(tmpdir(), `${PREFIX}${process.pid}-`));
    const entries = [
      ...readdirSync(join(root, 'services')).map((s) => `services/${s}/src/main.ts`).filter((p) => existsSync(join(root, p))),
      ...readdirSync(join(root, 'test', 'e2e', 'faulty')).filter((f) => f.endsWith('.ts')).map((f) => `test/e2e/faulty/${f}`),
    ];
    const resolved = Symbol('resolved');
    const npmByPath = {
      name: 'npm-by-path',
      setup(b) {
        b.onResolve({ filter: /^[^./]/ }, async (args) => {
          if (args.pluginData === resolved || args.path.startsWith('@breachwave/')) return undefined;
          const r = await b.resolve(args.path, { kind: args.kind, importer: args.importer, resolveDir: args.resolveDir, pluginData: resolved });
          if (r.errors.length > 0) return { errors: r.errors };
          return { path: r.external ? args.path : r.path, external: true };
        });
      },
    };
    try {
      await build({
        absWorkingDir: root,
        entryPoints: entries,
        outbase: root,
        outdir: entriesDir,
        outExtension: { '.js': '.mjs' },
        chunkNames: 'chunks/[name]-[hash]',
        bundle: true,
        splitting: true,
        format: 'esm',
        platform: 'node',
        target: 'node20',
        // Node's own resolution: the import/node/default conditions and package.json "main" only.
        conditions: [],
        mainFields: ['main'],
        sourcemap: true,
        logLevel: 'error',
        plugins: [npmByPath],
      });
    } catch (err) {
      throw new Error(`cannot compile the processes the tests start: ${err.message}`);
    }
    process.env.BW_TEST_ENTRIES = entriesDir;
  }
  // One Redis for the whole run: without REDIS_URL, one container started here through
  // testcontainers (as the test kit would start one per test file) and handed to every test
  // process as REDIS_URL. Tests isolate themselves by key prefix, not by server.
  if (!process.env.REDIS_URL) {
    const { tsImport } = await import('tsx/esm/api');
    const { startRedisContainer } = await tsImport(pathToFileURL(join(root, 'packages', 'testkit', 'src', 'redis.ts')).href, import.meta.url);
    try {
      const container = await startRedisContainer();
      process.env.REDIS_URL = container.getConnectionUrl();
      stopRedis = () => container.stop();
      console.error(`tests: one Redis container for the run at ${process.env.REDIS_URL}`);
    } catch (err) {
      throw new Error(`cannot start a Redis container (${err instanceof Error ? err.message : String(err)}); set REDIS_URL, or install Docker or Podman (scripts/container-runtime.sh)`);
    }
  }
  if (parallel.length && !interrupted) status = await run(parallel, concurrency);
  if (serial.length && !interrupted) status = (await run(serial, 1, '.serial')) || status;
} catch (err) {
  console.error(`tests: ${err.message}`);
  status = 1;
} finally {
  if (entriesDir) rmSync(entriesDir, { recursive: true, force: true });
  await stopRedis().catch((err) => console.error(`tests: the Redis container did not stop: ${err.message}`));
}
process.exit(interrupted ? 130 : status);
