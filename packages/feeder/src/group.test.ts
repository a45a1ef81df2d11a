import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { MAX_GROUP_ACCOUNTS } from '@breachwave/domain';
import { QUEUES, parseActionJobs } from '@breachwave/jobs';
import { createLedger } from '@breachwave/ledger';
import { captureLog, useRedis } from '@breachwave/testkit';
import { dryRunWave } from './dry-run.js';
import { createFeeder, jobAccounts } from './feed.js';
import { SPOOL_FILE, type SpoolEntry } from './ingest.js';
import { createWave } from './wave.js';
import { dropPrefix, randomPrefix, tempDir, testEnvelope } from './test-support.js';

const db = useRedis();

/**
 * 200 rows: a family of four on one phone (rows far apart, the number written four ways), two
 * accounts on one email, twelve on one business phone (more than a notice names), an account on
 * the family's number that has an email too (same first channel: SMS, so in the family), and singles.
 */
function familyFile(): { csv: string; family: string[]; couple: string[]; business: string[] } {
  const rows: string[] = ['account_id,segment,phone,email,exposed'];
  const family = ['ACCT-00000170', 'ACCT-00000171', 'ACCT-00000172', 'ACCT-00000173', 'ACCT-00000174'];
  const familyPhone = ['+1 312 201 0001', '(312) 201-0001', '312.201.0001', '13122010001', '+13122010001'];
  const couple = ['ACCT-00000300', 'ACCT-00000301'];
  const business = Array.from({ length: 12 }, (_, i) => `ACCT-0000040${String(i).padStart(2, '0')}`);
  const at = new Map<number, string>([
    [3, `${family[0]},prepaid-active,${familyPhone[0]},,name;pin`],
    [60, `${family[1]},prepaid-active,${familyPhone[1]},,pin`],
    [120, `${family[2]},postpaid-current,${familyPhone[2]},,name;ssn`],
    [198, `${family[3]},former,${familyPhone[3]},,name`],
    [150, `${family[4]},former,${familyPhone[4]},kid@example.com,name`],
    [10, `${couple[0]},former,,Pat@Example.com,email`],
    [190, `${couple[1]},former,,pat@example.com ,name;email`],
  ]);
  business.forEach((id, i) => at.set(20 + i * 7, `${id},postpaid-current,+1 415 201 0002,,name`));
  let single = 0;
  for (let line = 0; line < 200; line++) {
    rows.push(at.get(line) ?? `ACCT-${String(900000 + single).padStart(8, '0')},former,+1 312 30${String(single++).padStart(1, '0').slice(-1)} ${String(1000 + line)},,name`);
  }
  return { csv: `${rows.join('\n')}\n`, family, couple, business };
}

