import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { BreachwaveError } from '@breachwave/domain';
import { createLedger } from '@breachwave/ledger';
import { captureLog, useRedis } from '@breachwave/testkit';
import { runStep } from './chain.js';
import { outcomeOf, reportingOutcomes, type SettledOutcome } from './outcomes.js';
import { createActionQueues, PermanentActionError, type ActionJobView } from './worker.js';

const db = useRedis();

/** Thrown by the test job's `defer`, as BullMQ's DelayedError is. */
class Deferred extends Error {}

test('every outcome the step engine records is reported once, with its catalog class and code, and the reports add up to the ledger\'s counts', async (t) => {
  const prefix = `oc${randomBytes(3).toString('hex')}`;
  const redis = new Redis(db.url, { maxRetriesPerRequest: null });
  const queues = createActionQueues({ connection: { url: db.url }, prefix });
  t.after(async () => {
    await queues.close();
    await redis.quit();
  });
  const seen: SettledOutcome[] = [];
  const ledger = reportingOutcomes(createLedger({ redis, prefix }), (o) => seen.push(o));
  const waveId = 'w1';
  await ledger.createWave({ waveId, createdAt: new Date().toISOString(), source: 'x.csv', brand: 'B', helpUrl: 'https://h.example.com', rules: {} },
    { rows: 3, accepted: 3, rejected: 0 }, {});
  await ledger.initAccounts(waveId, 'test', ['A1', 'A2', 'A3'].map((accountId) => ({ accountId, actions: ['rotate-pin', 'notify'] })));
  const job = (accountId: string, attemptsMade: number): ActionJobView => ({ id: `j-${accountId}`, data: { waveId, accountId }, attemptsMade, attempts: 5,
    defer: () => Promise.reject(new Deferred()) });
  const deps = { ledger, queues, log: captureLog().log, actor: 'test' };
  const failWith = (code: 'BW_PIN_STORE_UNAVAILABLE' | 'BW_PIN_STORE_REJECTED' | 'BW_PIN_STORE_THROTTLED') => async (): Promise<never> => {
    throw new BreachwaveError(code);
  };

  // A1: a transient failure, then done; a replay of the done job records nothing.
  await assert.rejects(runStep(deps, 'rotate-pin', job('A1', 0), failWith('BW_PIN_STORE_UNAVAILABLE')), BreachwaveError);
  assert.equal((await runStep(deps, 'rotate-pin', job('A1', 1), async () => ({}))).status, 'done');
  assert.equal((await runStep(deps, 'rotate-pin', job('A1', 1), async () => ({}))).status, 'already-finished');
  // A2: refused for good: the rotation fails and the notice that depended on it is skipped.
  await assert.rejects(runStep(deps, 'rotate-pin', job('A2', 0), failWith('BW_PIN_STORE_REJECTED')), PermanentActionError);
  // A3: throttled (waits without spending an attempt).
  await assert.rejects(runStep(deps, 'rotate-pin', job('A3', 0), failWith('BW_PIN_STORE_THROTTLED')), Deferred);

  assert.deepEqual(seen, [
    { action: 'rotate-pin', outcome: 'retry', class: 'transient', code: 'BW_PIN_STORE_UNAVAILABLE' },
    { action: 'rotate-pin', outcome: 'done', class: 'none', code: 'none' },
    { action: 'rotate-pin', outcome: 'failed', class: 'permanent', code: 'BW_PIN_STORE_REJECTED' },
    { action: 'notify', outcome: 'skipped', class: 'permanent', code: 'BW_PIN_STORE_REJECTED' },
    { action: 'rotate-pin', outcome: 'throttled', class: 'throttled', code: 'BW_PIN_STORE_THROTTLED' },
  ]);
  const counts = await ledger.counts(waveId);
  const reported = (action: string, outcome: string): number => seen.filter((o) => o.action === action && o.outcome === outcome).length;
  for (const [action, state] of [['rotate-pin', 'done'], ['rotate-pin', 'failed'], ['notify', 'skipped']] as const) {
    assert.equal(reported(action, state), Number(counts[`${action}:${state}`] ?? 0), `${action}:${state}`);
  }
  assert.equal(reported('rotate-pin', 'throttled'), Number(counts['rotate-pin:throttled'] ?? 0));
  assert.equal(Number(counts['rotate-pin:error:BW_PIN_STORE_REJECTED'] ?? 0), 1);

  // A write that does not apply (a guard another attempt's claim replaced) reports nothing.
  await ledger.transition({ waveId, accountId: 'A3', action: 'rotate-pin', actor: 'test', from: ['pending'], to: 'claimed', event: 'rotate-pin.claimed', patch: { ct: 'mine' } });
  const before = seen.length;
  const late = await ledger.transition({ waveId, accountId: 'A3', action: 'rotate-pin', actor: 'test', from: ['claimed'], to: 'done', event: 'rotate-pin.done', guard: 'not-mine' });
  assert.equal(late.outcome, 'superseded');
  assert.equal(seen.length, before);
});

test('outcomeOf: claims and releases are not outcomes; a cause outside the catalog is reported as none; an adapter\'s own kind wins', () => {
  assert.equal(outcomeOf({ action: 'notify', to: 'claimed', event: 'notify.claimed' }), undefined);
  assert.equal(outcomeOf({ action: 'notify', to: 'pending', event: 'notify.released', patch: { err: 'BW_SUPPRESSED' } }), undefined);
  assert.deepEqual(outcomeOf({ action: 'notify', to: 'pending', event: 'notify.deferred', detail: { reason: 'quiet hours' } }),
    { action: 'notify', outcome: 'deferred', class: 'none', code: 'none' });
  assert.deepEqual(outcomeOf({ action: 'notify', to: 'failed', event: 'notify.failed', patch: { err: '+14155550100' } }),
    { action: 'notify', outcome: 'failed', class: 'none', code: 'none' }, 'never a value that is not a catalog code');
  assert.deepEqual(outcomeOf({ action: 'notify', to: 'pending', event: 'notify.retry', patch: { err: 'BW_SMS_PROVIDER_UNAVAILABLE' }, detail: { kind: 'ambiguous' } }),
    { action: 'notify', outcome: 'retry', class: 'ambiguous', code: 'BW_SMS_PROVIDER_UNAVAILABLE' });
  assert.deepEqual(outcomeOf({ action: 'issue-code', to: 'cancelled', event: 'issue-code.cancelled', detail: { reason: 'wave-cancelled' } }),
    { action: 'issue-code', outcome: 'cancelled', class: 'none', code: 'none' });
});
