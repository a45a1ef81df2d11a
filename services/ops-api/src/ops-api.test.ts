import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Redis } from 'ioredis';
import { loadConfig, type BreachwaveConfig } from '@breachwave/config';
import { BreachwaveError, rotationIdOf } from '@breachwave/domain';
import { createLedger, type Ledger } from '@breachwave/ledger';
import { silentLogger } from '@breachwave/logging';
import { PIN_UNLOCK_PATH, PIN_VERIFY_PATH, createVaultPinStore, createVerifierKeyring } from '@breachwave/pin';
import { parseKey } from '@breachwave/secrets';
import { createTwilioClient, createTwilioSmsSender } from '@breachwave/adapter-twilio';
import {
  REFERENCE_PARAM, STATUS_CALLBACK_PATH, createSuppressionList, createUnsubscribeLinker, statusCallbackUrl, unsubscribeKey,
  type PermanentUndeliveredContext, type SuppressionList,
} from '@breachwave/suppression';
import { acquireRedis, captureLog, computeTwilioSignature, dumpRedis, startTwilioServer, type TestRedis, type TwilioServer } from '@breachwave/testkit';
import { INBOUND_SMS_PATH, OPERATOR_HEADER, runOpsApi, type OpsAuth, type RunningOpsApi } from './run.js';
import { productionOverrides } from './wire.js';

const FROM = '+15005550006';
const OPS_TOKEN = randomBytes(24).toString('hex');
const METRICS_TOKEN = randomBytes(24).toString('hex');
const VERIFY_TOKEN = randomBytes(24).toString('hex');
const TOKENS = { operator: OPS_TOKEN, metrics: METRICS_TOKEN, 'pin-verify': VERIFY_TOKEN } as const;
const WAVE = 'w20250301T120000Z-ops';
/** Every contact point the tests use: none may rest in Redis in clear. */
const CONTACTS: string[] = [];

let server: TestRedis;
let redis: Redis;
let twilio: TwilioServer;
let api: RunningOpsApi;
let config: BreachwaveConfig;
let ledger: Ledger;
let list: SuppressionList;
let prefix: string;
const hooks: PermanentUndeliveredContext[] = [];

before(async () => {
  server = await acquireRedis();
  redis = new Redis(server.url);
  twilio = await startTwilioServer({ seed: 3 });
  prefix = `ops${randomBytes(3).toString('hex')}`;
  config = loadConfig({
    REDIS_URL: server.url,
    BW_PREFIX: prefix,
    BW_ENVELOPE_KEY: randomBytes(32).toString('base64'),
    BW_HMAC_KEY: randomBytes(32).toString('base64'),
    TWILIO_ACCOUNT_SID: twilio.accountSid,
    TWILIO_AUTH_TOKEN: twilio.authToken,
    TWILIO_BASE_URL: twilio.url,
    TWILIO_FROM: FROM,
    BW_OPS_PORT: '0',
    BW_OPS_TOKEN: OPS_TOKEN,
    BW_METRICS_TOKEN: METRICS_TOKEN,
    BW_PIN_VERIFY_TOKEN: VERIFY_TOKEN,
    BW_PIN_VERIFIER_KEY: randomBytes(32).toString('base64'),
    // A cap of 2 and no waits: the unlock test reaches the lock in two tries.
    BW_PIN_MAX_FAILURES: '2',
    BW_PIN_BACKOFF_AFTER: '100',
    BW_OPS_MAX_BODY_BYTES: '4096',
  });
  api = await runOpsApi(config, silentLogger(), {
    onPermanentUndelivered: async (ctx) => {
      hooks.push(ctx);
    },
    routes: {
      'POST /v1/test/echo': { auth: 'operator', handler: async (req) => ({ status: 200, json: { got: req.json(), operator: req.operator } }) },
      'GET /v1/test/boom': {
        auth: 'operator',
        handler: async () => {
          throw new Error('a bug with +12025550100 in its message');
        },
      },
    },
  });
  ledger = createLedger({ redis, prefix });
  list = createSuppressionList({ redis, prefix, hmacKey: Buffer.from(config.hmacKey, 'base64') });
  await ledger.createWave({ waveId: WAVE, createdAt: new Date().toISOString(), source: 't', brand: 'B', helpUrl: 'https://h.example.com', rules: {} }, {}, {});
});

