#!/usr/bin/env node
// Runs the node:test suites through tsx. Node 20's --test takes no globs, so files are found here.
//   node scripts/run-tests.mjs [DIR|FILE…] [--unit]   (--unit: skip test/ end-to-end suites)
import { readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { spawnSync } from 'node:child_process';

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
// well under one), and each of the two runs at most 20 minutes (the whole suite takes about ten on 2 cores).
const testTimeoutMs = Number(process.env.BW_TEST_TIMEOUT_MS ?? 300_000);
const runTimeoutMs = Number(process.env.BW_TEST_RUN_TIMEOUT_MS ?? 1_200_000);
const run = (list, n) => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', `--test-concurrency=${n}`, `--test-timeout=${testTimeoutMs}`, '--test-reporter=spec', ...list], { stdio: 'inherit', cwd: root, timeout: runTimeoutMs, killSignal: 'SIGKILL' });
  if (r.error) console.error(`test run stopped: ${r.error.message} (limit ${runTimeoutMs} ms, BW_TEST_RUN_TIMEOUT_MS)`);
  return r.status ?? 1;
};
// One Redis for the whole run: without REDIS_URL, one container started here through
// testcontainers (as the test kit would start one per test file) and handed to every test
// process as REDIS_URL. Tests isolate themselves by key prefix, not by server.
let stopRedis = async () => {};
if (!process.env.REDIS_URL) {
  const { tsImport } = await import('tsx/esm/api');
  const { startRedisContainer } = await tsImport(pathToFileURL(join(root, 'packages', 'testkit', 'src', 'redis.ts')).href, import.meta.url);
  try {
    const container = await startRedisContainer();
    process.env.REDIS_URL = container.getConnectionUrl();
    stopRedis = () => container.stop();
    console.error(`tests: one Redis container for the run at ${process.env.REDIS_URL}`);
  } catch (err) {
    console.error(`tests: cannot start a Redis container (${err instanceof Error ? err.message : String(err)}); set REDIS_URL, or install Docker or Podman (scripts/container-runtime.sh)`);
    process.exit(1);
  }
}
let status = 0;
try {
  if (parallel.length) status = run(parallel, concurrency);
  if (serial.length) status = run(serial, 1) || status;
} finally {
  await stopRedis().catch((err) => console.error(`tests: the Redis container did not stop: ${err.message}`));
}
process.exit(status);
