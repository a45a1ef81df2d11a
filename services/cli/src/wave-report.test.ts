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
  assert.equal(lines[0], 'account_id,segment,source_line,rotate_pin,rotate_pin_error,issue_code,issue_code_error,notify,notify_error,channel,first_at,last_at,pin_rotated,code_issued,reconciled,ambiguous,notified_at,delivery');
  assert.match(lines[1] ?? '', /^A1,former,2,,,,,done,,email,\S+Z,\S+Z,no,no,no,no,\S+Z,unknown$/);
  assert.match(lines[2] ?? '', /^'=1\+2,former,3,,,,,pending,,,/);
  assert.match(lines[3] ?? '', /^B3,former,4,,,,,not-queued,,,,,no,no,no,no,,$/);
  assert.equal(lines.length, 5, 'three accounts, then the final CRLF');
  assert.match(csv.stderr, /note: The wave is still running/);

  const out = join(dir, 'summary.html');
  const html = cli(['wave', 'report', 'w1', '--format', 'html', '--out', out], env, dir);
  assert.equal(html.code, 0, html.stderr);
  assert.equal(html.stdout, '');
  assert.equal(statSync(out).mode & 0o777, 0o600);
  assert.match(readFileSync(out, 'utf8'), /^<!doctype html>[\s\S]*<h1>Wave report: w1<\/h1>/);
  assert.match(html.stderr, /wave w1: 3 accounts \(read from the spool\) reported in /);

  // --json: what was written, as one object on stdout; the notes in it, not on stderr.
  const md = join(dir, 'summary.md');
  const json = cli(['wave', 'report', 'w1', '--format', 'md', '--out', md, '--json'], env, dir);
  assert.equal(json.code, 0, json.stderr);
  const written = JSON.parse(json.stdout) as { waveId: string; format: string; out: string; accounts: number; source: string; notes: string[] };
  assert.deepEqual({ ...written, notes: written.notes.length > 0 }, { waveId: 'w1', format: 'md', out: md, accounts: 3, source: 'spool', compactedUnlisted: 0, notes: true });
  assert.equal(json.stderr, '');
  assert.match(readFileSync(md, 'utf8'), /^# Wave report/);
  // Without --out the report is stdout's: a JSON summary there would corrupt it.
  const noOut = cli(['wave', 'report', 'w1', '--json'], env, dir);
  assert.equal(noOut.code, 2);
  assert.equal((JSON.parse(noOut.stdout) as { error: { code: string } }).error.code, 'BW_INPUT_INVALID');

  const unknown = cli(['wave', 'report', 'no-such-wave', '--out', join(dir, 'never.csv')], env, dir);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /error \[BW_WAVE_NOT_FOUND\]: wave not found: no-such-wave/);
  assert.throws(() => statSync(join(dir, 'never.csv')), /ENOENT/, 'nothing written for an unknown wave');

  const bad = cli(['wave', 'report', 'w1', '--format', 'pdf'], env, dir);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /argument 'pdf' is invalid\. Allowed choices are csv, jsonl, md, html/);
  assert.equal(bad.stdout, '');
});

test('argument errors: one line on stderr with its catalog code and exit 2, never the help text; one JSON error object under --json; a pace of zero or below refused', { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'bw-cli-args-'));
  try {
    // No Redis behind this: each is refused while parsing, before anything connects.
    const env = { REDIS_URL: 'redis://127.0.0.1:1', BW_PREFIX: 'never' };
    const cases: [string[], RegExp][] = [
      [['pace', 'set', '--sender', 'twilio:+15005550006', '--rate', '0'], /the pace must be a number of messages per second, 0 < rate ≤ 10000/],
      [['pace', 'set', '--sender', 'twilio:+15005550006', '--rate', '-3'], /0 < rate ≤ 10000/],
      [['pace', 'set', '--sender', 'twilio:+15005550006'], /required option '--rate <mps>' not specified/],
      [['wave', 'status'], /missing required argument 'wave'/],
      [['wave', 'pause-everything'], /unknown command 'pause-everything'/],
      [['wave', 'list', '--colour'], /unknown option '--colour'/],
    ];
    for (const [args, message] of cases) {
      const plain = cli(args, env, dir);
      assert.equal(plain.code, 2, `${args.join(' ')}: ${plain.stderr}`);
      assert.equal(plain.stdout, '');
      const lines = plain.stderr.trimEnd().split('\n');
      assert.equal(lines.length, 1, `one line, no help text: ${plain.stderr}`);
      assert.match(lines[0] ?? '', /^breachwave: error \[BW_INPUT_INVALID\]: /);
      assert.match(lines[0] ?? '', message);
      assert.doesNotMatch(plain.stderr, /Usage:|Options:/);

      const json = cli([...args, '--json'], env, dir);
      assert.equal(json.code, 2);
      const out = json.stdout.trimEnd().split('\n');
      assert.equal(out.length, 1, json.stdout);
      const e = (JSON.parse(out[0] ?? '') as { error: { code: string; kind: string; message: string } }).error;
      assert.equal(e.code, 'BW_INPUT_INVALID');
      assert.equal(e.kind, 'invalid-input');
      assert.match(e.message, message);
    }
    // Asking for help is not an error.
    const help = cli(['pace', 'set', '--help'], env, dir);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /Usage: breachwave pace set/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
