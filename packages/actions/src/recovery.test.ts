import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { Worker } from 'bullmq';
import { QUEUE_FOR_ACTION, actionJobFor } from '@breachwave/jobs';
import { createLedger, type Ledger } from '@breachwave/ledger';
import { captureLog, useRedis, waitFor } from '@breachwave/testkit';
import { runStep } from './chain.js';
import { createRecovery, createRecoveryLoop, situationOf } from './recovery.js';
import { createActionQueues, createActionWorker } from './worker.js';

const db = useRedis();

async function setup(t: { after(fn: () => Promise<void>): void }, plans: Record<string, readonly ('rotate-pin' | 'issue-code' | 'notify')[]>) {
  const prefix = `rc${randomBytes(3).toString('hex')}`;
  const redis = new Redis(db.url, { maxRetriesPerRequest: null });
  const ledger = createLedger({ redis, prefix });
  const queues = createActionQueues({ connection: redis, prefix });
  t.after(async () => {
    await queues.close();
    await redis.quit();
  });
  const waveId = 'w1';
  const ids = Object.keys(plans);
  await ledger.createWave({ waveId, createdAt: new Date().toISOString(), source: 'x.csv', brand: 'B', helpUrl: 'https://h.example.com', rules: {} },
    { rows: ids.length, accepted: ids.length, rejected: 0 }, {});
  await ledger.initAccounts(waveId, 'test', ids.map((accountId) => ({ accountId, actions: plans[accountId] ?? ['notify'] })));
  await ledger.setWaveStatus(waveId, 'fed', 'test');
  return { prefix, redis, ledger, queues, waveId };
}

const auditTypes = async (redis: Redis, prefix: string): Promise<string[]> =>
  (await redis.xrange(`${prefix}:audit`, '-', '+')).map(([, f]) => (JSON.parse(f[1] ?? '{}') as { type: string }).type);

/** A clock `ms` ahead of now, so every entry written by the test counts as stale. */
const later = (ms: number) => () => Date.now() + ms;

async function claim(ledger: Ledger, waveId: string, accountId: string, action: 'rotate-pin' | 'notify', token?: string): Promise<void> {
  const r = await ledger.transition({ waveId, accountId, action, actor: 'test', from: ['pending'], to: 'claimed', event: `${action}.claimed`, ...(token ? { patch: { ct: token } } : {}) });
  assert.equal(r.outcome, 'ok');
}

test('situationOf: terminal, open with its action and since when, dangling after a failure', () => {
  assert.deepEqual(situationOf({ notify: { s: 'done', n: 1 } }), { kind: 'terminal' });
  assert.deepEqual(situationOf({ 'rotate-pin': { s: 'failed', n: 1, err: 'X' }, notify: { s: 'skipped', n: 0 } }), { kind: 'terminal' });
  assert.deepEqual(situationOf({ 'rotate-pin': { s: 'failed', n: 1, err: 'X' }, notify: { s: 'pending', n: 0 } }), { kind: 'dangling', failed: 'rotate-pin', cause: 'X' });
  const at = '2026-01-01T00:00:00.000Z';
  const later = '2026-01-01T00:01:00.000Z';
  assert.deepEqual(situationOf({ 'rotate-pin': { s: 'done', n: 1, at: later }, notify: { s: 'pending', n: 0, at } }),
    { kind: 'open', action: 'notify', state: 'pending', since: Date.parse(later), recoveries: 0 });
  assert.deepEqual(situationOf({ notify: { s: 'claimed', n: 2, at, rcv: 1 } }), { kind: 'open', action: 'notify', state: 'claimed', since: Date.parse(at), recoveries: 1 });
});

