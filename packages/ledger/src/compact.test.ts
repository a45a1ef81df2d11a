import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { ERROR_CATALOG, type ActionName } from '@breachwave/domain';
import { useRedis } from '@breachwave/testkit';
import { ERROR_CODES, SLOT_BYTES, createLedger, isCompacted, ordinalOf, spoolOrdinals } from './index.js';

const db = useRedis();
const fresh = (shards = 1) => {
  const id = randomBytes(4).toString('hex');
  return createLedger({ redis: db.redis, prefix: shards > 1 ? `{t${id}}` : `t${id}`, shards });
};
type L = ReturnType<typeof fresh>;

const RECORD = { segment: 'prepaid-active', locale: 'en', exposed: ['pin'], hasPhone: true, phoneIsMobile: true, hasEmail: false, contact: 'sealed', line: 1 } as const;

/** Claims and ends one action of an account (the worker's two transitions). */
async function finish(ledger: L, accountId: string, action: ActionName, to: 'done' | 'failed' | 'skipped', patch: Record<string, string | number | boolean> = {}): Promise<void> {
  const base = { waveId: 'w1', accountId, action, actor: 't' };
  if (to !== 'skipped') assert.equal((await ledger.transition({ ...base, from: ['pending'], to: 'claimed', event: `${action}.claimed` })).outcome, 'ok');
  assert.equal((await ledger.transition({ ...base, from: to === 'skipped' ? ['pending'] : ['claimed'], to, patch, event: `${action}.${to}` })).outcome, 'ok');
}

test('every error code of the catalog has a slot code (the list only grows)', () => {
  for (const code of Object.keys(ERROR_CATALOG)) assert.ok(ERROR_CODES.includes(code), `${code} is missing from ERROR_CODES`);
  assert.ok(ERROR_CODES.length < 255);
});

/** The delivery fields status callbacks leave on some SMS notices, and the final state a slot must keep of them. */
const DELIVERY: Record<number, { ds: string; dsSid: string }> = {
  3: { ds: 'delivered', dsSid: 'SM3' },
  5: { ds: 'undelivered', dsSid: 'SM5' },
  7: { ds: 'failed', dsSid: 'SM7' },
  // Not final: nothing to keep.
  9: { ds: 'sent', dsSid: 'SM9' },
  // The callbacks of another message of the notice (the one recorded as sent is SM11): not this notice's delivery.
  11: { ds: 'delivered', dsSid: 'SM-other' },
};
const KEPT: Record<number, string> = { 3: 'delivered', 5: 'undelivered', 7: 'undelivered' };

test('finished accounts leave the ledger hash for 15-byte slots and read back the same, by their ordinal', async () => {
  const ledger = fresh();
  const ids = Array.from({ length: 40 }, (_, i) => `acct-${i}`);
  const ord = spoolOrdinals('w1', 1);
  await ledger.initAccounts('w1', 'feeder', ids.map((accountId) => ({ accountId, actions: ['rotate-pin', 'notify'] as ActionName[], ordinal: ord.next(accountId) })));
  for (const [i, id] of ids.entries()) {
    await finish(ledger, id, 'rotate-pin', 'done');
    if (i === 0) await finish(ledger, id, 'notify', 'skipped', { err: 'BW_SUPPRESSED' });
    else await finish(ledger, id, 'notify', 'done', { ch: i % 2 ? 'sms' : 'email', ...(i === 1 ? { amb: 1, rec: true } : {}), ...(i % 2 ? { pid: `SM${i}` } : {}), ...DELIVERY[i] });
  }
  const before = await ledger.getMany('w1', ids);
  assert.equal(await ledger.compact('w1'), 40);
  // Nothing left in the hash (the key is gone with its last field); one slot per account.
  assert.equal(await db.redis.exists(ledger.keys.ledger('w1')), 0);
  assert.equal(await db.redis.strlen(ledger.keys.compact('w1')), 40 * SLOT_BYTES);
  assert.equal(await ledger.compactedCount('w1'), 40);

  const after = await ledger.getMany('w1', ids, ids.map((_, i) => i));
  for (const [i, id] of ids.entries()) {
    const b = before[i];
    const a = after[i];
    assert.ok(a && b, id);
    assert.ok(isCompacted(a));
    assert.equal(ordinalOf(a), i);
    for (const action of ['rotate-pin', 'notify'] as const) {
      assert.equal(a[action]?.s, b[action]?.s);
      assert.equal(a[action]?.err, b[action]?.err);
    }
    assert.equal(a.notify?.ch, b.notify?.ch);
    assert.equal(a.notify?.rec, b.notify?.rec);
    assert.equal(a.notify?.ds, KEPT[i], `${id}: the SMS's final delivery state`);
    assert.equal((a.notify?.amb ?? 0) > 0, (b.notify?.amb ?? 0) > 0);
    // The earliest and the latest times are kept to the millisecond.
    const times = (e: NonNullable<typeof a>) => Object.values(e).flatMap((x) => [x?.c0, x?.at]).filter((t): t is string => typeof t === 'string').sort();
    assert.equal(times(a)[0], times(b)[0]);
    assert.equal(times(a).at(-1), times(b).at(-1));
  }
  // Without its ordinal a compacted account reads as absent; with another's it is not taken for it.
  assert.equal(await ledger.get('w1', 'acct-3'), undefined);
  assert.equal(await ledger.get('w1', 'acct-3', 4), undefined);
  assert.equal((await ledger.get('w1', 'acct-3', 3))?.notify?.s, 'done');
});

