import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { BreachwaveError, ERROR_CATALOG, type ErrorCode } from '@breachwave/domain';
import { startTwilioServer, type TwilioFaultKind, type TwilioServer } from '@breachwave/testkit';
import twilio from 'twilio';
import { createTwilioClient, createTwilioSmsSender, reconcileTwilioSend } from './index.js';

const FROM = '+15005550006';
const TO = '+15005550009';
const BODY = 'Your breach notice: reset your PIN at the branch. Code 4821.';
const CALLBACK = 'https://hooks.example.test/twilio/status';

let server: TwilioServer;

before(async () => {
  server = await startTwilioServer({ seed: 7 });
});
after(async () => {
  await server.close();
});
beforeEach(() => {
  server.reset();
});

function client(overrides: { authToken?: string; timeoutMs?: number; baseUrl?: string } = {}): twilio.Twilio {
  return createTwilioClient({
    accountSid: server.accountSid,
    authToken: overrides.authToken ?? server.authToken,
    baseUrl: overrides.baseUrl ?? server.url,
    timeoutMs: overrides.timeoutMs ?? 2000,
  });
}

async function sendExpectingError(
  sender: ReturnType<typeof createTwilioSmsSender>,
  to = TO,
): Promise<BreachwaveError> {
  try {
    await sender.send({ to, body: BODY, reference: 'ref-1' });
  } catch (err) {
    assert.ok(err instanceof BreachwaveError, `expected a BreachwaveError, got ${String(err)}`);
    // Never leak contact data or content, whatever the provider said.
    const surface = `${err.message} ${JSON.stringify(err)} ${err.detail ?? ''}`;
    assert.ok(!surface.includes(to), 'error must not include the phone number');
    assert.ok(!surface.includes(BODY), 'error must not include the body');
    assert.equal(err.kind, ERROR_CATALOG[err.code].kind);
    return err;
  }
  assert.fail('send should have failed');
}