after(async () => {
  await api.close();
  await twilio.close();
  await redis.quit();
  await server.stop();
});

/** Does what the notifier does for one SMS notice: claim, send through the real SDK, record `done` with the sid. */
async function sendNotice(accountId: string): Promise<string> {
  const phone = `+1202555${String(1000 + CONTACTS.length).slice(-4)}`;
  CONTACTS.push(phone);
  await ledger.initAccounts(WAVE, 'test', [{ accountId, actions: ['notify'] }]);
  await ledger.transition({ waveId: WAVE, accountId, action: 'notify', from: ['pending'], to: 'claimed', event: 'notify.claimed', actor: 'test' });
  const sender = createTwilioSmsSender({
    client: createTwilioClient({ accountSid: twilio.accountSid, authToken: twilio.authToken, baseUrl: twilio.url, timeoutMs: 2000 }),
    from: FROM,
    statusCallback: statusCallbackUrl(api.publicUrl),
    statusCallbackReferenceParam: REFERENCE_PARAM,
  });
  const result = await sender.send({ to: phone, body: 'Your account was part of a breach.', reference: `${WAVE}.${accountId}` });
  await ledger.transition({ waveId: WAVE, accountId, action: 'notify', from: ['claimed'], to: 'done', patch: { ch: 'sms', pid: result.providerId }, event: 'notify.done', actor: 'test' });
  return result.providerId;
}

async function notify(accountId: string) {
  return (await ledger.get(WAVE, accountId))?.notify;
}

/** POSTs a form to the ops-api, signed as Twilio would sign it (or with `signature` instead). */
async function postTwilio(path: string, params: Record<string, string>, options: { signature?: string; query?: string } = {}): Promise<Response> {
  const url = `${api.publicUrl}${path}${options.query ?? ''}`;
  return fetch(url, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/x-www-form-urlencoded; charset=utf-8',
      'X-Twilio-Signature': options.signature ?? computeTwilioSignature(twilio.authToken, url, params),
    },
    body: new URLSearchParams(params).toString(),
  });
}

async function errorOf(res: Response): Promise<{ code: string; message: string }> {
  const text = await res.text();
  for (const c of CONTACTS) assert.ok(!text.includes(c), 'no contact data echoed');
  const body = JSON.parse(text) as { error: { code: string; message: string } };
  assert.equal(typeof body.error.message, 'string');
  assert.ok(body.error.message.length > 0);
  return body.error;
}