const spoolOf = async (path: string): Promise<SpoolEntry[]> => (await readFile(path, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as SpoolEntry);

test('ingest groups the accounts whose notice goes to the same contact point, however far apart their rows, next to one another in the spool', async (t) => {
  const prefix = randomPrefix();
  t.after(() => dropPrefix(db.redis, prefix));
  const ledger = createLedger({ redis: db.redis, prefix });
  const dir = await tempDir(t);
  const file = join(dir, 'accounts.csv');
  const { csv, family, couple, business } = familyFile();
  await writeFile(file, csv);
  const wave = await createWave({ ledger, file, brand: 'Example Wireless', helpUrl: 'https://help.example.com', dataDir: dir, envelope: testEnvelope(), log: captureLog().log });
  assert.equal(wave.manifest.consolidate, true, 'on by default');
  assert.equal(wave.stats.accepted, 200);
  const spool = await spoolOf(wave.spoolPath);
  assert.equal(spool.length, 200, 'every accepted account once');
  assert.equal(new Set(spool.map((e) => e.accountId)).size, 200);
  // No contact key, clear or keyed, is left in the spool, and no helper file in the wave's directory.
  assert.doesNotMatch(await readFile(wave.spoolPath, 'utf8'), /\t/);
  assert.deepEqual((await readdir(join(dir, 'waves', wave.waveId))).sort(), ['accounts.jsonl', 'rejects.csv']);

  const groups = new Map<string, string[]>();
  spool.forEach((e, i) => {
    const g = e.record.group;
    if (!g) return;
    const key = g.join(',');
    groups.set(key, [...(groups.get(key) ?? []), e.accountId]);
    // Next to one another: the account before is of the same group unless this one leads it.
    if (g[0] !== e.accountId) assert.deepEqual(spool[i - 1]?.record.group, g, `${e.accountId} follows its group`);
  });
  const sorted = [...groups.values()].map((ids) => [...ids].sort().join(',')).sort();
  assert.deepEqual(sorted, [
    [...family].sort().join(','),
    business.slice(0, MAX_GROUP_ACCOUNTS).join(','),
    business.slice(MAX_GROUP_ACCOUNTS).join(','),
    couple.join(','),
  ].sort(), 'the family (five on one number written five ways), the couple (one email in two cases), the business cut at the limit');
  // Each group in the file's order: the first row of the group leads it.
  assert.deepEqual(spool.find((e) => e.accountId === family[0])?.record.group, [family[0], family[1], family[2], family[4], family[3]]);
  assert.equal(wave.ingest.groups?.groups, 4);
  assert.equal(wave.ingest.groups?.grouped, 5 + 2 + 12);

  // The dry run counts messages: one per group, one per single.
  const report = await dryRunWave(ledger, wave.waveId);
  const singles = 200 - 19;
  assert.deepEqual(report.consolidated, { notices: 4, accounts: 19 });
  assert.deepEqual(report.notices, { sms: singles + 3, email: 1 });
  assert.equal(report.byChannel.sms + report.byChannel.email, 200, 'accounts still add up');
  assert.ok(report.samples.some((s) => s.channel === 'sms' && /accounts ending in \*{4}, \*{4}/.test(s.text)), 'a consolidated sample, masked');

  // Off: one notice per account, no group in any record.
  const off = await createWave({ ledger, file, brand: 'Example Wireless', helpUrl: 'https://help.example.com', dataDir: join(dir, 'off'), envelope: testEnvelope(), log: captureLog().log, consolidate: false, allowSameFile: true });
  assert.equal(off.manifest.consolidate, false);
  assert.ok((await spoolOf(off.spoolPath)).every((e) => e.record.group === undefined));
  assert.deepEqual((await dryRunWave(ledger, off.waveId)).consolidated, { notices: 0, accounts: 0 });
});

test('the feeder never cuts a group between two batches or two jobs', async (t) => {
  assert.deepEqual(jobAccounts([
    { accountId: 'a', record: {} as SpoolEntry['record'] },
    { accountId: 'b', record: { group: ['b', 'c', 'd'] } as unknown as SpoolEntry['record'] },
    { accountId: 'c', record: { group: ['b', 'c', 'd'] } as unknown as SpoolEntry['record'] },
    { accountId: 'd', record: { group: ['b', 'c', 'd'] } as unknown as SpoolEntry['record'] },
    { accountId: 'e', record: {} as SpoolEntry['record'] },
  ], 2), [['a'], ['b', 'c', 'd'], ['e']]);

  const prefix = randomPrefix();
  const ledger = createLedger({ redis: db.redis, prefix });
  const dir = await tempDir(t);
  const file = join(dir, 'accounts.csv');
  await writeFile(file, familyFile().csv);
  const wave = await createWave({ ledger, file, brand: 'Example Wireless', helpUrl: 'https://help.example.com', dataDir: dir, envelope: testEnvelope(), log: captureLog().log });
  // Batches of 7 and one account per job: without the rule, groups would straddle both.
  const feeder = createFeeder({ ledger, connection: db.redis, prefix, window: 10_000, batch: 7, accountsPerJob: 1, log: captureLog().log });
  const queue = new Queue(QUEUES.notify, { connection: db.redis, prefix });
  t.after(async () => {
    await feeder.close();
    await queue.close();
    await dropPrefix(db.redis, prefix);
  });
  assert.equal((await feeder.feed(wave.waveId)).fed, 200);
  const spool = await spoolOf(join(dir, 'waves', wave.waveId, SPOOL_FILE));
  const groupOf = new Map(spool.map((e) => [e.accountId, e.record.group?.join(',')]));
  const jobs = await queue.getJobs(['waiting'], 0, -1);
  const seen = new Set<string>();
  for (const job of jobs) {
    const ids = parseActionJobs(job.data).map((r) => r.accountId);
    for (const id of ids) {
      assert.ok(!seen.has(id), `${id} in one job`);
      seen.add(id);
    }
    const groupsInJob = new Set(ids.map((id) => groupOf.get(id)));
    // A job of one account per job holds one single, or exactly one whole group.
    if (ids.length > 1) {
      assert.equal(groupsInJob.size, 1);
      const g = [...groupsInJob][0];
      assert.ok(g);
      assert.deepEqual(ids, g.split(','), 'the whole group, lead first');
    }
  }
  assert.equal(seen.size, 200);
});

test('a shared phone whose accounts speak different languages: one consolidated notice per language, never an English account told in Spanish', async (t) => {
  const prefix = randomPrefix();
  t.after(() => dropPrefix(db.redis, prefix));
  const ledger = createLedger({ redis: db.redis, prefix });
  const dir = await tempDir(t);
  const file = join(dir, 'accounts.csv');
  await writeFile(file, [
    'account_id,segment,phone,email,exposed,locale',
    'ES-1,prepaid-active,+1 312 201 0001,,name,es',
    'EN-1,prepaid-active,(312) 201-0001,,name,en',
    'ES-2,former,312.201.0001,,pin,es',
    'EN-2,former,+13122010001,,name,en',
    'EN-3,former,+1 415 201 0009,,name,en',
    '',
  ].join('\n'));
  const wave = await createWave({ ledger, file, brand: 'Example Wireless', helpUrl: 'https://help.example.com', dataDir: dir, envelope: testEnvelope(), log: captureLog().log });
  const spool = await spoolOf(wave.spoolPath);
  const groupOf = new Map(spool.map((e) => [e.accountId, e.record.group]));
  assert.deepEqual(groupOf.get('ES-1'), ['ES-1', 'ES-2'], 'the Spanish accounts of the phone together');
  assert.deepEqual(groupOf.get('EN-1'), ['EN-1', 'EN-2'], 'the English ones together, apart from them');
  assert.equal(groupOf.get('EN-3'), undefined, 'alone on its phone');
  for (const e of spool) {
    for (const id of e.record.group ?? []) assert.equal(spool.find((o) => o.accountId === id)?.record.locale, e.record.locale, `${e.accountId}'s group is all ${e.record.locale}`);
  }
  const report = await dryRunWave(ledger, wave.waveId);
  assert.deepEqual([report.notices.sms, report.consolidated.notices, report.consolidated.accounts], [3, 2, 4], 'one notice per language on the shared phone, one for the single');
  assert.deepEqual(report.samples.filter((s) => s.text.includes('*')).map((s) => s.locale).sort(), ['en', 'es'], 'a consolidated sample in each language');
});
