import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { DataCategory } from '@breachwave/domain';
import { createLedger, type AccountRecord, type Ledger } from '@breachwave/ledger';
import { silentLogger } from '@breachwave/logging';
import { createEnvelope } from '@breachwave/secrets';
import { createActionQueues, createActionWorker, type ActionJobView } from '@breachwave/actions';
import { createTwilioClient, createTwilioSmsSender } from '@breachwave/adapter-twilio';
import { createSmtpEmailSender } from '@breachwave/adapter-smtp';
import { acquireRedis, startSmtpSink, startTwilioServer, waitFor, type SmtpSink, type TestRedis, type TwilioServer } from '@breachwave/testkit';
import { createNoticeProcessor, type DeliveryPolicy, type NoticeEnricher, type NoticeProcessorDeps } from './processor.js';

let server: TestRedis;
let redis: Redis;
let twilio: TwilioServer;
let smtp: SmtpSink;
before(async () => {
  server = await acquireRedis();
  redis = new Redis(server.url, { maxRetriesPerRequest: null });
  twilio = await startTwilioServer();
  smtp = await startSmtpSink();
});
after(async () => {
  await twilio.close();
  await smtp.close();
  await redis.quit();
  await server.stop();
});

const envelope = createEnvelope([{ id: 'k1', key: randomBytes(32) }]);
const FAMILY_PHONE = '+13122010001';
const SHARED_EMAIL = 'pat@example.com';

interface Acct { id: string; phone?: string; email?: string; exposed: DataCategory[]; group?: string[] }

/** A family of four on one phone, two accounts on one email, two singles: as the ingest would group them. */
function familyPlan(grouped: boolean): Acct[] {
  const family = ['ACCT-0170', 'ACCT-0171', 'ACCT-0172', 'ACCT-0173'];
  const couple = ['ACCT-0300', 'ACCT-0301'];
  const exposed: DataCategory[][] = [['name', 'pin'], ['pin'], ['name', 'ssn'], ['name']];
  return [
    ...family.map((id, i) => ({ id, phone: FAMILY_PHONE, exposed: exposed[i] ?? [], ...(grouped ? { group: family } : {}) })),
    ...couple.map((id, i) => ({ id, email: SHARED_EMAIL, exposed: (i === 0 ? ['email'] : ['name', 'email']) as DataCategory[], ...(grouped ? { group: couple } : {}) })),
    { id: 'ACCT-0900', phone: '+13122010900', exposed: ['name'] },
    { id: 'ACCT-0901', email: 'solo@example.com', exposed: ['name'] },
  ];
}

/** Says the PIN was reset for the accounts whose PIN was exposed: each account's own remediation. */
const pinEnricher: NoticeEnricher = {
  async enrich({ account }) {
    return account.exposed.includes('pin') ? { pinReset: true } : {};
  },
};

async function setup(accounts: Acct[], { wrap, suppressedFallback, ...options }: Pick<NoticeProcessorDeps, 'groupWaitMs' | 'groupPollMs' | 'sendTimeoutMs' | 'policies' | 'enrichers'>
  & { wrap?: (l: Ledger) => NoticeProcessorDeps['ledger']; suppressedFallback?: boolean } = {}) {
  const prefix = `g${randomBytes(3).toString('hex')}`;
  const real = createLedger({ redis, prefix });
  const waveId = 'w1';
  await real.createWave({ waveId, createdAt: new Date().toISOString(), source: 't', brand: 'Example', helpUrl: 'https://h.example.com', rules: {}, ...(suppressedFallback !== undefined ? { suppressedFallback } : {}) }, { accepted: accounts.length }, {});
  await real.putAccounts(waveId, accounts.map((a) => ({
    accountId: a.id,
    record: { segment: 'former', locale: 'en', exposed: a.exposed, hasPhone: Boolean(a.phone), phoneIsMobile: Boolean(a.phone), hasEmail: Boolean(a.email), line: 2,
      contact: envelope.sealJson({ phone: a.phone, email: a.email, name: 'Ana Test' }, `${waveId}:${a.id}`), ...(a.group ? { group: a.group } : {}) } satisfies AccountRecord,
  })));
  await real.initAccounts(waveId, 'test', accounts.map((a) => ({ accountId: a.id, actions: ['notify'] })));
  const ledger = wrap ? wrap(real) : real;
  const sms = createTwilioSmsSender({ client: createTwilioClient({ accountSid: twilio.accountSid, authToken: twilio.authToken, baseUrl: twilio.url, timeoutMs: 1000 }), from: '+15005550006' });
  const email = createSmtpEmailSender({ host: '127.0.0.1', port: smtp.port, from: 'n@example.com' });
  const processor = createNoticeProcessor({ ledger, envelope, sms, email, log: silentLogger(), enrichers: [pinEnricher], groupPollMs: 20, ...options });
  return { ledger: real, waveId, prefix, processor, sms, email };
}

