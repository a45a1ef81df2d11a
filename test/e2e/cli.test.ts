import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { acquireRedis, entryArgs } from '@breachwave/testkit';
import { generateKey } from '@breachwave/secrets';
import { ROOT, tempDir } from './harness.js';

/** Runs the real CLI as operators do. */
function cli(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [...entryArgs(join(ROOT, 'services/cli/src/main.ts')), ...args], {
    cwd: ROOT, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env }, timeout: 170_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('demo --json reconciles, and audit verify passes on its audit, then names an edited and a deleted record', { timeout: 180_000 }, async () => {
  const redis = await acquireRedis();
  try {
    const dir = tempDir('cli');
    // 600 rows: two feed batches (500 accounts each by default) and audit checkpoints signed on
    // the way (one per 1,000 records), with malformed rows and duplicates among them.
    const r = cli(['demo', '--accounts', '600', '--json'], { REDIS_URL: redis.url, BW_DATA_DIR: dir });
    assert.equal(r.code, 0, r.stderr);
    const summary = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '') as {
      rows: number; accepted: number; rejected: number; failed: number; sent: { sms: number; email: number; total: number };
      reconciled: Record<string, boolean>; audit: { ok: boolean; files: string[]; records: number; publicKeyFile: string }; rejectsReport: string;
    };
    assert.equal(summary.rows, 600);
    assert.equal(summary.rows, summary.accepted + summary.rejected);
    assert.equal(summary.accepted, summary.sent.total + summary.failed);
    assert.ok(Object.values(summary.reconciled).every(Boolean), JSON.stringify(summary.reconciled));
    assert.ok(summary.audit.ok);
    assert.ok(summary.rejected > 0, 'the synthetic file has malformed rows and duplicates');
    const rejects = readFileSync(summary.rejectsReport, 'utf8').trim().split('\n');
    assert.equal(rejects[0], 'line,field,reason,account_id');
    assert.equal(rejects.length - 1, summary.rejected);

    const [file] = summary.audit.files;
    assert.ok(file);
    // The demo signs its audit checkpoints with a key of its own and keeps the public half.
    const key = ['--public-key', summary.audit.publicKeyFile];
    const ok = cli(['audit', 'verify', ...key, ...summary.audit.files]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, new RegExp(`audit trail OK: ${summary.audit.records} records in \\d+ file\\(s\\), \\d+ checkpoint\\(s\\) matched`));

    const original = readFileSync(file, 'utf8');
    const lines = original.split('\n');
    const edited = [...lines];
    edited[9] = (edited[9] ?? '').replace(/"ts":"[^"]+"/, '"ts":"2020-01-01T00:00:00.000Z"');
    assert.notEqual(edited[9], lines[9]);
    writeFileSync(file, edited.join('\n'));
    const bad = cli(['audit', 'verify', ...key, file]);
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, new RegExp(`BROKEN at ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:10 \\(seq 10\\)`));

    writeFileSync(file, [...lines.slice(0, 19), ...lines.slice(20)].join('\n'));
    const gap = cli(['audit', 'verify', ...key, file]);
    assert.equal(gap.code, 1);
    assert.match(gap.stdout, /:20 .*(seq|prev)/);
  } finally {
    await redis.stop();
  }
});