describe('createTwilioSmsSender with the real SDK against the test kit server', () => {
  it('creates exactly one message with To, Body, From and StatusCallback', async () => {
    const sender = createTwilioSmsSender({
      client: client(),
      from: FROM,
      statusCallback: CALLBACK,
      validityPeriodSeconds: 3600,
    });
    const result = await sender.send({ to: TO, body: BODY, reference: 'ref-1' });

    assert.equal(server.messages.length, 1);
    const [message] = server.messages;
    assert.ok(message);
    assert.deepEqual(result, { providerId: message.sid, status: 'queued' });
    assert.match(message.sid, /^SM[0-9a-f]{32}$/);
    assert.equal(message.to, TO);
    assert.equal(message.body, BODY);
    assert.equal(message.from, FROM);
    assert.equal(message.messagingServiceSid, null);
    assert.equal(message.statusCallback, CALLBACK);
    assert.equal(message.validityPeriod, 3600);

    const [request] = server.requests;
    assert.ok(request);
    assert.equal(request.method, 'POST');
    assert.equal(request.path, `/2010-04-01/Accounts/${server.accountSid}/Messages.json`);
    assert.match(String(request.headers['user-agent']), /^twilio-node\//);
    assert.deepEqual(request.params, {
      To: TO,
      Body: BODY,
      From: FROM,
      SmartEncoded: 'true',
      StatusCallback: CALLBACK,
      ValidityPeriod: '3600',
    });
  });

  it('sends through a Messaging Service when configured (no From)', async () => {
    const messagingServiceSid = `MG${'0'.repeat(32)}`;
    const sender = createTwilioSmsSender({ client: client(), messagingServiceSid });
    const result = await sender.send({ to: TO, body: BODY, reference: 'ref-2' });

    assert.equal(server.messages.length, 1);
    const [request] = server.requests;
    assert.equal(request?.params.MessagingServiceSid, messagingServiceSid);
    assert.equal(request?.params.From, undefined);
    assert.equal(request?.params.StatusCallback, undefined);
    assert.equal(result.status, 'accepted');
  });

  it('can carry the reference on the status callback URL', async () => {
    const sender = createTwilioSmsSender({
      client: client(),
      from: FROM,
      statusCallback: `${CALLBACK}?tenant=a`,
      statusCallbackReferenceParam: 'bw_ref',
    });
    await sender.send({ to: TO, body: BODY, reference: 'wave-9:acct-3' });
    assert.equal(server.messages[0]?.statusCallback, `${CALLBACK}?tenant=a&bw_ref=wave-9%3Aacct-3`);
  });

  it('refuses an account sid the SDK rejects with BW_CONFIG_INVALID', () => {
    assert.throws(
      () => createTwilioClient({ accountSid: 'not-a-sid', authToken: 'x', baseUrl: server.url }),
      (err: unknown) => err instanceof BreachwaveError && err.code === 'BW_CONFIG_INVALID',
    );
    assert.throws(
      () => createTwilioClient({ accountSid: server.accountSid, authToken: 'x', baseUrl: 'not a url' }),
      (err: unknown) => err instanceof BreachwaveError && err.code === 'BW_CONFIG_INVALID',
    );
  });

  it('maps a synchronous refusal by the client (nothing sent) to BW_SMS_REJECTED', async () => {
    const refusing = Object.assign(() => ({ fetch: () => Promise.reject(new Error('unused')) }), {
      create: (): never => {
        throw new Error(`Required parameter "params['to']" missing for ${TO}`);
      },
      list: () => Promise.resolve([]),
    });
    const sender = createTwilioSmsSender({ client: { messages: refusing }, from: FROM });
    const err = await sendExpectingError(sender);
    assert.equal(err.code, 'BW_SMS_REJECTED');
  });

  it('refuses a configuration without a sender', () => {
    assert.throws(
      () => createTwilioSmsSender({ client: client() }),
      (err: unknown) => err instanceof BreachwaveError && err.code === 'BW_CONFIG_INVALID',
    );
  });

  const rejections: ReadonlyArray<[TwilioFaultKind, ErrorCode, string]> = [
    ['throttle', 'BW_SMS_THROTTLED', '20429'],
    ['invalid-number', 'BW_SMS_INVALID_NUMBER', '21211'],
    ['opted-out', 'BW_SMS_OPTED_OUT', '21610'],
    ['server-error', 'BW_SMS_PROVIDER_UNAVAILABLE', '20500'],
    ['unavailable', 'BW_SMS_PROVIDER_UNAVAILABLE', '20503'],
  ];
  for (const [fault, code, providerCode] of rejections) {
    it(`maps an injected ${fault} to ${code}`, async () => {
      const sender = createTwilioSmsSender({ client: client(), from: FROM });
      server.inject(fault, { times: 1 });
      const err = await sendExpectingError(sender);
      assert.equal(err.code, code);
      assert.equal(err.providerCode, providerCode);
      assert.equal(server.messages.length, 0, 'a rejected request creates no message');
      assert.equal(server.injectedFaults[fault], 1);
      // The rule is spent: the next send goes through.
      await sender.send({ to: TO, body: BODY, reference: 'ref-1' });
      assert.equal(server.messages.length, 1);
    });
  }

  it('maps a validation failure (missing body, 21602) to BW_SMS_REJECTED', async () => {
    const sender = createTwilioSmsSender({ client: client(), from: FROM });
    const err = await sender.send({ to: TO, body: '', reference: 'r' }).then(
      () => assert.fail('should fail'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof BreachwaveError);
    assert.equal(err.code, 'BW_SMS_REJECTED');
    assert.equal(err.providerCode, '21602');
  });

  it('applies a fault scoped to one recipient only to that recipient', async () => {
    const other = '+15005550010';
    const sender = createTwilioSmsSender({ client: client(), from: FROM });
    server.inject('opted-out', { to: other });
    await sender.send({ to: TO, body: BODY, reference: 'a' });
    const err = await sendExpectingError(sender, other);
    assert.equal(err.code, 'BW_SMS_OPTED_OUT');
    assert.deepEqual(
      server.messages.map((m) => m.to),
      [TO],
    );
  });

  it('maps a hung request to BW_SMS_AMBIGUOUS once the client timeout fires', async () => {
    const sender = createTwilioSmsSender({ client: client({ timeoutMs: 200 }), from: FROM });
    server.inject('hang', { times: 1 });
    const started = Date.now();
    const err = await sendExpectingError(sender);
    assert.equal(err.code, 'BW_SMS_AMBIGUOUS');
    assert.equal(err.kind, 'ambiguous');
    assert.ok(Date.now() - started < 2000, 'the client timeout, not the server, ended the request');
    assert.equal(server.requests.length, 1, 'the server did receive the request');
    assert.equal(server.requests[0]?.status, undefined, 'and never answered it');
  });

  it('maps a reset after the message was created to BW_SMS_AMBIGUOUS, and reconcile finds it', async () => {
    const twilioClient = client();
    const sender = createTwilioSmsSender({ client: twilioClient, from: FROM });
    const attemptStarted = new Date();
    server.inject('reset-after-accept', { times: 1 });
    const err = await sendExpectingError(sender);
    assert.equal(err.code, 'BW_SMS_AMBIGUOUS');
    assert.equal(server.messages.length, 1, 'the server created the message before resetting');

    const sid = await reconcileTwilioSend(twilioClient, { to: TO, sentAfter: attemptStarted, body: BODY });
    assert.equal(sid, server.messages[0]?.sid);
    const listCall = server.requests.at(-1);
    assert.equal(listCall?.method, 'GET');
    assert.equal(listCall?.query.To, TO);
    assert.ok(listCall?.query['DateSent>'], 'the lookup filters by DateSent>');
  });

  it('reconcile returns undefined when no message matches', async () => {
    const twilioClient = client();
    const sender = createTwilioSmsSender({ client: twilioClient, from: FROM });
    await sender.send({ to: TO, body: BODY, reference: 'r' });
    const now = new Date();
    assert.equal(await reconcileTwilioSend(twilioClient, { to: '+15005550011', sentAfter: now }), undefined);
    assert.equal(await reconcileTwilioSend(twilioClient, { to: TO, sentAfter: now, body: 'other body' }), undefined);
    const later = new Date(Date.now() + 60_000);
    assert.equal(await reconcileTwilioSend(twilioClient, { to: TO, sentAfter: later }), undefined);
  });

  it('reconcile follows Twilio paging', async () => {
    const twilioClient = client();
    const sender = createTwilioSmsSender({ client: twilioClient, from: FROM });
    const started = new Date();
    for (let i = 0; i < 3; i += 1) await sender.send({ to: TO, body: `${BODY} #${i}`, reference: `r${i}` });
    const before = server.requests.length;
    const sid = await reconcileTwilioSend(twilioClient, { to: TO, sentAfter: started, body: `${BODY} #0`, pageSize: 1 });
    assert.equal(sid, server.messages[0]?.sid);
    const pages = server.requests.slice(before);
    assert.equal(pages.length, 3, 'one request per page');
    assert.deepEqual(
      pages.map((r) => r.query.Page ?? '0'),
      ['0', '1', '2'],
    );
  });

  it('maps wrong credentials to BW_SMS_AUTH', async () => {
    const sender = createTwilioSmsSender({ client: client({ authToken: 'not-the-token' }), from: FROM });
    const err = await sendExpectingError(sender);
    assert.equal(err.code, 'BW_SMS_AUTH');
    assert.equal(err.kind, 'config');
    assert.equal(err.providerCode, '20003');
    assert.equal(server.messages.length, 0);
  });

  it('maps a refused connection to BW_SMS_NETWORK', async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const probe = net.createServer();
      probe.listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as AddressInfo;
        probe.close(() => resolve(port));
      });
    });
    const sender = createTwilioSmsSender({ client: client({ baseUrl: `http://127.0.0.1:${closedPort}` }), from: FROM });
    const err = await sendExpectingError(sender);
    assert.equal(err.code, 'BW_SMS_NETWORK');
    assert.equal(err.kind, 'transient');
    assert.equal(err.providerCode, 'ECONNREFUSED');
  });
});

