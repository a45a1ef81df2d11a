/**
 * infra/Dockerfile against the image's contract. The image cannot be built on these machines (no
 * registry to pull the base image from), so what its build stage runs is what
 * services/run/src/build.test.ts runs (scripts/build-prod.sh), and this file checks the rest: the
 * runtime stage's base, user, environment, entry point and stop signal, as compose files and
 * manifests rely on them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '../..');

interface Instruction {
  readonly op: string;
  readonly args: string;
}

/** The Dockerfile's instructions, continuation lines joined and comments dropped, split into stages. */
function stages(text: string): Instruction[][] {
  const joined = text.split('\n').filter((l) => !/^\s*#/.test(l)).join('\n').replace(/\\\n/g, ' ');
  const out: Instruction[][] = [[]];
  for (const line of joined.split('\n')) {
    const m = /^\s*([A-Z]+)\s+(.*\S)\s*$/.exec(line);
    if (!m) continue;
    const ins = { op: m[1] as string, args: m[2] as string };
    if (ins.op === 'FROM') out.push([]);
    (out[out.length - 1] as Instruction[]).push(ins);
  }
  return out;
}

const dockerfile = readFileSync(join(ROOT, 'infra/Dockerfile'), 'utf8');
const [preamble = [], ...built] = stages(dockerfile);
const build = built[0] ?? [];
const runtime = built[built.length - 1] ?? [];
const all = (stage: Instruction[], op: string): string[] => stage.filter((i) => i.op === op).map((i) => i.args);
const last = (stage: Instruction[], op: string): string | undefined => all(stage, op).at(-1);

test('two stages on a supported Node.js LTS: node:24-bookworm-slim', () => {
  assert.equal(built.length, 2);
  assert.deepEqual(all(preamble, 'ARG'), ['NODE_IMAGE=node:24-bookworm-slim']);
  assert.equal(last(build, 'FROM'), '${NODE_IMAGE} AS build');
  assert.equal(last(runtime, 'FROM'), '${NODE_IMAGE}');
});

test('the build stage installs from the lock file with the pinned pnpm, then runs scripts/build-prod.sh', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { packageManager: string };
  const runs = all(build, 'RUN');
  assert.ok(runs.includes(`npm install --global ${pkg.packageManager}`), `pnpm as packageManager pins it (${pkg.packageManager})`);
  assert.ok(runs.includes('pnpm install --frozen-lockfile'));
  assert.equal(runs.at(-1), 'scripts/build-prod.sh /out');
  // Every workspace project's manifest is in the context the frozen install sees.
  const copied = all(build, 'COPY').join(' ');
  const workspace = readFileSync(join(ROOT, 'pnpm-workspace.yaml'), 'utf8');
  for (const m of workspace.matchAll(/^\s+-\s+"([^"*]+)(\/\*)?"/gm)) {
    const dir = m[1] as string;
    assert.ok(m[2] ? copied.includes(`${dir} ./${dir}`) : copied.includes(`${dir}/package.json`), `${dir} is copied`);
  }
  for (const f of ['package.json', 'pnpm-lock.yaml', 'pnpm-workspace.yaml', 'scripts ./scripts']) assert.ok(copied.includes(f), `${f} is copied`);
});

test('the runtime stage: /app from the build\'s output only, user 10001 owning /var/lib/breachwave, the contract\'s environment, entry point and stop signal', () => {
  assert.deepEqual(all(runtime, 'COPY'), ['--from=build /out/ /app/']);
  assert.equal(last(runtime, 'WORKDIR'), '/app');
  const setup = all(runtime, 'RUN').join(' ');
  assert.match(setup, /groupadd --system --gid 10001 breachwave/);
  assert.match(setup, /useradd --system --uid 10001 --gid 10001 .*breachwave/);
  assert.match(setup, /mkdir -p \/var\/lib\/breachwave\/audit \/var\/lib\/breachwave\/data/);
  assert.match(setup, /chown -R 10001:10001 \/var\/lib\/breachwave/);
  assert.equal(last(runtime, 'USER'), '10001:10001');
  const env = all(runtime, 'ENV').join(' ');
  for (const v of ['NODE_ENV=production', 'NODE_OPTIONS=--enable-source-maps', 'BW_AUDIT_DIR=/var/lib/breachwave/audit', 'BW_DATA_DIR=/var/lib/breachwave/data']) assert.ok(env.split(/\s+/).includes(v), v);
  assert.equal(last(runtime, 'STOPSIGNAL'), 'SIGTERM');
  assert.deepEqual(JSON.parse(last(runtime, 'ENTRYPOINT') ?? 'null'), ['node', '/app/dist/run.js']);
  assert.deepEqual(JSON.parse(last(runtime, 'CMD') ?? 'null'), ['notifier']);
  // The runtime installs nothing: no package manager, no curl.
  assert.doesNotMatch(setup, /apt-get|npm |pnpm /);
});

test('.dockerignore keeps host builds, dependencies and secrets out of the build context', () => {
  const lines = readFileSync(join(ROOT, '.dockerignore'), 'utf8').split('\n').map((l) => l.trim());
  for (const p of ['**/node_modules', 'dist', '.git', '.breachwave', '.env', '.env.*']) assert.ok(lines.includes(p), p);
});
