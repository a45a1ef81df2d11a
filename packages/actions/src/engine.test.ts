import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { BreachwaveError } from '@breachwave/domain';
import { createLedger } from '@breachwave/ledger';
import { captureLog, useRedis } from '@breachwave/testkit';
import { claimStep, deferStep, openStep, settleFailure, type FailurePolicy } from './engine.js';
import { PermanentActionError, type ActionJobView } from './worker.js';

const db = useRedis();

/** Thrown by the test job's `defer`, as BullMQ's DelayedError is. */
class Deferred extends Error {
  constructor(readonly delayMs: number) {
    super('deferred');
  }
}

async function setup(t: { after(fn: () => Promise<void>): void }) {
  const prefix = `en${randomBytes(3).toString('hex')}`;
  const redis = new Redis(db.url, { maxRetriesPerRequest: null });
  t.after(async () => {
    await redis.quit();
  });
  const ledger = createLedger({ redis, prefix });
  const waveId = 'w1';
  await ledger.createWave({ waveId, createdAt: new Date().toISOString(), source: 'x.csv', brand: 'B', helpUrl: 'https://h.example.com', rules: {} },
    { rows: 1, accepted: 1, rejected: 0 }, {});
  await ledger.initAccounts(waveId, 'test', [{ accountId: 'A1', actions: ['notify'] }]);
  const job = (attemptsMade: number, attempts = 5): ActionJobView => ({ id: 'j1', data: { waveId, accountId: 'A1' }, attemptsMade, attempts,
    defer: (delayMs) => Promise.reject(new Deferred(delayMs)) });
  const audit = async (): Promise<{ type: string; detail?: Record<string, unknown> }[]> =>
    (await redis.xrange(`${prefix}:audit`, '-', '+')).map(([, f]) => JSON.parse(f[1] ?? '{}') as { type: string; detail?: Record<string, unknown> });
  return { ledger, job, audit, waveId };
}

const policy = (over: Partial<FailurePolicy> = {}): FailurePolicy => ({
  prior: undefined,
  throttleDelayMs: (throttles) => throttles * 1000,
  fail: async () => true,
  ...over,
});

test('a malformed job payload and a missing ledger entry fail for good', async (t) => {
  const { ledger, job } = await setup(t);
  const { log } = captureLog();
  assert.throws(() => openStep({ ...job(0), data: { waveId: 'w1' } }, 'notify', { log, actor: 'test' }), PermanentActionError);
  const opened = openStep({ ...job(0), data: { waveId: 'w1', accountId: 'NOPE' } }, 'notify', { log, actor: 'test' });
  await assert.rejects(claimStep(ledger, opened, job(0)), (err: unknown) => err instanceof PermanentActionError && err.error.code === 'BW_ACCOUNT_NOT_FOUND');
});

test('a throttle waits without spending an attempt and is counted; past maxThrottles it spends them', async (t) => {
  const { ledger, job, audit, waveId } = await setup(t);
  const { log } = captureLog();
  const opened = openStep(job(3), 'notify', { log, actor: 'test' });
  const claim = await claimStep(ledger, opened, job(3));
  const throttled = new BreachwaveError('BW_SMS_THROTTLED');
  // On the last attempt but one, a throttle still only waits: no attempt is spent, none fails.
  await assert.rejects(settleFailure(ledger, opened, job(3), throttled, policy({ prior: claim.entry })), (err: unknown) => err instanceof Deferred && err.delayMs === 1000);
  const entry = (await ledger.get(waveId, 'A1'))?.notify;
  assert.equal(entry?.s, 'pending');
  assert.equal(entry?.thr, 1);
  assert.ok((await audit()).some((r) => r.type === 'notify.throttled'));
  // Throttles spent: the next one on the last attempt is a failure for good, through the step's dead letter.
  const again = await claimStep(ledger, opened, job(4));
  let failedWith: string | undefined;
  await assert.rejects(settleFailure(ledger, opened, job(4), throttled, policy({ prior: again.entry, maxThrottles: 1, fail: async (e) => {
    failedWith = e.code;
    return true;
  } })), PermanentActionError);
  assert.equal(failedWith, 'BW_SMS_THROTTLED');
});