test('accounts no live job will finish are re-driven once, from the ledger; a notice claimed past its fence comes back as ambiguous; accounts in live jobs and fresh ones are left alone', async (t) => {
  const { prefix, redis, ledger, queues, waveId } = await setup(t, {
    lost1: ['notify'], lost2: ['notify'], claimedNotice: ['notify'], claimedPin: ['rotate-pin', 'notify'], queued: ['notify'], done: ['notify'],
  });
  // One account is in a waiting job; one finished; the others' jobs are gone (as after a
  // "job stalled more than allowable limit" failure), two of them mid-action.
  await queues.addAccounts('notify', waveId, ['queued']);
  await claim(ledger, waveId, 'done', 'notify');
  await ledger.transition({ waveId, accountId: 'done', action: 'notify', actor: 'test', from: ['claimed'], to: 'done', event: 'notify.done' });
  await claim(ledger, waveId, 'claimedNotice', 'notify', 'tok');
  // Its attempt passed the fence before the send: the send may have happened.
  assert.equal(await ledger.fence(waveId, 'claimedNotice', 'notify', 'tok', { sa: Date.now() }), 'ok');
  // Claimed, but its attempt died before its fence: it sent nothing.
  await claim(ledger, waveId, 'lost2', 'notify', 'tok2');
  await claim(ledger, waveId, 'claimedPin', 'rotate-pin');

  const cap = captureLog();
  // Fresh: nothing is old enough to be an orphan yet.
  const fresh = await createRecovery({ ledger, queues, log: cap.log, staleMs: 60_000 }).scanWave(waveId);
  assert.equal(fresh.orphans, 0);
  assert.equal(fresh.open, 5);
  assert.equal(fresh.terminal, 1);

  const recovery = createRecovery({ ledger, queues, log: cap.log, staleMs: 60_000, now: later(120_000) });
  const dry = await recovery.scanWave(waveId, { dryRun: true });
  assert.equal(dry.orphans, 4, 'every open account without a live job, not the queued one');
  assert.deepEqual(dry.redriven, { notify: 3, 'rotate-pin': 1 });
  assert.equal((await ledger.get(waveId, 'lost1'))?.notify?.rcv, undefined, 'a dry run changes nothing');
  assert.equal(await queues.queueFor('notify').count(), 1);

  const report = await recovery.scanWave(waveId);
  assert.equal(report.orphans, 4);
  assert.deepEqual(report.redriven, { notify: 3, 'rotate-pin': 1 });
  assert.ok(report.oldestOpenMs >= 120_000);
  assert.equal(report.pinUnnotified, 0, 'the PIN was not rotated yet');
  const notice = await ledger.get(waveId, 'claimedNotice');
  assert.equal(notice?.notify?.s, 'pending');
  assert.equal(notice?.notify?.amb, 1, 'the next attempt reconciles before it sends');
  assert.deepEqual([(await ledger.get(waveId, 'lost2'))?.notify?.s, (await ledger.get(waveId, 'lost2'))?.notify?.amb], ['pending', undefined], 'a claim that never passed its fence is not ambiguous');
  assert.equal((await ledger.get(waveId, 'claimedPin'))?.['rotate-pin']?.s, 'pending');
  assert.equal((await ledger.get(waveId, 'claimedPin'))?.['rotate-pin']?.amb, undefined);
  assert.equal((await ledger.counts(waveId))['notify:ambiguous'], 1);
  const jobIds = (await queues.queueFor('notify').getJobs(['wait'])).map((j) => j.id).sort();
  assert.deepEqual(jobIds, ['notify.w1.claimedNotice.r1', 'notify.w1.lost1.r1', 'notify.w1.lost2.r1', 'notify.w1.queued']);
  assert.deepEqual((await queues.queueFor('rotate-pin').getJobs(['wait'])).map((j) => j.id), ['rotate-pin.w1.claimedPin.r1']);
  const types = await auditTypes(redis, prefix);
  assert.equal(types.filter((ty) => ty === 'notify.recovered').length, 3);
  assert.equal(types.filter((ty) => ty === 'rotate-pin.recovered').length, 1);
  assert.equal(types.filter((ty) => ty === 'wave.recovered').length, 1);
  assert.ok(cap.lines().some((l) => l.msg === 'recovered accounts no live job would have finished'));

  // Their new jobs are live: a second sweep re-drives nothing.
  const again = await createRecovery({ ledger, queues, log: cap.log, staleMs: 60_000, now: later(240_000) }).scanWave(waveId);
  assert.equal(again.orphans, 0);
});

