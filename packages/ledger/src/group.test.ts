import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { useRedis } from '@breachwave/testkit';
import { createLedger } from './index.js';

const db = useRedis();
const fresh = () => createLedger({ redis: db.redis, prefix: `t${randomBytes(4).toString('hex')}` });
type Rec = { type: string; account?: string; from?: string; to?: string; detail?: Record<string, unknown> };
const audit = async (ledger: ReturnType<typeof fresh>): Promise<Rec[]> =>
  (await db.redis.xrange(ledger.keys.audit, '-', '+')).map(([, f]) => JSON.parse(f[1] ?? '{}') as Rec);

const RECORD = { segment: 'prepaid-active', locale: 'en', exposed: ['pin'], hasPhone: true, phoneIsMobile: true, hasEmail: false, contact: 'sealed', line: 1 } as const;

test('claimGroup claims, in one script, the accounts that are ready, and says why it left the others', async () => {
  const ledger = fresh();
  await ledger.initAccounts('w1', 'feeder', [
    { accountId: 'lead', actions: ['notify'] },
    { accountId: 'ready', actions: ['rotate-pin', 'notify'] },
    { accountId: 'rotating', actions: ['rotate-pin', 'notify'] },
    { accountId: 'self', actions: ['notify'] },
    { accountId: 'finished', actions: ['notify'] },
  ]);
  await ledger.putAccounts('w1', [{ accountId: 'ready', record: { ...RECORD, group: ['lead', 'ready'] } }]);
  const step = (accountId: string, action: 'rotate-pin' | 'notify', from: 'pending' | 'claimed', to: 'claimed' | 'done') =>
    ledger.transition({ waveId: 'w1', accountId, action, actor: 't', from: [from], to, event: `${action}.${to}` });
  await step('ready', 'rotate-pin', 'pending', 'claimed');
  await step('ready', 'rotate-pin', 'claimed', 'done');
  await step('rotating', 'rotate-pin', 'pending', 'claimed');
  await step('self', 'notify', 'pending', 'claimed');
  await step('finished', 'notify', 'pending', 'claimed');
  await step('finished', 'notify', 'claimed', 'done');

  const claims = await ledger.claimGroup({ waveId: 'w1', action: 'notify', lead: 'lead', token: 'T1', actor: 'notifier', accountIds: ['ready', 'rotating', 'self', 'finished', 'nobody'], withAccount: true });
  assert.deepEqual(claims.map((c) => [c.accountId, c.status]), [['ready', 'ok'], ['rotating', 'waiting'], ['self', 'busy'], ['finished', 'done'], ['nobody', 'missing']]);
  const ready = claims[0];
  assert.equal(ready?.entry?.s, 'claimed');
  assert.equal(ready?.entry?.ct, 'T1');
  assert.equal(ready?.entry?.gl, 'lead');
  assert.deepEqual(ready?.account?.group, ['lead', 'ready']);
  // Only the claimed one moved, with its own record naming the lead.
  const claimed = (await audit(ledger)).filter((r) => r.type === 'notify.claimed' && r.detail?.lead === 'lead');
  assert.deepEqual(claimed.map((r) => [r.account, r.from, r.to]), [['ready', 'pending', 'claimed']]);
  assert.equal((await ledger.counts('w1'))['notify:claimed'], 2);

  // The account's own attempt cannot take it from the lead while it holds it.
  const own = await ledger.transition({ waveId: 'w1', accountId: 'ready', action: 'notify', actor: 't', from: ['pending', 'claimed'], to: 'claimed', event: 'notify.claimed', patch: { ct: 'mine' }, unlessHeld: 'gl' });
  assert.equal(own.outcome, 'held');
  assert.equal((await ledger.get('w1', 'ready'))?.notify?.ct, 'T1');
  // A later attempt of the lead takes it over.
  const again = await ledger.claimGroup({ waveId: 'w1', action: 'notify', lead: 'lead', token: 'T2', actor: 'notifier', accountIds: ['ready'] });
  assert.equal(again[0]?.status, 'ok');
  assert.equal((await ledger.get('w1', 'ready'))?.notify?.n, 2);
});

