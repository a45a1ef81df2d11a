import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { BreachwaveError } from '@breachwave/domain';
import { actionBatchJobId, actionJobId, parseActionJob, type ActionBatch } from '@breachwave/jobs';
import { captureLog, useRedis, waitFor } from '@breachwave/testkit';
import { createLedger } from '@breachwave/ledger';
import { PermanentActionError, createActionQueues, createActionWorker, type ActionJobView } from './worker.js';

const db = useRedis();

function setup(t: { after(fn: () => Promise<void>): void }) {
  const prefix = `aw${randomBytes(3).toString('hex')}`;
  const connection = new Redis(db.url, { maxRetriesPerRequest: null });
  const queues = createActionQueues({ connection, prefix });
  t.after(async () => {
    await queues.close();
    await connection.quit();
  });
  return { prefix, connection, queues };
}

test('a multi-account job runs each account on its own: retries and deferrals leave it as one-account jobs, failures stay put, next actions go on as one job', async (t) => {
  const { prefix, connection, queues } = setup(t);
  const cap = captureLog();
  const runs: { accountId: string; jobId: string | undefined; attemptsMade: number; attempts: number; batched: boolean; at: number }[] = [];
  const runsOf = (accountId: string) => runs.filter((r) => r.accountId === accountId);
  const processor = async (job: ActionJobView): Promise<string | { status: string; state: string }> => {
    const { waveId, accountId } = parseActionJob(job.data);
    const first = runsOf(accountId).length === 0;
    runs.push({ accountId, jobId: job.id, attemptsMade: job.attemptsMade, attempts: job.attempts, batched: job.queueNext !== undefined, at: Date.now() });
    switch (accountId) {
      case 'a-fail':
        throw new PermanentActionError(new BreachwaveError('BW_PIN_STORE_REJECTED', { detail: 'the store said no' }));
      case 'a-wait':
        if (first) return job.defer(300);
        return 'ok';
      case 'a-done':
        return { status: 'already-finished', state: 'done' };
      case 'a-retry':
        if (runsOf(accountId).length <= 2) throw new BreachwaveError('BW_PIN_STORE_UNAVAILABLE', { detail: 'down for a moment' });
        return 'ok';
      default:
        if (job.queueNext) job.queueNext('notify', { waveId, accountId });
        return 'ok';
    }
  };
  const worker = createActionWorker({ action: 'rotate-pin', connection, prefix, processor, log: cap.log });
  t.after(() => worker.close());
  const batch: ActionBatch = { waveId: 'w1', accountIds: ['a-ok1', 'a-fail', 'a-wait', 'a-retry', 'a-done', 'a-ok2'] };
  await queues.addAccounts('rotate-pin', batch.waveId, batch.accountIds);
  const q = queues.queueFor('rotate-pin');
  const batchId = actionBatchJobId('rotate-pin', batch);
  assert.deepEqual((await q.getJob(batchId))?.data, batch, 'the job carries references only');
  // A one-account job replayed after its account finished.
  await queues.add('rotate-pin', { waveId: 'w1', accountId: 'a-done' });
  await worker.start();

  const single = (accountId: string) => actionJobId('rotate-pin', { waveId: 'w1', accountId });
  await waitFor(async () => (await q.getJobState(batchId)) === 'completed' && (await q.getJobState(single('a-done'))) === 'completed'
    && (await q.getJobState(single('a-wait'))) === 'completed' && (await q.getJobState(single('a-retry'))) === 'completed', { what: 'batch and split-off jobs completed' });

  const done = await q.getJob(batchId);
  assert.deepEqual(done?.returnvalue, { accounts: 6, finished: 3, failed: 1, split: 2, replayed: 1 });
  assert.deepEqual(cap.lines().filter((l) => /replayed/.test(String(l.msg))).map((l) => [l.job, l.wave, l.replayed, l.accounts]).sort(),
    [[batchId, 'w1', 1, 6], [single('a-done'), 'w1', 1, 1]].sort(), 'a replay said once for each job, of either shape, with its wave');
  assert.deepEqual(runs.filter((r) => r.jobId === batchId).map((r) => r.accountId), batch.accountIds, 'each account once, in order, in the batch');
  assert.ok(runs.filter((r) => r.jobId === batchId).every((r) => r.attemptsMade === 0 && r.attempts === 8 && r.batched));

  // The deferred account waited its delay without spending an attempt; the retried one spent one.
  const waited = await q.getJob(single('a-wait'));
  assert.equal(waited?.opts.delay, 300);
  assert.deepEqual(waited?.data, { waveId: 'w1', accountId: 'a-wait' });
  assert.deepEqual(runsOf('a-wait').slice(1).map((r) => [r.attemptsMade, r.attempts, r.batched]), [[0, 8, false]]);
  const retried = await q.getJob(single('a-retry'));
  assert.ok((retried?.opts.delay ?? 0) >= 500 && (retried?.opts.delay ?? 0) <= 1000, `first backoff step, was ${retried?.opts.delay}`);
  assert.deepEqual(retried?.data, { waveId: 'w1', accountId: 'a-retry', spent: 1 });
  assert.equal(retried?.opts.attempts, 7, 'the attempts it has left');
  const retries = runsOf('a-retry');
  assert.deepEqual(retries.slice(1).map((r) => [r.attemptsMade, r.attempts, r.batched]), [[1, 8, false], [2, 8, false]],
    'its second and third attempts, counted as if it had had a job of its own');
  // Its own retry backs off as a third attempt would (1–2 s), not as a second (0.5–1 s).
  const gap = (retries[2]?.at ?? 0) - (retries[1]?.at ?? 0);
  assert.ok(gap >= 1000, `second backoff step, was ${gap} ms`);

  // Failed for good: not queued again, and said once.
  assert.equal(await q.getJob(single('a-fail')), undefined);
  assert.equal(runsOf('a-fail').length, 1);
  assert.equal(cap.lines().filter((l) => l.msg === 'rotate-pin failed for good' && l.account === 'a-fail').length, 1);

  // The finished accounts' next action: one job for both.
  const next = await queues.queueFor('notify').getJobs(['waiting', 'delayed', 'active', 'completed'], 0, -1);
  assert.deepEqual(next.map((j) => [j.id, j.data]), [[actionBatchJobId('notify', { waveId: 'w1', accountIds: ['a-ok1', 'a-ok2'] }), { waveId: 'w1', accountIds: ['a-ok1', 'a-ok2'] }]]);
});

