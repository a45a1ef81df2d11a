import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { useRedis } from '@breachwave/testkit';
import { createLedger, waveProgress } from './index.js';

const db = useRedis();

const fresh = () => createLedger({ redis: db.redis, prefix: `t${randomBytes(4).toString('hex')}` });
const auditTypes = async (ledger: ReturnType<typeof fresh>) =>
  (await db.redis.xrange(ledger.keys.audit, '-', '+')).map(([, f]) => JSON.parse(f[1] ?? '{}') as { type: string; from?: string; to?: string; detail?: unknown });

test('initAccounts creates pending entries once, the first action stamped with when it began to wait, with one audit record for the batch, and reports replays', async () => {
  const at = new Date('2026-12-01T10:00:00.000Z');
  const ledger = createLedger({ redis: db.redis, prefix: `t${randomBytes(4).toString('hex')}`, now: () => at });
  const first = await ledger.initAccounts('w1', 'feeder', [
    { accountId: 'a1', actions: ['rotate-pin', 'notify'] },
    { accountId: 'a2', actions: ['notify'] },
  ]);
  assert.deepEqual(first, ['new', 'new']);
  const replay = await ledger.initAccounts('w1', 'feeder', [{ accountId: 'a1', actions: ['rotate-pin', 'notify'] }]);
  assert.deepEqual(replay, ['pending']);
  assert.deepEqual(await ledger.get('w1', 'a1'), { 'rotate-pin': { s: 'pending', n: 0, at: at.toISOString() }, notify: { s: 'pending', n: 0 } });
  const counts = await ledger.counts('w1');
  assert.equal(counts['notify:pending'], 2);
  assert.equal(counts.accounts, 2);
  // One record for the batch, naming each account under its plan; the replay created nothing.
  const audit = await auditTypes(ledger);
  assert.deepEqual(audit.map((r) => r.type), ['accounts.queued']);
  assert.deepEqual(audit[0]?.detail, { count: 2, accounts: { 'rotate-pin,notify': ['a1'], notify: ['a2'] } });
});

test('a transition applies only from allowed states and writes its audit record with it', async () => {
  const ledger = fresh();
  await ledger.initAccounts('w1', 'feeder', [{ accountId: 'a1', actions: ['notify'] }]);
  const base = { waveId: 'w1', accountId: 'a1', action: 'notify' as const, actor: 'test' };
  const claim = await ledger.transition({ ...base, from: ['pending'], to: 'claimed', event: 'notify.claimed' });
  assert.equal(claim.outcome, 'ok');
  assert.equal(claim.entry?.n, 1);
  const done = await ledger.transition({ ...base, from: ['claimed'], to: 'done', event: 'notify.done', patch: { ch: 'sms', pid: 'SM1' }, counters: { 'notify:sent:sms': 1 } });
  assert.equal(done.outcome, 'ok');
  const again = await ledger.transition({ ...base, from: ['pending', 'claimed'], to: 'claimed', event: 'notify.claimed' });
  assert.equal(again.outcome, 'rejected');
  assert.equal(again.previous, 'done');
  const missing = await ledger.transition({ ...base, accountId: 'nobody', from: '*', to: 'done', event: 'x' });
  assert.equal(missing.outcome, 'missing');
  const audit = await auditTypes(ledger);
  assert.deepEqual(audit.map((r) => `${r.type}:${r.from ?? ''}>${r.to ?? ''}`), ['accounts.queued:>', 'notify.claimed:pending>claimed', 'notify.done:claimed>done']);
  const counts = await ledger.counts('w1');
  assert.equal(counts['notify:done'], 1);
  assert.equal(counts['notify:pending'], 0);
  assert.equal(counts['notify:sent:sms'], 1);
});

test('a transition to a terminal state records when the action last finished, among the counters', async () => {
  const at = new Date('2026-12-01T10:00:00.000Z');
  const ledger = createLedger({ redis: db.redis, prefix: `t${randomBytes(4).toString('hex')}`, now: () => at });
  await ledger.initAccounts('w1', 'feeder', [{ accountId: 'a1', actions: ['notify'] }]);
  await ledger.transition({ waveId: 'w1', accountId: 'a1', action: 'notify', actor: 't', from: ['pending'], to: 'claimed', event: 'notify.claimed' });
  assert.equal((await ledger.counts('w1'))['notify:at:finished'], undefined, 'a claim is not a finish');
  await ledger.transition({ waveId: 'w1', accountId: 'a1', action: 'notify', actor: 't', from: ['claimed'], to: 'done', event: 'notify.done' });
  assert.equal((await ledger.counts('w1'))['notify:at:finished'], at.getTime());
});

test('concurrent claims: exactly one wins', async () => {
  const ledger = fresh();
  await ledger.initAccounts('w1', 'feeder', [{ accountId: 'a1', actions: ['notify'] }]);
  const results = await Promise.all(Array.from({ length: 20 }, () =>
    ledger.transition({ waveId: 'w1', accountId: 'a1', action: 'notify', actor: 't', from: ['pending'], to: 'claimed', event: 'notify.claimed' })));
  assert.equal(results.filter((r) => r.outcome === 'ok').length, 1);
});