type Audit = { type: string; account?: string; detail?: Record<string, unknown> };
const auditOf = async (ledger: Ledger): Promise<Audit[]> => (await redis.xrange(ledger.keys.audit, '-', '+')).map(([, f]) => JSON.parse(f[1] ?? '{}') as Audit);

test('family plan: one SMS to the shared phone naming all four accounts, one email naming both, singles unchanged, every account terminal and audited', async () => {
  twilio.reset();
  smtp.reset();
  const accounts = familyPlan(true);
  const s = await setup(accounts);
  const worker = createActionWorker({ action: 'notify', connection: redis, prefix: s.prefix, processor: s.processor, log: silentLogger(), concurrency: 4 });
  const queues = createActionQueues({ connection: redis, prefix: s.prefix });
  await worker.start();
  // As the feeder adds them: each group in one job, singles in theirs.
  await queues.addAccounts('notify', s.waveId, accounts.slice(0, 4).map((a) => a.id));
  await queues.addAccounts('notify', s.waveId, accounts.slice(4, 6).map((a) => a.id));
  await queues.addAccounts('notify', s.waveId, ['ACCT-0900']);
  await queues.addAccounts('notify', s.waveId, ['ACCT-0901']);
  await waitFor(async () => (await s.ledger.counts(s.waveId))['notify:done'] === accounts.length, { what: 'every account done' });

  const toPhone = twilio.messages.filter((m) => m.to === FAMILY_PHONE);
  assert.equal(toPhone.length, 1, 'one SMS to the family phone');
  const body = toPhone[0]?.body ?? '';
  assert.match(body, /accounts ending in 0170, 0171, 0172 and 0173\./);
  // Each account's own categories and remediation; nothing said of an account that it did not have.
  assert.match(body, /Account 0170: a data breach exposed your name and account PIN\. As a precaution we reset your PIN\./);
  assert.match(body, /Account 0171: a data breach exposed your account PIN\. As a precaution we reset your PIN\./);
  assert.match(body, /Account 0172: a data breach exposed your name and SSN\. Account 0173/);
  assert.match(body, /Account 0173: a data breach exposed your name\. Details/);
  assert.ok(!body.includes('ACCT-'), 'accounts masked');
  const toEmail = smtp.messages.filter((m) => m.envelope.to.includes(SHARED_EMAIL));
  assert.equal(toEmail.length, 1, 'one email to the shared address');
  assert.match(toEmail[0]?.text ?? '', /accounts ending in 0300 and 0301/);
  assert.match(toEmail[0]?.text ?? '', /Account ending in 0300: Example identified unauthorized access to your email address\./);
  assert.match(toEmail[0]?.text ?? '', /Account ending in 0301: Example identified unauthorized access to your name and email address\./);
  assert.match(toEmail[0]?.text ?? '', /^Dear customer,/, 'no one holder\'s name on a notice for several accounts');
  const single = twilio.messages.filter((m) => m.to === '+13122010900');
  assert.equal(single.length, 1);
  assert.doesNotMatch(single[0]?.body ?? '', /accounts ending/);
  assert.equal(smtp.messages.filter((m) => m.envelope.to.includes('solo@example.com')).length, 1);

  // Every account's own entry: done, the shared send's provider id; each audited on its own, naming the lead.
  const sid = toPhone[0]?.sid;
  for (const a of accounts.slice(0, 4)) {
    const e = (await s.ledger.get(s.waveId, a.id))?.notify;
    assert.equal(e?.s, 'done', a.id);
    assert.equal(e?.pid, sid);
    assert.equal(e?.ch, 'sms');
    assert.equal(e?.gl, undefined, 'no claim mark left');
    assert.equal(await s.ledger.getAccount(s.waveId, a.id), undefined, 'contact record released');
  }
  const audit = await auditOf(s.ledger);
  const done = audit.filter((r) => r.type === 'notify.done');
  assert.equal(done.length, accounts.length, 'one notify.done record per account');
  for (const a of accounts.slice(0, 4)) {
    const r = done.find((x) => x.account === a.id);
    assert.equal(r?.detail?.providerId, sid);
    assert.equal(r?.detail?.lead, 'ACCT-0170');
    assert.equal(r?.detail?.accounts, 4);
  }
  const counts = await s.ledger.counts(s.waveId);
  assert.equal(counts['notify:sent:sms'], 5, 'accounts sent to by SMS');
  assert.equal(counts['notify:messages:sms'], 2, 'SMS messages');
  assert.equal(counts['notify:messages:email'], 2);
  assert.equal(counts['notify:consolidated'], 6);
  assert.equal(counts['notify:done'], 8);
  await worker.close();
  await queues.close();
  await s.email.close();
});

