/**
 * CI smoke of the benchmark: `main.ts --smoke --json` runs every section at tiny sizes
 * so the benchmark cannot rot. It asserts the shape of the result — every promised figure is a
 * number, or an explicit null with a reason — and never a speed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { entryArgs } from '@breachwave/testkit/entry';
import { ROOT } from './common.js';

test('pnpm bench --smoke --json prints one JSON object with every figure, a number or a null with its reason', { timeout: 600_000 }, async () => {
  const out = mkdtempSync(join(tmpdir(), 'bw-bench-smoke-'));
  try {
    const child = spawn(process.execPath, [...entryArgs(join(ROOT, 'test', 'bench', 'main.ts')), '--smoke', '--json', '--out', out], {
      cwd: ROOT,
      env: process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr = (stderr + s).slice(-20_000)));
    const code = await new Promise<number | null>((res) => child.once('close', (c) => res(c)));
    assert.equal(code, 0, `bench exited ${code}:\n${stderr.slice(-4000)}`);

    const lines = stdout.trim().split('\n');
    assert.equal(lines.length, 1, 'with --json, stdout is the one JSON line');
    const report = JSON.parse(lines[0] ?? '') as Record<string, unknown> & { ratios: Record<string, unknown>; reasons: Record<string, unknown>; targets: unknown[]; results: Record<string, unknown> };

    const figure = (where: Record<string, unknown>, key: string): void => {
      assert.ok(key in where, `${key} is present`);
      const v = where[key];
      if (v === null) assert.ok(typeof report.reasons[key] === 'string' && (report.reasons[key] as string).length > 0, `${key} is null with a reason`);
      else assert.ok(typeof v === 'number' && Number.isFinite(v), `${key} is a number (got ${JSON.stringify(v)})`);
    };
    for (const k of ['ingest_vs_addbulk', 'notice_vs_noop', 'full_vs_noop', 'send_vs_noop', 'send_v0_vs_noop', 'notice_vs_send', 'full_vs_send', 'latency_vs_ceiling', 'full_latency_vs_ceiling', 'pace_error']) figure(report.ratios, k);
    for (const k of ['rss_mb', 'redis_mb', 'pin_ms', 'redis_bytes_per_account', 'scale_rss_mb', 'scale_redis_mb']) figure(report, k);
    // The same-run baseline the ratios are taken against.
    const baseline = report.results.baseline as Record<string, unknown>;
    for (const k of ['addBulkPerSec', 'noopPerSec', 'sendPerSec']) assert.equal(typeof baseline[k], 'number', `baseline ${k}`);
    assert.ok(Array.isArray(report.targets) && report.targets.length === 12, 'one verdict per target');

    const written = readdirSync(out);
    assert.ok(written.some((f) => f.endsWith('.json')) && written.some((f) => f.endsWith('.md')), `results written (${written.join(', ')})`);
  } finally {
    if (existsSync(out)) rmSync(out, { recursive: true, force: true });
  }
});
