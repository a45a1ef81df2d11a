import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { createLedger } from '@breachwave/ledger';
import { silentLogger } from '@breachwave/logging';
import { createEnvelope } from '@breachwave/secrets';
import { createActionQueues, createActionWorker, createShardWorkers } from '@breachwave/actions';
import { createNoticeProcessor } from '@breachwave/notifier';
import { createTwilioClient, createTwilioSmsSender } from '@breachwave/adapter-twilio';
import { acquireRedis, startTwilioServer, waitFor, type TestRedis, type TwilioServer } from '@breachwave/testkit';
import { createDeadLetters } from './index.js';

let server: TestRedis;
let redis: Redis;
let twilio: TwilioServer;
before(async () => {
  server = await acquireRedis();
  redis = new Redis(server.url, { maxRetriesPerRequest: null });
  twilio = await startTwilioServer();
});
after(async () => {
  await twilio.close();
  await redis.quit();
  await server.stop();
});

/** The whole path, over `shards` shards (a hash-tag prefix when above 1). */
async function scenario(shards: number): Promise<void> {
  const prefix = shards > 1 ? `{d${randomBytes(3).toString('hex')}}` : `d${randomBytes(3).toString('hex')}`;
  const ledger = createLedger({ redis, prefix, shards });
  const envelope = createEnvelope([{ id: 'k1', key: randomBytes(32) }]);
  const waveId = 'w1';
  const phones = Array.from({ length: 6 }, (_, i) => `+1202555${shards === 1 ? '01' : '31'}1${i}`);
  await ledger.createWave({ waveId, createdAt: new Date().toISOString(), source: 't', brand: 'B', helpUrl: 'https://h.example.com', rules: {} }, { accepted: phones.length }, {});
  await ledger.putAccounts(waveId, phones.map((phone, i) => ({ accountId: `a${i}`,
    record: { segment: 'former', locale: 'en', exposed: [], hasPhone: true, phoneIsMobile: true, hasEmail: false, line: i + 2, contact: envelope.sealJson({ phone }, `${waveId}:a${i}`) } })));
  await ledger.initAccounts(waveId, 'test', phones.map((_, i) => ({ accountId: `a${i}`, actions: ['notify'] })));
  // a0–a2 are "invalid numbers", a3 opted out, a4–a5 fine.
  for (const p of phones.slice(0, 3)) twilio.inject('invalid-number', { to: p });
  twilio.inject('opted-out', { to: phones[3] ?? '' });
  const sms = createTwilioSmsSender({ client: createTwilioClient({ accountSid: twilio.accountSid, authToken: twilio.authToken, baseUrl: twilio.url }), from: '+15005550006' });
  const processor = createNoticeProcessor({ ledger, envelope, sms, log: silentLogger() });
  const worker = createShardWorkers(prefix, shards, (p) => createActionWorker({ action: 'notify', connection: redis, prefix: p, processor, log: silentLogger() }));
  const queues = createActionQueues({ connection: redis, prefix, shards });
  await worker.start();
  for (let i = 0; i < phones.length; i++) await queues.add('notify', { waveId, accountId: `a${i}` });
  const finished = async () => {
    let n = 0;
    for await (const [, e] of ledger.entries(waveId)) if (e.notify?.s === 'done' || e.notify?.s === 'failed') n++;
    return n === phones.length;
  };
  await waitFor(finished, { what: 'all finished' });

  const dlq = createDeadLetters({ ledger, queues });
  assert.deepEqual((await dlq.list()).map((g) => [g.action, g.reason, g.count]), [['notify', 'BW_SMS_INVALID_NUMBER', 3], ['notify', 'BW_SMS_OPTED_OUT', 1]]);
  assert.deepEqual((await dlq.show({ reason: 'BW_SMS_OPTED_OUT' })).map((d) => d.accountId), ['a3']);

  // The operator fixes the cause (here: the provider now accepts the numbers) and re-drives.
  twilio.clearFaults();
  twilio.inject('opted-out', { to: phones[3] ?? '' });
  const r = await dlq.retry({ reason: 'BW_SMS_INVALID_NUMBER' }, 'operator:test');
  assert.deepEqual(r, { retried: 3, expired: 0 });
  await waitFor(async () => (await dlq.list()).length === 1 && (await finished()), { what: 're-driven notices sent' });
  for (const p of phones.slice(0, 3)) assert.equal(twilio.messages.filter((m) => m.to === p).length, 1);
  assert.equal((await ledger.get(waveId, 'a0'))?.notify?.s, 'done');

  const purged = await dlq.purge({ reason: 'BW_SMS_OPTED_OUT' }, 'operator:test');
  assert.deepEqual(purged, { purged: 1 });
  assert.deepEqual(await dlq.list(), []);
  assert.equal((await ledger.get(waveId, 'a3'))?.notify?.s, 'failed', 'a purged dead letter stays failed in the wave');
  assert.equal(await ledger.getAccount(waveId, 'a3'), undefined, 'its sealed contact record is gone');

  // Every shard's stream: an account's records are on its shard's, the batch's on the deployment's.
  const audit = (await Promise.all(ledger.shardKeys.map((k) => redis.xrange(k.audit, '-', '+')))).flat().map(([, f]) => JSON.parse(f[1] ?? '{}') as { type: string; actor: string });
  assert.equal(audit.filter((a) => a.type === 'operator.dlq.retry').length, 3);
  assert.ok(audit.some((a) => a.type === 'operator.dlq.retry-batch' && a.actor === 'operator:test'));
  assert.ok(audit.some((a) => a.type === 'operator.dlq.purge' && a.actor === 'operator:test'));
  await worker.close();
  await queues.close();
}

test('dead letters are listed by reason, re-driven after the cause is fixed, and purged — each step audited', () => scenario(1));

test('over 3 shards: dead letters of every shard are listed, re-driven (their failed jobs removed from their own shard\'s queue, else the re-drive is ignored) and purged — each step audited on its shard', async () => {
  const probe = createLedger({ redis, prefix: '{p}', shards: 3 });
  assert.ok(new Set(Array.from({ length: 6 }, (_, i) => probe.shardKeys.indexOf(probe.keysOf('w1', `a${i}`)))).size > 1, 'the accounts spread over several shards');
  await scenario(3);
});