test('consolidation off (no group on the records): one notice per account', async () => {
  twilio.reset();
  smtp.reset();
  const accounts = familyPlan(false);
  const s = await setup(accounts);
  const worker = createActionWorker({ action: 'notify', connection: redis, prefix: s.prefix, processor: s.processor, log: silentLogger(), concurrency: 4 });
  const queues = createActionQueues({ connection: redis, prefix: s.prefix });
  await worker.start();
  await queues.addAccounts('notify', s.waveId, accounts.map((a) => a.id));
  await waitFor(async () => (await s.ledger.counts(s.waveId))['notify:done'] === accounts.length, { what: 'every account done' });
  assert.equal(twilio.messages.filter((m) => m.to === FAMILY_PHONE).length, 4);
  assert.equal(smtp.messages.filter((m) => m.envelope.to.includes(SHARED_EMAIL)).length, 2);
  assert.ok(twilio.messages.every((m) => !/accounts ending/.test(m.body)));
  assert.equal((await s.ledger.counts(s.waveId))['notify:consolidated'], undefined);
  await worker.close();
  await queues.close();
  await s.email.close();
});

/** Runs one attempt of the processor as a worker would, returning the delay it asked for, if any. */
class Deferral extends Error {
  constructor(readonly ms: number) {
    super('deferred');
  }
}
const attempt = async (processor: ReturnType<typeof createNoticeProcessor>, waveId: string, accountId: string, n: number): Promise<{ outcome?: unknown; deferMs?: number }> => {
  const job: ActionJobView = { id: `j${n}`, data: { waveId, accountId }, attemptsMade: n, attempts: 8, defer: (ms) => Promise.reject(new Deferral(ms)) };
  try {
    return { outcome: await processor(job) };
  } catch (err) {
    if (err instanceof Deferral) return { deferMs: err.ms };
    throw err;
  }
};

test('a member whose job comes first waits for its lead; an earlier step still under way holds the group notice, then the group goes out once', async () => {
  twilio.reset();
  const family = ['ACCT-0170', 'ACCT-0171', 'ACCT-0172'];
  const accounts = family.map((id) => ({ id, phone: FAMILY_PHONE, exposed: ['name'] as DataCategory[], group: family }));
  const s = await setup(accounts);
  // ACCT-0172's PIN rotation is still under way: its notice must not go before it.
  await redis.hset(s.ledger.keys.ledger(s.waveId), 'ACCT-0172', JSON.stringify({ 'rotate-pin': { s: 'claimed', n: 1 }, notify: { s: 'pending', n: 0 } }));
  // A member first: it is not the lead, it goes back to pending and waits.
  const member = await attempt(s.processor, s.waveId, 'ACCT-0171', 0);
  assert.ok(member.deferMs !== undefined);
  assert.equal((await s.ledger.get(s.waveId, 'ACCT-0171'))?.notify?.s, 'pending');
  // The lead waits for the account still rotating.
  const waiting = await attempt(s.processor, s.waveId, 'ACCT-0170', 0);
  assert.ok(waiting.deferMs !== undefined);
  assert.equal(twilio.messages.length, 0, 'nothing sent while an account of the group is in an earlier step');
  // The rotation is done: the lead sends once for all three.
  await redis.hset(s.ledger.keys.ledger(s.waveId), 'ACCT-0172', JSON.stringify({ 'rotate-pin': { s: 'done', n: 1 }, notify: { s: 'pending', n: 0 } }));
  const sent = await attempt(s.processor, s.waveId, 'ACCT-0170', 1);
  assert.equal((sent.outcome as { status?: string }).status, 'sent');
  assert.equal(twilio.messages.length, 1);
  assert.match(twilio.messages[0]?.body ?? '', /accounts ending in 0170, 0171 and 0172/);
  // The members' own jobs find their notices finished.
  for (const id of family.slice(1)) assert.deepEqual((await attempt(s.processor, s.waveId, id, 1)).outcome, { status: 'already-finished', state: 'done' });
  assert.equal(twilio.messages.length, 1);
  await s.email.close();
});