test('wave create: bad files get a clear message, bad rows a report, and nothing is lost', { timeout: 120_000 }, async () => {
  const redis = await acquireRedis();
  try {
    const dir = tempDir('cli-bad');
    const env = { REDIS_URL: redis.url, BW_DATA_DIR: dir, BW_PREFIX: `cli${randomBytes(3).toString('hex')}`, BW_ENVELOPE_KEY: generateKey(), BW_HMAC_KEY: generateKey() };
    const write = (name: string, content: string | Buffer) => { const p = join(dir, name); writeFileSync(p, content); return p; };

    const empty = cli(['wave', 'create', '--accounts', write('empty.csv', '')], env);
    assert.equal(empty.code, 2);
    assert.match(empty.stderr, /BW_INPUT_\w+.*empty/);

    const wrong = cli(['wave', 'create', '--accounts', write('wrong.csv', 'id,kind,mobile\nA1,former,2025550143\n')], env);
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /account_id/);

    const missing = cli(['wave', 'create', '--accounts', join(dir, 'nope.csv')], env);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /BW_INPUT_FILE/);

    const headerOnly = cli(['wave', 'create', '--accounts', write('header.csv', 'account_id,segment,phone,email\n'), '--json'], env);
    assert.equal(headerOnly.code, 0, headerOnly.stderr);
    assert.equal((JSON.parse(headerOnly.stdout) as { stats: { rows: number } }).stats.rows, 0);

    const mixed = Buffer.concat([
      Buffer.from('account_id,segment,phone,email,ssn\nA1,former,(202) 555-0143,,SYN-1\nA2,vip,,b@example.com,SYN-2\nA3,former,,'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('@example.com,SYN-3\nA1,former,,dup@example.com,SYN-4\nA4,prospective,,d@example.com,SYN-5\n'),
    ]);
    const r = cli(['wave', 'create', '--accounts', write('mixed.csv', mixed), '--json'], env);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { waveId: string; stats: { rows: number; accepted: number; rejected: number }; rejectsPath: string; droppedColumns: string[]; templateWarnings: unknown[] };
    // The default brand, help URL and budget of 3: the longest notice (every category, a PIN, a code) fits.
    assert.deepEqual(out.templateWarnings, []);
    assert.doesNotMatch(r.stderr, /over the budget/);
    assert.deepEqual(out.stats.rows, 5);
    assert.equal(out.stats.accepted, 2);
    assert.equal(out.stats.rejected, 3);
    assert.deepEqual(out.droppedColumns, ['ssn']);
    const report = readFileSync(out.rejectsPath, 'utf8');
    assert.match(report, /^3,segment,/m);
    assert.match(report, /^4,.*UTF-8/m);
    assert.match(report, /^5,account_id,duplicate/m);
    assert.ok(!/SYN-|example\.com|555/.test(report), 'the report carries no row values');
    assert.ok(!/SYN-/.test(r.stderr), 'the dropped column values are never logged');

    const status = cli(['wave', 'status', out.waveId, '--json'], env);
    assert.equal(status.code, 0, status.stderr);
    assert.equal((JSON.parse(status.stdout) as { accepted: number }).accepted, 2);
    const unknown = cli(['wave', 'status', 'w-nope'], env);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /BW_WAVE_NOT_FOUND/);

    // The same export made into a second wave would notify everyone again: refused, nothing created.
    const wavesBefore = cli(['wave', 'list', '--json'], env).stdout;
    const again = cli(['wave', 'create', '--accounts', join(dir, 'mixed.csv')], env);
    assert.equal(again.code, 2, again.stderr);
    assert.match(again.stderr, new RegExp(`BW_SOURCE_REUSED.*${out.waveId}.*--allow-same-file`));
    assert.equal(cli(['wave', 'list', '--json'], env).stdout, wavesBefore, 'no wave was created');
    // On purpose, it is allowed, and the audit says so.
    const onPurpose = cli(['wave', 'create', '--accounts', join(dir, 'mixed.csv'), '--allow-same-file', '--json'], { ...env, BW_OPERATOR: 'ana' });
    assert.equal(onPurpose.code, 0, onPurpose.stderr);
    const second = (JSON.parse(onPurpose.stdout) as { waveId: string }).waveId;
    const reader = new Redis(redis.url);
    const audit = await reader.xrange(`${env.BW_PREFIX}:audit`, '-', '+');
    await reader.quit();
    const reused = audit.map(([, f]) => JSON.parse(f[1] ?? '{}') as { type: string; wave?: string; actor?: string; detail?: { earlierWave?: string } }).find((r) => r.type === 'wave.source.reused');
    assert.deepEqual([reused?.wave, reused?.actor, reused?.detail?.earlierWave], [second, 'operator:ana', out.waveId]);
  } finally {
    await redis.stop();
  }
});