test('a replayed job for a compacted account is refused as finished, for each action, with its ordinal', async () => {
  const ledger = fresh();
  await ledger.initAccounts('w1', 'feeder', [
    { accountId: 'a', actions: ['rotate-pin', 'issue-code', 'notify'], ordinal: 0 },
    { accountId: 'b', actions: ['rotate-pin', 'notify'], ordinal: 1 },
  ]);
  await finish(ledger, 'a', 'rotate-pin', 'done');
  await finish(ledger, 'a', 'issue-code', 'skipped', { err: 'BW_CODE_POOL_EXHAUSTED' });
  await finish(ledger, 'a', 'notify', 'done');
  await finish(ledger, 'b', 'rotate-pin', 'done');
  await finish(ledger, 'b', 'notify', 'done');
  assert.equal(await ledger.compact('w1'), 2);
  for (const action of ['rotate-pin', 'issue-code', 'notify'] as const) {
    const claim = await ledger.transition({ waveId: 'w1', accountId: 'a', ordinal: 0, action, actor: 't', from: ['pending', 'claimed'], to: 'claimed', event: `${action}.claimed`, withAccount: true });
    const state = action === 'issue-code' ? 'skipped' : 'done';
    assert.equal(claim.outcome, 'rejected', action);
    assert.equal(claim.previous, state);
    assert.equal(claim.entry?.s, state);
  }
  const none = await ledger.transition({ waveId: 'w1', accountId: 'b', ordinal: 1, action: 'issue-code', actor: 't', from: ['pending'], to: 'claimed', event: 'issue-code.claimed' });
  assert.equal(none.outcome, 'no-action');
  // A compacted account is frozen: even a transition its state allows is refused.
  const back = await ledger.transition({ waveId: 'w1', accountId: 'b', ordinal: 1, action: 'notify', actor: 't', from: ['done'], to: 'pending', event: 'notify.fallback-redrive' });
  assert.equal(back.outcome, 'rejected');
  // Without the ordinal: missing, as for an account the ledger never had (never sent either way).
  assert.equal((await ledger.transition({ waveId: 'w1', accountId: 'a', action: 'notify', actor: 't', from: ['pending'], to: 'claimed', event: 'notify.claimed' })).outcome, 'missing');
  // The feeder replaying its batch finds them finished; nothing is created again.
  assert.deepEqual(await ledger.initAccounts('w1', 'feeder', [{ accountId: 'a', actions: ['rotate-pin', 'issue-code', 'notify'], ordinal: 0 }, { accountId: 'b', actions: ['rotate-pin', 'notify'], ordinal: 1 }]), ['done', 'done']);
  assert.equal(await db.redis.exists(ledger.keys.ledger('w1')), 0);
  assert.equal((await ledger.counts('w1')).accounts, 2);
  // An ordinal that holds another account is refused, nothing written.
  await assert.rejects(ledger.initAccounts('w1', 'feeder', [{ accountId: 'c', actions: ['notify'], ordinal: 1 }]), /holds another account/);
  assert.equal(await db.redis.exists(ledger.keys.ledger('w1')), 0);
});