test('a member whose earlier step failed for good is left out (its notice skipped, as a single one would be); past the wait, late members are notified on their own', async () => {
  twilio.reset();
  const family = ['ACCT-0170', 'ACCT-0171', 'ACCT-0172'];
  const accounts = family.map((id) => ({ id, phone: FAMILY_PHONE, exposed: ['name'] as DataCategory[], group: family }));
  const s = await setup(accounts, { groupWaitMs: 0 });
  await redis.hset(s.ledger.keys.ledger(s.waveId), 'ACCT-0171', JSON.stringify({ 'rotate-pin': { s: 'failed', n: 1 }, notify: { s: 'skipped', n: 0 } }));
  await redis.hset(s.ledger.keys.ledger(s.waveId), 'ACCT-0172', JSON.stringify({ 'rotate-pin': { s: 'claimed', n: 1 }, notify: { s: 'pending', n: 0 } }));
  // No wait allowed: the lead goes alone (0171 skipped, 0172 still rotating).
  const first = await attempt(s.processor, s.waveId, 'ACCT-0170', 0);
  assert.equal((first.outcome as { status?: string }).status, 'sent');
  assert.doesNotMatch(twilio.messages[0]?.body ?? '', /accounts ending/, 'a notice for one account is a single one');
  // 0172 finishes rotating and is notified on its own: it is now its group's lead.
  await redis.hset(s.ledger.keys.ledger(s.waveId), 'ACCT-0172', JSON.stringify({ 'rotate-pin': { s: 'done', n: 1 }, notify: { s: 'pending', n: 0 } }));
  const late = await attempt(s.processor, s.waveId, 'ACCT-0172', 0);
  assert.equal((late.outcome as { status?: string }).status, 'sent');
  assert.equal(twilio.messages.length, 2);
  assert.equal((await s.ledger.get(s.waveId, 'ACCT-0171'))?.notify?.s, 'skipped');
  await s.email.close();
});

test('a suppressed shared phone, without fallback, skips every account of the group in one script and sends nothing', async () => {
  twilio.reset();
  const family = ['ACCT-0170', 'ACCT-0171', 'ACCT-0172'];
  const accounts = family.map((id, i) => ({ id, phone: FAMILY_PHONE, email: `m${i}@example.com`, exposed: ['name'] as DataCategory[], group: family }));
  const suppressed: DeliveryPolicy = { name: 'suppression', beforeSend: async (ctx) => (ctx.channel === 'sms' && ctx.to === FAMILY_PHONE ? { kind: 'block', code: 'BW_SUPPRESSED', reason: 'STOP' } : undefined) };
  const s = await setup(accounts, { suppressedFallback: false, policies: [suppressed] });
  const r = await attempt(s.processor, s.waveId, 'ACCT-0170', 0);
  assert.deepEqual(r.outcome, { status: 'skipped', code: 'BW_SUPPRESSED' });
  for (const e of await s.ledger.getMany(s.waveId, family)) {
    assert.equal(e?.notify?.s, 'skipped');
    assert.equal(e?.notify?.err, 'BW_SUPPRESSED');
  }
  const skipped = (await auditOf(s.ledger)).filter((x) => x.type === 'notify.skipped');
  assert.deepEqual(skipped.map((x) => x.account).sort(), family);
  assert.equal((await s.ledger.counts(s.waveId))['notify:error:BW_SUPPRESSED'], 3);
  assert.equal(twilio.messages.length, 0);
  assert.equal(smtp.messages.filter((m) => /^m\d@/.test(m.envelope.to[0] ?? '')).length, 0);
  await s.email.close();
});

