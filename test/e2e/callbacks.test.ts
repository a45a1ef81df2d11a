import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { loadConfig } from '@breachwave/config';
import { createFeeder, createWave } from '@breachwave/feeder';
import { createLedger, waveProgress, type Ledger } from '@breachwave/ledger';
import { silentLogger } from '@breachwave/logging';
import { runNotifier } from '@breachwave/notifier-service';
import { productionOverrides, runOpsApi } from '@breachwave/ops-api-service';
import { createEnvelope, parseKey } from '@breachwave/secrets';
import { computeTwilioSignature, waitFor } from '@breachwave/testkit';
import { keysHolding, serviceEnv, tempDir, useWorld } from './harness.js';

const world = useWorld();

const PHONE = { a1: '+12025550171', a2: '+12025550172', a3: '+12025550173' };

async function runWave(ledger: Ledger, config: ReturnType<typeof loadConfig>, dir: string, rows: string[]): Promise<string> {
  const file = join(dir, `wave-${randomBytes(2).toString('hex')}.csv`);
  writeFileSync(file, ['account_id,segment,phone,email', ...rows].join('\n') + '\n');
  const envelope = createEnvelope(config.envelopeKeys.map((k) => parseKey(k.id, k.base64)));
  // One notice per account: this test matches each account with its own message.
  const wave = await createWave({ consolidate: false, ledger, file, brand: config.brand, helpUrl: config.helpUrl, dataDir: dir, envelope, log: silentLogger() });
  const feeder = createFeeder({ ledger, connection: world.redis, prefix: config.prefix, window: 100, batch: 10, log: silentLogger() });
  await feeder.feed(wave.waveId);
  await feeder.close();
  await waitFor(async () => (await waveProgress(ledger, wave.waveId)).complete, { what: 'wave complete' });
  return wave.waveId;
}

test('status callbacks, opt-out and one-click unsubscribe: fallback to email on a permanent undelivered code, suppressed contacts never messaged', { timeout: 120_000 }, async () => {
  const { server, redis, twilio, smtp } = world;
  const dir = tempDir('callbacks');
  const prefix = `cb${randomBytes(3).toString('hex')}`;
  const base = serviceEnv({ redisUrl: server.url, prefix, dataDir: dir, twilio, smtp });
  // The ops-api listens first, so the notifier knows the public URL callbacks go to.
  const wiring = await productionOverrides(loadConfig(base), silentLogger());
  const ops = await runOpsApi(loadConfig({ ...base, BW_OPS_PORT: '0' }), silentLogger(), wiring.overrides);
  const config = loadConfig({ ...base, BW_PUBLIC_URL: ops.url });
  const notifier = await runNotifier(config, silentLogger());
  const ledger = createLedger({ redis, prefix });
  try {
    const w1 = await runWave(ledger, config, dir, [`a1,former,${PHONE.a1},a1@example.com`, `a2,former,${PHONE.a2},a2@example.com`, `a3,former,${PHONE.a3},`, 'a4,former,,a4@example.com']);
    const sid = (to: string) => twilio.messages.find((m) => m.to === to)?.sid ?? assert.fail(`no SMS to ${to}`);
    assert.ok(twilio.messages.every((m) => m.statusCallback?.startsWith(`${ops.url}/v1/twilio/status`)));

    // Out of order and duplicated: delivered first, then a late "sent", twice.
    for (const status of ['delivered', 'sent', 'sent', 'delivered']) assert.equal((await twilio.fireStatusCallback(sid(PHONE.a1), status)).status, 204);
    // Unreachable handset (30003): a permanent undelivered code → email fallback for a2, nothing for a3 (no email).
    await twilio.fireStatusCallback(sid(PHONE.a2), 'undelivered', { errorCode: 30003 });
    await twilio.fireStatusCallback(sid(PHONE.a3), 'undelivered', { errorCode: 30003 });
    await waitFor(async () => smtp.messages.some((m) => m.envelope.to.includes('a2@example.com')), { what: 'fallback email to a2' });
    const a1 = (await ledger.get(w1, 'a1'))?.notify;
    assert.equal(a1?.ds, 'delivered', 'a late "sent" never moves delivered back');
    const a2 = await waitFor(async () => { const e = (await ledger.get(w1, 'a2'))?.notify; return e?.s === 'done' && e.ch === 'email' ? e : undefined; }, { what: 'a2 recorded by email' });
    assert.equal(a2.fb, 'sms-undelivered');
    assert.equal(smtp.messages.filter((m) => m.envelope.to.includes('a2@example.com')).length, 1);
    assert.equal((await ledger.get(w1, 'a3'))?.notify?.ds, 'undelivered');
    // A forged callback is refused and changes nothing.
    const forged = await fetch(`${ops.url}/v1/twilio/status`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': 'AAAA' },
      body: new URLSearchParams({ MessageSid: sid(PHONE.a1), MessageStatus: 'failed', AccountSid: twilio.accountSid }) });
    assert.equal(forged.status, 403);
    assert.equal((await ledger.get(w1, 'a1'))?.notify?.ds, 'delivered');

    // Email carries RFC 8058 one-click unsubscribe; using it suppresses a4's address.
    const mail = smtp.messages.find((m) => m.envelope.to.includes('a4@example.com'));
    assert.equal(mail?.headers['list-unsubscribe-post'], 'List-Unsubscribe=One-Click');
    const link = /<([^>]+)>/.exec(mail?.headers['list-unsubscribe'] ?? '')?.[1] ?? assert.fail('no List-Unsubscribe link');
    const click = await fetch(link, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'List-Unsubscribe=One-Click' });
    assert.equal(click.status, 200);
    // a1 texts STOP (signed like Twilio does).
    const inboundUrl = `${ops.url}/v1/twilio/inbound`;
    const params = { From: PHONE.a1, To: '+15005550006', Body: ' stop ', AccountSid: twilio.accountSid, MessageSid: `SM${randomBytes(16).toString('hex')}` };
    const stop = await fetch(inboundUrl, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'x-twilio-signature': computeTwilioSignature(twilio.authToken, inboundUrl, params) }, body: new URLSearchParams(params) });
    assert.equal(stop.status, 200);

    // The next wave: a1's SMS is suppressed → the legally required notice goes by email; a4 has only
    // its suppressed email → skipped, never sent.
    const smsBefore = twilio.messages.length;
    const emailsToA4 = smtp.messages.filter((m) => m.envelope.to.includes('a4@example.com')).length;
    const w2 = await runWave(ledger, config, dir, [`a1,former,${PHONE.a1},a1@example.com`, 'a4,former,,a4@example.com']);
    assert.equal(twilio.messages.length, smsBefore, 'no SMS to a number that said STOP');
    assert.equal((await ledger.get(w2, 'a1'))?.notify?.ch, 'email');
    assert.equal((await ledger.get(w2, 'a4'))?.notify?.s, 'skipped');
    assert.equal((await ledger.get(w2, 'a4'))?.notify?.err, 'BW_SUPPRESSED');
    assert.equal(smtp.messages.filter((m) => m.envelope.to.includes('a4@example.com')).length, emailsToA4);

    assert.deepEqual(await keysHolding(redis, prefix, [...Object.values(PHONE), 'a1@example.com', 'a4@example.com']), [], 'no contact point in clear in Redis');
  } finally {
    await notifier.close();
    await ops.close();
    await wiring.close();
  }
});
