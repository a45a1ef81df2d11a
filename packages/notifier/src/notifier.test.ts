import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { Queue } from 'bullmq';
import { QUEUES } from '@breachwave/jobs';
import { createLedger, type Ledger } from '@breachwave/ledger';
import { silentLogger } from '@breachwave/logging';
import { createEnvelope } from '@breachwave/secrets';
import { createActionQueues, createActionWorker } from '@breachwave/actions';
import { createTwilioClient, createTwilioSmsSender } from '@breachwave/adapter-twilio';
import { createSmtpEmailSender } from '@breachwave/adapter-smtp';
import { acquireRedis, startSmtpSink, startTwilioServer, waitFor, type SmtpSink, type TestRedis, type TwilioServer } from '@breachwave/testkit';
import { BreachwaveError } from '@breachwave/domain';
import { createNoticeProcessor, type NoticeEnricher, type NoticeProcessorDeps, type SendContext } from './processor.js';
import { createPacer } from '@breachwave/pacing';
import { pacingPolicy } from './policies/pacing.js';

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

/** A wave with accounts in the ledger and their sealed records, a worker running the real processor. */
async function setup(accounts: { id: string; phone?: string; email?: string }[], options: Pick<NoticeProcessorDeps, 'maxThrottles' | 'enrichers' | 'gate' | 'policies'> = {}) {
  const prefix = `n${randomBytes(3).toString('hex')}`;
  const ledger: Ledger = createLedger({ redis, prefix });
  const waveId = 'w1';
  await ledger.createWave({ waveId, createdAt: new Date().toISOString(), source: 't', brand: 'Example', helpUrl: 'https://h.example.com', rules: {} }, { accepted: accounts.length }, {});
  await ledger.putAccounts(waveId, accounts.map((a) => ({
    accountId: a.id,
    record: { segment: 'former', locale: 'en', exposed: [], hasPhone: Boolean(a.phone), phoneIsMobile: Boolean(a.phone), hasEmail: Boolean(a.email), line: 2,
      contact: envelope.sealJson({ phone: a.phone, email: a.email, name: 'Ana Test' }, `${waveId}:${a.id}`) },
  })));
  await ledger.initAccounts(waveId, 'test', accounts.map((a) => ({ accountId: a.id, actions: ['notify'] })));
  const sms = createTwilioSmsSender({ client: createTwilioClient({ accountSid: twilio.accountSid, authToken: twilio.authToken, baseUrl: twilio.url, timeoutMs: 1000 }), from: '+15005550006' });
  const email = createSmtpEmailSender({ host: '127.0.0.1', port: smtp.port, from: 'n@example.com' });
  const processor = createNoticeProcessor({ ledger, envelope, sms, email, log: silentLogger(), ...options });
  const worker = createActionWorker({ action: 'notify', connection: redis, prefix, processor, log: silentLogger(), concurrency: 5 });
  const queues = createActionQueues({ connection: redis, prefix });
  await worker.start();
  return {
    ledger, waveId, queues, prefix,
    close: async () => { await worker.close(); await queues.close(); await email.close(); },
  };
}