test('an account re-driven too often is dead-lettered with BW_WORKER_LOST and its later actions skipped; a failure whose dependents were left pending gets them skipped', async (t) => {
  const { prefix, redis, ledger, queues, waveId } = await setup(t, { poison: ['rotate-pin', 'notify'], dangling: ['rotate-pin', 'notify'] });
  await claim(ledger, waveId, 'dangling', 'rotate-pin');
  await ledger.transition({ waveId, accountId: 'dangling', action: 'rotate-pin', actor: 'test', from: ['claimed'], to: 'failed', patch: { err: 'BW_PIN_STORE_REJECTED' }, event: 'rotate-pin.failed' });
  const log = captureLog().log;
  for (let round = 1; round <= 3; round++) {
    await claim(ledger, waveId, 'poison', 'rotate-pin');
    // Its re-drive job died with the worker again.
    await queues.queueFor('rotate-pin').obliterate({ force: true });
    const r = await createRecovery({ ledger, queues, log, staleMs: 1000, maxRecoveries: 3, now: later(10_000 * round) }).scanWave(waveId);
    assert.deepEqual(r.redriven, { 'rotate-pin': 1 }, `round ${round}`);
    if (round === 1) assert.equal(r.danglingSkipped, 1);
  }
  assert.equal((await ledger.get(waveId, 'dangling'))?.notify?.s, 'skipped', 'no notice promises a PIN reset that failed');
  await claim(ledger, waveId, 'poison', 'rotate-pin');
  await queues.queueFor('rotate-pin').obliterate({ force: true });
  const last = await createRecovery({ ledger, queues, log, staleMs: 1000, maxRecoveries: 3, now: later(50_000) }).scanWave(waveId);
  assert.equal(last.deadLettered, 1);
  const entry = await ledger.get(waveId, 'poison');
  assert.equal(entry?.['rotate-pin']?.s, 'failed');
  assert.equal(entry?.['rotate-pin']?.err, 'BW_WORKER_LOST');
  assert.equal(entry?.notify?.s, 'skipped');
  assert.equal(last.open, 0);
  assert.equal(last.complete, true);
  assert.ok((await auditTypes(redis, prefix)).includes('rotate-pin.failed'));
});

test('a rotated PIN whose notice is not out is reported, overdue past the limit', async (t) => {
  const { ledger, queues, waveId } = await setup(t, { p1: ['rotate-pin', 'notify'] });
  await claim(ledger, waveId, 'p1', 'rotate-pin');
  await ledger.transition({ waveId, accountId: 'p1', action: 'rotate-pin', actor: 'test', from: ['claimed'], to: 'done', event: 'rotate-pin.done' });
  await queues.addAccounts('notify', waveId, ['p1']);
  const log = captureLog().log;
  const soon = await createRecovery({ ledger, queues, log, pinNoticeLimitMs: 60_000 }).scanWave(waveId, { dryRun: true });
  assert.equal(soon.pinUnnotified, 1);
  assert.equal(soon.pinUnnotifiedOverdue, 0);
  const overdue = await createRecovery({ ledger, queues, log, pinNoticeLimitMs: 60_000, now: later(61_000) }).scanWave(waveId, { dryRun: true });
  assert.equal(overdue.pinUnnotifiedOverdue, 1);
  assert.equal(overdue.orphans, 0, 'its notice job is live');
});

test('the recovery loop: one leader sweeps, re-drives a job BullMQ failed for good, and marks the wave completed once every account is terminal', async (t) => {
  const { redis, ledger, queues, waveId, prefix } = await setup(t, { a1: ['notify'], a2: ['notify'] });
  // A multi-account job that BullMQ failed as a stalled job would be.
  const { data, jobId } = actionJobFor('notify', waveId, ['a1', 'a2']);
  await queues.queueFor('notify').add('notify', data, { jobId });
  const taker = new Worker(QUEUE_FOR_ACTION.notify, null, { connection: redis, prefix, autorun: false });
  const job = await taker.getNextJob('tok');
  assert.ok(job);
  await job.moveToFailed(new Error('job stalled more than allowable limit'), 'tok');
  await taker.close();

  const log = captureLog().log;
  const loops = [1, 2].map(() => createRecoveryLoop({ ledger, queues, redis, prefix, log, intervalMs: 200, staleMs: 0 }));
  t.after(() => Promise.all(loops.map((l) => l.close())).then(() => undefined));
  for (const l of loops) l.start();
  // Stand-in for the notifier: finish whatever recovery re-drives.
  const finisher = new Worker(QUEUE_FOR_ACTION.notify, async (j) => {
    const { accountId } = j.data as { accountId: string };
    await ledger.transition({ waveId, accountId, action: 'notify', actor: 'test', from: ['pending'], to: 'done', event: 'notify.done' });
  }, { connection: redis, prefix });
  t.after(() => finisher.close());
  await waitFor(async () => (await ledger.getWave(waveId)).status === 'completed', { timeout: 20_000, what: 'the wave completes by itself' });
  assert.equal((await ledger.get(waveId, 'a1'))?.notify?.rcv, 1, 're-driven once, by one leader');
  assert.equal((await ledger.get(waveId, 'a2'))?.notify?.rcv, 1);
});

