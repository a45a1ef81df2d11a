import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { ROOT, exportedNames, namesIn, readText } from './exported.js';

/** promtool from Prometheus (Debian: `apt-get install prometheus`), or undefined when it is not on PATH. */
function findPromtool(): string | undefined {
  const r = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? 'promtool' : undefined;
}

const promtool = findPromtool();
const skip = promtool ? false : 'promtool is not installed: the alert rules are NOT checked (apt-get install prometheus, or put promtool on PATH)';
if (skip) process.stderr.write(`\n*** ${skip} ***\n\n`);

const run = (args: string[]): string => execFileSync(promtool ?? 'promtool', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

test('promtool check rules: the alert rules parse and their expressions are valid PromQL', { skip }, () => {
  assert.match(run(['check', 'rules', 'infra/prometheus/alerts.yml']), /SUCCESS/);
});

test('promtool test rules: every alert fires on the series it is for, and not before', { skip }, () => {
  assert.match(run(['test', 'rules', 'infra/prometheus/alerts.test.yml']), /SUCCESS/);
});

test('every metric an alert reads is one the processes export', async () => {
  const exported = await exportedNames();
  const exprs = [...readText('infra/prometheus/alerts.yml').matchAll(/expr: (\|\n(?:\s{10,}.*\n)+|.*)/g)].map((m) => m[1] ?? '');
  assert.ok(exprs.length >= 10, `found ${exprs.length} expressions`);
  const unknown = [...new Set(exprs.flatMap(namesIn))].filter((n) => !exported.has(n));
  assert.deepEqual(unknown, []);
});