function shuffled<T>(xs: readonly T[], seed: number): T[] {
  const out = [...xs];
  let s = seed;
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    const j = s % (i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

describe('status callbacks', () => {
  it('shuffled and duplicated callbacks, signed by the Twilio server, end each notice in its terminal state', async () => {
    const plan: Record<string, 'delivered' | 'undelivered' | 'failed'> = { s1: 'delivered', s2: 'delivered', s3: 'failed', s4: 'undelivered' };
    const sids: Record<string, string> = {};
    for (const id of Object.keys(plan)) sids[id] = await sendNotice(id);
    const events: [string, string][] = [];
    for (const [id, terminal] of Object.entries(plan)) {
      for (const st of ['queued', 'sent', terminal, 'sent', terminal, 'queued']) events.push([sids[id] ?? '', st]);
    }
    const order = shuffled(events, 7);
    // Half one by one, half at once: Twilio posts callbacks concurrently and out of order.
    const half = Math.floor(order.length / 2);
    const answers: number[] = [];
    for (const [sid, st] of order.slice(0, half)) answers.push((await twilio.fireStatusCallback(sid, st)).status);
    answers.push(...(await Promise.all(order.slice(half).map(([sid, st]) => twilio.fireStatusCallback(sid, st)))).map((a) => a.status));
    assert.ok(answers.every((s) => s === 204), `answers: ${answers.join(',')}`);
    for (const [id, terminal] of Object.entries(plan)) {
      const e = await notify(id);
      assert.equal(e?.s, 'done', id);
      assert.equal(e?.ds, terminal, id);
      assert.equal(e?.dsSid, sids[id]);
      assert.equal(e?.fb, undefined, 'no error code, no fallback');
    }
    assert.equal(hooks.length, 0);
    const counts = await ledger.counts(WAVE);
    assert.equal(counts['notify:ds:delivered'], 2);
    assert.equal(counts['notify:ds:sent'] ?? 0, 0);
    assert.equal(api.metrics.callbacks.get({ status: 'delivered', outcome: 'recorded' }), 2);
  });

  it('a permanent undelivered code triggers the fallback hook once and marks the ledger', async () => {
    const sid = await sendNotice('perm');
    const answers = await Promise.all([
      twilio.fireStatusCallback(sid, 'undelivered', { errorCode: 30003 }),
      twilio.fireStatusCallback(sid, 'undelivered', { errorCode: 30003 }),
      twilio.fireStatusCallback(sid, 'sent'),
    ]);
    assert.deepEqual(answers.map((a) => a.status), [204, 204, 204]);
    assert.deepEqual(hooks, [{ waveId: WAVE, accountId: 'perm', code: 'BW_SMS_NOT_MOBILE', providerCode: '30003', status: 'undelivered', messageSid: sid }]);
    const e = await notify('perm');
    assert.equal(e?.ds, 'undelivered');
    assert.equal(e?.dsCode, '30003');
    assert.equal(e?.fb, 'needed');
  });

  it('21610 in a callback adds the number to the suppression list', async () => {
    const sid = await sendNotice('optedout');
    const phone = CONTACTS.at(-1) ?? '';
    assert.equal((await twilio.fireStatusCallback(sid, 'failed', { errorCode: 21610 })).status, 204);
    assert.deepEqual(await list.reasons('sms', phone), ['21610']);
  });

  it('a forged or missing signature gets 403 and changes nothing', async () => {
    const sid = await sendNotice('forged');
    assert.equal((await twilio.fireStatusCallback(sid, 'sent')).status, 204);
    const before = await notify('forged');
    const params = { AccountSid: twilio.accountSid, MessageSid: sid, MessageStatus: 'delivered', To: CONTACTS.at(-1) ?? '' };
    const query = `?${REFERENCE_PARAM}=${WAVE}.forged`;
    const wrongKey = computeTwilioSignature('not-the-token', `${api.publicUrl}${STATUS_CALLBACK_PATH}${query}`, params);
    const bad = await postTwilio(STATUS_CALLBACK_PATH, params, { query, signature: wrongKey });
    assert.equal(bad.status, 403);
    assert.equal((await errorOf(bad)).code, 'BW_WEBHOOK_SIGNATURE_INVALID');
    // A genuine signature for other parameters, replayed with a changed status.
    const signedSent = computeTwilioSignature(twilio.authToken, `${api.publicUrl}${STATUS_CALLBACK_PATH}${query}`, { ...params, MessageStatus: 'sent' });
    assert.equal((await postTwilio(STATUS_CALLBACK_PATH, params, { query, signature: signedSent })).status, 403);
    // A genuine signature for another reference.
    const otherRef = computeTwilioSignature(twilio.authToken, `${api.publicUrl}${STATUS_CALLBACK_PATH}?${REFERENCE_PARAM}=${WAVE}.s1`, params);
    assert.equal((await postTwilio(STATUS_CALLBACK_PATH, params, { query, signature: otherRef })).status, 403);
    const none = await fetch(`${api.publicUrl}${STATUS_CALLBACK_PATH}${query}`, {
      method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(params).toString(),
    });
    assert.equal(none.status, 403);
    assert.deepEqual(await notify('forged'), before);
    assert.ok(api.metrics.rejected.get({ route: STATUS_CALLBACK_PATH, code: 'BW_WEBHOOK_SIGNATURE_INVALID' }) >= 4);
  });

  it('a malformed callback gets 400 naming the problem; an unknown notice gets 404', async () => {
    const sid = await sendNotice('malformed');
    const query = `?${REFERENCE_PARAM}=${WAVE}.malformed`;
    const missing = await postTwilio(STATUS_CALLBACK_PATH, { MessageSid: sid }, { query });
    assert.equal(missing.status, 400);
    const err = await errorOf(missing);
    assert.equal(err.code, 'BW_INPUT_INVALID');
    assert.match(err.message, /MessageStatus is missing/);
    const badStatus = await postTwilio(STATUS_CALLBACK_PATH, { MessageSid: sid, MessageStatus: 'exploded' }, { query });
    assert.equal(badStatus.status, 400);
    const badRef = await postTwilio(STATUS_CALLBACK_PATH, { MessageSid: sid, MessageStatus: 'sent' }, { query: `?${REFERENCE_PARAM}=nodot` });
    assert.equal(badRef.status, 400);
    const unknown = await postTwilio(STATUS_CALLBACK_PATH, { MessageSid: `SM${'0'.repeat(32)}`, MessageStatus: 'sent' }, { query: `?${REFERENCE_PARAM}=${WAVE}.nobody` });
    assert.equal(unknown.status, 404);
    assert.equal((await errorOf(unknown)).code, 'BW_DELIVERY_UNMATCHED');
    const json = await fetch(`${api.publicUrl}${STATUS_CALLBACK_PATH}`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
    assert.equal(json.status, 415);
    assert.equal((await notify('malformed'))?.ds, undefined);
  });
});

describe('inbound SMS', () => {
  it('STOP suppresses the sender, START lifts it, other messages change nothing', async () => {
    const phone = '+12025550188';
    CONTACTS.push(phone);
    const base = { AccountSid: twilio.accountSid, MessageSid: `SM${randomBytes(16).toString('hex')}`, From: phone, To: FROM };
    const stop = await postTwilio(INBOUND_SMS_PATH, { ...base, Body: ' Stop ' });
    assert.equal(stop.status, 200);
    assert.match(stop.headers.get('content-type') ?? '', /text\/xml/);
    assert.equal(await stop.text(), '<?xml version="1.0" encoding="UTF-8"?><Response></Response>');
    assert.equal(await list.isSuppressed('sms', phone), true);
    assert.equal((await postTwilio(INBOUND_SMS_PATH, { ...base, Body: 'thanks, but stop sending' })).status, 200);
    assert.equal(await list.isSuppressed('sms', phone), true);
    assert.equal((await postTwilio(INBOUND_SMS_PATH, { ...base, Body: 'START' })).status, 200);
    assert.equal(await list.isSuppressed('sms', phone), false);
    assert.equal(api.metrics.inbound.get({ intent: 'opt-out' }), 1);
  });

  it('a forged inbound STOP is refused and suppresses nothing', async () => {
    const phone = '+12025550199';
    CONTACTS.push(phone);
    const res = await postTwilio(INBOUND_SMS_PATH, { From: phone, Body: 'STOP' }, { signature: 'AAAAAAAAAAAAAAAAAAAAAAAAAAA=' });
    assert.equal(res.status, 403);
    assert.equal(await list.isSuppressed('sms', phone), false);
    const noFrom = await postTwilio(INBOUND_SMS_PATH, { Body: 'STOP' });
    assert.equal(noFrom.status, 400);
    assert.match((await errorOf(noFrom)).message, /From is missing/);
  });
});

describe('one-click unsubscribe', () => {
  const linkFor = (email: string, now?: () => Date) => {
    CONTACTS.push(email);
    return createUnsubscribeLinker({
      publicUrl: api.publicUrl,
      key: unsubscribeKey(Buffer.from(config.hmacKey, 'base64')),
      list,
      ttlSeconds: 3600,
      ...(now ? { now } : {}),
    })({ waveId: WAVE, accountId: 'e1', channel: 'email', contact: email });
  };
  const oneClick = (url: string, body = 'List-Unsubscribe=One-Click') =>
    fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body });

  it('the RFC 8058 POST suppresses the email; a GET only shows a form', async () => {
    const email = 'ana.one@example.com';
    const link = linkFor(email);
    assert.equal(link.headers['List-Unsubscribe'], `<${link.url}>`);
    const page = await fetch(link.url);
    assert.equal(page.status, 200);
    const html = await page.text();
    assert.match(html, /<form method="post"/);
    assert.match(html, /name="List-Unsubscribe" value="One-Click"/);
    assert.equal(await list.isSuppressed('email', email), false, 'GET never unsubscribes');
    const res = await oneClick(link.url);
    assert.equal(res.status, 200);
    assert.equal(await list.isSuppressed('email', email), true);
    assert.equal((await oneClick(link.url)).status, 200, 'a second POST is harmless');
  });

  it('accepts multipart/form-data, which RFC 8058 says senders SHOULD use', async () => {
    const email = 'bo.multi@example.com';
    const link = linkFor(email);
    const form = new FormData();
    form.set('List-Unsubscribe', 'One-Click');
    const res = await fetch(link.url, { method: 'POST', body: form });
    assert.equal(res.status, 200);
    assert.equal(await list.isSuppressed('email', email), true);
  });

  it('refuses tampered, expired and missing tokens and a wrong body', async () => {
    const email = 'cy.tamper@example.com';
    const link = linkFor(email);
    const tampered = link.url.replace(/t=(.)/, (_, c: string) => `t=${c === 'A' ? 'B' : 'A'}`);
    const t1 = await oneClick(tampered);
    assert.equal(t1.status, 403);
    assert.equal((await errorOf(t1)).code, 'BW_UNSUBSCRIBE_TOKEN_INVALID');
    assert.equal((await fetch(tampered)).status, 403);
    const expired = linkFor('di.old@example.com', () => new Date(Date.now() - 7200_000));
    const t2 = await oneClick(expired.url);
    assert.equal(t2.status, 410);
    assert.equal((await errorOf(t2)).code, 'BW_UNSUBSCRIBE_TOKEN_EXPIRED');
    const t3 = await oneClick(`${api.publicUrl}/v1/unsubscribe`);
    assert.equal(t3.status, 400);
    assert.match((await errorOf(t3)).message, /token/);
    const t4 = await oneClick(link.url, 'List-Unsubscribe=Yes');
    assert.equal(t4.status, 400);
    assert.match((await errorOf(t4)).message, /One-Click/);
    assert.equal(await list.isSuppressed('email', email), false);
    assert.equal(await list.isSuppressed('email', 'di.old@example.com'), false);
  });
});

describe('the service', () => {
  it('health, readiness and metrics', async () => {
    assert.deepEqual(await (await fetch(`${api.url}/healthz`)).json(), { status: 'ok' });
    assert.deepEqual(await (await fetch(`${api.url}/readyz`)).json(), { status: 'ready' });
    assert.equal((await fetch(`${api.url}/metrics`)).status, 401, 'metrics need their token');
    const res = await fetch(`${api.url}/metrics`, { headers: { Authorization: `Bearer ${METRICS_TOKEN}` } });
    assert.match(res.headers.get('content-type') ?? '', /text\/plain; version=0\.0\.4/);
    const text = await res.text();
    assert.match(text, /^bw_ops_suppressions\{channel="email",reason="unsubscribe"\} 2$/m);
    assert.match(text, /^bw_ops_suppressions\{channel="sms",reason="21610"\} 1$/m);
    assert.match(text, /^bw_ops_status_callbacks_total\{outcome="recorded",status="delivered"\} \d+$/m);
    assert.match(text, /^bw_ops_rejected_requests_total\{code="BW_WEBHOOK_SIGNATURE_INVALID",route="\/v1\/twilio\/status"\} \d+$/m);
    assert.match(text, /^bw_ops_redis_up 1$/m);
  });

  it('unknown routes, wrong methods, oversized and malformed bodies get 4xx JSON', async () => {
    const nf = await fetch(`${api.url}/nope`);
    assert.equal(nf.status, 404);
    assert.equal((await errorOf(nf)).code, 'BW_HTTP_NOT_FOUND');
    const m = await fetch(`${api.url}/healthz`, { method: 'DELETE' });
    assert.equal(m.status, 405);
    assert.equal(m.headers.get('allow'), 'GET');
    const big = await fetch(`${api.url}${INBOUND_SMS_PATH}`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: `Body=${'x'.repeat(10_000)}` });
    assert.equal(big.status, 413);
    assert.equal((await errorOf(big)).code, 'BW_HTTP_BODY_TOO_LARGE');
    const badJson = await fetch(`${api.url}/v1/test/echo`, { method: 'POST', headers: { Authorization: `Bearer ${OPS_TOKEN}`, [OPERATOR_HEADER]: 'alice', 'Content-Type': 'application/json' }, body: '{"a":' });
    assert.equal(badJson.status, 400);
    assert.match((await errorOf(badJson)).message, /not valid JSON/);
  });

  it('mounted routes: bearer token required; a throwing handler gets 500 and the service keeps serving', async () => {
    const noAuth = await fetch(`${api.url}/v1/test/echo`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"a":1}' });
    assert.equal(noAuth.status, 401);
    const wrong = await fetch(`${api.url}/v1/test/echo`, { method: 'POST', headers: { Authorization: 'Bearer nope', 'Content-Type': 'application/json' }, body: '{"a":1}' });
    assert.equal(wrong.status, 401);
    const ok = await fetch(`${api.url}/v1/test/echo`, { method: 'POST', headers: { Authorization: `Bearer ${OPS_TOKEN}`, [OPERATOR_HEADER]: 'alice', 'Content-Type': 'application/json' }, body: '{"a":1}' });
    assert.deepEqual(await ok.json(), { got: { a: 1 }, operator: 'alice' });
    for (const name of [undefined, '', 'alice@example.com', 'x'.repeat(65)]) {
      const anonymous = await fetch(`${api.url}/v1/test/echo`, {
        method: 'POST', headers: { Authorization: `Bearer ${OPS_TOKEN}`, ...(name === undefined ? {} : { [OPERATOR_HEADER]: name }), 'Content-Type': 'application/json' }, body: '{"a":1}',
      });
      assert.equal(anonymous.status, 400, `operator ${JSON.stringify(name)}`);
      assert.equal((await errorOf(anonymous)).code, 'BW_HTTP_OPERATOR_MISSING');
    }
    const boom = await fetch(`${api.url}/v1/test/boom`, { headers: { Authorization: `Bearer ${OPS_TOKEN}`, [OPERATOR_HEADER]: 'alice' } });
    assert.equal(boom.status, 500);
    const text = await boom.text();
    assert.ok(!text.includes('+12025550100'), 'no internals echoed');
    assert.deepEqual(JSON.parse(text), { error: { code: 'BW_INTERNAL', message: 'internal error' } });
    assert.equal((await fetch(`${api.url}/healthz`)).status, 200);
  });

  it('refuses a mounted route without a token role', async () => {
    const open = { handler: async () => ({ status: 200 }), auth: 'public' } as unknown as { handler: () => Promise<{ status: number }>; auth: 'operator' };
    await assert.rejects(
      runOpsApi(config, silentLogger(), { port: 0, routes: { 'GET /v1/open': open } }),
      (e: unknown) => e instanceof BreachwaveError && e.code === 'BW_CONFIG_INVALID' && /token role/.test(e.message),
    );
  });

  it('warns at start when it listens beyond loopback without TLS in front, and not on loopback', async () => {
    for (const [host, publicUrl, warns] of [['0.0.0.0', undefined, true], ['0.0.0.0', 'https://hooks.example.com', false], ['127.0.0.1', undefined, false]] as const) {
      const logs = captureLog('ops-bind-test');
      const other = await runOpsApi(config, logs.log, { host, port: 0, ...(publicUrl ? { publicUrl } : {}) });
      await other.close();
      assert.equal(logs.lines().some((l) => l.level === 40 && /without TLS/.test(String(l.msg))), warns, `${host} ${publicUrl ?? ''}`);
      for (const token of Object.values(TOKENS)) assert.ok(!logs.text().includes(token), 'no token in the log');
    }
  });

  it('refuses a mounted route that collides with a built-in one', async () => {
    await assert.rejects(
      runOpsApi(config, silentLogger(), { port: 0, routes: { 'GET /healthz': { auth: 'metrics', handler: async () => ({ status: 200 }) } } }),
      (e: unknown) => e instanceof BreachwaveError && e.code === 'BW_CONFIG_INVALID',
    );
  });

  it('refuses to start with another BW_HMAC_KEY than the deployment\'s: its suppression list would go unseen', async () => {
    const rotated = { ...config, hmacKey: randomBytes(32).toString('base64') };
    await assert.rejects(runOpsApi(rotated, silentLogger(), { port: 0 }), (e: unknown) => {
      assert.ok(e instanceof BreachwaveError && e.code === 'BW_CONFIG_INVALID');
      assert.match(e.message, /BW_HMAC_KEY/);
      assert.ok(!e.message.includes(rotated.hmacKey) && !e.message.includes(config.hmacKey), 'no key in the message');
      return true;
    });
    assert.equal((await fetch(`${api.url}/healthz`)).status, 200, 'the running one is untouched');
  });

  it('Redis holds no phone number or email address in clear', async () => {
    assert.ok(CONTACTS.length >= 8);
    const dump = await dumpRedis(redis, prefix);
    assert.ok(dump.includes(`${prefix}:sup:list`) && dump.includes(`${prefix}:audit`), 'the dump covers the suppression list and the audit');
    for (const contact of CONTACTS) {
      assert.ok(!dump.includes(contact), `found a contact point in Redis (${contact.length} chars)`);
      const digits = contact.replace(/\D/g, '');
      if (digits.length >= 10) assert.ok(!dump.includes(digits.slice(-10)), 'found a national number in Redis');
    }
  });
});