test('a malformed multi-account job fails at once with the payload error, naming fields, not values', async (t) => {
  const { prefix, connection, queues } = setup(t);
  const seen: string[] = [];
  const worker = createActionWorker({ action: 'notify', connection, prefix, log: captureLog().log, processor: async (job) => {
    seen.push(parseActionJob(job.data).accountId);
  } });
  t.after(() => worker.close());
  const q = queues.queueFor('notify');
  await q.add('notify', { waveId: 'w1', accountIds: ['ok-1', 'sec:ret-4417'] }, { attempts: 8, jobId: 'bad-batch' });
  await q.add('notify', { waveId: 'w1', accountIds: [] }, { attempts: 8, jobId: 'empty-batch' });
  await worker.start();
  await waitFor(async () => (await q.getJobState('bad-batch')) === 'failed' && (await q.getJobState('empty-batch')) === 'failed', { what: 'both failed' });
  for (const id of ['bad-batch', 'empty-batch']) {
    const job = await q.getJob(id);
    assert.match(job?.failedReason ?? '', /BW_JOB_PAYLOAD_INVALID/);
    assert.match(job?.failedReason ?? '', /accountIds/);
    assert.ok(!(job?.failedReason ?? '').includes('ret-4417'));
    assert.equal(job?.attemptsMade, 1, 'not retried');
  }
  assert.deepEqual(seen, [], 'no account of a malformed job runs');
});

test('the wave gate: a paused wave\'s job waits whole without running or spending attempts; a cancelled wave\'s untouched accounts end cancelled, those under way go on', async (t) => {
  const { prefix, connection, queues } = setup(t);
  const ledger = createLedger({ redis: connection, prefix });
  const waveId = 'w1';
  await ledger.createWave({ waveId, createdAt: new Date().toISOString(), source: 'x.csv', brand: 'B', helpUrl: 'https://h.example.com', rules: {} }, { accepted: 4 }, {});
  await ledger.setWaveStatus(waveId, 'feeding', 'feeder');
  await ledger.initAccounts(waveId, 'feeder', ['a1', 'a2', 'a3', 'a4'].map((accountId) => ({ accountId, actions: ['rotate-pin', 'notify'] })));
  const ran: string[] = [];
  const processor = async (job: ActionJobView): Promise<string> => {
    ran.push(parseActionJob(job.data).accountId);
    return 'ok';
  };
  const worker = createActionWorker({ action: 'rotate-pin', connection, prefix, processor, log: captureLog().log, ledger, actor: 'pin-rotator', pauseRecheckMs: 300, gateTtlMs: 0 });
  t.after(() => worker.close());
  await worker.start();
  const q = queues.queueFor('rotate-pin');

  await ledger.control('pause', waveId, 'operator:bo');
  await queues.addAccounts('rotate-pin', waveId, ['a1', 'a2']);
  const id = actionBatchJobId('rotate-pin', { waveId, accountIds: ['a1', 'a2'] });
  await waitFor(async () => (await q.getJobState(id)) === 'delayed', { what: 'the paused wave\'s job waits in the delayed set' });
  assert.deepEqual(ran, [], 'nothing of a paused wave runs');
  assert.equal((await q.getJob(id))?.attemptsMade, 0, 'waiting spends no attempt');
  await ledger.control('resume', waveId, 'operator:bo');
  await waitFor(async () => (await q.getJobState(id)) === 'completed', { timeout: 10_000, what: 'the job runs once the wave is resumed' });
  assert.deepEqual(ran.sort(), ['a1', 'a2']);

  // a3 is under way (its PIN rotation claimed); a4 has had nothing done to it.
  await ledger.transition({ waveId, accountId: 'a3', action: 'rotate-pin', actor: 't', from: ['pending'], to: 'claimed', event: 'rotate-pin.claimed' });
  await ledger.control('cancel', waveId, 'operator:bo');
  await queues.addAccounts('rotate-pin', waveId, ['a3', 'a4']);
  const second = actionBatchJobId('rotate-pin', { waveId, accountIds: ['a3', 'a4'] });
  await waitFor(async () => (await q.getJobState(second)) === 'completed', { what: 'the cancelled wave\'s job ran through the gate' });
  const a4 = await ledger.get(waveId, 'a4');
  assert.deepEqual([a4?.['rotate-pin']?.s, a4?.notify?.s], ['cancelled', 'cancelled'], 'an untouched account ends cancelled, every action');
  const a3 = await ledger.get(waveId, 'a3');
  assert.deepEqual([a3?.['rotate-pin']?.s, a3?.notify?.s], ['claimed', 'pending'], 'an account under way is left to finish: its notice still goes');
  assert.equal((await ledger.counts(waveId))['rotate-pin:cancelled'], 1);
});
