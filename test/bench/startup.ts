/**
 * Compiled JavaScript against tsx, per process: how long from spawn until the process answers
 * 200 on `/readyz`, and its resident memory (VmRSS) at that moment and one second later.
 *
 * Modes, each a single node process started the way it runs:
 *   compiled   `node --enable-source-maps TREE/dist/run.js NAME`, NODE_ENV=production, from the
 *              tree scripts/build-prod.sh makes (production node_modules only)
 *   tsx        `node --import tsx services/NAME/src/main.ts` from the checkout, with tsx's on-disk
 *              transform cache warm (every run after the first)
 *   tsx-cold   the same with TSX_DISABLE_CACHE=1: what a fresh container running tsx paid, since its
 *              cache lives in the container's /tmp
 * Runs are interleaved (one of each mode per round) so that the machine's load drifts over all
 * modes alike, and medians are reported.
 *
 *   pnpm bench:startup [--runs N] [--tree DIR] [--processes notifier,audit-writer,ops-api] [--json]
 * REDIS_URL (default redis://127.0.0.1:6379) must answer: the processes check it before ready.
 */
import { spawn, spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';
import { generateKey } from '@breachwave/secrets';
import { ROOT, median } from './common.js';
import { freePort } from '@breachwave/testkit';

const MODES = ['compiled', 'tsx', 'tsx-cold'] as const;
type Mode = (typeof MODES)[number];
const READY_TIMEOUT_MS = 120_000;

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    tree: { type: 'string' },
    processes: { type: 'string', default: 'notifier,audit-writer,ops-api' },
    json: { type: 'boolean', default: false },
  },
});
const runs = Number(values.runs);
const processes = (values.processes ?? '').split(',').filter(Boolean);
const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `bwstart${randomBytes(3).toString('hex')}`;
const work = mkdtempSync(join(tmpdir(), 'bw-startup-'));

let tree = values.tree;
if (!tree) {
  tree = join(work, 'app');
  process.stderr.write(`building the production tree into ${tree}\n`);
  const r = spawnSync(join(ROOT, 'scripts/build-prod.sh'), [tree], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  if (r.status !== 0) throw new Error('scripts/build-prod.sh failed');
}

function rssMb(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 102.4) / 10 : null;
  } catch {
    return null;
  }
}

const hmacKey = generateKey();
const auditKey = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

function env(port: number, mode: Mode): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    NODE_ENV: mode === 'compiled' ? 'production' : 'development',
    LOG_LEVEL: 'warn',
    REDIS_URL: redisUrl,
    BW_PREFIX: prefix,
    BW_DATA_DIR: join(work, 'data'),
    BW_AUDIT_DIR: join(work, 'audit'),
    BW_AUDIT_SIGNING_KEY: auditKey,
    BW_ENVELOPE_KEY: generateKey(),
    BW_HMAC_KEY: hmacKey,
    TWILIO_ACCOUNT_SID: `AC${'0'.repeat(32)}`,
    TWILIO_AUTH_TOKEN: 'unused',
    TWILIO_FROM: '+15005550006',
    BW_PIN_VERIFIER_KEY: generateKey(),
    BW_PIN_HOLD_KEY: generateKey(),
    BW_METRICS_PORT: String(port),
    BW_OPS_PORT: String(port),
    ...(mode === 'tsx-cold' ? { TSX_DISABLE_CACHE: '1' } : {}),
  };
}

interface Sample { readonly readyMs: number; readonly rssAtReady: number | null; readonly rssAfter1s: number | null }

async function once1(name: string, mode: Mode): Promise<Sample> {
  const port = await freePort();
  const args = mode === 'compiled'
    ? ['--enable-source-maps', join(tree as string, 'dist/run.js'), name]
    : ['--import', 'tsx', join(ROOT, 'services', name, 'src/main.ts')];
  const started = performance.now();
  const child = spawn(process.execPath, args, { cwd: mode === 'compiled' ? tree : ROOT, env: env(port, mode), stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => { stderr += b.toString(); });
  const exited = new Promise<number | null>((res) => child.once('close', (code) => res(code)));
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${name} (${mode}) exited ${child.exitCode}: ${stderr.slice(-1000)}`);
      if (performance.now() - started > READY_TIMEOUT_MS) throw new Error(`${name} (${mode}) not ready after ${READY_TIMEOUT_MS} ms`);
      const ok = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(1000) }).then((r) => r.status === 200, () => false);
      if (ok) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    const readyMs = performance.now() - started;
    const rssAtReady = rssMb(child.pid as number);
    await new Promise((r) => setTimeout(r, 1000));
    const rssAfter1s = rssMb(child.pid as number);
    return { readyMs, rssAtReady, rssAfter1s };
  } finally {
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(timer);
  }
}

const samples = new Map<string, Sample[]>();
const key = (name: string, mode: Mode): string => `${name}/${mode}`;
const load: number[] = [];
for (let round = 0; round < runs; round++) {
  for (const name of processes) {
    for (const mode of MODES) {
      const s = await once1(name, mode);
      (samples.get(key(name, mode)) ?? samples.set(key(name, mode), []).get(key(name, mode)) as Sample[]).push(s);
      load.push(loadavg()[0] as number);
      process.stderr.write(`round ${round + 1}/${runs} ${name} ${mode}: ready ${Math.round(s.readyMs)} ms, rss ${s.rssAtReady} MB\n`);
    }
  }
}

const r = (n: number | null, d = 0): string => (n === null ? '—' : n.toFixed(d));
const rows = processes.flatMap((name) => MODES.map((mode) => {
  const list = samples.get(key(name, mode)) ?? [];
  return {
    process: name,
    mode,
    readyMs: median(list.map((s) => s.readyMs)),
    readyMsMin: Math.min(...list.map((s) => s.readyMs)),
    readyMsMax: Math.max(...list.map((s) => s.readyMs)),
    rssAtReadyMb: median(list.map((s) => s.rssAtReady)),
    rssAfter1sMb: median(list.map((s) => s.rssAfter1s)),
    // Paired within each round (the modes ran one after another), so load that drifts between
    // rounds cancels out: the median of this mode's time over tsx's (warm) in the same round.
    vsTsx: median(list.map((s, i) => s.readyMs / ((samples.get(key(name, 'tsx')) ?? [])[i]?.readyMs ?? Number.NaN))),
  };
}));
const result = {
  at: new Date().toISOString(),
  node: process.version,
  cpus: cpus().length,
  runs,
  loadAverage: { min: Math.min(...load), max: Math.max(...load) },
  rows,
};
if (values.json) {
  process.stdout.write(`${JSON.stringify(result)}\n`);
} else {
  const lines = [
    `Node.js ${result.node}, ${result.cpus} CPUs, ${runs} runs per cell, 1-minute load average ${r(result.loadAverage.min, 1)}–${r(result.loadAverage.max, 1)}`,
    '',
    '| process | mode | to /readyz 200, median (min–max) | ÷ tsx, same round, median | RSS at ready, median | RSS 1 s later, median |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows.map((x) => `| ${x.process} | ${x.mode} | ${r(x.readyMs)} ms (${r(x.readyMsMin)}–${r(x.readyMsMax)}) | ${r(x.vsTsx, 2)} | ${r(x.rssAtReadyMb)} MB | ${r(x.rssAfter1sMb)} MB |`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

const redis = new Redis(redisUrl);
let cursor = '0';
do {
  const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
  cursor = next;
  if (keys.length) await redis.unlink(...keys);
} while (cursor !== '0');
await redis.quit();
rmSync(work, { recursive: true, force: true });