test('a wave at risk of missing its notice deadline is audited and logged for alerting, at most once an hour; one on time is not', async (t) => {
  const { redis, prefix } = await setup(t, {});
  const ledger = createLedger({ redis, prefix });
  const make = async (waveId: string, deadlineInMs: number) => {
    await ledger.createWave({ waveId, createdAt: new Date().toISOString(), source: `${waveId}.csv`, brand: 'B', helpUrl: 'https://h.example.com', rules: {},
      regulatory: { determinedAt: new Date(Date.now() - 29 * 86_400_000).toISOString(), deadline: new Date(Date.now() + deadlineInMs).toISOString(), rule: 'FCC: 30 days' } },
    { rows: 2, accepted: 2, rejected: 0 }, {});
    await ledger.initAccounts(waveId, 'test', [{ accountId: 'a1', actions: ['notify'] }, { accountId: 'a2', actions: ['notify'] }]);
    await ledger.setWaveStatus(waveId, 'fed', 'test');
  };
  await make('late', 3_600_000); // an hour left, nothing finished
  await make('ontime', 20 * 86_400_000);
  const cap = captureLog();
  let clock = Date.now();
  const recovery = createRecovery({ ledger, queues: createActionQueues({ connection: redis, prefix }), log: cap.log, staleMs: 3_600_000, now: () => clock });
  await recovery.sweep();
  await recovery.sweep();
  const records = async () => (await redis.xrange(`${prefix}:audit`, '-', '+'))
    .map(([, f]) => JSON.parse(f[1] ?? '{}') as { type: string; wave?: string; detail?: { deadline?: string; notifiedPct?: number } })
    .filter((r) => r.type === 'wave.deadline.at-risk');
  assert.deepEqual((await records()).map((r) => r.wave), ['late'], 'once for the late wave, never for the one on time');
  assert.equal((await records())[0]?.detail?.notifiedPct, 0);
  assert.equal(cap.lines().filter((l) => l.msg === 'the wave is at risk of missing its notice deadline').length, 1);
  clock += 3_600_001;
  await recovery.sweep();
  assert.equal((await records()).length, 2, 'again after an hour');
});

