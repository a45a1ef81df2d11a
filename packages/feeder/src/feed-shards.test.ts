import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { QUEUES, parseActionJobs } from '@breachwave/jobs';
import { createLedger, shardOf, shardPrefixes } from '@breachwave/ledger';
import { captureLog, useRedis } from '@breachwave/testkit';
import { writeAccountsFile } from '@breachwave/synth';
import { createFeeder } from './feed.js';
import { createWave } from './wave.js';
import { dropPrefix, tempDir, testEnvelope } from './test-support.js';

const db = useRedis();
const SHARDS = 3;

async function setup(t: Parameters<typeof tempDir>[0], csv?: string) {
  const prefix = `{bwt-${randomBytes(5).toString('hex')}}`;
  const prefixes = shardPrefixes(prefix, SHARDS);
  const dir = await tempDir(t);
  const ledger = createLedger({ redis: db.redis, prefix, shards: SHARDS });
  const file = join(dir, 'accounts.csv');
  if (csv) await writeFile(file, csv);
  else await writeAccountsFile(file, { rows: 120, seed: 7 });
  const wave = await createWave({ ledger, file, brand: 'Example Wireless', helpUrl: 'https://help.example.com', codeSource: { kind: 'generated' }, consolidate: csv !== undefined, dataDir: dir, envelope: testEnvelope(), log: captureLog().log });
  const queues = prefixes.map((p) => new Queue(QUEUES.notify, { connection: db.redis, prefix: p }));
  t.after(async () => {
    await Promise.all(queues.map((q) => q.close()));
    for (const p of prefixes) await dropPrefix(db.redis, p);
  });
  const feeder = createFeeder({ ledger, connection: db.redis, prefix, shards: SHARDS, window: 10_000, batch: 50, accountsPerJob: 7, log: captureLog().log });
  t.after(() => feeder.close());
  return { prefix, ledger, wave, queues, feeder };
}

test('sharded feed: each account\'s first job is in its shard\'s queue and no other, a job never mixes shards, and the wave is whole in the summed counters', async (t) => {
  const s = await setup(t);
  const result = await s.feeder.feed(s.wave.waveId);
  assert.equal(result.complete, true);
  const seen = new Map<string, number>();
  for (const [shard, q] of s.queues.entries()) {
    for (const job of await q.getJobs(['waiting', 'prioritized', 'delayed'], 0, -1)) {
      const refs = parseActionJobs(job.data);
      assert.ok(refs.length <= 7);
      for (const ref of refs) {
        assert.equal(shardOf(s.wave.waveId, ref.accountId, SHARDS), shard, `${ref.accountId} is queued on its own shard`);
        assert.ok(!seen.has(ref.accountId), `${ref.accountId} queued once`);
        seen.set(ref.accountId, shard);
      }
    }
  }
  assert.equal(seen.size, s.wave.stats.accepted, 'every account queued');
  assert.equal(new Set(seen.values()).size, SHARDS, 'over every shard');
  const counts = await s.ledger.counts(s.wave.waveId);
  assert.equal(counts.accounts, s.wave.stats.accepted);
  const perShard = await s.ledger.shardCounts(s.wave.waveId);
  for (let shard = 0; shard < SHARDS; shard++) {
    assert.equal(perShard[shard]?.accounts, [...seen.values()].filter((x) => x === shard).length, `shard ${shard}'s counters count its own accounts`);
  }
});

test('a wave with consolidated notices is refused over several shards before anything is written', async (t) => {
  const rows = ['account_id,segment,phone,email,exposed', 'ACCT-00000001,former,+1 312 201 0001,,name', 'ACCT-00000002,former,(312) 201-0001,,name'];
  for (let i = 3; i < 20; i++) rows.push(`ACCT-${String(i).padStart(8, '0')},former,+1 312 301 ${String(1000 + i)},,name`);
  const s = await setup(t, `${rows.join('\n')}\n`);
  await assert.rejects(s.feeder.feed(s.wave.waveId), /consolidated notices, which need one shard/);
  assert.equal((await s.ledger.counts(s.wave.waveId)).accounts ?? 0, 0, 'no ledger entry written');
  for (const q of s.queues) assert.equal(await q.count(), 0, 'no job queued');
});