test('a transient provider error retries and sends once; a permanent one fails at once with its reason', async () => {
  twilio.reset();
  const s = await setup([{ id: 'retry', phone: '+12025550111' }, { id: 'perm', phone: '+12025550112' }]);
  twilio.inject('server-error', { times: 1, to: '+12025550111' });
  twilio.inject('invalid-number', { to: '+12025550112' });
  await s.queues.add('notify', { waveId: s.waveId, accountId: 'retry' }, { backoff: { type: 'fixed', delay: 10 } });
  await s.queues.add('notify', { waveId: s.waveId, accountId: 'perm' }, { backoff: { type: 'fixed', delay: 10 } });
  await waitFor(async () => (await s.ledger.get(s.waveId, 'retry'))?.notify?.s === 'done' && (await s.ledger.get(s.waveId, 'perm'))?.notify?.s === 'failed', { what: 'both finished' });
  assert.equal(twilio.messages.filter((m) => m.to === '+12025550111').length, 1);
  assert.equal(twilio.messages.filter((m) => m.to === '+12025550112').length, 0);
  const perm = await s.ledger.get(s.waveId, 'perm');
  assert.equal(perm?.notify?.err, 'BW_SMS_INVALID_NUMBER');
  assert.equal(perm?.notify?.n, 1, 'a permanent error is not retried');
  assert.equal((await s.ledger.get(s.waveId, 'retry'))?.notify?.n, 2);
  const failedJobs = await new Queue(QUEUES.notify, { connection: redis, prefix: s.prefix }).getFailed();
  assert.equal(failedJobs.length, 1);
  assert.match(failedJobs[0]?.failedReason ?? '', /BW_SMS_INVALID_NUMBER/);
  await s.close();
});

test('a job for a notice already recorded sends nothing; a malformed payload fails with its reason and the worker goes on', async () => {
  twilio.reset();
  smtp.reset();
  const s = await setup([{ id: 'a1', email: 'ana@example.com' }, { id: 'a2', email: 'bo@example.com' }]);
  await s.queues.add('notify', { waveId: s.waveId, accountId: 'a1' });
  await waitFor(async () => (await s.ledger.get(s.waveId, 'a1'))?.notify?.s === 'done', { what: 'a1 sent' });
  const q = new Queue(QUEUES.notify, { connection: redis, prefix: s.prefix });
  // A duplicate job (e.g. re-driven by hand) for the recorded notice, then a garbage payload.
  await q.add('notify', { waveId: s.waveId, accountId: 'a1' }, { jobId: 'manual-dup' });
  await q.add('notify', { waveId: s.waveId, phone: '+12025550199' }, { jobId: 'garbage', attempts: 3 });
  await s.queues.add('notify', { waveId: s.waveId, accountId: 'a2' });
  await waitFor(async () => (await s.ledger.get(s.waveId, 'a2'))?.notify?.s === 'done', { what: 'a2 sent after the bad job' });
  await waitFor(async () => (await q.getJob('manual-dup'))?.finishedOn, { what: 'duplicate processed' });
  assert.equal(smtp.messages.filter((m) => m.envelope.to.includes('ana@example.com')).length, 1, 'no second notice for a recorded send');
  const garbage = await waitFor(async () => { const j = await q.getJob('garbage'); return j?.failedReason ? j : undefined; }, { what: 'garbage failed' });
  assert.match(garbage.failedReason, /BW_JOB_PAYLOAD_INVALID/);
  assert.ok(!garbage.failedReason.includes('2025550199'), 'the reason does not echo the payload');
  assert.equal(garbage.attemptsMade, 1, 'a malformed payload is not retried');
  await q.close();
  await s.close();
});

test('email notices carry the rendered content and a reference header', async () => {
  smtp.reset();
  const s = await setup([{ id: 'e1', email: 'cy@example.com' }]);
  await s.queues.add('notify', { waveId: s.waveId, accountId: 'e1' });
  await waitFor(async () => (await s.ledger.get(s.waveId, 'e1'))?.notify?.s === 'done', { what: 'sent' });
  const m = smtp.messages.find((x) => x.envelope.to.includes('cy@example.com'));
  assert.ok(m);
  assert.match(m.subject ?? '', /Example: important notice/);
  assert.match(m.text ?? '', /^Dear Ana,/);
  assert.equal(m.headers['x-breachwave-ref'], `${s.waveId}.e1`);
  await s.close();
});

const fast = { backoff: { type: 'fixed', delay: 10 } };

