import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_ACCOUNTS_PER_JOB, accountsPerJobFor, actionBatchJobId, actionJobFor, actionJobId, backoffDelay, parseActionJob, parseActionJobs, attemptsOf, createNextActions, spentAttempts, spentLeaving, splitOffJob } from './index.js';

test('action jobs carry ids only and reject anything else', () => {
  assert.deepEqual(parseActionJob({ waveId: 'w1', accountId: 'A-1' }), { waveId: 'w1', accountId: 'A-1' });
  assert.throws(() => parseActionJob({ waveId: 'w1', accountId: 'A-1', phone: '+12025550143' }), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'BW_JOB_PAYLOAD_INVALID');
    assert.ok(!e.message.includes('2025550143'));
    return true;
  });
  assert.throws(() => parseActionJob({ waveId: 'w:1', accountId: 'x' }), { code: 'BW_JOB_PAYLOAD_INVALID' });
  // An account split off a multi-account job carries the attempts it spent there.
  assert.deepEqual(parseActionJob({ waveId: 'w1', accountId: 'A-1', spent: 2 }), { waveId: 'w1', accountId: 'A-1', spent: 2 });
  assert.throws(() => parseActionJob({ waveId: 'w1', accountId: 'A-1', spent: 0 }), { code: 'BW_JOB_PAYLOAD_INVALID' });
  assert.throws(() => parseActionJob('nonsense'), { code: 'BW_JOB_PAYLOAD_INVALID' });
});

test('job ids are deterministic and colon-free', () => {
  const id = actionJobId('notify', { waveId: 'w1', accountId: 'A-1' });
  assert.equal(id, 'notify.w1.A-1');
  assert.ok(!id.includes(':'));
});

test('a multi-account job names up to MAX_ACCOUNTS_PER_JOB accounts of one wave, ids only, and has an id of its own', () => {
  assert.deepEqual(parseActionJobs({ waveId: 'w1', accountId: 'A-1' }), [{ waveId: 'w1', accountId: 'A-1' }]);
  assert.deepEqual(parseActionJobs({ waveId: 'w1', accountIds: ['A-1', 'A-2'] }), [{ waveId: 'w1', accountId: 'A-1' }, { waveId: 'w1', accountId: 'A-2' }]);
  const ids = Array.from({ length: MAX_ACCOUNTS_PER_JOB + 1 }, (_, i) => `A-${i}`);
  for (const bad of [{ waveId: 'w1', accountIds: [] }, { waveId: 'w1', accountIds: ids }, { waveId: 'w1', accountIds: ['A-1', 'x:y'] },
    { waveId: 'w1', accountIds: ['A-1'], phone: '+12025550143' }, { waveId: 'w1', accountIds: 'A-1' }]) {
    assert.throws(() => parseActionJobs(bad), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'BW_JOB_PAYLOAD_INVALID');
      assert.ok(!e.message.includes('2025550143') && !e.message.includes('x:y'));
      return true;
    });
  }
  const id = actionBatchJobId('notify', { waveId: 'w1', accountIds: ['A-1', 'A-2'] });
  assert.equal(id, 'notify.w1.A-1.n2');
  assert.notEqual(id, actionJobId('notify', { waveId: 'w1', accountId: 'A-1' }));
  assert.ok(!id.includes(':'));

  // The job for some accounts: one account keeps the one-account shape and id.
  assert.deepEqual(actionJobFor('notify', 'w1', ['A-1']), { data: { waveId: 'w1', accountId: 'A-1' }, jobId: 'notify.w1.A-1' });
  assert.deepEqual(actionJobFor('notify', 'w1', ['A-1', 'A-2']), { data: { waveId: 'w1', accountIds: ['A-1', 'A-2'] }, jobId: id });
  assert.throws(() => actionJobFor('notify', 'w1', []), RangeError);
  assert.equal(spentAttempts({ waveId: 'w1', accountId: 'A-1', spent: 2 }), 2);
  for (const data of [{ waveId: 'w1', accountId: 'A-1' }, { spent: '2' }, { spent: -1 }, null, 'x']) assert.equal(spentAttempts(data), 0);
});

test('a wave smaller than minJobs full jobs gets fewer accounts per job, down to one', () => {
  assert.equal(accountsPerJobFor(1_000_000, 20, 1000), 20, 'a large wave keeps the configured size');
  assert.equal(accountsPerJobFor(20_000, 20, 1000), 20);
  assert.equal(accountsPerJobFor(19_999, 20, 1000), 19);
  assert.equal(accountsPerJobFor(5_000, 20, 1000), 5, 'a small one is cut into at least minJobs jobs');
  assert.equal(accountsPerJobFor(999, 20, 1000), 1);
  assert.equal(accountsPerJobFor(0, 20, 1000), 1);
  assert.equal(accountsPerJobFor(5_000, 20, 1), 20, 'minJobs 1: always the configured size');
  assert.equal(accountsPerJobFor(5_000, 1, 10), 1, 'never above the configured size');
});

