import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { createLedger, type Ledger } from '@breachwave/ledger';
import { silentLogger } from '@breachwave/logging';
import { createEnvelope } from '@breachwave/secrets';
import { createSuppressionList } from '@breachwave/suppression';
import { acquireRedis, type TestRedis } from '@breachwave/testkit';
import type { EmailMessage, SmsMessage } from '@breachwave/domain';
import { createNoticeProcessor, type DeliveryPolicy, type NoticeJob, type NoticeOutcome } from './processor.js';
import { quietHoursPolicy } from './policies/quiet-hours.js';
import { suppressionPolicy } from './policies/suppression.js';

let server: TestRedis;
let redis: Redis;
before(async () => {
  server = await acquireRedis();
  // Auto-pipelined, as the notifier's ledger client is: the suppression read rides with the fence.
  redis = new Redis(server.url, { maxRetriesPerRequest: null, enableAutoPipelining: true });
});
after(async () => {
  await redis.quit();
  await server.stop();
});

const envelope = createEnvelope([{ id: 'k1', key: randomBytes(32) }]);
const PHONE = '+12025550161';
const EMAIL = 'stop@example.com';

async function setup(contact: { phone?: string; email?: string }, quietHours = false) {
  const prefix = `s${randomBytes(3).toString('hex')}`;
  const ledger: Ledger = createLedger({ redis, prefix });
  const waveId = 'w1';
  await ledger.createWave({ waveId, createdAt: new Date().toISOString(), source: 't', brand: 'Example', helpUrl: 'https://h.example.com', rules: {},
    ...(quietHours ? { quietHours: { defaultZone: 'America/New_York' } } : {}) }, { accepted: 1 }, {});
  await ledger.putAccounts(waveId, [{ accountId: 'a1', record: { segment: 'former', locale: 'en', exposed: [], timeZone: 'America/Chicago', hasPhone: Boolean(contact.phone),
    phoneIsMobile: Boolean(contact.phone), hasEmail: Boolean(contact.email), line: 2, contact: envelope.sealJson(contact, `${waveId}:a1`) } }]);
  await ledger.initAccounts(waveId, 'test', [{ accountId: 'a1', actions: ['notify'] }]);
  const list = createSuppressionList({ redis, prefix, hmacKey: randomBytes(32) });
  const sms: SmsMessage[] = [];
  const email: EmailMessage[] = [];
  const senders = {
    sms: { send: async (m: SmsMessage) => { sms.push(m); return { providerId: `SM${sms.length}`, status: 'queued' }; } },
    email: { send: async (m: EmailMessage) => { email.push(m); return { providerId: `E${email.length}`, status: 'sent' }; } },
  };
  return { ledger, waveId, list, sms, email, senders };
}

function job(waveId: string): NoticeJob {
  return { id: 'j1', data: { waveId, accountId: 'a1' }, attemptsMade: 0, attempts: 3, defer: async (ms) => assert.fail(`deferred ${ms} ms instead of going on`) };
}

test('a STOP recorded after the notice was claimed, while it waited for its slot, stops that very message: skipped, nothing sent', async () => {
  const s = await setup({ phone: PHONE });
  // Stands for the pace slot's wait: a STOP for this number is recorded while the notice is
  // claimed and its text rendered, before its send.
  const stopArrives: DeliveryPolicy = { name: 'stop-while-waiting', beforeSend: async (ctx) => { await s.list.suppress('sms', ctx.to, 'stop-keyword'); return undefined; } };
  const processor = createNoticeProcessor({ ledger: s.ledger, envelope, log: silentLogger(), sms: s.senders.sms,
    policies: [suppressionPolicy(s.list), stopArrives] });
  const outcome: NoticeOutcome = await processor(job(s.waveId));
  assert.deepEqual(outcome, { status: 'skipped', code: 'BW_SUPPRESSED' });
  assert.equal(s.sms.length, 0, 'no SMS to a number that said STOP before the send');
  const entry = (await s.ledger.get(s.waveId, 'a1'))?.notify;
  assert.equal(entry?.s, 'skipped');
  assert.equal(entry?.err, 'BW_SUPPRESSED');
  assert.equal(entry?.sa, undefined, 'no mark of a send about to happen is left behind');
});

test('a STOP recorded before the claim stops the notice; the person\'s email gets it at once, even inside SMS quiet hours (no wait first)', async () => {
  const s = await setup({ phone: PHONE, email: EMAIL }, true);
  await s.list.suppress('sms', PHONE, 'stop-keyword');
  // 06:30 in Chicago: an SMS would wait until 08:00; a suppressed number has nothing to wait for.
  const processor = createNoticeProcessor({ ledger: s.ledger, envelope, log: silentLogger(), sms: s.senders.sms, email: s.senders.email,
    policies: [suppressionPolicy(s.list), quietHoursPolicy({ now: () => new Date('2026-11-01T12:30:00Z') })] });
  const outcome = await processor(job(s.waveId));
  assert.equal(outcome.status, 'sent');
  assert.equal(s.sms.length, 0);
  assert.deepEqual(s.email.map((m) => m.to), [EMAIL]);
  const entry = (await s.ledger.get(s.waveId, 'a1'))?.notify;
  assert.equal(entry?.ch, 'email');
  assert.equal(entry?.fb, 'sms');
  assert.equal(entry?.fbErr, 'BW_SUPPRESSED');
});

test('a contact point that is not suppressed is sent to once, and a STOP after the send does not undo it', async () => {
  const s = await setup({ phone: PHONE });
  const processor = createNoticeProcessor({ ledger: s.ledger, envelope, log: silentLogger(), sms: s.senders.sms, policies: [suppressionPolicy(s.list)] });
  const outcome = await processor(job(s.waveId));
  assert.equal(outcome.status, 'sent');
  assert.deepEqual(s.sms.map((m) => m.to), [PHONE]);
  await s.list.suppress('sms', PHONE, 'stop-keyword');
  assert.equal((await processor(job(s.waveId))).status, 'already-finished');
  assert.equal(s.sms.length, 1);
});