test('a notice\'s enrichers run together, merge in their order, and a failing one fails the notice only once all have settled', async () => {
  twilio.reset();
  // The notice's state when the second enricher finished: still claimed unless the first one's
  // failure was recorded without waiting for it.
  const stateWhenSecondDone = new Map<string, string | undefined>();
  const held: { ledger?: Ledger } = {};
  let secondStarted = false;
  let firstSawSecond: boolean | undefined;
  const enrichers: NoticeEnricher[] = [
    { async enrich({ accountId }) {
      await Promise.resolve();
      firstSawSecond = secondStarted;
      if (accountId === 'bad') throw new BreachwaveError('BW_CODE_NOT_ASSIGNED', { detail: 'test' });
      return { enrollmentCode: 'FIRSTCODE1', enrollBy: '2099-12-31' };
    } },
    { async enrich({ accountId }) {
      secondStarted = true;
      await new Promise((resolve) => setImmediate(resolve));
      stateWhenSecondDone.set(accountId, (await held.ledger?.get('w1', accountId))?.notify?.s);
      return { enrollmentCode: 'LATERCODE2' };
    } },
  ];
  const s = await setup([{ id: 'ok', phone: '+12025550131' }, { id: 'bad', phone: '+12025550132' }], { enrichers });
  held.ledger = s.ledger;
  await s.queues.add('notify', { waveId: s.waveId, accountId: 'ok' }, fast);
  await waitFor(async () => (await s.ledger.get(s.waveId, 'ok'))?.notify?.s === 'done', { what: 'ok sent' });
  assert.equal(firstSawSecond, true, 'the second enricher had started before the first one finished');
  const body = twilio.messages.find((m) => m.to === '+12025550131')?.body ?? '';
  assert.match(body, /LATERCODE2/, 'a later enricher\'s value wins');
  assert.doesNotMatch(body, /FIRSTCODE1/);
  assert.match(body, /2099/, 'values only the first enricher gave are kept');
  await s.queues.add('notify', { waveId: s.waveId, accountId: 'bad' }, fast);
  await waitFor(async () => (await s.ledger.get(s.waveId, 'bad'))?.notify?.s === 'failed', { what: 'bad failed' });
  assert.deepEqual([...stateWhenSecondDone], [['ok', 'claimed'], ['bad', 'claimed']], 'the failure was recorded only after the other enricher finished');
  assert.equal((await s.ledger.get(s.waveId, 'bad'))?.notify?.err, 'BW_CODE_NOT_ASSIGNED');
  assert.equal(twilio.messages.filter((m) => m.to === '+12025550132').length, 0, 'nothing sent without what an enricher owed');
  await s.close();
});

test('a permanent SMS failure about the number falls back to email, visibly; a transient one never does', async () => {
  twilio.reset();
  smtp.reset();
  const s = await setup([{ id: 'fb', phone: '+12025550121', email: 'fb@example.com' }, { id: 'tr', phone: '+12025550122', email: 'tr@example.com' }]);
  twilio.inject('invalid-number', { to: '+12025550121' });
  twilio.inject('unavailable', { to: '+12025550122', times: 1 });
  await s.queues.add('notify', { waveId: s.waveId, accountId: 'fb' }, fast);
  await s.queues.add('notify', { waveId: s.waveId, accountId: 'tr' }, fast);
  await waitFor(async () => (await s.ledger.get(s.waveId, 'fb'))?.notify?.s === 'done' && (await s.ledger.get(s.waveId, 'tr'))?.notify?.s === 'done', { what: 'both sent' });
  const fb = (await s.ledger.get(s.waveId, 'fb'))?.notify;
  assert.equal(fb?.ch, 'email');
  assert.equal(fb?.fb, 'sms');
  assert.equal(fb?.fbErr, 'BW_SMS_INVALID_NUMBER');
  assert.equal(smtp.messages.filter((m) => m.envelope.to.includes('fb@example.com')).length, 1);
  assert.equal((await s.ledger.get(s.waveId, 'tr'))?.notify?.ch, 'sms', 'a transient SMS error retries SMS, no fallback');
  assert.equal(smtp.messages.filter((m) => m.envelope.to.includes('tr@example.com')).length, 0);
  assert.equal((await s.ledger.counts(s.waveId))['notify:fallback:sms-email'], 1);
  await s.close();
});

