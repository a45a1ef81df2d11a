import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { computeTwilioSignature, startTwilioServer, type TwilioServer } from './twilio-server.js';
import { waitFor } from './wait-for.js';

const FROM = '+15005550006';
const TO = '+15005550009';

let server: TwilioServer;

before(async () => {
  server = await startTwilioServer();
});
after(async () => {
  await server.close();
});
beforeEach(() => {
  server.reset();
});

interface ApiAnswer {
  readonly status: number;
  readonly json: Record<string, unknown>;
  readonly headers: Headers;
}

async function api(
  method: 'GET' | 'POST',
  path: string,
  options: { form?: Record<string, string>; token?: string; account?: string; base?: string } = {},
): Promise<ApiAnswer> {
  const account = options.account ?? server.accountSid;
  const auth = Buffer.from(`${account}:${options.token ?? server.authToken}`).toString('base64');
  const res = await fetch(`${options.base ?? server.url}${path}`, {
    method,
    headers: {
      Authorization: `Basic ${auth}`,
      Accept: 'application/json',
      ...(options.form ? { 'Content-Type': 'application/x-www-form-urlencoded' } : {}),
    },
    ...(options.form ? { body: new URLSearchParams(options.form).toString() } : {}),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown>, headers: res.headers };
}

const messagesPath = (): string => `/2010-04-01/Accounts/${server.accountSid}/Messages.json`;
const send = (form: Record<string, string>): Promise<ApiAnswer> => api('POST', messagesPath(), { form });

describe('startTwilioServer: credentials', () => {
  it('generates synthetic credentials per instance', async () => {
    assert.match(server.accountSid, /^AC[0-9a-f]{32}$/);
    assert.match(server.authToken, /^[0-9a-f]{32}$/);
    const other = await startTwilioServer();
    try {
      assert.notEqual(other.accountSid, server.accountSid);
      assert.notEqual(other.authToken, server.authToken);
    } finally {
      await other.close();
    }
  });

  it('answers a wrong token with 401 and Twilio error 20003', async () => {
    const answer = await api('POST', messagesPath(), { form: { To: TO, From: FROM, Body: 'x' }, token: 'wrong' });
    assert.equal(answer.status, 401);
    assert.deepEqual(answer.json, {
      code: 20003,
      message: 'Authenticate',
      more_info: 'https://www.twilio.com/docs/errors/20003',
      status: 401,
    });
    assert.equal(server.messages.length, 0);
  });

  it('answers a request for another account with 401', async () => {
    const other = `AC${'1'.repeat(32)}`;
    const answer = await api('GET', `/2010-04-01/Accounts/${other}/Messages.json`, { account: other });
    assert.equal(answer.status, 401);
  });
});

describe('startTwilioServer: Messages API', () => {
  it('creates a message resource shaped like Twilio’s', async () => {
    const answer = await send({ To: TO, From: FROM, Body: 'hello', StatusCallback: 'https://cb.example.test/s' });
    assert.equal(answer.status, 201);
    const m = answer.json;
    assert.match(String(m.sid), /^SM[0-9a-f]{32}$/);
    assert.equal(m.account_sid, server.accountSid);
    assert.equal(m.to, TO);
    assert.equal(m.from, FROM);
    assert.equal(m.body, 'hello');
    assert.equal(m.status, 'queued');
    assert.equal(m.num_segments, '1');
    assert.equal(m.direction, 'outbound-api');
    assert.equal(m.api_version, '2010-04-01');
    assert.equal(m.date_sent, null);
    assert.match(String(m.date_created), /^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000$/);
    assert.equal(m.uri, `/2010-04-01/Accounts/${server.accountSid}/Messages/${String(m.sid)}.json`);

    assert.equal(server.messages.length, 1);
    assert.equal(server.messages[0]?.statusCallback, 'https://cb.example.test/s');
    const [request] = server.requests;
    assert.equal(request?.method, 'POST');
    assert.equal(request?.params.Body, 'hello');
    assert.equal(request?.status, 201);
    assert.ok(request?.time instanceof Date);
  });

  it('counts segments for GSM-7 and UCS-2 bodies', async () => {
    const gsm160 = await send({ To: TO, From: FROM, Body: 'a'.repeat(160) });
    const gsm161 = await send({ To: TO, From: FROM, Body: 'a'.repeat(161) });
    const ucs71 = await send({ To: TO, From: FROM, Body: 'ü'.repeat(60) + 'Ж'.repeat(11) });
    assert.deepEqual(
      [gsm160.json.num_segments, gsm161.json.num_segments, ucs71.json.num_segments],
      ['1', '2', '2'],
    );
  });

  const invalid: ReadonlyArray<[string, Record<string, string>, number]> = [
    ['missing To', { From: FROM, Body: 'x' }, 21604],
    ['missing Body', { To: TO, From: FROM }, 21602],
    ['missing From and MessagingServiceSid', { To: TO, Body: 'x' }, 21603],
  ];
  for (const [what, form, code] of invalid) {
    it(`rejects ${what} with 400 / ${code}`, async () => {
      const answer = await send(form);
      assert.equal(answer.status, 400);
      assert.equal(answer.json.code, code);
      assert.equal(answer.json.status, 400);
      assert.equal(server.messages.length, 0);
    });
  }

  it('fetches a message by sid and 404s an unknown one', async () => {
    const created = await send({ To: TO, From: FROM, Body: 'x' });
    const sid = String(created.json.sid);
    const fetched = await api('GET', `/2010-04-01/Accounts/${server.accountSid}/Messages/${sid}.json`);
    assert.equal(fetched.status, 200);
    assert.equal(fetched.json.sid, sid);
    const missing = await api('GET', `/2010-04-01/Accounts/${server.accountSid}/Messages/SM${'0'.repeat(32)}.json`);
    assert.equal(missing.status, 404);
    assert.equal(missing.json.code, 20404);
  });

  it('lists newest first with filters and Twilio’s paging envelope', async () => {
    for (let i = 0; i < 3; i += 1) await send({ To: TO, From: FROM, Body: `m${i}` });
    await send({ To: '+15005550010', From: FROM, Body: 'other' });

    const first = await api('GET', `${messagesPath()}?To=${encodeURIComponent(TO)}&PageSize=2`);
    assert.equal(first.status, 200);
    assert.deepEqual(
      (first.json.messages as Array<{ body: string }>).map((m) => m.body),
      ['m2', 'm1'],
    );
    assert.equal(first.json.page, 0);
    assert.equal(first.json.page_size, 2);
    assert.equal(first.json.previous_page_uri, null);
    assert.equal(typeof first.json.uri, 'string');
    assert.equal(typeof first.json.first_page_uri, 'string');
    const next = String(first.json.next_page_uri);
    assert.ok(next.startsWith(messagesPath()));

    const second = await api('GET', next);
    assert.deepEqual(
      (second.json.messages as Array<{ body: string }>).map((m) => m.body),
      ['m0'],
    );
    assert.equal(second.json.next_page_uri, null);

    const tomorrow = new Date(Date.now() + 86_400_000).toISOString();
    const none = await api('GET', `${messagesPath()}?DateSent%3E=${encodeURIComponent(tomorrow)}`);
    assert.deepEqual(none.json.messages, []);
    const yesterday = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
    const all = await api('GET', `${messagesPath()}?DateSent%3E=${yesterday}`);
    assert.equal((all.json.messages as unknown[]).length, 4);
  });
});

describe('startTwilioServer: fault injection', () => {
  it('applies a fault `times` times, then retires it, and counts it', async () => {
    server.inject('throttle', { times: 2 });
    const statuses: number[] = [];
    for (let i = 0; i < 3; i += 1) statuses.push((await send({ To: TO, From: FROM, Body: 'x' })).status);
    assert.deepEqual(statuses, [429, 429, 201]);
    assert.equal(server.injectedFaults.throttle, 2);
    assert.equal(server.requests[0]?.fault, 'throttle');
  });

  const bodies: ReadonlyArray<['invalid-number' | 'opted-out' | 'server-error' | 'unavailable', number, number]> = [
    ['invalid-number', 400, 21211],
    ['opted-out', 400, 21610],
    ['server-error', 500, 20500],
    ['unavailable', 503, 20503],
  ];
  for (const [fault, status, code] of bodies) {
    it(`answers ${fault} with HTTP ${status} / ${code}`, async () => {
      server.inject(fault, { times: 1 });
      const answer = await send({ To: TO, From: FROM, Body: 'x' });
      assert.equal(answer.status, status);
      assert.equal(answer.json.code, code);
      assert.equal(answer.json.more_info, `https://www.twilio.com/docs/errors/${code}`);
      assert.equal(server.messages.length, 0);
    });
  }

  it('limits a fault to one recipient with `to`', async () => {
    server.inject('opted-out', { to: '+15005550010' });
    assert.equal((await send({ To: TO, From: FROM, Body: 'x' })).status, 201);
    assert.equal((await send({ To: '+15005550010', From: FROM, Body: 'x' })).status, 400);
    assert.equal((await send({ To: TO, From: FROM, Body: 'x' })).status, 201);
    server.clearFaults();
    assert.equal((await send({ To: '+15005550010', From: FROM, Body: 'x' })).status, 201);
  });

  it('draws `probability` from a seeded PRNG: same seed, same outcomes', async () => {
    const pattern = async (seed: number): Promise<number[]> => {
      const s = await startTwilioServer({ seed });
      try {
        s.inject('server-error', { probability: 0.5 });
        const out: number[] = [];
        for (let i = 0; i < 16; i += 1) {
          const auth = Buffer.from(`${s.accountSid}:${s.authToken}`).toString('base64');
          const res = await fetch(`${s.url}/2010-04-01/Accounts/${s.accountSid}/Messages.json`, {
            method: 'POST',
            headers: { Authorization: `Basic ${auth}`, 'Content-Type': 'application/x-www-form-urlencoded' },
            body: new URLSearchParams({ To: TO, From: FROM, Body: 'x' }).toString(),
          });
          await res.arrayBuffer();
          out.push(res.status);
        }
        assert.equal(s.injectedFaults['server-error'], out.filter((x) => x === 500).length);
        return out;
      } finally {
        await s.close();
      }
    };
    const a = await pattern(42);
    const b = await pattern(42);
    assert.deepEqual(a, b);
    assert.ok(a.includes(500) && a.includes(201), `a 50% fault over 16 requests should mix outcomes: ${a.join(',')}`);
  });

  it('validates fault options', () => {
    assert.throws(() => server.inject('throttle', { times: 0 }));
    assert.throws(() => server.inject('throttle', { probability: 2 }));
  });

  it('reset-after-accept records the message, then drops the connection without answering', async () => {
    server.inject('reset-after-accept', { times: 1 });
    await assert.rejects(send({ To: TO, From: FROM, Body: 'x' }));
    assert.equal(server.messages.length, 1);
    assert.equal(server.requests[0]?.status, undefined);
  });

  it('hang never answers, and close() still finishes promptly', async () => {
    const hung = await startTwilioServer();
    hung.inject('hang');
    const auth = Buffer.from(`${hung.accountSid}:${hung.authToken}`).toString('base64');
    const outcome = new Promise<string>((resolve) => {
      const req = http.request(
        `${hung.url}/2010-04-01/Accounts/${hung.accountSid}/Messages.json`,
        { method: 'POST', headers: { Authorization: `Basic ${auth}`, 'Content-Type': 'application/x-www-form-urlencoded' } },
        () => resolve('answered'),
      );
      req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
      req.end(new URLSearchParams({ To: TO, From: FROM, Body: 'x' }).toString());
    });
    // The server has the request (recorded) but holds it.
    await waitFor(() => hung.requests.length > 0, { what: 'the hung request to be recorded', timeout: 2000 });
    const started = Date.now();
    await hung.close();
    assert.ok(Date.now() - started < 1000, 'close() does not wait for the hung request');
    assert.equal(await outcome, 'ECONNRESET');
    assert.equal(hung.messages.length, 0);
    assert.equal(hung.injectedFaults.hang, 1);
  });
});

describe('startTwilioServer: status callbacks', () => {
  let receiver: http.Server;
  let receiverUrl: string;
  const got: Array<{ path: string; headers: http.IncomingHttpHeaders; params: Record<string, string> }> = [];

  before(async () => {
    receiver = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        got.push({
          path: req.url ?? '',
          headers: req.headers,
          params: Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString('utf-8'))),
        });
        res.writeHead(200, { 'Content-Type': 'text/xml' }).end('<Response/>');
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/status?x=1`;
  });
  afterEach(() => {
    got.length = 0;
  });
  after(async () => {
    receiver.closeAllConnections();
    await new Promise<void>((resolve) => receiver.close(() => resolve()));
  });

  it('computes the signature exactly as Twilio documents it', () => {
    // Twilio's published example (twilio-php RequestValidatorTest): token 12345.
    const signature = computeTwilioSignature('12345', 'https://mycompany.com/myapp.php?foo=1&bar=2', {
      CallSid: 'CA1234567890ABCDE',
      Caller: '+14158675309',
      Digits: '1234',
      From: '+14158675309',
      To: '+18005551212',
    });
    assert.equal(signature, 'RSOYDt4T1cUTdK1PDd93/VVr8B8=');
  });

  it('POSTs the message status, signed, to the StatusCallback URL and updates the message', async () => {
    const created = await send({ To: TO, From: FROM, Body: 'x', StatusCallback: receiverUrl });
    const sid = String(created.json.sid);
    const result = await server.fireStatusCallback(sid, 'delivered');
    assert.equal(result.status, 200);
    assert.equal(got.length, 1);
    const [callback] = got;
    assert.equal(callback?.path, '/status?x=1');
    assert.deepEqual(callback?.params, {
      AccountSid: server.accountSid,
      ApiVersion: '2010-04-01',
      From: FROM,
      MessageSid: sid,
      MessageStatus: 'delivered',
      SmsSid: sid,
      SmsStatus: 'delivered',
      To: TO,
    });
    assert.equal(callback?.headers['x-twilio-signature'], computeTwilioSignature(server.authToken, receiverUrl, callback.params));
    assert.equal(server.messages[0]?.status, 'delivered');
    assert.ok(server.messages[0]?.dateSent instanceof Date);

    await server.fireStatusCallback(sid, 'undelivered', { errorCode: 30007 });
    assert.equal(got[1]?.params.ErrorCode, '30007');
    assert.equal(server.messages[0]?.errorCode, 30007);
  });

  it('refuses to fire for an unknown message or one without StatusCallback', async () => {
    await assert.rejects(server.fireStatusCallback(`SM${'0'.repeat(32)}`, 'sent'));
    const created = await send({ To: TO, From: FROM, Body: 'x' });
    await assert.rejects(server.fireStatusCallback(String(created.json.sid), 'sent'));
  });
});

describe('startTwilioServer: latency', () => {
  it('delays answers by latencyMs', async () => {
    const slow = await startTwilioServer({ latencyMs: 60 });
    try {
      const auth = Buffer.from(`${slow.accountSid}:${slow.authToken}`).toString('base64');
      const started = Date.now();
      const res = await fetch(`${slow.url}/2010-04-01/Accounts/${slow.accountSid}/Messages.json`, {
        headers: { Authorization: `Basic ${auth}` },
      });
      await res.arrayBuffer();
      assert.equal(res.status, 200);
      assert.ok(Date.now() - started >= 55);
    } finally {
      await slow.close();
    }
  });
});