test('a claim token fences its holder: a later claim supersedes it, and its guarded writes and fences change nothing', async () => {
  const ledger = fresh();
  await ledger.initAccounts('w1', 'feeder', [{ accountId: 'a1', actions: ['notify'] }]);
  const base = { waveId: 'w1', accountId: 'a1', action: 'notify' as const, actor: 't' };
  await ledger.transition({ ...base, from: ['pending'], to: 'claimed', event: 'notify.claimed', patch: { ct: 'A' } });
  assert.equal(await ledger.fence('w1', 'a1', 'notify', 'A', { sa: 5 }), 'ok');
  // The job stalled; its second run claims the notice under its own token.
  await ledger.transition({ ...base, from: ['claimed'], to: 'claimed', event: 'notify.claimed', patch: { ct: 'B' } });
  assert.equal(await ledger.fence('w1', 'a1', 'notify', 'A', { sa: 9 }), 'superseded');
  const stale = await ledger.transition({ ...base, guard: 'A', from: ['claimed'], to: 'pending', event: 'notify.retry' });
  assert.equal(stale.outcome, 'superseded');
  let entry = (await ledger.get('w1', 'a1'))?.notify;
  assert.deepEqual([entry?.s, entry?.ct, entry?.sa], ['claimed', 'B', 5], 'nothing the superseded attempt tried was written');
  assert.equal(await ledger.fence('w1', 'a1', 'notify', 'B', { sa: 7, hu: false }), 'ok');
  const done = await ledger.transition({ ...base, guard: 'B', from: ['claimed'], to: 'done', event: 'notify.done', patch: { ct: false, sa: false } });
  assert.equal(done.outcome, 'ok');
  entry = (await ledger.get('w1', 'a1'))?.notify;
  assert.deepEqual([entry?.s, entry?.ct, entry?.sa], ['done', undefined, undefined]);
  assert.equal(await ledger.fence('w1', 'a1', 'notify', 'B', { sa: 8 }), 'done', 'a fence on a finished action names its state');
  assert.equal(await ledger.fence('w1', 'nobody', 'notify', 'B', { sa: 8 }), 'missing');
});

test('waves: create once, progress reflects the ledger', async () => {
  const ledger = fresh();
  const manifest = { waveId: 'w2', createdAt: new Date().toISOString(), source: 'x.csv', brand: 'B', helpUrl: 'https://h.example.com', rules: {} };
  await ledger.createWave(manifest, { rows: 3, accepted: 2, rejected: 1 }, { spool: '/tmp/s' });
  await assert.rejects(ledger.createWave(manifest, { rows: 3 }, {}), /already exists/);
  await ledger.initAccounts('w2', 'feeder', [{ accountId: 'a1', actions: ['notify'] }, { accountId: 'a2', actions: ['notify'] }]);
  await ledger.setWaveStatus('w2', 'fed', 'feeder');
  let p = await waveProgress(ledger, 'w2');
  assert.equal(p.complete, false);
  for (const a of ['a1', 'a2']) {
    await ledger.transition({ waveId: 'w2', accountId: a, action: 'notify', actor: 't', from: ['pending'], to: 'claimed', event: 'c' });
    await ledger.transition({ waveId: 'w2', accountId: a, action: 'notify', actor: 't', from: ['claimed'], to: a === 'a1' ? 'done' : 'failed', event: 'd', counters: a === 'a1' ? { 'notify:sent:email': 1 } : {} });
  }
  p = await waveProgress(ledger, 'w2');
  assert.equal(p.complete, true);
  assert.equal(p.finished, 2);
  assert.deepEqual(p.sent, { sms: 0, email: 1 });
  assert.equal(p.rows, p.accepted + p.rejected);
  assert.deepEqual((await ledger.getWave('w2')).paths, { spool: '/tmp/s' });
});