test('throttling defers without spending attempts', async () => {
  twilio.reset();
  const s = await setup([{ id: 'th', phone: '+12025550131' }]);
  twilio.inject('throttle', { to: '+12025550131', times: 3 });
  await s.queues.add('notify', { waveId: s.waveId, accountId: 'th' }, { attempts: 2 });
  await waitFor(async () => (await s.ledger.get(s.waveId, 'th'))?.notify?.s === 'done', { timeout: 20_000, what: 'sent after throttling' });
  const e = (await s.ledger.get(s.waveId, 'th'))?.notify;
  assert.equal(e?.thr, 3);
  assert.equal(twilio.messages.filter((m) => m.to === '+12025550131').length, 1);
  await s.close();
});

test('throttles past maxThrottles spend attempts, and on the last one the notice fails for good (never left pending)', async () => {
  twilio.reset();
  const s = await setup([{ id: 'tx', phone: '+12025550132' }], { maxThrottles: 1 });
  twilio.inject('throttle', { to: '+12025550132', times: 10 });
  await s.queues.add('notify', { waveId: s.waveId, accountId: 'tx' }, { attempts: 2, ...fast });
  await waitFor(async () => (await s.ledger.get(s.waveId, 'tx'))?.notify?.s === 'failed', { timeout: 20_000, what: 'failed after its throttles and attempts' });
  const e = (await s.ledger.get(s.waveId, 'tx'))?.notify;
  assert.equal(e?.thr, 1, 'one throttle waited out, without an attempt');
  assert.equal(e?.n, 3, 'then both attempts were spent');
  assert.equal(e?.err, 'BW_SMS_THROTTLED');
  assert.equal((await s.ledger.counts(s.waveId))['notify:error:BW_SMS_THROTTLED'], 1, 'counted as a dead letter');
  assert.equal(twilio.messages.filter((m) => m.to === '+12025550132').length, 0);
  await s.close();
});

test('an ambiguous SMS outcome is reconciled with the provider before any resend', async () => {
  twilio.reset();
  const s = await setup([{ id: 'rs', phone: '+12025550141' }, { id: 'hg', phone: '+12025550142' }]);
  // Accepted by the provider, then the connection is reset: the message exists.
  twilio.inject('reset-after-accept', { to: '+12025550141', times: 1 });
  // No answer at all and no message created: a resend is right.
  twilio.inject('hang', { to: '+12025550142', times: 1 });
  await s.queues.add('notify', { waveId: s.waveId, accountId: 'rs' }, fast);
  await s.queues.add('notify', { waveId: s.waveId, accountId: 'hg' }, fast);
  await waitFor(async () => (await s.ledger.get(s.waveId, 'rs'))?.notify?.s === 'done' && (await s.ledger.get(s.waveId, 'hg'))?.notify?.s === 'done', { timeout: 20_000, what: 'both recorded' });
  const rs = (await s.ledger.get(s.waveId, 'rs'))?.notify;
  assert.equal(rs?.rec, true, 'recorded from the provider lookup');
  assert.equal(twilio.messages.filter((m) => m.to === '+12025550141').length, 1, 'no duplicate after a reset-after-accept');
  assert.equal(rs?.pid, twilio.messages.find((m) => m.to === '+12025550141')?.sid);
  assert.equal(twilio.messages.filter((m) => m.to === '+12025550142').length, 1);
  const counts = await s.ledger.counts(s.waveId);
  assert.equal(counts['notify:ambiguous'], 2);
  assert.equal(counts['notify:reconciled'], 1);
  await s.close();
});

