import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { BreachwaveError } from '@breachwave/domain';
import { selfSignedCertificate, startTwilioServer, type CertificatePair, type TwilioServer } from '@breachwave/testkit';
import twilio from 'twilio';
import { createTwilioClient, createTwilioSmsSender, TwilioHttpClient } from './index.js';

const FROM = '+15005550006';
const TO = '+15005550009';
const BODY = 'Your breach notice: your account PIN was changed.';

describe('TwilioHttpClient under the real SDK (plain HTTP)', () => {
  let server: TwilioServer;
  before(async () => {
    server = await startTwilioServer({ seed: 3 });
  });
  after(async () => {
    await server.close();
  });
  beforeEach(() => {
    server.reset();
  });

  function client(timeoutMs = 2000): twilio.Twilio {
    return createTwilioClient({ accountSid: server.accountSid, authToken: server.authToken, baseUrl: server.url, timeoutMs });
  }

  it('is the httpClient createTwilioClient gives the SDK when no proxy is configured', () => {
    assert.ok(client().httpClient instanceof TwilioHttpClient);
  });

  it('keeps connections alive: 3 rounds of 10 concurrent sends open at most 10 connections', async () => {
    const c = client();
    for (let round = 0; round < 3; round++) {
      await Promise.all(Array.from({ length: 10 }, (_, i) => c.messages.create({ to: TO, from: FROM, body: `${BODY} ${round}/${i}` })));
    }
    assert.equal(server.messages.length, 30);
    assert.ok(server.connections <= 10, `expected at most 10 connections for 30 requests, saw ${server.connections}`);
  });

  it('form-encodes the body like the SDK (Basic auth, repeated keys for lists, UTF-8)', async () => {
    const body = 'Notice — «accents» é & = + %';
    await client().messages.create({ to: TO, from: FROM, body, mediaUrl: ['https://media.example.test/a', 'https://media.example.test/b'] });
    const [request] = server.requests;
    assert.ok(request);
    assert.equal(request.headers['content-type'], 'application/x-www-form-urlencoded');
    assert.equal(request.headers.authorization, `Basic ${Buffer.from(`${server.accountSid}:${server.authToken}`).toString('base64')}`);
    assert.equal(request.params.Body, body);
    assert.deepEqual(new URLSearchParams(request.rawBody).getAll('MediaUrl'), ['https://media.example.test/a', 'https://media.example.test/b']);
  });

  it('puts list filters in the query string', async () => {
    const since = new Date('2026-11-30T10:00:00Z');
    await client().messages.list({ to: TO, dateSentAfter: since, pageSize: 20, limit: 20 });
    const [request] = server.requests;
    assert.ok(request);
    assert.equal(request.method, 'GET');
    assert.equal(request.query.To, TO);
    assert.equal(request.query['DateSent>'], '2026-11-30T10:00:00Z');
    assert.equal(request.query.PageSize, '20');
  });

  it('a timeout rejects with ETIMEDOUT, and the error does not carry the credentials', async () => {
    server.inject('hang', { times: 1 });
    const err = await client(150)
      .messages.create({ to: TO, from: FROM, body: BODY })
      .then(() => assert.fail('the request should have timed out'), (e: unknown) => e as Error & { code?: string });
    assert.equal(err.code, 'ETIMEDOUT');
    assert.ok(!JSON.stringify(err).includes(server.authToken), 'the error must not serialise the auth token');
    assert.ok(!Object.keys(err).includes('request'));
  });

  it('does not cap connections per host: 40 concurrent sends to a slow provider are all in flight at once', async () => {
    const slow = await startTwilioServer({ seed: 4, latencyMs: 300 });
    try {
      const c = createTwilioClient({ accountSid: slow.accountSid, authToken: slow.authToken, baseUrl: slow.url });
      await Promise.all(Array.from({ length: 40 }, (_, i) => c.messages.create({ to: TO, from: FROM, body: `${BODY} ${i}` })));
      assert.equal(slow.messages.length, 40);
      // The SDK's own client holds 20 connections per host; 40 answers held 300 ms each need 40.
      assert.equal(slow.connections, 40);
    } finally {
      await slow.close();
    }
  });

  it('uses the SDK\'s own RequestClient when a proxy (HTTP_PROXY) is configured: it knows proxies', () => {
    const c = createTwilioClient({ accountSid: server.accountSid, authToken: server.authToken, baseUrl: server.url, httpProxy: 'http://proxy.example.test:3128' });
    assert.ok(!(c.httpClient instanceof TwilioHttpClient));
    assert.ok(c.httpClient instanceof twilio.RequestClient);
  });
});

describe('TwilioHttpClient over HTTPS', () => {
  let pair: CertificatePair;
  let server: TwilioServer;
  let dir: string;
  before(async () => {
    pair = selfSignedCertificate();
    server = await startTwilioServer({ seed: 5, tls: pair });
    dir = mkdtempSync(join(tmpdir(), 'bw-ca-'));
  });
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function sender(options: { ca?: string; caBundleFile?: string }) {
    const client = createTwilioClient({
      accountSid: server.accountSid,
      authToken: server.authToken,
      baseUrl: server.url,
      timeoutMs: 2000,
      ...(options.caBundleFile ? { caBundleFile: options.caBundleFile } : {}),
      ...(options.ca !== undefined ? { ca: options.ca } : {}),
    });
    return createTwilioSmsSender({ client, from: FROM });
  }

  it('sends when the server\'s certificate is trusted through `ca`', async () => {
    assert.ok(server.url.startsWith('https://'));
    const result = await sender({ ca: pair.cert }).send({ to: TO, body: BODY, reference: 'tls-1' });
    assert.match(result.providerId, /^SM[0-9a-f]{32}$/);
    assert.equal(server.messages.at(-1)?.sid, result.providerId);
  });

  it('reads the CA bundle named by caBundleFile (TWILIO_CA_BUNDLE, as the SDK names it)', async () => {
    const bundle = join(dir, 'ca.pem');
    writeFileSync(bundle, pair.cert);
    const result = await sender({ caBundleFile: bundle }).send({ to: TO, body: BODY, reference: 'tls-2' });
    assert.equal(server.messages.at(-1)?.sid, result.providerId);
  });

  it('refuses an untrusted certificate before anything is sent (BW_SMS_NETWORK)', async () => {
    const before = server.requests.length;
    const err = await sender({}).send({ to: TO, body: BODY, reference: 'tls-3' }).then(
      () => assert.fail('an untrusted certificate must fail'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof BreachwaveError);
    assert.equal(err.code, 'BW_SMS_NETWORK');
    assert.equal(server.requests.length, before, 'the server must not have seen the request');
  });

  it('an unreadable TWILIO_CA_BUNDLE is a configuration error', () => {
    assert.throws(
      () => createTwilioClient({ accountSid: server.accountSid, authToken: server.authToken, caBundleFile: join(dir, 'missing.pem') }),
      (e: unknown) => e instanceof BreachwaveError && e.code === 'BW_CONFIG_INVALID',
    );
  });
});
