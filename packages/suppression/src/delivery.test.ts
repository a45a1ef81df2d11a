import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { BreachwaveError, type ErrorCode } from '@breachwave/domain';
import { createLedger, type Ledger } from '@breachwave/ledger';
import { useRedis } from '@breachwave/testkit';
import { createDeliveryTracker, parseStatusCallback, recordSendIndex, type PermanentUndeliveredContext, type StatusCallback } from './delivery.js';
import type { DeliveryState } from './delivery-state.js';
import { createSuppressionList } from './list.js';

const db = useRedis();

const sid = (): string => `SM${randomBytes(16).toString('hex')}`;
// A stand-in for the adapter's mapTwilioErrorCode (the package takes the mapping injected).
const classify = (code: number): ErrorCode | undefined =>
  ({ 30003: 'BW_SMS_NOT_MOBILE', 30005: 'BW_SMS_INVALID_NUMBER', 21610: 'BW_SMS_OPTED_OUT' }) [code] as ErrorCode | undefined;

/** A wave whose accounts' notices were sent (`done`, pid = their sid) or are still `claimed`. */
async function setup(accounts: { id: string; sid?: string; state: 'done' | 'claimed' }[]) {
  const prefix = `dlv${randomBytes(3).toString('hex')}`;
  const ledger: Ledger = createLedger({ redis: db.redis, prefix });
  const waveId = 'w1';
  await ledger.createWave({ waveId, createdAt: new Date().toISOString(), source: 't', brand: 'B', helpUrl: 'https://h.example.com', rules: {} }, {}, {});
  await ledger.initAccounts(waveId, 'test', accounts.map((a) => ({ accountId: a.id, actions: ['notify'] })));
  for (const a of accounts) {
    await ledger.transition({ waveId, accountId: a.id, action: 'notify', from: ['pending'], to: 'claimed', event: 'notify.claimed', actor: 'test' });
    if (a.state === 'done') {
      await ledger.transition({ waveId, accountId: a.id, action: 'notify', from: ['claimed'], to: 'done', patch: { ch: 'sms', pid: a.sid ?? sid() }, event: 'notify.done', actor: 'test' });
    }
  }
  const hooks: PermanentUndeliveredContext[] = [];
  const suppression = createSuppressionList({ redis: db.redis, prefix, hmacKey: randomBytes(32) });
  const tracker = createDeliveryTracker({
    redis: db.redis, prefix, suppression, classifyErrorCode: classify,
    onPermanentUndelivered: async (ctx) => {
      hooks.push(ctx);
    },
  });
  const cb = (messageSid: string, status: DeliveryState, accountId: string, errorCode?: number): StatusCallback => ({
    messageSid, status, reference: { waveId, accountId }, ...(errorCode !== undefined ? { errorCode, to: '+12025550177' } : {}),
  });
  const audit = async (type: string) => (await db.redis.xrange(`${prefix}:audit`, '-', '+'))
    .map(([, f]) => JSON.parse(f[1] ?? '{}') as { type: string; account?: string; detail?: Record<string, unknown> })
    .filter((r) => r.type === type);
  return { prefix, ledger, waveId, tracker, hooks, suppression, cb, audit };
}

function shuffle<T>(xs: T[], seed: number): T[] {
  let s = seed;
  const rnd = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [xs[i], xs[j]] = [xs[j] as T, xs[i] as T];
  }
  return xs;
}