test('an ambiguous failure is counted for a step that reconciles, and retried like a transient one otherwise', async (t) => {
  const { ledger, job, audit, waveId } = await setup(t);
  const { log } = captureLog();
  const opened = openStep(job(0), 'notify', { log, actor: 'test' });
  const ambiguous = new BreachwaveError('BW_SMS_AMBIGUOUS');
  assert.equal(ambiguous.kind, 'ambiguous');
  let claim = await claimStep(ledger, opened, job(0));
  await assert.rejects(settleFailure(ledger, opened, job(0), ambiguous, policy({ prior: claim.entry, reconciles: true, where: { channel: 'sms' } })), (err: unknown) => err === ambiguous);
  assert.equal((await ledger.get(waveId, 'A1'))?.notify?.amb, 1);
  claim = await claimStep(ledger, opened, job(1));
  await assert.rejects(settleFailure(ledger, opened, job(1), ambiguous, policy({ prior: claim.entry })), (err: unknown) => err === ambiguous);
  assert.equal((await ledger.get(waveId, 'A1'))?.notify?.amb, 1, 'not reconciled: not counted again');
  const types = (await audit()).map((r) => r.type);
  assert.deepEqual(types.filter((x) => x === 'notify.ambiguous' || x === 'notify.retry'), ['notify.ambiguous', 'notify.retry']);
});

test('a record guarded by a token a later attempt replaced does not apply: the attempt answers superseded', async (t) => {
  const { ledger, job, audit, waveId } = await setup(t);
  const { log } = captureLog();
  const opened = openStep(job(0), 'notify', { log, actor: 'test' });
  const first = await claimStep(ledger, opened, job(0), { patch: { ct: 'first' } });
  // A later attempt takes the claim over while the first still runs.
  await claimStep(ledger, opened, job(1), { patch: { ct: 'second' } });
  let released = 0;
  const answer = await settleFailure(ledger, opened, job(0), new BreachwaveError('BW_SMS_NETWORK'), policy({ guard: 'first', prior: first.entry, beforeRetry: async () => {
    released++;
  } }));
  assert.equal(answer, 'superseded');
  assert.equal(released, 1);
  const entry = (await ledger.get(waveId, 'A1'))?.notify;
  assert.deepEqual([entry?.s, entry?.ct, entry?.err], ['claimed', 'second', undefined], 'the later claim stands, nothing recorded over it');
  assert.ok(!(await audit()).some((r) => r.type === 'notify.retry'));
  // A dead letter the later claim made impossible is not thrown as one either.
  assert.equal(await settleFailure(ledger, opened, job(4), new BreachwaveError('BW_SMS_INVALID_NUMBER'), policy({ guard: 'first', fail: async () => false })), 'superseded');
});

test('a deferral goes back to pending without spending an attempt; under a replaced token it records nothing', async (t) => {
  const { ledger, job, audit, waveId } = await setup(t);
  const { log } = captureLog();
  const opened = openStep(job(2), 'notify', { log, actor: 'test' });
  await claimStep(ledger, opened, job(2), { patch: { ct: 'first' } });
  await assert.rejects(deferStep(ledger, opened, job(2), { delayMs: 5000, reason: 'quiet hours', guard: 'first' }), (err: unknown) => err instanceof Deferred && err.delayMs === 5000);
  const entry = (await ledger.get(waveId, 'A1'))?.notify;
  assert.deepEqual([entry?.s, entry?.err, entry?.thr], ['pending', undefined, undefined]);
  await claimStep(ledger, opened, job(2), { patch: { ct: 'second' } });
  assert.equal(await deferStep(ledger, opened, job(2), { delayMs: 5000, reason: 'pace', guard: 'first' }), 'superseded');
  assert.equal((await ledger.get(waveId, 'A1'))?.notify?.s, 'claimed');
  assert.deepEqual((await audit()).filter((r) => r.type === 'notify.deferred').map((r) => r.detail?.reason), ['quiet hours']);
});
