import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { hasValidCheck } from '@breachwave/domain';
import { acquireRedis, dumpRedis, type TestRedis } from '@breachwave/testkit';
import { createCodeStore, importPool, personKey, type Assignment } from './index.js';
import { dayFromNow, freshCodes, testCrypto, testPrefix, writeLines } from './test-support.js';

let server: TestRedis;
const clients: Redis[] = [];
const client = (): Redis => {
  const c = new Redis(server.url);
  clients.push(c);
  return c;
};
before(async () => {
  server = await acquireRedis();
});
after(async () => {
  await Promise.all(clients.map((c) => c.quit()));
  await server.stop();
});

test('allocations racing on several connections: every code handed out once, every person holds one, duplicates get the same code', async () => {
  const prefix = testPrefix('race');
  const crypto = testCrypto();
  const stores = Array.from({ length: 6 }, () => createCodeStore({ redis: client(), prefix, crypto, lowWatermark: 0 }));
  const first = stores[0];
  assert.ok(first);
  const codes = freshCodes(300);
  await importPool(first, { file: writeLines(codes), pool: 'p', enrollBy: dayFromNow(30) });

  // 250 people, each asked for 3 times by different connections at once (retried and duplicated jobs).
  const people = Array.from({ length: 250 }, (_, i) => `acct-${i}`);
  const calls = people.flatMap((a, i) => [0, 1, 2].map((j) => ({ a, store: stores[(i + j * 2) % stores.length] ?? first })));
  const results = await Promise.all(calls.map(({ a, store }) => store.allocateFromPool('p', { personKey: a, waveId: 'w1', accountId: a })));

  const byPerson = new Map<string, Set<string>>();
  let assigned = 0;
  results.forEach((r, i) => {
    assert.notEqual(r.outcome, 'exhausted');
    if (r.outcome === 'exhausted') return;
    if (r.outcome === 'assigned') assigned++;
    const a = calls[i]?.a ?? '';
    (byPerson.get(a) ?? byPerson.set(a, new Set()).get(a))?.add(r.assignment.hash);
  });
  assert.equal(assigned, people.length, 'one real assignment per person');
  for (const [a, hashes] of byPerson) assert.equal(hashes.size, 1, `${a} got one code whatever the number of calls`);
  const hashes = [...byPerson.values()].map((s) => [...s][0]);
  assert.equal(new Set(hashes).size, people.length, 'no code handed to two people');

  const revealed = await Promise.all(people.map((a) => first.reveal(a)));
  const clear = revealed.map((r) => r?.code ?? '');
  assert.equal(new Set(clear).size, people.length);
  for (const c of clear) assert.ok(codes.includes(c), 'every code came from the pool');

  const s = (await first.status()).pools[0];
  assert.deepEqual([s?.loaded, s?.assigned, s?.available], [300, 250, 50]);
  assert.equal(await first.internals.redis.hlen(first.keys.assign), 250);
});

test('generated codes: unique, valid check character, one per person; a person keeps theirs across waves unless the wave asks for fresh ones', async () => {
  const prefix = testPrefix('gen');
  const crypto = testCrypto();
  const stores = Array.from({ length: 4 }, () => createCodeStore({ redis: client(), prefix, crypto }));
  const s0 = stores[0];
  assert.ok(s0);
  const day = Math.floor(Date.now() / 86_400_000) + 45;
  const people = Array.from({ length: 200 }, (_, i) => `p${i}`);
  const results = await Promise.all(people.flatMap((a, i) => [0, 1].map((j) =>
    (stores[(i + j) % stores.length] ?? s0).allocateGenerated(day, { personKey: a, waveId: 'w1', accountId: a }))));
  assert.equal(results.filter((r) => r.outcome === 'assigned').length, people.length);
  const codes = await Promise.all(people.map(async (a) => (await s0.reveal(a))?.code ?? ''));
  assert.equal(new Set(codes).size, people.length);
  for (const c of codes) assert.ok(c.length === 10 && hasValidCheck(c));

  // Wave 2, same person: the same code comes back, with the wave that first asked for it.
  const again = await s0.allocateGenerated(day + 10, { personKey: personKey('person', 'w2', 'p7'), waveId: 'w2', accountId: 'p7' });
  assert.equal(again.outcome, 'existing');
  if (again.outcome === 'existing') {
    assert.equal(again.assignment.waveId, 'w1');
    assert.equal((await s0.reveal('p7'))?.code, codes[7]);
  }
  // The operator asked for fresh codes in wave 3.
  await s0.setScope('w3', 'wave');
  assert.equal(await s0.scopeOf('w3'), 'wave');
  const fresh = await s0.allocateGenerated(day, { personKey: personKey(await s0.scopeOf('w3'), 'w3', 'p7'), waveId: 'w3', accountId: 'p7' });
  assert.equal(fresh.outcome, 'assigned');
  assert.notEqual((await s0.reveal('w:w3:p7'))?.code, codes[7]);

  const text = await dumpRedis(s0.internals.redis, prefix);
  for (const c of codes) assert.ok(!text.includes(c), 'generated codes rest sealed');
});

test('a pool below its low watermark fires one event; an empty pool one exhaustion event, until an import refills it', async () => {
  const prefix = testPrefix('low');
  const store = createCodeStore({ redis: client(), prefix, crypto: testCrypto(), lowWatermark: 3 });
  await importPool(store, { file: writeLines(freshCodes(5)), pool: 'p', enrollBy: dayFromNow(10) });
  const got: (Assignment | string)[] = [];
  let lowEvents = 0;
  for (let i = 0; i < 7; i++) {
    const r = await store.allocateFromPool('p', { personKey: `a${i}`, waveId: 'w', accountId: `a${i}` });
    if (r.outcome === 'exhausted') got.push(r.firstEvent ? 'exhausted-first' : 'exhausted');
    else {
      got.push(r.assignment);
      if (r.outcome === 'assigned' && r.lowWatermark) lowEvents++;
    }
  }
  assert.equal(lowEvents, 1);
  assert.deepEqual(got.slice(5), ['exhausted-first', 'exhausted']);
  let s = (await store.status()).pools[0];
  assert.deepEqual([s?.assigned, s?.available, s?.waits, s?.lowWatermarkEvents, s?.exhaustedEvents, s?.low], [5, 0, 2, 1, 1, true]);

  await importPool(store, { file: writeLines(freshCodes(10)), pool: 'p', enrollBy: dayFromNow(10) });
  s = (await store.status()).pools[0];
  assert.equal(s?.low, false, 'an import above the watermark lifts the low state');
  const r = await store.allocateFromPool('p', { personKey: 'a5', waveId: 'w', accountId: 'a5' });
  assert.equal(r.outcome, 'assigned');
  const types = (await store.internals.redis.xrange(`${prefix}:audit`, '-', '+')).map(([, f]) => (JSON.parse(f[1] ?? '{}') as { type: string }).type);
  assert.deepEqual(types.filter((t) => t.startsWith('codes.pool.')), ['codes.pool.low', 'codes.pool.exhausted']);
});
