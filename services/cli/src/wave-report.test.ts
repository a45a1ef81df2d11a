import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createLedger, type AccountRecord } from '@breachwave/ledger';
import { entryArgs, useRedis } from '@breachwave/testkit';

const db = useRedis();
const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));

/** Runs the real CLI as an operator does. */
function cli(args: string[], env: Record<string, string>, cwd: string) {
  const r = spawnSync(process.execPath, [...entryArgs(MAIN), ...args], {
    cwd, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env }, timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('wave report: CSV on stdout, the HTML summary into an owner-only file; an unknown wave and a bad format are clear errors', { timeout: 120_000 }, async (t) => {
  const prefix = `clirep${randomBytes(3).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), 'bw-cli-report-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const ledger = createLedger({ redis: db.redis, prefix });
  const ids = ['A1', '=1+2', 'B3'];
  const record = (line: number): AccountRecord => ({ segment: 'former', locale: 'en', exposed: ['name'], hasPhone: false, phoneIsMobile: false, hasEmail: true, contact: 'v1.sealed', line });
  // A relative spool path, as `wave create` records it under the default BW_DATA_DIR: read from the working directory.
  writeFileSync(join(dir, 'accounts.jsonl'), ids.map((accountId, i) => `${JSON.stringify({ line: i + 2, accountId, record: record(i + 2) })}\n`).join(''));
  await ledger.createWave({ waveId: 'w1', createdAt: new Date().toISOString(), source: 'x.csv', brand: 'B', helpUrl: 'https://h.example.com', rules: {} },
    { rows: 3, accepted: 3, rejected: 0 }, { spool: 'accounts.jsonl' });
  await ledger.initAccounts('w1', 'feeder', ids.slice(0, 2).map((accountId) => ({ accountId, actions: ['notify'] })));
  await ledger.transition({ waveId: 'w1', accountId: 'A1', action: 'notify', actor: 't', from: ['pending'], to: 'claimed', event: 'notify.claimed' });
  await ledger.transition({ waveId: 'w1', accountId: 'A1', action: 'notify', actor: 't', from: ['claimed'], to: 'done', event: 'notify.done', patch: { ch: 'email', pid: 'm1' } });
  const env = { REDIS_URL: db.url, BW_PREFIX: prefix };

  const csv = cli(['wave', 'report', 'w1'], env, dir);
  assert.equal(csv.code, 0, csv.stderr);
  const lines = csv.stdout.split('\r\n');
  assert.equal(lines[0], 'account_id,segment,source_line,rotate_pin,rotate_pin_error,issue_code,issue_code_error,notify,notify_error,channel,first_at,last_at,pin_rotated,code_issued,reconciled,ambiguous');
  assert.match(lines[1] ?? '', /^A1,former,2,,,,,done,,email,\S+Z,\S+Z,no,no,no,no$/);
  assert.match(lines[2] ?? '', /^'=1\+2,former,3,,,,,pending,,,/);
  assert.match(lines[3] ?? '', /^B3,former,4,,,,,not-queued,,,,,no,no,no,no$/);
  assert.equal(lines.length, 5, 'three accounts, then the final CRLF');
  assert.match(csv.stderr, /note: The wave is still running/);

  const out = join(dir, 'summary.html');
  const html = cli(['wave', 'report', 'w1', '--format', 'html', '--out', out], env, dir);
  assert.equal(html.code, 0, html.stderr);
  assert.equal(html.stdout, '');
  assert.equal(statSync(out).mode & 0o777, 0o600);
  assert.match(readFileSync(out, 'utf8'), /^<!doctype html>[\s\S]*<h1>Wave report: w1<\/h1>/);
  assert.match(html.stderr, /wave w1: 3 accounts \(read from the spool\) reported in /);

  const unknown = cli(['wave', 'report', 'no-such-wave', '--out', join(dir, 'never.csv')], env, dir);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /error \[BW_WAVE_NOT_FOUND\]: wave not found: no-such-wave/);
  assert.throws(() => statSync(join(dir, 'never.csv')), /ENOENT/, 'nothing written for an unknown wave');

  const bad = cli(['wave', 'report', 'w1', '--format', 'pdf'], env, dir);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /argument 'pdf' is invalid\. Allowed choices are csv, jsonl, md, html/);
  assert.equal(bad.stdout, '');
});
