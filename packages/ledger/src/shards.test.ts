import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { useRedis } from '@breachwave/testkit';
import { createLedger, keys, shardOf, shardPrefix, shardPrefixes, sumShardCounts, waveProgress } from './index.js';

const db = useRedis();
const tag = () => `{t${randomBytes(4).toString('hex')}}`;

test('the shard of an account is stable, in range, depends on the wave too, and spreads accounts about evenly', () => {
  assert.equal(shardOf('w1', 'a1', 1), 0);
  assert.equal(shardOf('w1', 'a1', 0), 0);
  const counts = [0, 0, 0];
  const moved = { n: 0 };
  for (let i = 0; i < 3000; i++) {
    const s = shardOf('w1', `ACCT-${i}`, 3);
    assert.ok(s >= 0 && s < 3);
    assert.equal(shardOf('w1', `ACCT-${i}`, 3), s, 'the same account of the same wave lands on the same shard every time');
    counts[s] = (counts[s] ?? 0) + 1;
    if (shardOf('w2', `ACCT-${i}`, 3) !== s) moved.n++;
  }
  for (const c of counts) assert.ok(c > 850 && c < 1150, `about a third per shard, got ${counts.join('/')}`);
  assert.ok(moved.n > 1500, 'another wave spreads the same accounts differently');
});

test('shard 0 is the deployment\'s own prefix; the others are tags of their own; an untagged prefix has only shard 0', () => {
  assert.equal(shardPrefix('{bw}', 0), '{bw}');
  assert.equal(shardPrefix('{bw}', 2), '{bw:s2}');
  assert.deepEqual(shardPrefixes('{bw}', 3), ['{bw}', '{bw:s1}', '{bw:s2}']);
  assert.equal(shardPrefix('bw', 0), 'bw');
  assert.throws(() => shardPrefix('bw', 1), /hash-tag prefix/);
});

test('counters summed across shards: states and events add up, a finish time is the latest', () => {
  assert.deepEqual(
    sumShardCounts([{ 'notify:done': '2', 'notify:at:finished': '100', accounts: '3' }, { 'notify:done': 1, 'notify:at:finished': 250, 'notify:sent:sms': 1 }, {}]),
    { 'notify:done': 3, 'notify:at:finished': 250, accounts: 3, 'notify:sent:sms': 1 },
  );
});

test('one shard keeps every key where it was: a ledger of 1 shard writes exactly the keys of the unsharded one', async () => {
  const prefix = tag();
  const ledger = createLedger({ redis: db.redis, prefix, shards: 1 });
  await ledger.initAccounts('w1', 'feeder', [{ accountId: 'a1', actions: ['notify'] }]);
  await ledger.putAccounts('w1', [{ accountId: 'a1', record: { v: 1 } as never }]);
  const k = keys(prefix);
  assert.deepEqual((await db.redis.keys(`${prefix}*`)).sort(), [k.account('w1', 'a1'), k.audit, k.counts('w1'), k.ledger('w1')].sort());
});