test('quiet hours defer an SMS to the recipient\'s window (deterministic clock), never drop it', async () => {
  const { quietHoursPolicy } = await import('./policies/quiet-hours.js');
  const prefix = `q${randomBytes(3).toString('hex')}`;
  const ledger = createLedger({ redis, prefix });
  const waveId = 'w1';
  await ledger.createWave({ waveId, createdAt: new Date().toISOString(), source: 't', brand: 'Example', helpUrl: 'https://h.example.com', rules: {}, quietHours: { defaultZone: 'America/New_York' } }, { accepted: 1 }, {});
  await ledger.putAccounts(waveId, [{ accountId: 'q1', record: { segment: 'former', locale: 'en', exposed: [], timeZone: 'America/Chicago', hasPhone: true, phoneIsMobile: true, hasEmail: false, line: 2,
    contact: envelope.sealJson({ phone: '+13125550150' }, `${waveId}:q1`) } }]);
  await ledger.initAccounts(waveId, 'test', [{ accountId: 'q1', actions: ['notify'] }]);
  // 06:30 in Chicago on the day US daylight time ends: the window opens at 08:00 local (CST).
  const clock = new Date('2026-11-01T12:30:00Z');
  let deferredMs: number | undefined;
  const processor = createNoticeProcessor({ ledger, envelope, log: silentLogger(), policies: [quietHoursPolicy({ now: () => clock })],
    sms: { send: async () => assert.fail('no SMS inside quiet hours') } });
  await assert.rejects(processor({ id: 'j', data: { waveId, accountId: 'q1' }, attemptsMade: 0, attempts: 3, defer: async (ms) => { deferredMs = ms; throw new Error('deferred'); } }), /deferred/);
  assert.equal(deferredMs, 90 * 60_000, 'waits until 08:00 America/Chicago');
  const e = await ledger.get(waveId, 'q1');
  assert.equal(e?.notify?.s, 'pending', 'deferred, not failed or dropped');
  const audit = (await redis.xrange(`${prefix}:audit`, '-', '+')).map(([, f]) => JSON.parse(f[1] ?? '{}') as { type: string; detail?: { reason?: string } });
  assert.match(audit.find((a) => a.type === 'notify.deferred')?.detail?.reason ?? '', /quiet hours in America\/Chicago/);
  // At 08:00 local it goes.
  const sent: string[] = [];
  const later = createNoticeProcessor({ ledger, envelope, log: silentLogger(), policies: [quietHoursPolicy({ now: () => new Date('2026-11-01T14:00:00Z') })],
    sms: { send: async (m) => { sent.push(m.to); return { providerId: 'SMx', status: 'queued' }; } } });
  const r = await later({ id: 'j', data: { waveId, accountId: 'q1' }, attemptsMade: 0, attempts: 3, defer: async () => assert.fail('no defer in the window') });
  assert.equal(r.status, 'sent');
  assert.deepEqual(sent, ['+13125550150']);
});

test('the pacing policy makes its first pacer mid-wave on an auto-pipelined client without breaking that tick\'s pipeline', async () => {
  // The notifier's ledger client pipelines every command of a tick; the pacer for a channel is made
  // on that channel's first send, while other commands of the same tick are already pending.
  const client = new Redis(server.url, { enableAutoPipelining: true });
  await client.ping();
  const prefix = `n${randomBytes(3).toString('hex')}`;
  const policy = pacingPolicy({ redis: client, prefix, senders: { sms: 'twilio:+15005550006', email: 'smtp:127.0.0.1:25' } });
  try {
    const operator = createPacer({ redis, prefix, sender: 'twilio:+15005550006' });
    await operator.setRate(1000);
    operator.close();
    const ctx: SendContext = {
      waveId: 'w1', accountId: 'A-1', channel: 'sms', to: '+12025550143', log: silentLogger(),
      account: { segment: 'former', locale: 'en', exposed: [], hasPhone: true, phoneIsMobile: true, hasEmail: false, line: 2, contact: 'sealed' },
      manifest: { waveId: 'w1', createdAt: new Date().toISOString(), source: 't', brand: 'Example', helpUrl: 'https://h.example.com', rules: {} },
    };
    const [value, decision] = await Promise.all([client.get(`${prefix}:other`), policy.beforeSend?.(ctx)]);
    assert.equal(value, null);
    assert.equal(decision, undefined, 'paced and let through');
    assert.ok((policy.stats()['twilio:+15005550006']?.granted ?? 0) >= 1, 'the pacer granted the send a slot');
  } finally {
    policy.close();
    await client.quit();
  }
});

