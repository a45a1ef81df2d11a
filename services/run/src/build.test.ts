/**
 * The production form, built the way infra/Dockerfile builds it (scripts/build-prod.sh) into a
 * temporary directory, then run from there with `node` and NODE_ENV=production: compiled
 * JavaScript, services/run's production node_modules and nothing else (no tsx, no workspace
 * sources, no dev dependency, no test kit).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { generateKey } from '@breachwave/secrets';
import { useRedis, waitFor, freePort } from '@breachwave/testkit';

const ROOT = resolve(import.meta.dirname, '../../..');
/** What no production install may hold: the test kit and the test servers it brings. */
const FORBIDDEN = ['@breachwave/testkit', 'testcontainers', '@testcontainers/redis', 'smtp-server'];
/** Nor the development tool chain: production runs compiled JavaScript. */
const DEV_TOOLS = ['tsx', 'typescript', 'esbuild'];
const PROCESS_NAMES = ['notifier', 'pin-rotator', 'code-issuer', 'audit-writer', 'feeder', 'ops-api', 'breachwave'];
// Generous: it bounds a hang on a loaded shared machine, it does not time anything.
const START_TIMEOUT_MS = 60_000;

const prefix = `bwbuild${randomBytes(3).toString('hex')}`;
const work = mkdtempSync(join(tmpdir(), 'bw-build-'));
const out = join(work, 'app');
const execFileAsync = promisify(execFile);

// Registered before useRedis(), so that it runs while the fixture's client is still open.
after(async () => {
  let cursor = '0';
  do {
    const [next, keys] = await redis.redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length) await redis.redis.unlink(...keys);
  } while (cursor !== '0');
  rmSync(work, { recursive: true, force: true });
});
const redis = useRedis();

before(() => {
  // A node_modules in a parent directory would let the built code find packages the tree lacks.
  for (let d = dirname(out); d !== dirname(d); d = dirname(d)) {
    assert.equal(existsSync(join(d, 'node_modules')), false, `${d}/node_modules would shadow the production tree`);
  }
  const r = spawnSync(join(ROOT, 'scripts/build-prod.sh'), [out], { cwd: ROOT, encoding: 'utf8', timeout: 240_000 });
  assert.equal(r.status, 0, `scripts/build-prod.sh failed:\n${r.stdout}\n${r.stderr}`);
});

/** The environment of a production process: only what the image sets and the test gives it. */
function prodEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    NODE_ENV: 'production',
    REDIS_URL: redis.url,
    BW_PREFIX: prefix,
    BW_DATA_DIR: join(work, 'data'),
    BW_AUDIT_DIR: join(work, 'audit'),
    BW_ENVELOPE_KEY: generateKey(),
    BW_HMAC_KEY: hmacKey,
    // Never called: the processes only start and stop here.
    TWILIO_ACCOUNT_SID: `AC${'0'.repeat(32)}`,
    TWILIO_AUTH_TOKEN: 'unused',
    TWILIO_FROM: '+15005550006',
    BW_PIN_VERIFIER_KEY: generateKey(),
    BW_PIN_HOLD_KEY: generateKey(),
    ...extra,
  };
}
// One HMAC key for every process of this file: the first to start records its fingerprint.
const hmacKey = generateKey();

interface Started {
  readonly child: ChildProcess;
  output(): string;
  readonly exited: Promise<number | null>;
}

/** `node --enable-source-maps dist/run.js ARGS…` from the built tree, as the image's entry point runs it. */
function run(args: readonly string[], env: Record<string, string>): Started {
  const child = spawn(process.execPath, ['--enable-source-maps', join(out, 'dist/run.js'), ...args], { cwd: out, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout?.on('data', (b: Buffer) => { text += b.toString(); });
  child.stderr?.on('data', (b: Buffer) => { text += b.toString(); });
  const exited = new Promise<number | null>((res) => child.once('close', (code) => res(code)));
  return { child, output: () => text, exited };
}

async function finished(s: Started): Promise<{ code: number | null; output: string }> {
  const timer = setTimeout(() => s.child.kill('SIGKILL'), START_TIMEOUT_MS);
  const code = await s.exited;
  clearTimeout(timer);
  return { code, output: s.output() };
}

/**
 * Whether the process on PORT answers PATH with a 2xx, asked from this process: what the tests
 * poll while a process starts (a `healthcheck.js` process every 100 ms cost a Node start each),
 * before they ask `dist/healthcheck.js` itself.
 */
async function answers(port: number, path: string): Promise<boolean> {
  try {
    return (await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(3_000) })).ok;
  } catch {
    return false;
  }
}