test('backoff grows exponentially, stays within its jitter band and cap', () => {
  assert.equal(backoffDelay(1, 1000, 60_000, () => 0), 500);
  assert.equal(backoffDelay(1, 1000, 60_000, () => 1), 1000);
  assert.equal(backoffDelay(4, 1000, 60_000, () => 1), 8000);
  assert.equal(backoffDelay(30, 1000, 60_000, () => 1), 60_000);
  for (let i = 0; i < 100; i++) {
    const d = backoffDelay(3);
    assert.ok(d >= 2000 && d <= 4000, String(d));
  }
});

test('batch bookkeeping: a wait leaves spending nothing, a retry spends its attempt, the split-off job counts them back', () => {
  const ref = { waveId: 'w1', accountId: 'A-1' };
  // A batch of 5 attempts, 2 made: a deferred account leaves with the 2, a retried one with 3.
  assert.equal(spentLeaving('wait', 2), 2);
  assert.equal(spentLeaving('retry', 2), 3);
  const waited = splitOffJob(ref, { delay: 1234.6, attempts: 5, spent: spentLeaving('wait', 2) });
  assert.deepEqual(waited, { data: { waveId: 'w1', accountId: 'A-1', spent: 2 }, opts: { delay: 1235, attempts: 3 } });
  // Its processor sees the attempts of a job of its own: 2 made of 5.
  assert.deepEqual(attemptsOf({ data: waited.data, attemptsMade: 0, attempts: waited.opts.attempts }), { attemptsMade: 2, attempts: 5 });
  // Nothing spent: no `spent` field; never fewer than one attempt left; never a negative delay.
  assert.deepEqual(splitOffJob(ref, { delay: -5, attempts: 3, spent: 0 }), { data: { waveId: 'w1', accountId: 'A-1' }, opts: { delay: 0, attempts: 3 } });
  assert.equal(splitOffJob(ref, { delay: 0, attempts: 3, spent: 7 }).opts.attempts, 1);
  const next = createNextActions();
  next.queueNext('notify', { waveId: 'w1', accountId: 'A-1' });
  next.queueNext('issue-code', { waveId: 'w1', accountId: 'A-2' });
  next.queueNext('notify', { waveId: 'w1', accountId: 'A-3', o: 7 });
  assert.deepEqual(next.jobs(), [['notify', ['A-1', 'A-3'], [undefined, 7]], ['issue-code', ['A-2'], [undefined]]]);
});

test('jobs carry each account\'s ordinal next to its id, as an integer, and keep it through a split-off', () => {
  assert.deepEqual(parseActionJob({ waveId: 'w1', accountId: 'A-1', o: 3 }), { waveId: 'w1', accountId: 'A-1', o: 3 });
  assert.throws(() => parseActionJob({ waveId: 'w1', accountId: 'A-1', o: -1 }));
  assert.throws(() => parseActionJob({ waveId: 'w1', accountId: 'A-1', o: '3' }));
  const batch = actionJobFor('notify', 'w1', ['A-1', 'A-2'], [4, 9]);
  assert.deepEqual(batch.data, { waveId: 'w1', accountIds: ['A-1', 'A-2'], ordinals: [4, 9] });
  // The id does not depend on the ordinals: a replayed batch gets the same one.
  assert.equal(batch.jobId, actionJobFor('notify', 'w1', ['A-1', 'A-2']).jobId);
  assert.deepEqual(parseActionJobs(batch.data), [{ waveId: 'w1', accountId: 'A-1', o: 4 }, { waveId: 'w1', accountId: 'A-2', o: 9 }]);
  assert.throws(() => parseActionJobs({ waveId: 'w1', accountIds: ['A-1', 'A-2'], ordinals: [4] }));
  // An account without one leaves the batch's ordinals out (one per account or none).
  assert.deepEqual(actionJobFor('notify', 'w1', ['A-1', 'A-2'], [4, undefined]).data, { waveId: 'w1', accountIds: ['A-1', 'A-2'] });
  assert.deepEqual(actionJobFor('notify', 'w1', ['A-1'], [5]).data, { waveId: 'w1', accountId: 'A-1', o: 5 });
  assert.deepEqual(splitOffJob({ waveId: 'w1', accountId: 'A-1', o: 5 }, { delay: 0, attempts: 8, spent: 0 }).data, { waveId: 'w1', accountId: 'A-1', o: 5 });
});