describe('status callbacks', () => {
  let receiver: http.Server;
  let receiverUrl: string;
  const received: Array<{ url: string; signature: string; params: Record<string, string> }> = [];

  before(async () => {
    receiver = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        received.push({
          url: `${receiverUrl}${(req.url ?? '').replace(/^\/[^?]*/, '')}`,
          signature: String(req.headers['x-twilio-signature'] ?? ''),
          params: Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf-8'))),
        });
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/twilio/status`;
  });
  after(async () => {
    receiver.closeAllConnections();
    await new Promise<void>((resolve) => receiver.close(() => resolve()));
  });

  it('are signed so that twilio.validateRequest accepts them', async () => {
    const sender = createTwilioSmsSender({
      client: client(),
      from: FROM,
      statusCallback: receiverUrl,
      statusCallbackReferenceParam: 'ref',
    });
    const { providerId } = await sender.send({ to: TO, body: BODY, reference: 'wave-1:acct-7' });
    const result = await server.fireStatusCallback(providerId, 'undelivered', { errorCode: 30003 });
    assert.equal(result.status, 204);

    assert.equal(received.length, 1);
    const [callback] = received;
    assert.ok(callback);
    assert.equal(callback.url, `${receiverUrl}?ref=wave-1%3Aacct-7`);
    assert.equal(callback.params.MessageSid, providerId);
    assert.equal(callback.params.MessageStatus, 'undelivered');
    assert.equal(callback.params.ErrorCode, '30003');
    assert.equal(callback.params.To, TO);
    assert.equal(callback.params.From, FROM);
    assert.equal(callback.params.AccountSid, server.accountSid);

    assert.equal(twilio.validateRequest(server.authToken, callback.signature, callback.url, callback.params), true);
    assert.equal(
      twilio.validateRequest(server.authToken, callback.signature, callback.url, { ...callback.params, ErrorCode: '0' }),
      false,
      'a tampered body fails validation',
    );
    assert.equal(
      twilio.validateRequest('another-token', callback.signature, callback.url, callback.params),
      false,
      'another token fails validation',
    );

    // The stored message reflects the callback.
    const fetched = await client().messages(providerId).fetch();
    assert.equal(fetched.status, 'undelivered');
    assert.equal(fetched.errorCode, 30003);
  });
});