test('settleGroup moves every account or none: a token that no longer holds one of them writes nothing', async () => {
  const ledger = fresh();
  await ledger.initAccounts('w1', 'feeder', ['lead', 'm1', 'm2'].map((accountId) => ({ accountId, actions: ['notify' as const] })));
  await ledger.putAccounts('w1', ['lead', 'm1', 'm2'].map((accountId) => ({ accountId, record: RECORD })));
  await ledger.transition({ waveId: 'w1', accountId: 'lead', action: 'notify', actor: 't', from: ['pending'], to: 'claimed', event: 'notify.claimed', patch: { ct: 'T1' } });
  await ledger.claimGroup({ waveId: 'w1', action: 'notify', lead: 'lead', token: 'T1', actor: 'notifier', accountIds: ['m1', 'm2'] });
  // m2 taken over by a later attempt of the lead.
  await ledger.claimGroup({ waveId: 'w1', action: 'notify', lead: 'lead', token: 'T2', actor: 'notifier', accountIds: ['m2'] });
  const before = (await audit(ledger)).length;
  const accounts = ['lead', 'm1', 'm2'].map((accountId) => ({ accountId, patch: { err: 'BW_SMS_REJECTED' }, detail: { code: 'BW_SMS_REJECTED' } }));
  const refused = await ledger.settleGroup({ waveId: 'w1', action: 'notify', lead: 'lead', token: 'T1', actor: 'notifier', to: 'failed', event: 'notify.failed', accounts, counters: { 'notify:error:BW_SMS_REJECTED': 3 } });
  assert.equal(refused.outcome, 'superseded');
  assert.equal((await audit(ledger)).length, before, 'nothing audited');
  assert.equal((await ledger.get('w1', 'm1'))?.notify?.s, 'claimed');
  assert.equal((await ledger.counts('w1'))['notify:error:BW_SMS_REJECTED'], undefined);

  // A send that happened is recorded whoever holds the claims, for each account still claimed.
  await ledger.transition({ waveId: 'w1', accountId: 'm2', action: 'notify', actor: 't', from: ['claimed'], to: 'pending', event: 'notify.recovered' });
  const sent = await ledger.settleGroup({ waveId: 'w1', action: 'notify', lead: 'lead', token: '', actor: 'notifier', to: 'done', event: 'notify.done',
    accounts: ['lead', 'm1', 'm2'].map((accountId) => ({ accountId, patch: { ch: 'sms', pid: 'SM1', ct: false, gl: false }, detail: { providerId: 'SM1' } })),
    counters: { 'notify:sent:sms': 2, 'notify:messages:sms': 1 }, releaseAccount: 0 });
  assert.deepEqual(sent, { outcome: 'ok', skipped: ['m2'] });
  for (const id of ['lead', 'm1']) {
    const e = (await ledger.get('w1', id))?.notify;
    assert.equal(e?.s, 'done');
    assert.equal(e?.pid, 'SM1');
    assert.equal(e?.gl, undefined);
    assert.equal(await ledger.getAccount('w1', id), undefined, 'record released');
  }
  assert.equal((await ledger.get('w1', 'm2'))?.notify?.s, 'pending');
  const done = (await audit(ledger)).filter((r) => r.type === 'notify.done');
  assert.deepEqual(done.map((r) => [r.account, r.from, r.to, r.detail?.lead, r.detail?.providerId]), [['lead', 'claimed', 'done', 'lead', 'SM1'], ['m1', 'claimed', 'done', 'lead', 'SM1']]);
  const counts = await ledger.counts('w1');
  assert.equal(counts['notify:done'], 2);
  assert.equal(counts['notify:messages:sms'], 1);
  assert.ok(counts['notify:at:finished']);
});
