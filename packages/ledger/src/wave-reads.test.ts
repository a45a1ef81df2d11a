import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { useRedis } from '@breachwave/testkit';
import { createLedger } from './index.js';

const db = useRedis();

test('setWaveStatus keeps the first and the last time the wave entered each status; getWave hands them out as ISO times', async () => {
  let clock = new Date('2026-12-01T10:00:00.000Z');
  const ledger = createLedger({ redis: db.redis, prefix: `t${randomBytes(4).toString('hex')}`, now: () => clock });
  await ledger.createWave({ waveId: 'w1', createdAt: clock.toISOString(), source: 'x.csv', brand: 'B', helpUrl: 'https://h.example.com', rules: {} },
    { rows: 1, accepted: 1, rejected: 0 }, {});
  assert.deepEqual((await ledger.getWave('w1')).times, {});

  await ledger.setWaveStatus('w1', 'feeding', 'feeder');
  clock = new Date('2026-12-01T10:05:00.000Z');
  await ledger.setWaveStatus('w1', 'fed', 'feeder');
  // Accounts added later: fed again.
  clock = new Date('2026-12-01T11:00:00.000Z');
  await ledger.setWaveStatus('w1', 'feeding', 'feeder');
  clock = new Date('2026-12-01T11:01:00.000Z');
  await ledger.setWaveStatus('w1', 'fed', 'feeder');

  const wave = await ledger.getWave('w1');
  assert.equal(wave.status, 'fed');
  assert.deepEqual(wave.times, {
    feeding: { first: '2026-12-01T10:00:00.000Z', last: '2026-12-01T11:00:00.000Z' },
    fed: { first: '2026-12-01T10:05:00.000Z', last: '2026-12-01T11:01:00.000Z' },
  });
  // The times are not counters.
  assert.deepEqual(Object.keys(wave.stats).sort(), ['accepted', 'rejected', 'rows']);
});

test('entryPages walks the ledger one HSCAN reply at a time, every account once; getMany reads several entries in order', async () => {
  const ledger = createLedger({ redis: db.redis, prefix: `t${randomBytes(4).toString('hex')}` });
  // More accounts than Redis keeps in its compact encoding (hash-max-listpack-entries, 512 by
  // default), so COUNT is honoured.
  const ids = Array.from({ length: 1000 }, (_, i) => `a${i}`);
  await ledger.initAccounts('w1', 'feeder', ids.map((accountId) => ({ accountId, actions: ['notify'] })));
  const seen: string[] = [];
  let pages = 0;
  for await (const page of ledger.entryPages('w1', 20)) {
    pages++;
    assert.ok(page.length > 0 && page.length < 100, `page of ${page.length}`);
    for (const [id, entry] of page) {
      seen.push(id);
      assert.equal(entry.notify?.s, 'pending');
    }
  }
  assert.ok(pages > 3, `${pages} pages`);
  assert.deepEqual(seen.sort(), [...ids].sort());

  const many = await ledger.getMany('w1', ['a2', 'nobody', 'a1']);
  assert.equal(many.length, 3);
  assert.equal(many[0]?.notify?.s, 'pending');
  assert.equal(many[1], undefined);
  assert.equal(many[2]?.notify?.s, 'pending');
  assert.deepEqual(await ledger.getMany('w1', []), []);
});

test('getAccounts reads several account records in one round trip, undefined where a record is gone', async () => {
  const ledger = createLedger({ redis: db.redis, prefix: `t${randomBytes(4).toString('hex')}` });
  const record = { segment: 'former' as const, locale: 'en' as const, exposed: [], hasPhone: false, phoneIsMobile: false, hasEmail: true, contact: 'sealed', line: 7 };
  await ledger.putAccounts('w1', [{ accountId: 'a1', record }, { accountId: 'a3', record: { ...record, line: 9 } }]);
  await ledger.releaseAccount('w1', 'a3');
  const got = await ledger.getAccounts('w1', ['a1', 'a2', 'a3']);
  assert.deepEqual(got, [record, undefined, undefined]);
  assert.deepEqual(await ledger.getAccounts('w1', []), []);
});