/** A gate a test opens by hand: `wait()` resolves once `open()` was called. */
function gate(): { wait: () => Promise<void>; open: () => void; reached: Promise<void> } {
  let open!: () => void;
  let arrived!: () => void;
  const opened = new Promise<void>((r) => { open = r; });
  const reached = new Promise<void>((r) => { arrived = r; });
  return { wait: async () => { arrived(); await opened; }, open, reached };
}

let takeovers = 0;
/** One notice in a fresh wave, and a processor whose SMS sends and policies the test can hold. */
async function takeoverSetup(o: { holdSend?: ReturnType<typeof gate>; holdPolicy?: ReturnType<typeof gate>; sendTimeoutMs?: number }) {
  const prefix = `t${randomBytes(3).toString('hex')}`;
  const ledger = createLedger({ redis, prefix });
  const waveId = 'w1';
  // A number of its own (no other test here sends to 303): the Twilio sink's messages are counted by number.
  const phone = `+130355501${String(10 + takeovers++)}`;
  await ledger.createWave({ waveId, createdAt: new Date().toISOString(), source: 't', brand: 'Example', helpUrl: 'https://h.example.com', rules: {} }, { accepted: 1 }, {});
  await ledger.putAccounts(waveId, [{ accountId: 'a1', record: { segment: 'former', locale: 'en', exposed: [], hasPhone: true, phoneIsMobile: true, hasEmail: false, line: 2,
    contact: envelope.sealJson({ phone }, `${waveId}:a1`) } }]);
  await ledger.initAccounts(waveId, 'test', [{ accountId: 'a1', actions: ['notify'] }]);
  const real = createTwilioSmsSender({ client: createTwilioClient({ accountSid: twilio.accountSid, authToken: twilio.authToken, baseUrl: twilio.url, timeoutMs: 1000 }), from: '+15005550006' });
  let sendsStarted = 0;
  let policyCalls = 0;
  const sms = {
    findSent: async (m: Parameters<typeof real.send>[0], since: Date) => real.findSent?.(m, since),
    send: async (m: Parameters<typeof real.send>[0]) => {
      sendsStarted++;
      if (sendsStarted === 1) await o.holdSend?.wait();
      return real.send(m);
    },
  };
  const holdFirst = { name: 'hold-first', beforeSend: async () => {
    policyCalls++;
    if (policyCalls === 1) await o.holdPolicy?.wait();
    return undefined;
  } };
  const processor = createNoticeProcessor({ ledger, envelope, sms, log: silentLogger(), policies: [holdFirst], ...(o.sendTimeoutMs !== undefined ? { sendTimeoutMs: o.sendTimeoutMs } : {}) });
  let deferredMs: number | undefined;
  // The same BullMQ job, run twice: the second run is the stalled job handed out again.
  const run = () => processor({ id: 'notify.w1.a1', data: { waveId, accountId: 'a1' }, attemptsMade: 0, attempts: 5,
    defer: async (ms) => { deferredMs = ms; throw new Error('deferred'); } });
  return { ledger, waveId, phone, run, deferred: () => deferredMs, sent: () => twilio.messages.filter((m) => m.to === phone).length };
}