/** `node dist/healthcheck.js PORT PATH` from the built tree: its exit code. */
async function healthcheck(port: number, path: string): Promise<number> {
  try {
    await execFileAsync(process.execPath, [join(out, 'dist/healthcheck.js'), String(port), path], { cwd: out, env: { PATH: process.env.PATH ?? '' }, timeout: 10_000 });
    return 0;
  } catch (err) {
    return typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1;
  }
}

/** Every package directory name in the built tree's node_modules (pnpm's store names included). */
function installedNames(): string[] {
  const names: string[] = [];
  const nm = join(out, 'node_modules');
  for (const entry of readdirSync(nm)) {
    if (entry.startsWith('@')) for (const sub of readdirSync(join(nm, entry))) names.push(`${entry}/${sub}`);
    else names.push(entry);
  }
  // `.pnpm/<name>@<version>` with `/` written `+`.
  for (const entry of readdirSync(join(nm, '.pnpm'))) {
    const at = entry.lastIndexOf('@');
    if (at > 0) names.push(entry.slice(0, at).replace('+', '/'));
  }
  return names;
}

test('the built tree holds dist/ and the production dependencies of services/run, and nothing of the test kit or the tool chain', () => {
  assert.deepEqual(readdirSync(out).sort(), ['dist', 'node_modules', 'package.json']);
  const manifest = JSON.parse(readFileSync(join(out, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  const top = readdirSync(join(out, 'node_modules')).filter((e) => !e.startsWith('.')).flatMap((e) => (e.startsWith('@') ? readdirSync(join(out, 'node_modules', e)).map((s) => `${e}/${s}`) : [e]));
  assert.deepEqual(top.sort(), Object.keys(manifest.dependencies).sort(), 'the top level is exactly the manifest\'s dependencies');
  const names = installedNames();
  assert.ok(names.includes('bullmq') && names.includes('ioredis'), 'the walk sees the installed packages');
  for (const bad of [...FORBIDDEN, ...DEV_TOOLS]) assert.ok(!names.includes(bad), `${bad} is not installed`);
  assert.deepEqual(names.filter((n) => n.startsWith('@breachwave/')), [], 'no workspace package is installed: their code is compiled into dist/');
  const built = readdirSync(join(out, 'dist'));
  for (const f of ['run.js', 'run.js.map', 'healthcheck.js', 'healthcheck.js.map']) assert.ok(built.includes(f), `dist/${f}`);
  assert.deepEqual(readdirSync(join(out, 'dist'), { recursive: true }).map(String).filter((f) => f.endsWith('.ts')), [], 'no TypeScript in dist/');
});

/**
 * The pinned pnpm: the machine's when it is that version, else through npx (as scripts/bootstrap.sh
 * runs it). Under the test command the pinned one is already first on PATH: bootstrap.sh puts
 * npx's copy there, so npx is not started here.
 */
function pnpmCommand(): string[] {
  const want = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { packageManager: string }).packageManager.split('@')[1] ?? '';
  const have = spawnSync('pnpm', ['--version'], { encoding: 'utf8' });
  return have.status === 0 && have.stdout.trim() === want ? ['pnpm'] : ['npx', '--yes', `pnpm@${want}`];
}

test('the production dependency closure of the CLI and every service (pnpm list --prod) has no test kit, testcontainers or smtp-server; with dev dependencies it has them', async () => {
  const filters = ['@breachwave/cli-service', '@breachwave/notifier-service', '@breachwave/pin-rotator-service', '@breachwave/code-issuer-service', '@breachwave/audit-writer-service', '@breachwave/feeder-service', '@breachwave/ops-api-service', '@breachwave/run'].flatMap((f) => ['--filter', f]);
  const [pnpm = 'pnpm', ...pre] = pnpmCommand();
  const closure = async (prod: boolean): Promise<Set<string>> => {
    const r = await execFileAsync(pnpm, [...pre, ...filters, 'list', ...(prod ? ['--prod'] : []), '--depth', 'Infinity', '--json'], { cwd: ROOT, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, timeout: 120_000 })
      .catch((err: unknown) => assert.fail(`pnpm list failed: ${(err as { stderr?: string }).stderr ?? String(err)}`));
    const projects = JSON.parse(r.stdout) as { name: string; dependencies?: Record<string, unknown>; devDependencies?: Record<string, unknown> }[];
    assert.equal(projects.length, 8, 'every project is listed');
    const names = new Set<string>();
    // pnpm prints a repeated subtree once and marks the other places `deduped`: the walk goes
    // through every node, so it meets each subtree where it is printed in full.
    const walk = (deps: Record<string, unknown> | undefined): void => {
      for (const [name, v] of Object.entries(deps ?? {})) {
        names.add(name);
        walk((v as { dependencies?: Record<string, unknown> }).dependencies);
      }
    };
    for (const p of projects) {
      walk(p.dependencies);
      walk(p.devDependencies);
    }
    return names;
  };
  // Both lists at once: each is a pnpm process of its own.
  const [prod, all] = await Promise.all([closure(true), closure(false)]);
  assert.ok(prod.has('bullmq') && prod.has('@breachwave/ledger'), 'the walk reaches packages through workspace links');
  for (const bad of FORBIDDEN) assert.ok(!prod.has(bad), `${bad} is not in the production closure`);
  // The same walk over dev dependencies finds them: the check above can fail.
  for (const bad of FORBIDDEN) assert.ok(all.has(bad), `${bad} is found among the dev dependencies`);
});

test('the build refuses a production manifest that lacks a package the output imports, or lists one it never imports', async () => {
  const manifest = JSON.parse(readFileSync(join(ROOT, 'services/run/package.json'), 'utf8')) as { dependencies: Record<string, string> };
  const attempt = async (deps: Record<string, string>): Promise<{ status: number | null; stderr: string }> => {
    const tag = randomBytes(3).toString('hex');
    const file = join(work, `manifest-${tag}.json`);
    writeFileSync(file, JSON.stringify({ ...manifest, dependencies: deps }));
    try {
      const r = await execFileAsync(process.execPath, [join(ROOT, 'scripts/build.mjs'), '--out', join(work, `refused-${tag}`), '--manifest', file], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
      return { status: 0, stderr: r.stderr };
    } catch (err) {
      const e = err as { code?: unknown; stderr?: string };
      return { status: typeof e.code === 'number' ? e.code : null, stderr: e.stderr ?? String(err) };
    }
  };
  const { bullmq: _dropped, ...withoutBullmq } = manifest.dependencies;
  // The three builds at once, each into its own directory.
  const [missing, extra, otherVersion] = await Promise.all([
    attempt(withoutBullmq),
    attempt({ ...manifest.dependencies, 'left-pad': '1.3.0' }),
    attempt({ ...manifest.dependencies, zod: '3.25.0' }),
  ]);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /bullmq is imported by the build but is not a dependency of .* \(the workspace uses 5\.\d+\.\d+\)/);
  assert.equal(extra.status, 1);
  assert.match(extra.stderr, /left-pad is a dependency of .* but the build never imports it/);
  assert.equal(otherVersion.status, 1);
  assert.match(otherVersion.stderr, /zod: .* pins 3\.25\.0, the workspace uses 4\./);
});

test('run.js names the processes: an unknown or missing one prints the list and exits 2', async () => {
  for (const args of [['nope'], []]) {
    const { code, output } = await finished(run(args, prodEnv()));
    assert.equal(code, 2, `run.js ${args.join(' ')}`);
    for (const name of PROCESS_NAMES) assert.match(output, new RegExp(`^  ${name}$`, 'm'));
  }
});

test('the built CLI prints its help, passes its arguments through, and says that the demo is not installed', async () => {
  const help = await finished(run(['breachwave', '--help'], prodEnv()));
  assert.equal(help.code, 0, help.output);
  assert.match(help.output, /^Usage: breachwave /m);
  assert.match(help.output, /^ {2}wave /m);
  assert.match(help.output, /^ {2}demo .*production build leaves it out/ms);
  const sub = await finished(run(['breachwave', 'wave', 'status', '--help'], prodEnv()));
  assert.equal(sub.code, 0, sub.output);
  assert.match(sub.output, /^Usage: breachwave wave status /m);
  const demo = await finished(run(['breachwave', 'demo', '--accounts', '10'], prodEnv()));
  assert.equal(demo.code, 1, demo.output);
  assert.match(demo.output, /BW_CONFIG_INVALID.*breachwave demo is not part of this installation/);
  assert.doesNotMatch(demo.output, /ERR_MODULE_NOT_FOUND|at .*\.js:\d+/, 'a message, not a stack trace');
});

test('the built feeder takes its wave id from the arguments after its name', async () => {
  const usage = await finished(run(['feeder'], prodEnv()));
  assert.equal(usage.code, 2, usage.output);
  assert.match(usage.output, /usage: feeder WAVE_ID/);
  const unknown = await finished(run(['feeder', 'w-does-not-exist'], prodEnv()));
  assert.equal(unknown.code, 1, unknown.output);
  assert.match(unknown.output, /BW_WAVE_NOT_FOUND/);
});

const auditKey = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const WORKERS: readonly { name: string; env?: Record<string, string> }[] = [
  { name: 'notifier' },
  { name: 'pin-rotator' },
  { name: 'code-issuer' },
  // In production the audit writer refuses to start without its checkpoint signing key.
  { name: 'audit-writer', env: { BW_AUDIT_SIGNING_KEY: auditKey } },
];

for (const worker of WORKERS) {
  test(`the built ${worker.name} answers /readyz through dist/healthcheck.js, and exits 0 on SIGTERM`, { timeout: 120_000 }, async () => {
    const port = await freePort();
    assert.equal(await healthcheck(port, '/readyz'), 1, 'nothing listens yet: the health check fails');
    const p = run([worker.name], prodEnv({ BW_METRICS_PORT: String(port), ...worker.env }));
    try {
      await waitFor(async () => {
        if (p.child.exitCode !== null) throw new Error(`exited ${p.child.exitCode}: ${p.output()}`);
        return answers(port, '/readyz');
      }, { timeout: START_TIMEOUT_MS, interval: 100, what: `${worker.name} ready` });
      assert.equal(await healthcheck(port, '/readyz'), 0);
      assert.equal(await healthcheck(port, '/healthz'), 0);
      assert.equal(await healthcheck(port, '/no-such-path'), 1, 'a non-2xx answer fails the health check');
      p.child.kill('SIGTERM');
      const { code, output } = await finished(p);
      assert.equal(code, 0, output);
      assert.match(output, /"msg":"shutting down"/);
      assert.doesNotMatch(output, /"level":50|"level":60/, 'no error logged');
    } finally {
      p.child.kill('SIGKILL');
    }
  });
}

test('the built ops-api answers /healthz through dist/healthcheck.js, and exits 0 on SIGTERM', { timeout: 120_000 }, async () => {
  const port = await freePort();
  const p = run(['ops-api'], prodEnv({ BW_OPS_PORT: String(port), BW_PIN_VERIFY_TOKEN: randomBytes(24).toString('base64url') }));
  try {
    await waitFor(async () => {
      if (p.child.exitCode !== null) throw new Error(`exited ${p.child.exitCode}: ${p.output()}`);
      return answers(port, '/healthz');
    }, { timeout: START_TIMEOUT_MS, interval: 100, what: 'ops-api healthy' });
    assert.equal(await healthcheck(port, '/healthz'), 0);
    assert.equal(await healthcheck(port, '/readyz'), 0);
    p.child.kill('SIGTERM');
    const { code, output } = await finished(p);
    assert.equal(code, 0, output);
  } finally {
    p.child.kill('SIGKILL');
  }
});

test('a stack trace from the built code names the TypeScript source (source maps on)', async () => {
  // A configuration error is logged with its stack: the frames point into services/ and packages/.
  const { code, output } = await finished(run(['notifier'], prodEnv({ BW_ENVELOPE_KEY: 'not-a-key' })));
  assert.equal(code, 1, output);
  assert.match(output, /BW_CONFIG_INVALID/);
  assert.match(output, /packages\/config\/src\/[a-z-]+\.ts:\d+/);
});
