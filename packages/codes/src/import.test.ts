import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkCharacter, generateCode, maskCode } from '@breachwave/domain';
import { dumpRedis, useRedis } from '@breachwave/testkit';
import { createCodeStore, importPool, importRedemptions, personKey } from './index.js';
import { dayFromNow, freshCodes, memoryLog, testCrypto, testPrefix, writeLines } from './test-support.js';

const db = useRedis();

const badCheck = (code: string): string => code.slice(0, -1) + (code.endsWith('0') ? '1' : '0');

test('an import with duplicates, bad check characters and blank lines reports each bad line and loads the rest', async () => {
  const prefix = testPrefix('imp');
  const { log, text } = memoryLog();
  const store = createCodeStore({ redis: db.redis, prefix, crypto: testCrypto(), lowWatermark: 2 });
  const good = freshCodes(6);
  const [g0, g1, g2, g3, g4, g5] = good as [string, string, string, string, string, string];
  const bad = badCheck(generateCode());
  const lines = [
    'activation_code', //  1: header
    g0, //                 2
    '', //                 3: blank
    g1.toLowerCase(), //   4: normalised
    bad, //                5: bad check character
    g0, //                 6: duplicate of line 2
    '   ', //              7: blank
    `${g2.slice(0, 4)}-${g2.slice(4)}`, // 8: hyphenated
    'SHORT', //            9: too short
    g3, //                10
    'ABCDEFGHJU', //      11: U is not in the alphabet
    g4, //                12
    g5, //                13
    g1, //                14: duplicate of line 4
  ];
  const file = writeLines(lines);
  const enrollBy = dayFromNow(90);
  const report = await importPool(store, { file, pool: 'experian', enrollBy, log });

  assert.equal(report.lines, 14);
  assert.equal(report.header, true);
  assert.equal(report.blank, 2);
  assert.equal(report.loaded, 6);
  assert.equal(report.alreadyLoaded, 0);
  assert.equal(report.rejected, 5);
  assert.deepEqual(report.rejects, [
    { line: 5, reason: 'bad check character' },
    { line: 6, reason: 'duplicate of line 2' },
    { line: 9, reason: 'length 5 is outside 6–20' },
    { line: 11, reason: 'character outside the Crockford base32 alphabet' },
    { line: 14, reason: 'duplicate of line 4' },
  ]);
  assert.equal(report.lines, 1 + report.blank + report.loaded + report.alreadyLoaded + report.rejected);
  assert.equal(report.available, 6);

  // Re-importing the same file adds nothing and reports the same bad lines.
  const again = await importPool(store, { file, pool: 'experian', enrollBy, log });
  assert.equal(again.loaded, 0);
  assert.equal(again.alreadyLoaded, 6);
  assert.deepEqual(again.rejects, report.rejects);
  assert.equal(again.importId, report.importId);

  // The same codes offered to another pool are refused: a code belongs to one pool.
  const other = await importPool(store, { file: writeLines([g3, generateCode()]), pool: 'kroll', enrollBy, log });
  assert.equal(other.loaded, 1);
  assert.deepEqual(other.rejects, [{ line: 1, reason: 'already loaded into pool experian' }]);

  const status = await store.status();
  assert.deepEqual(status.pools.map((p) => [p.pool, p.loaded, p.assigned, p.available, p.expired]), [['experian', 6, 0, 6, 0], ['kroll', 1, 0, 1, 0]]);
  assert.equal(status.pools[0]?.nextEnrollBy, enrollBy);

  // Codes rest sealed: no clear code in Redis, and nowhere in the logs or the report.
  const everything = (await dumpRedis(db.redis, prefix)) + text() + JSON.stringify(report);
  for (const c of [...good, bad]) assert.ok(!everything.includes(c), `${maskCode(c)} appears in clear`);
  const audit = (await db.redis.xrange(`${prefix}:audit`, '-', '+')).map(([, f]) => JSON.parse(f[1] ?? '{}') as { type: string; detail: { loaded?: number } });
  assert.deepEqual(audit.map((a) => [a.type, a.detail.loaded]), [['codes.imported', 6], ['codes.imported', 0], ['codes.imported', 1]]);
});

