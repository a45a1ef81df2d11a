import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { EmailMessage, EmailSender, SendResult, SmsMessage, SmsSender } from '@breachwave/domain';
import { createActionQueues, type ActionJobView, type ActionQueues } from '@breachwave/actions';
import { silentLogger } from '@breachwave/logging';
import { createNoticeProcessor } from '@breachwave/notifier';
import { acquireRedis, type TestRedis } from '@breachwave/testkit';
import { pinNoticeEnricher } from './enricher.js';
import { createPinHold, type PinHold } from './hold.js';
import { createPinRotationProcessor } from './rotation.js';
import { auditRecords, createRotationWave, testEnvelope, type FixtureAccount, type WaveFixture } from './test-support.js';
import { createVaultPinStore, type VaultPinStore } from './vault.js';
import { createVerifierKeyring, type VerifierKeyring } from './verifier.js';

let server: TestRedis;
let redis: Redis;
let prefix: string;
let queues: ActionQueues;
let keyring: VerifierKeyring;
let vault: VaultPinStore;
let hold: PinHold;
const log = silentLogger();
const noDefer = async (): Promise<never> => {
  throw new Error('this step never defers');
};
const sms: SmsMessage[] = [];
const email: EmailMessage[] = [];
const smsSender: SmsSender = { send: async (m): Promise<SendResult> => (sms.push(m), { providerId: `SM${sms.length}`, status: 'queued' }) };
const emailSender: EmailSender = { send: async (m): Promise<SendResult> => (email.push(m), { providerId: `<${email.length}@test>`, status: 'accepted' }) };

before(async () => {
  server = await acquireRedis();
  redis = new Redis(server.url);
  prefix = `pinenr${randomBytes(3).toString('hex')}`;
  queues = createActionQueues({ connection: { url: server.url, maxRetriesPerRequest: null } as never, prefix });
  keyring = createVerifierKeyring([{ id: 'v1', key: randomBytes(32) }]);
  vault = createVaultPinStore({ redis, prefix, keyring });
  hold = createPinHold({ redis, prefix, envelope: testEnvelope(), ttlSeconds: 600 });
});
after(async () => {
  await queues.close();
  await redis.quit();
  await server.stop();
});

const job = (w: WaveFixture, accountId: string): ActionJobView => ({ id: `x.${accountId}`, data: { waveId: w.waveId, accountId }, attemptsMade: 0, attempts: 8, defer: noDefer });

/** Rotates then notifies every account of a fresh wave, as the two workers would. */
async function runWave(delivery: 'none' | 'sms-temporary', accounts: readonly FixtureAccount[], between?: (w: WaveFixture) => Promise<void>) {
  const w = await createRotationWave(redis, prefix, delivery, accounts);
  const rotate = createPinRotationProcessor({ ledger: w.ledger, queues, log, envelope: w.envelope, hold, store: vault });
  const notify = createNoticeProcessor({ ledger: w.ledger, envelope: w.envelope, log, sms: smsSender, email: emailSender,
    enrichers: [pinNoticeEnricher({ hold, audit: (r) => w.ledger.audit(r), log })] });
  for (const a of accounts) await rotate(job(w, a.accountId));
  const held = new Map<string, string | undefined>();
  for (const a of accounts) held.set(a.accountId, await hold.open(w.waveId, a.accountId));
  await between?.(w);
  for (const a of accounts) await notify(job(w, a.accountId));
  return { w, held };
}

describe('temporary PIN enricher with the notice processor', () => {
  it('sends the held PIN by SMS only, the reset wording by email, and wipes the PIN once the send is recorded', async () => {
    const id = randomBytes(2).toString('hex');
    const phone = '+12025550181';
    const { w, held } = await runWave('sms-temporary', [
      { accountId: `M-${id}`, phone, email: `m-${id}@example.com` },
      { accountId: `E-${id}`, email: `e-${id}@example.com` },
    ]);
    const pin = held.get(`M-${id}`);
    assert.ok(pin);
    const text = sms.find((m) => m.to === phone)?.body ?? '';
    assert.match(text, new RegExp(`Your temporary PIN is ${pin}\\b`));
    assert.equal((await vault.read(`M-${id}`))?.verifier, keyring.compute(`M-${id}`, pin), 'the PIN sent is the PIN stored');
    const mail = email.find((m) => m.to === `e-${id}@example.com`);
    assert.match(mail?.text ?? '', /we reset your PIN/);
    assert.doesNotMatch(mail?.text ?? '', /temporary PIN/);

    assert.equal(await hold.open(w.waveId, `M-${id}`), undefined, 'wiped after the send');
    const types = (await auditRecords(redis, prefix)).filter((x) => x.r.account === `M-${id}`).map((x) => x.r.type);
    assert.deepEqual(types.slice(-3), ['notify.claimed', 'notify.done', 'pin.temporary.wiped']);
    assert.ok(types.indexOf('rotate-pin.done') < types.indexOf('notify.claimed'), 'the notice follows the rotation');
  });

  it('a wave without PIN delivery says the PIN was reset, with no PIN', async () => {
    const phone = '+12025550182';
    await runWave('none', [{ accountId: `N-${randomBytes(2).toString('hex')}`, phone }]);
    const text = sms.find((m) => m.to === phone)?.body ?? '';
    assert.match(text, /we reset your PIN/);
    assert.doesNotMatch(text, /temporary/);
  });

  it('a held PIN that expired falls back to the reset wording, audited, and records no wipe', async () => {
    const accountId = `X-${randomBytes(2).toString('hex')}`;
    const phone = '+12025550183';
    await runWave('sms-temporary', [{ accountId, phone }], async (w) => void (await hold.wipe(w.waveId, accountId)));
    const text = sms.find((m) => m.to === phone)?.body ?? '';
    assert.match(text, /we reset your PIN/);
    assert.doesNotMatch(text, /temporary/);
    const records = (await auditRecords(redis, prefix)).filter((x) => x.r.account === accountId);
    assert.ok(records.some((x) => x.r.type === 'pin.temporary.missing'));
    assert.ok(!records.some((x) => x.r.type === 'pin.temporary.wiped'), 'nothing was held, so no wipe is recorded');
  });

  it('adds nothing for an account without a rotation', async () => {
    const enricher = pinNoticeEnricher({ hold, audit: async () => {}, log });
    const account = { segment: 'former', locale: 'en', exposed: [], hasPhone: true, phoneIsMobile: true, hasEmail: false, contact: '', line: 1 } as const;
    assert.deepEqual(await enricher.enrich({ waveId: 'w', accountId: 'a', entry: { notify: { s: 'claimed', n: 1 } }, account, channel: 'sms' }), {});
  });
});