test('only accounts nothing can bring back into play are compacted', async () => {
  const ledger = fresh();
  const ids = ['open', 'claimed', 'failed', 'recorded', 'noOrdinal', 'done', 'coded'];
  await ledger.initAccounts('w1', 'feeder', ids.map((accountId, i) => ({ accountId, actions: (accountId === 'coded' ? ['issue-code', 'notify'] : ['rotate-pin', 'notify']) as ActionName[], ...(accountId === 'noOrdinal' ? {} : { ordinal: i }) })));
  // An issued code: a reminder for the wave finds it (and its scope) in the ledger hash.
  await finish(ledger, 'coded', 'issue-code', 'done', { sc: 'w' });
  await finish(ledger, 'coded', 'notify', 'done', { ch: 'email' });
  await ledger.putAccounts('w1', [{ accountId: 'recorded', record: RECORD }]);
  await ledger.transition({ waveId: 'w1', accountId: 'claimed', action: 'rotate-pin', actor: 't', from: ['pending'], to: 'claimed', event: 'rotate-pin.claimed' });
  await finish(ledger, 'failed', 'rotate-pin', 'failed', { err: 'BW_PIN_STORE_REJECTED' });
  await finish(ledger, 'failed', 'notify', 'skipped', { err: 'DEPENDENCY_FAILED:rotate-pin' });
  for (const id of ['recorded', 'noOrdinal', 'done']) {
    await finish(ledger, id, 'rotate-pin', 'done');
    await finish(ledger, id, 'notify', 'done', { ch: 'sms' });
  }
  // Too recent for a sweep that leaves an hour for late delivery callbacks.
  assert.equal(await ledger.compact('w1', { olderThanMs: 3_600_000 }), 0);
  assert.equal(await ledger.compact('w1'), 1);
  assert.deepEqual((await db.redis.hkeys(ledger.keys.ledger('w1'))).sort(), ['claimed', 'coded', 'failed', 'noOrdinal', 'open', 'recorded']);
  // Once the record is released, the account goes too.
  await ledger.releaseAccount('w1', 'recorded');
  assert.equal(await ledger.compact('w1'), 1);
  assert.equal((await ledger.get('w1', 'recorded', 3))?.notify?.s, 'done');
  assert.equal((await ledger.get('w1', 'failed'))?.['rotate-pin']?.s, 'failed');
});

test('a consolidated group: compacted members are refused to a replayed job and not claimed by a lead', async () => {
  const ledger = fresh();
  await ledger.initAccounts('w1', 'feeder', ['lead', 'm1', 'm2'].map((accountId, i) => ({ accountId, actions: ['notify' as const], ordinal: i })));
  await ledger.transition({ waveId: 'w1', accountId: 'lead', action: 'notify', actor: 't', from: ['pending'], to: 'claimed', event: 'notify.claimed', patch: { ct: 'T1' } });
  const claims = await ledger.claimGroup({ waveId: 'w1', action: 'notify', lead: 'lead', token: 'T1', actor: 't', accountIds: ['m1', 'm2'] });
  assert.deepEqual(claims.map((c) => c.status), ['ok', 'ok']);
  assert.equal((await ledger.settleGroup({ waveId: 'w1', action: 'notify', lead: 'lead', token: 'T1', actor: 't', to: 'done', event: 'notify.done',
    accounts: ['lead', 'm1', 'm2'].map((accountId) => ({ accountId, patch: { ch: 'sms' } })) })).outcome, 'ok');
  assert.equal(await ledger.compact('w1'), 3);
  for (const [i, id] of ['lead', 'm1', 'm2'].entries()) {
    const replay = await ledger.transition({ waveId: 'w1', accountId: id, ordinal: i, action: 'notify', actor: 't', from: ['pending', 'claimed'], to: 'claimed', event: 'notify.claimed', patch: { ct: 'T2' }, unlessHeld: 'gl' });
    assert.deepEqual([replay.outcome, replay.previous], ['rejected', 'done'], id);
  }
  // A lead's group claim never takes a compacted member (its ordinal is not known there): nothing written.
  const again = await ledger.claimGroup({ waveId: 'w1', action: 'notify', lead: 'lead', token: 'T3', actor: 't', accountIds: ['m1', 'm2'] });
  assert.deepEqual(again.map((c) => c.status), ['missing', 'missing']);
  assert.equal(await db.redis.exists(ledger.keys.ledger('w1')), 0);
});

test('with shards, each shard compacts into its own slot string, dense by its own ordinals', async () => {
  const ledger = fresh(4);
  const ids = Array.from({ length: 60 }, (_, i) => `s-${i}`);
  const ord = spoolOrdinals('w1', 4);
  const ordinals = ids.map((id) => ord.next(id));
  await ledger.initAccounts('w1', 'feeder', ids.map((accountId, i) => ({ accountId, actions: ['notify'] as ActionName[], ordinal: ordinals[i] })));
  for (const id of ids) await finish(ledger, id, 'notify', 'done', { ch: 'email' });
  assert.equal(await ledger.compact('w1'), 60);
  let total = 0;
  for (const sk of ledger.shardKeys) {
    assert.equal(await db.redis.exists(sk.ledger('w1')), 0);
    total += await db.redis.strlen(sk.compact('w1'));
  }
  assert.equal(total, 60 * SLOT_BYTES);
  const back = await ledger.getMany('w1', ids, ordinals);
  assert.ok(back.every((e) => e?.notify?.s === 'done' && e.notify.ch === 'email'));
});