test('a sweep compacts finished accounts, still counts them, re-drives the unfinished ones with their ordinals, and completes the wave', async (t) => {
  const { prefix, redis, ledger, queues, waveId } = await setup(t, {});
  const plans = { done1: ['notify'], done2: ['rotate-pin', 'notify'], lost: ['notify'], pinLost: ['rotate-pin', 'notify'] } as const;
  const ids = Object.keys(plans) as (keyof typeof plans)[];
  await ledger.initAccounts(waveId, 'test', ids.map((accountId, ordinal) => ({ accountId, actions: plans[accountId], ordinal })));
  await redis.hset(ledger.keys.wave(waveId), 'accepted', ids.length);
  const step = (accountId: string, action: 'rotate-pin' | 'notify', from: 'pending' | 'claimed', to: 'claimed' | 'done') =>
    ledger.transition({ waveId, accountId, action, actor: 'test', from: [from], to, event: `${action}.${to}` });
  for (const [id, action] of [['done1', 'notify'], ['done2', 'rotate-pin'], ['done2', 'notify'], ['pinLost', 'rotate-pin']] as const) {
    await step(id, action, 'pending', 'claimed');
    await step(id, action, 'claimed', 'done');
  }
  const recovery = createRecovery({ ledger, queues, log: captureLog().log, staleMs: 0, compactAfterMs: 0, now: later(60_000) });
  const [first] = await recovery.sweep();
  assert.equal(first?.accounts, 4);
  assert.equal(first?.open, 2);
  assert.deepEqual(first?.redriven, { notify: 2 });
  // The finished two left the hash; the open two stayed.
  assert.deepEqual((await redis.hkeys(ledger.keys.ledger(waveId))).sort(), ['lost', 'pinLost']);
  // The re-drives name each account's ordinal, so a replay of them after compaction is still found finished.
  const jobs = await queues.queueFor('notify').getJobs(['wait']);
  assert.deepEqual(jobs.map((j) => j.data as { accountId: string; o?: number }).map((d) => [d.accountId, d.o]).sort(), [['lost', 2], ['pinLost', 3]]);

  const [second] = await recovery.sweep();
  assert.deepEqual([second?.accounts, second?.terminal, second?.compacted, second?.complete], [4, 2, 2, false]);
  for (const id of ['lost', 'pinLost']) {
    await step(id, 'notify', 'pending', 'claimed');
    await step(id, 'notify', 'claimed', 'done');
  }
  const [third] = await recovery.sweep();
  assert.deepEqual([third?.accounts, third?.terminal, third?.complete], [4, 4, true]);
  assert.equal((await ledger.getWave(waveId)).status, 'completed');
  // The last ones are compacted too: the wave holds nothing per account in the hash.
  assert.equal(await redis.exists(ledger.keys.ledger(waveId)), 0);
  assert.equal(await ledger.compactedCount(waveId), 4);
  for (const [i, id] of ids.entries()) assert.equal((await ledger.get(waveId, id, i))?.notify?.s, 'done');
  assert.ok((await auditTypes(redis, prefix)).includes('wave.completed'));
});

test('replayed jobs for compacted accounts, one-account and batch, are recognised as finished by the worker and never run their step again', async (t) => {
  const { prefix, redis, ledger, queues, waveId } = await setup(t, {});
  const ids = ['r1', 'r2', 'r3'];
  await ledger.initAccounts(waveId, 'test', ids.map((accountId, ordinal) => ({ accountId, actions: ['rotate-pin', 'notify'] as const, ordinal })));
  for (const id of ids) {
    for (const action of ['rotate-pin', 'notify'] as const) {
      await ledger.transition({ waveId, accountId: id, action, actor: 'test', from: ['pending'], to: 'claimed', event: `${action}.claimed` });
      await ledger.transition({ waveId, accountId: id, action, actor: 'test', from: ['claimed'], to: 'done', event: `${action}.done` });
    }
  }
  assert.equal(await ledger.compact(waveId), 3);
  const ran: string[] = [];
  const outcomes: unknown[] = [];
  const log = captureLog().log;
  const worker = createActionWorker({ action: 'rotate-pin', connection: { url: db.url, maxRetriesPerRequest: null }, prefix, log, processor: async (job) => {
    const out = await runStep({ ledger, queues, log, actor: 'pin-rotator' }, 'rotate-pin', job, async (ctx) => {
      ran.push(ctx.accountId);
      return {};
    });
    outcomes.push(out);
    return out;
  } });
  t.after(() => worker.close());
  // The feeder's batch replayed, and a one-account re-drive of one of them: both as they were queued, with ordinals.
  await queues.addAccounts('rotate-pin', waveId, ['r1', 'r2'], [0, 1]);
  await queues.add('rotate-pin', { waveId, accountId: 'r3', o: 2 });
  await worker.start();
  await waitFor(async () => outcomes.length === 3, { what: 'the three accounts processed' });
  assert.deepEqual(ran, [], 'no step ran again');
  assert.deepEqual(outcomes, ids.map(() => ({ status: 'already-finished', state: 'done' })));
  // Nothing came back into the hash, and no next action was queued (the notice is finished too).
  assert.equal(await redis.exists(ledger.keys.ledger(waveId)), 0);
  assert.equal(await queues.queueFor('notify').count(), 0);
});