test('a job handed out again while its first run is still sending waits for that send instead of sending twice', async () => {
  const send = gate();
  const t = await takeoverSetup({ holdSend: send, sendTimeoutMs: 20_000 });
  const first = t.run();
  await send.reached;
  // The first run passed its fence and its send is in flight; its job stalled and runs again.
  const before = Date.now();
  await assert.rejects(t.run(), /deferred/);
  const waited = t.deferred() ?? 0;
  assert.ok(waited > 20_000 - (Date.now() - before) - 1000 && waited <= 20_000, `the take-over waits out the send timeout from the fence (${waited} ms)`);
  assert.equal((await t.ledger.get(t.waveId, 'a1'))?.notify?.s, 'claimed', 'the notice stays claimed: the first run can still record its send');
  send.open();
  assert.equal((await first).status, 'sent');
  assert.deepEqual(await t.run(), { status: 'already-finished', state: 'done' }, 'the deferred run finds the send recorded');
  assert.equal(t.sent(), 1);
  const entry = (await t.ledger.get(t.waveId, 'a1'))?.notify;
  assert.deepEqual([entry?.ct, entry?.sa, entry?.hu], [undefined, undefined, undefined], 'a recorded send keeps no claim token or fence times');
});

test('a run whose claim was taken over before its send sends nothing; the run that took it over sends once', async () => {
  const policy = gate();
  const t = await takeoverSetup({ holdPolicy: policy });
  const first = t.run();
  await policy.reached;
  // The first run is stuck before its fence (a pace slot, Redis down); the job runs again.
  const second = await t.run();
  assert.equal(second.status, 'sent');
  assert.equal(t.sent(), 1);
  policy.open();
  assert.deepEqual(await first, { status: 'superseded' });
  assert.equal(t.sent(), 1, 'the superseded run never reached the provider');
  const counts = await t.ledger.counts(t.waveId);
  assert.equal(counts['notify:ambiguous'] ?? 0, 0, 'a take-over before any send is not an ambiguous outcome');
  assert.equal(counts['notify:done'], 1);
});

test('a pause reaches notices waiting for a pace slot at once: they give up their place and wait, taking no slot and sending nothing', async () => {
  const prefix = `p${randomBytes(3).toString('hex')}`;
  const operator = createPacer({ redis, prefix, sender: 'twilio:+15005550006' });
  // One slot every 4 s: five notices waiting for slots would hold the worker ~20 s without the watch.
  await operator.setRate(0.25);
  operator.close();
  const policy = pacingPolicy({ redis, prefix, senders: { sms: 'twilio:+15005550006', email: 'smtp:127.0.0.1:25' } });
  let paused = false;
  const env = await setup(Array.from({ length: 6 }, (_, i) => ({ id: `P-${i}`, phone: `+1202555${String(3000 + i)}` })), {
    gate: async () => ({ status: 'fed', paused }),
    policies: [policy],
  });
  const before = twilio.messages.length;
  try {
    for (let i = 0; i < 6; i++) await env.queues.add('notify', { waveId: env.waveId, accountId: `P-${i}` });
    const q = env.queues.queueFor('notify');
    await waitFor(async () => twilio.messages.length > before, { timeout: 20_000, what: 'the first notice sent' });
    await waitFor(async () => (await q.getJobCounts('active')).active === 5, { timeout: 10_000, what: 'five notices waiting for a slot' });
    paused = true;
    const granted = policy.stats()['twilio:+15005550006']?.granted ?? 0;
    const sent = twilio.messages.length;
    await waitFor(async () => (await q.getJobCounts('active')).active === 0, { timeout: 8_000, what: 'every waiting notice gave up its place' });
    assert.ok((policy.stats()['twilio:+15005550006']?.granted ?? 0) <= granted + 1, 'at most the slot already due was taken after the pause');
    assert.ok(twilio.messages.length <= sent + 1, 'nothing sent after the pause but a send already past its slot');
    const counts = await env.ledger.counts(env.waveId);
    assert.equal((counts['notify:done'] ?? 0) + (counts['notify:pending'] ?? 0) + (counts['notify:claimed'] ?? 0), 6, 'the held notices are pending again, none lost');
  } finally {
    await env.close();
    policy.close();
  }
});