describe('authentication of every route', () => {
  let full: RunningOpsApi;
  let closeWiring: () => Promise<void>;

  before(async () => {
    // The production wiring, so the routes other packages mount are walked too.
    const wiring = await productionOverrides(config, silentLogger());
    closeWiring = wiring.close;
    full = await runOpsApi(config, silentLogger(), { ...wiring.overrides, port: 0 });
  });
  after(async () => {
    await full.close();
    await closeWiring();
  });

  /** The credential each kind of route checks on its own; everything else must be a token role or public. */
  const EXPECTED: Record<string, OpsAuth> = {
    'GET /healthz': 'public',
    'GET /readyz': 'public',
    'GET /metrics': 'metrics',
    [`POST ${INBOUND_SMS_PATH}`]: 'twilio-signature',
    [`POST ${STATUS_CALLBACK_PATH}`]: 'twilio-signature',
    'GET /v1/unsubscribe': 'unsubscribe-token',
    'POST /v1/unsubscribe': 'unsubscribe-token',
    [`POST ${PIN_VERIFY_PATH}`]: 'pin-verify',
    [`POST ${PIN_UNLOCK_PATH}`]: 'operator',
    // The browser login takes the token in its form; logging out needs the session (or a token).
    'GET /login': 'login',
    'POST /login': 'login',
    'POST /logout': 'viewer',
    // The wave overview, its dead-letter re-drive and the queue board's entry.
    'GET /waves': 'viewer',
    'POST /waves/:id/dlq/retry': 'operator',
    'GET /queues': 'viewer',
  };

  it('the route table names who may call each route, and only health and readiness are public', () => {
    assert.deepEqual(Object.fromEntries(full.routes.map((r) => [`${r.method} ${r.path}`, r.auth])), EXPECTED);
  });

  it('walks every route with no token, a wrong token and another role\'s token: 401 unless the route checks its own credential', async () => {
    const wrong = randomBytes(24).toString('hex');
    for (const { method, path, auth, browser } of full.routes) {
      const call = (authorization?: string) => fetch(`${full.url}${path}`, {
        method,
        redirect: 'manual',
        // A form body gets past the webhooks' content-type check to their signature check.
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', [OPERATOR_HEADER]: 'alice', ...(authorization ? { Authorization: authorization } : {}) },
        ...(method === 'GET' ? {} : { body: 'List-Unsubscribe=One-Click' }),
      });
      // The operator's token opens a viewer's route too (each role allows what the ones before it allow).
      const attempts = [undefined, `Bearer ${wrong}`, wrong, 'Basic b3BzOm9wcw==', ...Object.entries(TOKENS).filter(([role]) => role !== auth && !(role === 'operator' && auth === 'viewer')).map(([, t]) => `Bearer ${t}`)];
      for (const authorization of attempts) {
        const res = await call(authorization);
        const label = `${method} ${path} with ${authorization === undefined ? 'no token' : 'a wrong token'}`;
        if (auth === 'public') assert.equal(res.status, 200, label);
        else if (auth === 'twilio-signature') assert.equal(res.status, 403, `${label}: the signature check refuses it`);
        else if (auth === 'unsubscribe-token') assert.equal(res.status, 400, `${label}: no signed token, no unsubscribe`);
        else if (browser && method === 'GET') assert.equal(res.status, 303, `${label}: a page sends the browser to the login form`);
        else if (auth === 'login') assert.equal(res.status, method === 'GET' ? 200 : 401, `${label}: the form, or a refused login (no token in the form)`);
        else {
          assert.equal(res.status, 401, label);
          assert.equal(res.headers.get('www-authenticate'), 'Bearer');
          assert.equal((await errorOf(res)).code, 'BW_HTTP_UNAUTHORIZED');
          continue;
        }
        await res.arrayBuffer();
      }
      if (auth === 'operator' || auth === 'pin-verify' || auth === 'metrics') {
        const res = await call(`Bearer ${TOKENS[auth]}`);
        assert.notEqual(res.status, 401, `${method} ${path} with its own token`);
        await res.arrayBuffer();
      }
    }
  });

  it('an operator unlocks a locked account through the API, audited with their name; the owner then verifies', async () => {
    const keyring = createVerifierKeyring(config.pin.verifierKeys.map((k) => parseKey(k.id, k.base64)));
    const pin = '738294';
    await createVaultPinStore({ redis, prefix, keyring }).apply({ rotationId: rotationIdOf(WAVE, 'pin-1'), waveId: WAVE, accountId: 'pin-1', pin });
    const verify = (p: string) => fetch(`${full.url}${PIN_VERIFY_PATH}`, {
      method: 'POST', headers: { Authorization: `Bearer ${VERIFY_TOKEN}`, 'Content-Type': 'application/json' }, body: JSON.stringify({ accountId: 'pin-1', pin: p }),
    });
    assert.equal((await verify('000001')).status, 200);
    assert.equal((await verify('000002')).status, 200);
    const locked = await verify(pin);
    assert.equal(locked.status, 423);
    assert.ok(Number(locked.headers.get('retry-after')) > 0, 'a lock says when it ends');
    assert.equal((await errorOf(locked)).code, 'BW_PIN_LOCKED');

    const unlock = await fetch(`${full.url}${PIN_UNLOCK_PATH}`, {
      method: 'POST', headers: { Authorization: `Bearer ${OPS_TOKEN}`, [OPERATOR_HEADER]: 'alice', 'Content-Type': 'application/json' }, body: JSON.stringify({ accountId: 'pin-1' }),
    });
    assert.deepEqual({ status: unlock.status, json: await unlock.json() }, { status: 200, json: { accountId: 'pin-1', cleared: true } });
    const records = (await redis.xrange(`${prefix}:audit`, '-', '+')).map(([, f]) => JSON.parse(f[1] ?? '{}') as { type: string; actor: string; account?: string });
    assert.ok(records.some((r) => r.type === 'pin.unlocked' && r.actor === 'operator:alice' && r.account === 'pin-1'));
    assert.deepEqual(await (await verify(pin)).json(), { verified: true });

    const metrics = await (await fetch(`${full.url}/metrics`, { headers: { Authorization: `Bearer ${METRICS_TOKEN}` } })).text();
    assert.match(metrics, /^bw_pin_verifications_total\{outcome="locked"\} 1$/m);
  });
});
