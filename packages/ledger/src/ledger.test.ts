import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { acquireRedis, type TestRedis } from '@breachwave/testkit';
import { createLedger, waveProgress } from './index.js';

let server: TestRedis;
let redis: Redis;
before(async () => {
  server = await acquireRedis();
  redis = new Redis(server.url);
});
after(async () => {
  await redis.quit();
  await server.stop();
});

const fresh = () => createLedger({ redis, prefix: `t${randomBytes(4).toString('hex')}` });
const auditTypes = async (ledger: ReturnType<typeof fresh>) =>
  (await redis.xrange(ledger.keys.audit, '-', '+')).map(([, f]) => JSON.parse(f[1] ?? '{}') as { type: string; from?: string; to?: string });

test('initAccounts creates pending entries once, with one audit record each, and reports replays', async () => {
  const ledger = fresh();
  const first = await ledger.initAccounts('w1', 'feeder', [
    { accountId: 'a1', actions: ['rotate-pin', 'notify'] },
    { accountId: 'a2', actions: ['notify'] },
  ]);
  assert.deepEqual(first, ['new', 'new']);
  const replay = await ledger.initAccounts('w1', 'feeder', [{ accountId: 'a1', actions: ['rotate-pin', 'notify'] }]);
  assert.deepEqual(replay, ['pending']);
  assert.deepEqual(await ledger.get('w1', 'a1'), { 'rotate-pin': { s: 'pending', n: 0 }, notify: { s: 'pending', n: 0 } });
  const counts = await ledger.counts('w1');
  assert.equal(counts['notify:pending'], 2);
  assert.equal(counts.accounts, 2);
  assert.deepEqual((await auditTypes(ledger)).map((r) => r.type), ['account.queued', 'account.queued']);
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
  assert.deepEqual(audit.map((r) => `${r.type}:${r.from ?? ''}>${r.to ?? ''}`), ['account.queued:>', 'notify.claimed:pending>claimed', 'notify.done:claimed>done']);
  const counts = await ledger.counts('w1');
  assert.equal(counts['notify:done'], 1);
  assert.equal(counts['notify:pending'], 0);
  assert.equal(counts['notify:sent:sms'], 1);
});

test('concurrent claims: exactly one wins', async () => {
  const ledger = fresh();
  await ledger.initAccounts('w1', 'feeder', [{ accountId: 'a1', actions: ['notify'] }]);
  const results = await Promise.all(Array.from({ length: 20 }, () =>
    ledger.transition({ waveId: 'w1', accountId: 'a1', action: 'notify', actor: 't', from: ['pending'], to: 'claimed', event: 'notify.claimed' })));
  assert.equal(results.filter((r) => r.outcome === 'ok').length, 1);
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