test('a transition can read the account record and release it in the same script', async () => {
  const ledger = fresh();
  await ledger.initAccounts('w3', 'feeder', [{ accountId: 'a1', actions: ['notify'] }, { accountId: 'a2', actions: ['notify'] }]);
  const record = { segment: 'former' as const, locale: 'en' as const, exposed: ['ssn' as const], hasPhone: false, phoneIsMobile: false, hasEmail: true, contact: 'v1.k.x.y.z', line: 2 };
  await ledger.putAccounts('w3', [{ accountId: 'a1', record }, { accountId: 'a2', record: { ...record, line: 3 } }]);
  const base = { waveId: 'w3', action: 'notify' as const, actor: 't' };

  const claim = await ledger.transition({ ...base, accountId: 'a1', from: ['pending'], to: 'claimed', event: 'notify.claimed', withAccount: true });
  assert.equal(claim.outcome, 'ok');
  assert.deepEqual(claim.account, record);
  assert.equal(claim.entry?.s, 'claimed');
  assert.equal(claim.entry?.c0, claim.entry?.at, 'the first claim time is kept');

  // A transition that does not apply releases nothing.
  const refused = await ledger.transition({ ...base, accountId: 'a1', from: ['pending'], to: 'done', event: 'notify.done', releaseAccount: 0, withAccount: true });
  assert.equal(refused.outcome, 'rejected');
  assert.equal(refused.previous, 'claimed');
  assert.equal(refused.entry?.s, 'claimed');
  assert.deepEqual(await ledger.getAccount('w3', 'a1'), record);

  const done = await ledger.transition({ ...base, accountId: 'a1', from: ['claimed'], to: 'done', event: 'notify.done', patch: { ch: 'email', pid: 'm1' }, releaseAccount: 0 });
  assert.equal(done.outcome, 'ok');
  assert.equal(done.account, undefined, 'not asked for');
  assert.deepEqual(await ledger.getAccount('w3', 'a1'), undefined, 'released with the transition');

  await ledger.transition({ ...base, accountId: 'a2', from: ['pending'], to: 'claimed', event: 'notify.claimed' });
  await ledger.transition({ ...base, accountId: 'a2', from: ['claimed'], to: 'failed', event: 'notify.failed', releaseAccount: 600 });
  const ttl = await db.redis.ttl(ledger.keys.account('w3', 'a2'));
  assert.ok(ttl > 590 && ttl <= 600, `kept for the retention period (ttl ${ttl})`);

  const missing = await ledger.transition({ ...base, accountId: 'nobody', from: '*', to: 'done', event: 'x', withAccount: true, releaseAccount: 0 });
  assert.deepEqual([missing.outcome, missing.entry, missing.all, missing.account], ['missing', undefined, undefined, undefined]);
  const noAction = await ledger.transition({ ...base, accountId: 'a2', action: 'rotate-pin', from: '*', to: 'done', event: 'x' });
  assert.deepEqual([noAction.outcome, noAction.entry, noAction.all?.notify?.s], ['no-action', undefined, 'failed']);
});

test('audit records of transitions are whole JSON objects with their detail, from and to', async () => {
  const ledger = fresh();
  await ledger.initAccounts('w4', 'feeder', [{ accountId: 'a/1', actions: ['notify'] }]);
  await ledger.transition({ waveId: 'w4', accountId: 'a/1', action: 'notify', actor: 'notifier', from: ['pending'], to: 'claimed', event: 'notify.claimed',
    detail: { attempt: 1, path: 'x/"y"', list: [] } });
  const [, fields] = (await db.redis.xrange(ledger.keys.audit, '-', '+')).at(-1) ?? [];
  const rec = JSON.parse(fields?.[1] ?? '{}') as Record<string, unknown>;
  assert.deepEqual({ ...rec, ts: 'x' }, { ts: 'x', type: 'notify.claimed', actor: 'notifier', wave: 'w4', account: 'a/1', action: 'notify', detail: { attempt: 1, path: 'x/"y"', list: [] }, from: 'pending', to: 'claimed' });
});

test('transition times rest as epoch milliseconds and read back as ISO strings; older ISO entries still read', async () => {
  let clock = Date.parse('2026-01-02T03:04:05.678Z');
  const ledger = createLedger({ redis: db.redis, prefix: `t${randomBytes(4).toString('hex')}`, now: () => new Date(clock) });
  await ledger.initAccounts('w5', 'feeder', [{ accountId: 'a1', actions: ['notify'] }]);
  const base = { waveId: 'w5', accountId: 'a1', action: 'notify' as const, actor: 't' };
  const claim = await ledger.transition({ ...base, from: ['pending'], to: 'claimed', event: 'c' });
  clock += 1500;
  const done = await ledger.transition({ ...base, from: ['claimed'], to: 'done', event: 'd' });
  assert.equal(claim.entry?.at, '2026-01-02T03:04:05.678Z');
  assert.deepEqual([done.entry?.at, done.entry?.c0], ['2026-01-02T03:04:07.178Z', '2026-01-02T03:04:05.678Z']);
  const raw = JSON.parse((await db.redis.hget(ledger.keys.ledger('w5'), 'a1')) ?? '{}') as { notify: { at: unknown; c0: unknown } };
  assert.deepEqual([raw.notify.at, raw.notify.c0], [Date.parse('2026-01-02T03:04:07.178Z'), Date.parse('2026-01-02T03:04:05.678Z')]);
  assert.equal((await ledger.get('w5', 'a1'))?.notify?.c0, '2026-01-02T03:04:05.678Z');

  await db.redis.hset(ledger.keys.ledger('w5'), 'old', JSON.stringify({ notify: { s: 'claimed', n: 1, at: '2025-01-01T00:00:00.000Z', c0: '2025-01-01T00:00:00.000Z' } }));
  const old = await ledger.transition({ ...base, accountId: 'old', from: ['claimed'], to: 'done', event: 'd' });
  assert.deepEqual([old.entry?.s, old.entry?.c0, old.entry?.at], ['done', '2025-01-01T00:00:00.000Z', '2026-01-02T03:04:07.178Z']);
  const all = [];
  for await (const [id, e] of ledger.entries('w5')) all.push([id, e.notify?.at]);
  assert.deepEqual(all.sort(), [['a1', '2026-01-02T03:04:07.178Z'], ['old', '2026-01-02T03:04:07.178Z']]);
});
