#!/usr/bin/env node
// Runs the node:test suites, compiled once for the run with esbuild (or through tsx with
// BW_TEST_TSX=1). Node 20's --test takes no globs, so files are found here.
//   node scripts/run-tests.mjs [DIR|FILE…] [--unit]   (--unit: skip test/ end-to-end suites)
// Environment: BW_TEST_CONCURRENCY (2 files at a time), BW_TEST_TIMEOUT_MS and BW_TEST_RUN_TIMEOUT_MS
// (below), BW_TEST_TIMES=FILE (each file's wall time), BW_TEST_TSX=1 (test files and the processes
// they start through tsx, compiled module by module as they load).
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
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
// How test files run: through tsx, or (once `compileTests` has run) as their compiled form.
let runtime = ['--import', 'tsx'];
let compiled = (file) => file;
const run = (list, n, suffix = '') => new Promise((done) => {
  child = spawn(process.execPath, [...runtime, '--test', `--test-concurrency=${n}`, `--test-timeout=${testTimeoutMs}`, ...reporters(suffix), ...list.map(compiled)], { stdio: 'inherit', cwd: root });
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
let buildDir;
let stopRedis = async () => {};
let redisStarting;
try {
  // One Redis for the whole run: without REDIS_URL, one container started here through
  // testcontainers (as the test kit would start one per test file) and handed to every test
  // process as REDIS_URL. Tests isolate themselves by key prefix, not by server. It starts while
  // the tests compile, below.
  if (!process.env.REDIS_URL) {
    const { tsImport } = await import('tsx/esm/api');
    const { startRedisContainer } = await tsImport(pathToFileURL(join(root, 'packages', 'testkit', 'src', 'redis.ts')).href, import.meta.url);
    redisStarting = startRedisContainer();
    // Stopped at the end once started, even when the run fails before it waits for the start.
    stopRedis = () => redisStarting.then((container) => container.stop(), () => undefined);
    redisStarting.catch(() => undefined);
  }
  // The processes the tests start (every service's main.ts, the CLI's, the crash-point entries in
  // test/e2e/faulty/, the benchmark's) are compiled once for the run with esbuild, as the production
  // build does, into a temporary directory named to the tests in BW_TEST_ENTRIES and removed at the
  // end; the tests start them with `entryArgs` (packages/testkit/src/entry.ts). Through tsx each of the few hundred
  // starts compiled its modules again and took about twice as long to become ready, with more CPU.
  // The workspace's packages are compiled in; npm packages stay imports, by the absolute path Node
  // would resolve from the importing package, so the compiled process loads the same files.
  // BW_TEST_TSX=1 leaves them to tsx.
  if (process.env.BW_TEST_TSX !== '1') {
    const { build } = await import('esbuild');
    // Under node_modules, from where a compiled module's import.meta.resolve finds what its source's would.
    const PREFIX = '.bw-tests-';
    // Directories left by a run that was killed before it could remove its own (its pid is gone);
    // runs of an earlier version of this script kept theirs in the temporary directory.
    for (const [dir, prefix] of [[join(root, 'node_modules'), PREFIX], [tmpdir(), 'bw-test-entries-']]) {
      for (const name of existsSync(dir) ? readdirSync(dir) : []) {
        const pid = Number(name.startsWith(prefix) ? name.slice(prefix.length).split('-')[0] : Number.NaN);
        if (!Number.isInteger(pid) || pid <= 0) continue;
        try {
          process.kill(pid, 0);
        } catch (err) {
          if (err.code === 'ESRCH') rmSync(join(dir, name), { recursive: true, force: true });
        }
      }
    }
    buildDir = mkdtempSync(join(root, 'node_modules', `${PREFIX}${process.pid}-`));
    const entriesDir = join(buildDir, 'entries');
    const testsDir = join(buildDir, 'tests');
    const entries = [
      ...readdirSync(join(root, 'services')).map((s) => `services/${s}/src/main.ts`).filter((p) => existsSync(join(root, p))),
      ...readdirSync(join(root, 'test', 'e2e', 'faulty')).filter((f) => f.endsWith('.ts')).map((f) => `test/e2e/faulty/${f}`),
      // The benchmark's processes (its smoke run is a test): the runner, its sections and their helpers.
      ...readdirSync(join(root, 'test', 'bench')).filter((f) => /^(main|pacing|pacing-worker|pin|section-.*|proc-.*)\.ts$/.test(f)).map((f) => `test/bench/${f}`),
    ];
    // Each compiled module keeps its own import.meta.url, .dirname and .filename (written in as the
    // source file's), so paths a module finds from its own location (the repository's root, a
    // fixture beside it) are the same compiled or not.
    const ownImportMeta = {
      name: 'own-import-meta',
      setup(b) {
        b.onLoad({ filter: /\.ts$/ }, (args) => {
          if (args.path.includes('/node_modules/')) return undefined;
          const text = readFileSync(args.path, 'utf8');
          if (!text.includes('import.meta')) return undefined;
          const own = { url: JSON.stringify(pathToFileURL(args.path).href), dirname: JSON.stringify(dirname(args.path)), filename: JSON.stringify(args.path) };
          return { contents: text.replace(/\bimport\.meta\.(url|dirname|filename)\b/g, (_, k) => own[k]), loader: 'ts' };
        });
      },
    };
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
    const compile = async (entryPoints, outdir, what) => {
      try {
        await build({
          absWorkingDir: root,
          entryPoints,
          outbase: root,
          outdir,
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
          plugins: [npmByPath, ownImportMeta],
        });
      } catch (err) {
        throw new Error(`cannot compile ${what}: ${err.message}`);
      }
    };
    await compile(entries, entriesDir, 'the processes the tests start');
    process.env.BW_TEST_ENTRIES = entriesDir;

    // The test files themselves, compiled the same way: through tsx each test process spent ~1.7 s
    // of CPU resolving and loading its TypeScript modules before its first test (~3.5 s against ~1.9 s
    // compiled, for a file that loads the ledger, the feeder and the test kit), some 120 times a run.
    await compile(files, testsDir, 'the test files');
    runtime = ['--enable-source-maps'];
    compiled = (file) => join(testsDir, relative(root, file).replace(/\.ts$/, '.mjs'));
  }
  // The container (when one is starting) is ready by the time the compile is done, or waited for here.
  if (redisStarting) {
    try {
      const container = await redisStarting;
      process.env.REDIS_URL = container.getConnectionUrl();
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
  if (buildDir) rmSync(buildDir, { recursive: true, force: true });
  await stopRedis().catch((err) => console.error(`tests: the Redis container did not stop: ${err.message}`));
}
process.exit(interrupted ? 130 : status);