test('a permanent refusal of the shared number releases the group: each account falls back to its own email', async () => {
  twilio.reset();
  smtp.reset();
  const family = ['ACCT-0170', 'ACCT-0171'];
  const accounts = family.map((id, i) => ({ id, phone: FAMILY_PHONE, email: `m${i}@example.com`, exposed: ['name'] as DataCategory[], group: family }));
  const s = await setup(accounts);
  twilio.inject('invalid-number', { to: FAMILY_PHONE });
  const r = await attempt(s.processor, s.waveId, 'ACCT-0170', 0);
  assert.equal((r.outcome as { status?: string; channel?: string }).channel, 'email');
  // The other account was released to go alone: its own job falls back to its own email.
  assert.equal((await s.ledger.get(s.waveId, 'ACCT-0171'))?.notify?.solo, true);
  const other = await attempt(s.processor, s.waveId, 'ACCT-0171', 0);
  assert.equal((other.outcome as { channel?: string }).channel, 'email');
  assert.equal(smtp.messages.filter((m) => m.envelope.to.includes('m0@example.com')).length, 1);
  assert.equal(smtp.messages.filter((m) => m.envelope.to.includes('m1@example.com')).length, 1);
  assert.equal(twilio.messages.length, 0);
  await s.email.close();
});

test('a shared phone blocked at send time (a STOP recorded while the group notice waited): no SMS, the group released, each account on its own email, no send mark left', async () => {
  twilio.reset();
  smtp.reset();
  const family = ['ACCT-0170', 'ACCT-0171'];
  const accounts = family.map((id, i) => ({ id, phone: FAMILY_PHONE, email: `s${i}@example.com`, exposed: ['name'] as DataCategory[], group: family }));
  const stopped: DeliveryPolicy = { name: 'suppression', atSend: async (ctx) => (ctx.channel === 'sms' && ctx.to === FAMILY_PHONE ? { kind: 'block', code: 'BW_SUPPRESSED', reason: 'STOP' } : undefined) };
  const s = await setup(accounts, { policies: [stopped] });
  const lead = await attempt(s.processor, s.waveId, 'ACCT-0170', 0);
  assert.equal((lead.outcome as { channel?: string }).channel, 'email');
  const released = (await s.ledger.get(s.waveId, 'ACCT-0171'))?.notify;
  assert.equal(released?.solo, true, 'the other account was released to go alone');
  assert.equal(released?.gl, undefined);
  const other = await attempt(s.processor, s.waveId, 'ACCT-0171', 0);
  assert.equal((other.outcome as { channel?: string }).channel, 'email');
  assert.equal(twilio.messages.length, 0, 'no SMS to the number that said STOP');
  assert.equal(smtp.messages.filter((m) => m.envelope.to.includes('s0@example.com')).length, 1);
  assert.equal(smtp.messages.filter((m) => m.envelope.to.includes('s1@example.com')).length, 1);
  for (const e of await s.ledger.getMany(s.waveId, family)) {
    assert.equal(e?.notify?.fbErr, 'BW_SUPPRESSED');
    assert.equal(e?.notify?.gm, undefined, 'no group named by a send that never happened');
  }
  await s.email.close();
});

test('fault: the lead dies between the send and the ledger writes; the next attempt finds the send at the provider, sends nothing, and every account ends done', async () => {
  twilio.reset();
  const family = ['ACCT-0170', 'ACCT-0171', 'ACCT-0172', 'ACCT-0173'];
  const accounts = family.map((id) => ({ id, phone: FAMILY_PHONE, exposed: ['name'] as DataCategory[], group: family }));
  // The first attempt's writes after its send never return: the process is as good as dead. Only
  // that first settle hangs, whenever it comes (the send is recorded before its answer arrives).
  let hung = false;
  const s = await setup(accounts, {
    sendTimeoutMs: 10,
    wrap: (l) => ({
      ...l,
      settleGroup: (req) => {
        if (hung || req.to !== 'done') return l.settleGroup(req);
        hung = true;
        return new Promise<never>(() => {});
      },
    }),
  });
  const frozen = attempt(s.processor, s.waveId, 'ACCT-0170', 0);
  await waitFor(() => hung, { what: 'the first attempt sent and reached its settle' });
  assert.equal(twilio.messages.length, 1);
  const held = await s.ledger.getMany(s.waveId, family);
  assert.ok(held.every((e) => e?.notify?.s === 'claimed'), 'the dead attempt left every account claimed');
  // Its job is taken over (its lock lost): the next attempt waits for the send to settle, then looks at the provider.
  let n = 1;
  let r = await attempt(s.processor, s.waveId, 'ACCT-0170', n);
  while (r.deferMs !== undefined) {
    await new Promise((resolve) => setTimeout(resolve, r.deferMs));
    r = await attempt(s.processor, s.waveId, 'ACCT-0170', ++n);
  }
  assert.deepEqual(r.outcome, { status: 'sent', channel: 'sms', providerId: twilio.messages[0]?.sid, reconciled: true });
  assert.equal(twilio.messages.length, 1, 'not sent again');
  for (const e of await s.ledger.getMany(s.waveId, family)) {
    assert.equal(e?.notify?.s, 'done');
    assert.equal(e?.notify?.pid, twilio.messages[0]?.sid);
  }
  const counts = await s.ledger.counts(s.waveId);
  assert.equal(counts['notify:done'], 4);
  assert.equal(counts['notify:reconciled'], 1);
  assert.equal(counts['notify:messages:sms'], 1);
  // The members' jobs, replayed, find them finished.
  for (const id of family.slice(1)) assert.deepEqual((await attempt(s.processor, s.waveId, id, 3)).outcome, { status: 'already-finished', state: 'done' });
  void frozen;
  await s.email.close();
});