test('with 3 shards each account lives in its shard\'s keys, with its audit records on its shard\'s stream; readers see the whole wave', async () => {
  const prefix = tag();
  const ledger = createLedger({ redis: db.redis, prefix, shards: 3 });
  await ledger.createWave({ waveId: 'w1', createdAt: new Date().toISOString(), createdBy: 'op' } as never, { rows: 30, accepted: 30 }, {});
  const ids = Array.from({ length: 30 }, (_, i) => `ACCT-${i}`);
  const byShard = new Map<number, string[]>();
  for (const a of ids) byShard.set(shardOf('w1', a, 3), [...(byShard.get(shardOf('w1', a, 3)) ?? []), a]);
  assert.equal(byShard.size, 3, 'the fixture spreads over every shard');

  assert.deepEqual(await ledger.initAccounts('w1', 'feeder', ids.map((accountId) => ({ accountId, actions: ['notify'] }))), ids.map(() => 'new'));
  assert.deepEqual(await ledger.initAccounts('w1', 'feeder', [{ accountId: 'ACCT-3', actions: ['notify'] }, { accountId: 'ACCT-0', actions: ['notify'] }]), ['pending', 'pending'], 'replies in the order asked, whatever the shards');
  await ledger.putAccounts('w1', ids.map((accountId) => ({ accountId, record: { id: accountId } as never })));
  for (const a of ids) {
    const claim = await ledger.transition({ waveId: 'w1', accountId: a, action: 'notify', actor: 't', from: ['pending'], to: 'claimed', event: 'notify.claimed', withAccount: true });
    assert.equal(claim.outcome, 'ok');
    assert.deepEqual(claim.account, { id: a }, 'the claim reads the record from the account\'s shard');
    await ledger.transition({ waveId: 'w1', accountId: a, action: 'notify', actor: 't', from: ['claimed'], to: 'done', event: 'notify.done', counters: { 'notify:sent:sms': 1 }, releaseAccount: 0 });
  }

  for (const [s, accts] of byShard) {
    const sk = ledger.shardKeys[s];
    assert.ok(sk);
    assert.ok(sk.ledger('w1').startsWith(shardPrefix(prefix, s)));
    assert.deepEqual(Object.keys(await db.redis.hgetall(sk.ledger('w1'))).sort(), [...accts].sort(), `shard ${s} holds its accounts and no other`);
    const audited = (await db.redis.xrange(sk.audit, '-', '+')).map(([, f]) => JSON.parse(f[1] ?? '{}') as { type: string; account?: string; detail?: { accounts?: Record<string, string[]> } });
    const transitions = audited.filter((r) => r.type.startsWith('notify.'));
    assert.deepEqual(new Set(transitions.map((r) => r.account)), new Set(accts), `shard ${s}'s stream audits its accounts only`);
    assert.deepEqual(audited.filter((r) => r.type === 'accounts.queued').flatMap((r) => r.detail?.accounts?.notify ?? []).sort(), [...accts].sort());
    assert.equal((await ledger.shardCounts('w1'))[s]?.['notify:done'], accts.length);
  }
  const waveAudit = (await db.redis.xrange(ledger.keys.audit, '-', '+')).map(([, f]) => JSON.parse(f[1] ?? '{}') as { type: string });
  assert.ok(waveAudit.some((r) => r.type === 'wave.created'), 'wave events stay on the deployment\'s stream');

  const counts = await ledger.counts('w1');
  assert.equal(counts['notify:done'], 30);
  assert.equal(counts['notify:pending'] ?? 0, 0);
  assert.equal(counts['notify:sent:sms'], 30);
  assert.equal(counts.accounts, 30);
  const seen: string[] = [];
  for await (const [a, e] of ledger.entries('w1', 4)) { seen.push(a); assert.equal(e.notify?.s, 'done'); }
  assert.deepEqual(seen.sort(), [...ids].sort(), 'the walk visits every shard, each account once');
  assert.deepEqual((await ledger.getMany('w1', ['ACCT-7', 'nope', 'ACCT-1'])).map((e) => e?.notify?.s), ['done', undefined, 'done']);
  assert.deepEqual(await ledger.getAccounts('w1', ids.slice(0, 5)), ids.slice(0, 5).map(() => undefined), 'records released on their shard');
  await ledger.setWaveStatus('w1', 'fed', 'feeder');
  const progress = await waveProgress(ledger, 'w1');
  assert.equal(progress.finished, 30);
  assert.equal(progress.complete, true);
});

test('a consolidated group across shards is refused before anything is written', async () => {
  const ledger = createLedger({ redis: db.redis, prefix: tag(), shards: 3 });
  const a = 'ACCT-0';
  const b = Array.from({ length: 20 }, (_, i) => `ACCT-${i + 1}`).find((x) => shardOf('w1', x, 3) !== shardOf('w1', a, 3)) ?? '';
  await ledger.initAccounts('w1', 'feeder', [{ accountId: a, actions: ['notify'] }, { accountId: b, actions: ['notify'] }]);
  await assert.rejects(ledger.claimGroup({ waveId: 'w1', action: 'notify', lead: a, token: 't', actor: 't', accountIds: [a, b] }), /consolidation needs one shard/);
  assert.equal((await ledger.get('w1', b))?.notify?.s, 'pending');
});