test('an enroll-by date in the past, a bad pool name and a missing file are refused', async () => {
  const store = createCodeStore({ redis: db.redis, prefix: testPrefix('imp'), crypto: testCrypto() });
  const file = writeLines(freshCodes(2));
  await assert.rejects(importPool(store, { file, pool: 'p', enrollBy: dayFromNow(-1) }), /in the past/);
  await assert.rejects(importPool(store, { file, pool: 'p', enrollBy: '2026-02-30' }), /YYYY-MM-DD/);
  await assert.rejects(importPool(store, { file, pool: 'no spaces', enrollBy: dayFromNow(5) }), /pool name/);
  await assert.rejects(importPool(store, { file: `${file}.missing`, pool: 'p', enrollBy: dayFromNow(5) }), (e: Error & { code?: string }) => e.code === 'BW_INPUT_FILE');
});

test('codes past their enroll-by date count as expired and are never handed out', async () => {
  const prefix = testPrefix('exp');
  const crypto = testCrypto();
  const today = createCodeStore({ redis: db.redis, prefix, crypto });
  await importPool(today, { file: writeLines(freshCodes(3)), pool: 'p', enrollBy: dayFromNow(2) });
  await importPool(today, { file: writeLines(freshCodes(2)), pool: 'p', enrollBy: dayFromNow(30) });
  const later = createCodeStore({ redis: db.redis, prefix, crypto, now: () => new Date(Date.now() + 10 * 86_400_000) });
  const s = (await later.status()).pools[0];
  assert.deepEqual([s?.loaded, s?.available, s?.expired], [5, 2, 3]);
  const got = await later.allocateFromPool('p', { personKey: 'a1', waveId: 'w', accountId: 'a1' });
  assert.equal(got.outcome, 'assigned');
  if (got.outcome === 'assigned') assert.equal(got.assignment.enrollBy, dayFromNow(30));
});

test('vendors without our check character import with check off', async () => {
  const store = createCodeStore({ redis: db.redis, prefix: testPrefix('nochk'), crypto: testCrypto() });
  const body = 'JNRW0Q4T1';
  const withCheck = body + checkCharacter(body);
  const r = await importPool(store, { file: writeLines(['ILOU12345X', badCheck(withCheck), 'ab$12345']), pool: 'vendor', enrollBy: dayFromNow(5), check: false });
  assert.equal(r.loaded, 2);
  assert.deepEqual(r.rejects, [{ line: 3, reason: 'not alphanumeric' }]);
});

test('the redemption feed marks holders redeemed once and reports unknown lines', async () => {
  const prefix = testPrefix('red');
  const store = createCodeStore({ redis: db.redis, prefix, crypto: testCrypto() });
  const codes = freshCodes(4);
  await importPool(store, { file: writeLines(codes), pool: 'p', enrollBy: dayFromNow(30) });
  const held: string[] = [];
  for (const a of ['a1', 'a2', 'a3']) {
    await store.allocateFromPool('p', { personKey: personKey('person', 'w1', a), waveId: 'w1', accountId: a });
    const revealed = await store.reveal(a);
    assert.ok(revealed);
    held.push(revealed.code);
  }
  const unassigned = codes.find((c) => !held.includes(c)) ?? '';
  const [h0, h1] = held as [string, string];
  const file = writeLines(['code,redeemed_at', h0, `${h1},2025-01-02`, '', generateCode(), unassigned, h0, '??']);
  const r = await importRedemptions(store, { file });
  assert.equal(r.redeemed, 2);
  assert.equal(r.alreadyRedeemed, 1);
  assert.deepEqual(r.problemLines, [
    { line: 5, reason: 'code is not one of ours' },
    { line: 6, reason: 'code was never handed out' },
    { line: 8, reason: 'length 2 is outside 6–20' },
  ]);
  const again = await importRedemptions(store, { file });
  assert.equal(again.redeemed, 0);
  assert.equal(again.alreadyRedeemed, 3);
  const s = await store.status();
  assert.equal(s.pools[0]?.redeemed, 2);
  assert.equal(s.redeemed, 2);
  assert.equal(await db.redis.hget(store.keys.redeemed, (await store.assignment('a2'))?.hash ?? ''), '2025-01-02');
});