describe('delivery tracker', () => {
  it('shuffled, duplicated and concurrent callbacks end in the terminal state, never regressing', async () => {
    const n = 12;
    const accounts = Array.from({ length: n }, (_, i) => ({ id: `a${i}`, sid: sid(), state: 'done' as const }));
    const s = await setup(accounts);
    const calls: StatusCallback[] = [];
    for (const a of accounts) {
      const terminal: DeliveryState = Number(a.id.slice(1)) % 2 === 0 ? 'delivered' : 'failed';
      for (const st of ['queued', 'sending', 'sent', terminal, 'sent', terminal] as const) calls.push(s.cb(a.sid, st, a.id));
    }
    shuffle(calls, 42);
    // All at once: the compare on the delivery state and the write are one script.
    await Promise.all(calls.map((c) => s.tracker.apply(c)));
    for (const a of accounts) {
      const e = (await s.ledger.get(s.waveId, a.id))?.notify;
      assert.equal(e?.s, 'done', 'the action state is untouched');
      assert.equal(e?.ds, Number(a.id.slice(1)) % 2 === 0 ? 'delivered' : 'failed', a.id);
      assert.equal(e?.dsSid, a.sid);
    }
    const counts = await s.ledger.counts(s.waveId);
    assert.equal(counts['notify:ds:delivered'], n / 2);
    assert.equal(counts['notify:ds:failed'], n / 2);
    for (const st of ['queued', 'sending', 'sent']) assert.equal(counts[`notify:ds:${st}`] ?? 0, 0, st);
    assert.equal(counts['notify:done'], n);
    // Every recorded step moved forward: no account has two records for one status.
    const records = await s.audit('notify.delivery');
    for (const a of accounts) {
      const statuses = records.filter((r) => r.account === a.id).map((r) => r.detail?.status);
      assert.equal(new Set(statuses).size, statuses.length, `${a.id}: ${statuses.join(',')}`);
      assert.ok(statuses.length >= 1 && statuses.length <= 4);
    }
    assert.equal(s.hooks.length, 0, 'no permanent code, no fallback');
  });

  it('a permanent undelivered code marks the notice for fallback and calls the hook once', async () => {
    const m = sid();
    const s = await setup([{ id: 'x', sid: m, state: 'done' }]);
    const results = await Promise.all([
      s.tracker.apply(s.cb(m, 'undelivered', 'x', 30003)),
      s.tracker.apply(s.cb(m, 'undelivered', 'x', 30003)),
      s.tracker.apply(s.cb(m, 'sent', 'x')),
    ]);
    assert.equal(results.filter((r) => r.fallback).length, 1);
    assert.deepEqual(s.hooks, [{ waveId: s.waveId, accountId: 'x', code: 'BW_SMS_NOT_MOBILE', providerCode: '30003', status: 'undelivered', messageSid: m }]);
    const e = (await s.ledger.get(s.waveId, 'x'))?.notify;
    assert.equal(e?.ds, 'undelivered');
    assert.equal(e?.dsCode, '30003');
    assert.equal(e?.fb, 'needed');
    assert.equal((await s.audit('notify.fallback-needed')).length, 1);
    assert.equal((await s.ledger.counts(s.waveId))['notify:fallback-needed'], 1);
  });

  it('a code that is not permanent, or a delivered message, triggers no fallback', async () => {
    const [m1, m2] = [sid(), sid()];
    const s = await setup([{ id: 'p', sid: m1, state: 'done' }, { id: 'q', sid: m2, state: 'done' }]);
    assert.equal((await s.tracker.apply(s.cb(m1, 'undelivered', 'p', 30008))).fallback, false);
    assert.equal((await s.tracker.apply(s.cb(m2, 'delivered', 'q'))).fallback, false);
    assert.equal(s.hooks.length, 0);
  });

  it('21610 in a callback adds the recipient to the suppression list', async () => {
    const m = sid();
    const s = await setup([{ id: 'o', sid: m, state: 'done' }]);
    const r = await s.tracker.apply(s.cb(m, 'failed', 'o', 21610));
    assert.equal(r.suppressed, true);
    assert.deepEqual(await s.suppression.reasons('sms', '+12025550177'), ['21610']);
    assert.equal(r.fallback, true, 'opted out of SMS is permanent for SMS: the lead decides in the hook');
  });

  it('a hook failure is reported and the fallback mark stays', async () => {
    const m = sid();
    const s = await setup([{ id: 'h', sid: m, state: 'done' }]);
    const tracker = createDeliveryTracker({ redis: db.redis, prefix: s.prefix, classifyErrorCode: classify, onPermanentUndelivered: async () => { throw new Error('queue down'); } });
    const r = await tracker.apply(s.cb(m, 'undelivered', 'h', 30005));
    assert.ok(r.hookError instanceof Error);
    assert.equal((await s.ledger.get(s.waveId, 'h'))?.notify?.fb, 'needed');
  });

  it('a callback that beats the send record is kept; the recorded message is then tracked', async () => {
    const m = sid();
    const s = await setup([{ id: 'early', state: 'claimed' }]);
    assert.equal((await s.tracker.apply(s.cb(m, 'sent', 'early'))).outcome, 'recorded');
    let e = (await s.ledger.get(s.waveId, 'early'))?.notify;
    assert.equal(e?.s, 'claimed');
    assert.equal(e?.ds, 'sent');
    await s.ledger.transition({ waveId: s.waveId, accountId: 'early', action: 'notify', from: ['claimed'], to: 'done', patch: { ch: 'sms', pid: m }, event: 'notify.done', actor: 'test' });
    await s.tracker.apply(s.cb(m, 'delivered', 'early'));
    e = (await s.ledger.get(s.waveId, 'early'))?.notify;
    assert.equal(e?.s, 'done');
    assert.equal(e?.ds, 'delivered');
  });

  it('another message of the same notice is audited, not tracked; unknown notices are unmatched', async () => {
    const [m, other] = [sid(), sid()];
    const s = await setup([{ id: 'a', sid: m, state: 'done' }]);
    assert.equal((await s.tracker.apply(s.cb(other, 'delivered', 'a'))).outcome, 'other-message');
    assert.equal((await s.ledger.get(s.waveId, 'a'))?.notify?.ds, undefined);
    assert.equal((await s.audit('notify.delivery.other-message')).length, 1);
    assert.equal((await s.tracker.apply(s.cb(m, 'sent', 'nobody'))).outcome, 'unmatched');
    assert.equal((await s.tracker.apply({ messageSid: sid(), status: 'sent' })).outcome, 'unmatched', 'no reference, no index');
  });

  it('finds the notice through the send index when the URL carries no reference', async () => {
    const m = sid();
    const s = await setup([{ id: 'ix', sid: m, state: 'done' }]);
    await recordSendIndex(db.redis, s.prefix, { sid: m, waveId: s.waveId, accountId: 'ix', ttlSeconds: 60 });
    assert.ok((await db.redis.ttl(`${s.prefix}:sup:sid:${m}`)) > 0);
    const r = await s.tracker.apply({ messageSid: m, status: 'delivered' });
    assert.equal(r.outcome, 'recorded');
    assert.deepEqual(r.notice, { waveId: s.waveId, accountId: 'ix' });
  });
});