test('a group too large for one SMS (each account with its own temporary PIN and code) is cut: every message within the provider\'s limit, every account named once', async () => {
  twilio.reset();
  const family = Array.from({ length: 10 }, (_, i) => `ACCT-${String(170 + i).padStart(4, '0')}`);
  const accounts = family.map((id) => ({ id, phone: FAMILY_PHONE, exposed: ['name', 'phone', 'pin'] as DataCategory[], group: family }));
  const secrets: NoticeEnricher = {
    async enrich({ accountId }) {
      const n = accountId.slice(-3);
      return { pinReset: true, temporaryPin: `${n}${n}${n}${n}`, enrollmentCode: `CODE${n}${n}${n}${n}${n}`.slice(0, 20), enrollBy: '2099-12-31' };
    },
  };
  const s = await setup(accounts, { enrichers: [secrets] });
  const worker = createActionWorker({ action: 'notify', connection: redis, prefix: s.prefix, processor: s.processor, log: silentLogger(), concurrency: 2 });
  const queues = createActionQueues({ connection: redis, prefix: s.prefix });
  await worker.start();
  await queues.addAccounts('notify', s.waveId, family);
  await waitFor(async () => (await s.ledger.counts(s.waveId))['notify:done'] === family.length, { what: 'every account done', timeout: 20_000 });
  const bodies = twilio.messages.filter((m) => m.to === FAMILY_PHONE).map((m) => m.body);
  assert.ok(bodies.length > 1 && bodies.length < family.length, `cut into a few messages (${bodies.length})`);
  for (const b of bodies) assert.ok(b.length <= 1600, `${b.length} characters`);
  // Each account's own PIN appears in exactly one message.
  for (const id of family) {
    const n = id.slice(-3);
    assert.equal(bodies.filter((b) => b.includes(`${n}${n}${n}${n}`)).length, 1, id);
  }
  assert.equal((await s.ledger.counts(s.waveId))['notify:messages:sms'], bodies.length);
  await worker.close();
  await queues.close();
  await s.email.close();
});

test('an account held by a lead whose own notice ended without it (dead-lettered) is released and notified on its own', async () => {
  twilio.reset();
  const family = ['ACCT-0170', 'ACCT-0171'];
  const accounts = family.map((id) => ({ id, phone: FAMILY_PHONE, exposed: ['name'] as DataCategory[], group: family }));
  const s = await setup(accounts);
  // The lead claimed 0171 for its send, then was dead-lettered by the recovery sweep.
  await redis.hset(s.ledger.keys.ledger(s.waveId), 'ACCT-0170', JSON.stringify({ notify: { s: 'failed', n: 3, err: 'BW_WORKER_LOST' } }));
  await redis.hset(s.ledger.keys.ledger(s.waveId), 'ACCT-0171', JSON.stringify({ notify: { s: 'claimed', n: 1, ct: 'dead', gl: 'ACCT-0170' } }));
  const released = await attempt(s.processor, s.waveId, 'ACCT-0171', 0);
  assert.ok(released.deferMs !== undefined);
  const e = (await s.ledger.get(s.waveId, 'ACCT-0171'))?.notify;
  assert.equal(e?.s, 'pending');
  assert.equal(e?.gl, undefined);
  const sent = await attempt(s.processor, s.waveId, 'ACCT-0171', 1);
  assert.equal((sent.outcome as { status?: string }).status, 'sent');
  assert.equal(twilio.messages.length, 1);
  assert.doesNotMatch(twilio.messages[0]?.body ?? '', /accounts ending/);
  await s.email.close();
});
