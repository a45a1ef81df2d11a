import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createActionQueues } from '@breachwave/actions';
import { createLedger, waveProgress } from '@breachwave/ledger';
import { entryArgs, waitFor } from '@breachwave/testkit';
import { ROOT, serviceEnv, spawnService, tempDir, useWorld, waitForLog } from './harness.js';

const world = useWorld();

function cli(args: string[], env: Record<string, string>, operator: string) {
  const r = spawnSync(process.execPath, [...entryArgs(join(ROOT, 'services/cli/src/main.ts')), ...args], { cwd: ROOT, encoding: 'utf8', env: { ...env, BW_OPERATOR: operator }, timeout: 90_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, json: () => JSON.parse(r.stdout) as Record<string, unknown> };
}

/** 40 accounts: 20 reached by SMS, 20 by email. */
function accounts(dir: string, name: string, tag: string): { file: string; contacts: string[] } {
  const rows: string[] = ['account_id,segment,phone,email'];
  const contacts: string[] = [];
  for (let i = 0; i < 40; i++) {
    const phone = i < 20 ? `202555${String(1000 + i)}` : '';
    const email = i >= 20 ? `${tag}${i}@lifecycle.example.com` : '';
    rows.push(`${tag.toUpperCase()}${i},former,${phone},${email}`);
    contacts.push(phone || email);
  }
  const file = join(dir, name);
  writeFileSync(file, `${rows.join('\n')}\n`);
  return { file, contacts };
}

test('a wave as a controlled operation through the CLI: start refused before a dry run and a second operator\'s approval, pause holds it, resume finishes it, cancel ends another with every account terminal, all audited with who did it', { timeout: 300_000 }, async () => {
  const { server, redis, twilio, smtp } = world;
  const dir = tempDir('lifecycle');
  const prefix = `life${randomBytes(3).toString('hex')}`;
  // A slow pace (2 notices/s per channel, 4/s in all) so the wave is still running when it is
  // paused (after 2 of its 40 notices) and the second one when it is cancelled (after 3 of 40):
  // each has some 9 s left for a CLI process to land the step, several times what one takes on a
  // loaded machine. The waves keep no quiet hours, so the SMS go whatever the hour the test runs.
  const env = { ...serviceEnv({ redisUrl: server.url, prefix, dataDir: dir, twilio, smtp }), BW_SMS_RATE: '2', BW_EMAIL_RATE: '2', LOG_LEVEL: 'info' };
  // Redis is read every 100 ms while the test waits for a step to land mid-wave (a notice every
  // 250 ms), every 250 ms while it waits for a wave to end.
  const step = { interval: 100 };
  const end = { interval: 250 };
  const ledger = createLedger({ redis, prefix });
  const queues = createActionQueues({ connection: redis, prefix });
  const notifier = spawnService('notifier', env, dir);
  try {
    const first = accounts(dir, 'first.csv', 'lca');
    const created = cli(['wave', 'create', '--accounts', first.file, '--no-quiet-hours', '--json'], env, 'ana');
    assert.equal(created.code, 0, created.stderr);
    const waveId = created.json().waveId as string;
    assert.equal((created.json().manifest as { approvals: number }).approvals, 1, 'one approval by default');

    // Refused, each with its catalogued code, as one JSON object under --json; nothing changes.
    const early = cli(['wave', 'start', waveId, '--json'], env, 'ana');
    assert.equal(early.code, 2);
    assert.equal((early.json().error as { code: string }).code, 'BW_WAVE_STATE');
    assert.match(early.stderr, /not approved/);
    const noDryRun = cli(['wave', 'approve', waveId, '--json'], env, 'bo');
    assert.equal((noDryRun.json().error as { code: string; message: string }).code, 'BW_APPROVAL_REFUSED');
    assert.match((noDryRun.json().error as { message: string }).message, /no dry run/);

    const dry = cli(['wave', 'dry-run', waveId, '--json'], env, 'ana');
    assert.equal(dry.code, 0, dry.stderr);
    const report = dry.json() as { accepted: number; byChannel: { sms: number; email: number; none: number }; estimatedSeconds: number; samples: { text: string }[] };
    assert.deepEqual(report.byChannel, { sms: 20, email: 20, none: 0 });
    assert.equal(report.estimatedSeconds, 10, '20 SMS and 20 emails at 2/s each');
    assert.ok(report.samples.length >= 2);
    const human = cli(['wave', 'dry-run', waveId], env, 'ana');
    for (const c of first.contacts) {
      assert.ok(!dry.stdout.includes(c) && !human.stdout.includes(c), 'the dry run shows no contact point');
    }
    assert.equal(await queues.queueFor('notify').count(), 0, 'a dry run queues nothing');
    const self = cli(['wave', 'approve', waveId], env, 'ana');
    assert.equal(self.code, 2);
    assert.match(self.stderr, /BW_APPROVAL_REFUSED.*created the wave cannot approve/);
    const approved = cli(['wave', 'approve', waveId, '--json'], env, 'bo');
    assert.equal(approved.code, 0, approved.stderr);
    assert.equal(approved.json().status, 'approved');

    await waitForLog(notifier, 'notifier started');
    const started = cli(['wave', 'start', waveId, '--json'], env, 'bo');
    assert.equal(started.code, 0, started.stderr);
    assert.equal(started.json().fed, 40);
    const done = async () => (await ledger.counts(waveId))['notify:done'] ?? 0;
    await waitFor(async () => (await done()) >= 2, { timeout: 60_000, what: 'some notices sent', ...step });
    const paused = cli(['wave', 'pause', waveId, '--reason', 'checking the Spanish text', '--json'], env, 'cy');
    assert.equal(paused.code, 0, paused.stderr);
    assert.equal(paused.json().paused, true);
    // Every job still queued goes back to wait, whole: none active, none waiting to run.
    const q = queues.queueFor('notify');
    await waitFor(async () => {
      const c = await q.getJobCounts('active', 'waiting', 'prioritized', 'delayed');
      return c.active === 0 && c.waiting === 0 && c.prioritized === 0 && (c.delayed ?? 0) > 0;
    }, { timeout: 30_000, what: 'the paused wave\'s jobs wait in the delayed set', ...step });
    const atPause = await done();
    assert.ok(atPause < 40, `the wave is held before its end (${atPause} sent)`);
    const status = cli(['wave', 'status', waveId], env, 'cy');
    assert.match(status.stdout, new RegExp(`wave ${waveId}: fed \\(paused\\)`));
    assert.equal(cli(['wave', 'pause', waveId], env, 'cy').code, 2, 'a paused wave cannot be paused again');

    assert.equal(cli(['wave', 'resume', waveId, '--json'], env, 'dee').code, 0);
    await waitFor(async () => (await waveProgress(ledger, waveId)).complete, { timeout: 90_000, what: 'the resumed wave completes', ...end });
    const p = await waveProgress(ledger, waveId);
    assert.deepEqual(p.actions.notify, { done: 40 }, 'every account notified once the wave was resumed');

    // A second wave, cancelled mid-way: no approval asked (--approvals 0).
    const second = accounts(dir, 'second.csv', 'lcb');
    const other = cli(['wave', 'create', '--accounts', second.file, '--no-quiet-hours', '--approvals', '0', '--json'], env, 'ana');
    assert.equal(other.code, 0, other.stderr);
    const otherId = other.json().waveId as string;
    assert.equal(cli(['wave', 'start', otherId], env, 'ana').code, 0);
    await waitFor(async () => ((await ledger.counts(otherId))['notify:done'] ?? 0) >= 3, { timeout: 60_000, what: 'the second wave under way', ...step });
    const cancelled = cli(['wave', 'cancel', otherId, '--reason', 'wrong file', '--json'], env, 'bo');
    assert.equal(cancelled.code, 0, cancelled.stderr);
    // Accounts still pending end at once; those already claimed and waiting for a pace slot end
    // when they reach the gate before the send.
    assert.equal(typeof cancelled.json().cancelledAccounts, 'number');
    await waitFor(async () => (await waveProgress(ledger, otherId)).complete, { timeout: 60_000, what: 'every account of the cancelled wave terminal', ...end });
    const after = await waveProgress(ledger, otherId);
    const n = after.actions.notify ?? {};
    assert.equal((n.done ?? 0) + (n.cancelled ?? 0) + (n.failed ?? 0), 40, 'every account ended: sent, or cancelled');
    assert.ok((n.cancelled ?? 0) > 0 && (n.done ?? 0) < 40, `the cancel stopped the wave part way (${n.done ?? 0} sent, ${n.cancelled ?? 0} cancelled)`);
    const resumeCancelled = cli(['wave', 'resume', otherId, '--json'], env, 'bo');
    assert.equal((resumeCancelled.json().error as { code: string }).code, 'BW_WAVE_STATE', 'a cancelled wave cannot be resumed');
    const unknown = cli(['wave', 'pause', 'no-such-wave', '--json'], env, 'bo');
    assert.equal(unknown.code, 2);
    assert.equal((unknown.json().error as { code: string }).code, 'BW_WAVE_NOT_FOUND');

    // The audit holds every operator step with who took it.
    const trail = (await redis.xrange(`${prefix}:audit`, '-', '+'))
      .map(([, f]) => JSON.parse(f[1] ?? '{}') as { type: string; actor: string; wave?: string; detail?: { reason?: string } })
      .filter((r) => /^wave\.(created|dry-run|approval|paused|resumed|cancelled)$/.test(r.type));
    assert.deepEqual(trail.map((r) => [r.type, r.actor, r.wave === waveId ? 1 : 2]), [
      ['wave.created', 'operator:ana', 1],
      ['wave.dry-run', 'operator:ana', 1],
      ['wave.dry-run', 'operator:ana', 1],
      ['wave.approval', 'operator:bo', 1],
      ['wave.paused', 'operator:cy', 1],
      ['wave.resumed', 'operator:dee', 1],
      ['wave.created', 'operator:ana', 2],
      ['wave.cancelled', 'operator:bo', 2],
    ]);
    assert.equal(trail.find((r) => r.type === 'wave.paused')?.detail?.reason, 'checking the Spanish text');
  } finally {
    await notifier.kill('SIGTERM');
    await queues.close();
  }
});