describe('parseStatusCallback', () => {
  const m = sid();
  const bad = (params: Record<string, string>, ref?: string) =>
    assert.throws(() => parseStatusCallback(params, ref), (e: unknown) => e instanceof BreachwaveError && e.code === 'BW_INPUT_INVALID' && !e.message.includes('+1202'));
  it('parses Twilio\'s parameters and the reference', () => {
    assert.deepEqual(parseStatusCallback({ MessageSid: m, MessageStatus: 'undelivered', ErrorCode: '30003', To: '+12025550111' }, 'w1.a-1'), {
      messageSid: m, status: 'undelivered', errorCode: 30003, to: '+12025550111', reference: { waveId: 'w1', accountId: 'a-1' },
    });
    assert.deepEqual(parseStatusCallback({ SmsSid: m, SmsStatus: 'sent', ErrorCode: '' }), { messageSid: m, status: 'sent' });
  });
  it('names what is wrong', () => {
    bad({ MessageStatus: 'sent' });
    bad({ MessageSid: 'SMnope', MessageStatus: 'sent' });
    bad({ MessageSid: m });
    bad({ MessageSid: m, MessageStatus: '+12025550111' });
    bad({ MessageSid: m, MessageStatus: 'sent', ErrorCode: 'x' });
    bad({ MessageSid: m, MessageStatus: 'sent' }, 'no-dot');
  });
});

describe('delivery tracker over shards', () => {
  it('with 3 shards a callback moves the notice in its account\'s shard and audits it on that shard\'s stream', async () => {
    const prefix = `{dlv${randomBytes(3).toString('hex')}}`;
    const ledger = createLedger({ redis: db.redis, prefix, shards: 3 });
    const waveId = 'w1';
    const ids = Array.from({ length: 12 }, (_, i) => `a${i}`);
    const sids = new Map(ids.map((id) => [id, sid()]));
    await ledger.initAccounts(waveId, 'test', ids.map((accountId) => ({ accountId, actions: ['notify'] })));
    for (const id of ids) {
      await ledger.transition({ waveId, accountId: id, action: 'notify', from: ['pending'], to: 'claimed', event: 'notify.claimed', actor: 'test' });
      await ledger.transition({ waveId, accountId: id, action: 'notify', from: ['claimed'], to: 'done', patch: { ch: 'sms', pid: sids.get(id) ?? '' }, event: 'notify.done', actor: 'test' });
    }
    const tracker = createDeliveryTracker({ redis: db.redis, prefix, shards: 3, classifyErrorCode: classify });
    for (const id of ids) {
      const r = await tracker.apply({ messageSid: sids.get(id) ?? '', status: 'delivered', reference: { waveId, accountId: id } });
      assert.equal(r.outcome, 'recorded', id);
    }
    const shardsUsed = new Set<number>();
    for (const id of ids) {
      assert.equal((await ledger.get(waveId, id))?.notify?.ds, 'delivered', `${id}'s entry carries the delivery state`);
      const k = ledger.keysOf(waveId, id);
      shardsUsed.add(ledger.shardKeys.indexOf(k));
      const records = (await db.redis.xrange(k.audit, '-', '+')).map(([, f]) => JSON.parse(f[1] ?? '{}') as { type: string; account?: string });
      assert.ok(records.some((r) => r.type === 'notify.delivery' && r.account === id), `${id}'s delivery is audited on its shard's stream`);
    }
    assert.ok(shardsUsed.size > 1, 'the accounts are spread over several shards');
  });
});
