import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { createLedger, waveProgress } from '@breachwave/ledger';
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

test('dead letters and the wave\'s progress read the same once the wave\'s finished accounts are compacted (dead letters stay in the ledger hash)', async () => {
  const prefix = `d${randomBytes(3).toString('hex')}`;
  const ledger = createLedger({ redis, prefix });
  const queues = createActionQueues({ connection: redis, prefix });
  const waveId = 'w1';
  const ids = ['a0', 'a1', 'a2', 'a3'];
  await ledger.createWave({ waveId, createdAt: new Date().toISOString(), source: 't', brand: 'B', helpUrl: 'https://h.example.com', rules: {} }, { accepted: ids.length }, {});
  await ledger.initAccounts(waveId, 'test', ids.map((accountId, ordinal) => ({ accountId, actions: ['rotate-pin', 'notify'] as const, ordinal })));
  const end = async (accountId: string, action: 'rotate-pin' | 'notify', to: 'done' | 'failed' | 'skipped', err?: string) => {
    if (to !== 'skipped') await ledger.transition({ waveId, accountId, action, actor: 't', from: ['pending'], to: 'claimed', event: `${action}.claimed` });
    await ledger.transition({ waveId, accountId, action, actor: 't', from: [to === 'skipped' ? 'pending' : 'claimed'], to, event: `${action}.${to}`, ...(err ? { patch: { err } } : {}) });
  };
  for (const id of ['a0', 'a1']) {
    await end(id, 'rotate-pin', 'done');
    await end(id, 'notify', 'done');
  }
  await end('a2', 'rotate-pin', 'failed', 'BW_PIN_STORE_REJECTED');
  await end('a2', 'notify', 'skipped', 'DEPENDENCY_FAILED:rotate-pin');
  await end('a3', 'rotate-pin', 'done');
  await end('a3', 'notify', 'failed', 'BW_SMS_INVALID_NUMBER');
  const dlq = createDeadLetters({ ledger, queues });
  const before = { list: await dlq.list({ waveId }), show: await dlq.show({ waveId }), progress: await waveProgress(ledger, waveId) };
  assert.equal(await ledger.compact(waveId), 2);
  assert.deepEqual((await redis.hkeys(ledger.keys.ledger(waveId))).sort(), ['a2', 'a3']);
  const after = { list: await dlq.list({ waveId }), show: await dlq.show({ waveId }), progress: await waveProgress(ledger, waveId) };
  assert.deepEqual(after, before);
  assert.equal(before.list.reduce((n, g) => n + g.count, 0), 2);
  await queues.close();
});
