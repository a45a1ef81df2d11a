import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { BreachwaveError, ERROR_CATALOG, type EmailMessage, type ErrorCode } from '@breachwave/domain';
import { startSmtpSink, type SmtpFaultKind, type SmtpSink } from '@breachwave/testkit';
import { createSmtpEmailSender, type SmtpEmailSender, type SmtpEmailSenderOptions } from './index.js';

const FROM = '"Example Bank" <notices@bank.example>';
const TO = 'alice.customer@example.com';
const MESSAGE: EmailMessage = {
  to: TO,
  subject: 'Important: your card PIN was reset',
  text: 'Hello Alice,\nyour PIN was reset.\n',
  html: '<p>Hello Alice,<br>your PIN was reset.</p>',
  reference: 'wave-1:acct-42',
  headers: {
    'List-Unsubscribe': '<https://bank.example/unsubscribe?t=abc>, <mailto:unsubscribe@bank.example>',
    'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
  },
};

let sink: SmtpSink;
const senders: SmtpEmailSender[] = [];

function sender(overrides: Partial<SmtpEmailSenderOptions> = {}): SmtpEmailSender {
  const s = createSmtpEmailSender({
    host: sink.host,
    port: sink.port,
    from: FROM,
    connectionTimeoutMs: 2000,
    socketTimeoutMs: 2000,
    ...overrides,
  });
  senders.push(s);
  return s;
}

async function sendExpectingError(s: SmtpEmailSender, message: EmailMessage = MESSAGE): Promise<BreachwaveError> {
  try {
    await s.send(message);
  } catch (err) {
    assert.ok(err instanceof BreachwaveError, `expected a BreachwaveError, got ${String(err)}`);
    const surface = `${err.message} ${JSON.stringify(err)}`;
    assert.ok(!surface.includes(message.to), 'error must not include the recipient address');
    assert.equal(err.kind, ERROR_CATALOG[err.code].kind);
    return err;
  }
  assert.fail('send should have failed');
}

before(async () => {
  sink = await startSmtpSink();
});
after(async () => {
  await Promise.all(senders.map((s) => s.close()));
  await sink.close();
});
beforeEach(() => {
  sink.reset();
});

describe('createSmtpEmailSender through real nodemailer to the SMTP sink', () => {
  it('delivers text, html, custom headers and X-Breachwave-Ref', async () => {
    const result = await sender().send(MESSAGE);

    assert.equal(sink.messages.length, 1);
    const [received] = sink.messages;
    assert.ok(received);
    assert.deepEqual(result, { providerId: received.messageId, status: 'accepted' });
    assert.match(result.providerId, /^<[0-9a-f-]{36}@bank\.example>$/);
    assert.deepEqual(received.envelope, { from: 'notices@bank.example', to: [TO] });
    assert.equal(received.subject, MESSAGE.subject);
    assert.equal(received.text, MESSAGE.text);
    assert.equal(received.html, MESSAGE.html);
    assert.equal(received.headers['x-breachwave-ref'], 'wave-1:acct-42');
    assert.equal(received.headers['list-unsubscribe'], MESSAGE.headers?.['List-Unsubscribe']);
    assert.equal(received.headers['list-unsubscribe-post'], 'List-Unsubscribe=One-Click');
    assert.equal(received.headers.from, 'Example Bank <notices@bank.example>');
  });

  it('sends text-only messages', async () => {
    await sender().send({ to: TO, subject: 's', text: 'plain only', reference: 'r' });
    assert.equal(sink.messages[0]?.text?.trimEnd(), 'plain only');
    assert.equal(sink.messages[0]?.html, undefined);
  });

  const faults: ReadonlyArray<[SmtpFaultKind, ErrorCode, string]> = [
    ['temp-421', 'BW_EMAIL_THROTTLED', '421 4.4.2'],
    ['temp-451', 'BW_EMAIL_TEMPORARY', '451 4.3.0'],
    ['reject-550', 'BW_EMAIL_REJECTED', '550 5.1.1'],
    ['drop-after-data', 'BW_EMAIL_AMBIGUOUS', 'ECONNECTION'],
  ];
  for (const [fault, code, providerCode] of faults) {
    it(`maps an injected ${fault} to ${code}`, async () => {
      const s = sender();
      sink.inject(fault, { times: 1 });
      const err = await sendExpectingError(s);
      assert.equal(err.code, code);
      assert.equal(err.providerCode, providerCode);
      assert.equal(sink.injectedFaults[fault], 1);
      assert.equal(sink.messages.length, 0, 'nothing was acknowledged');
      // The rule is spent: the next message is accepted.
      await s.send(MESSAGE);
      assert.equal(sink.messages.length, 1);
    });
  }

  it('drop-after-data: the sink holds the message it never acknowledged', async () => {
    sink.inject('drop-after-data', { times: 1 });
    const err = await sendExpectingError(sender());
    assert.equal(err.code, 'BW_EMAIL_AMBIGUOUS');
    assert.equal(sink.unacknowledged.length, 1);
    assert.equal(sink.unacknowledged[0]?.headers['x-breachwave-ref'], MESSAGE.reference);
  });

  it('drop-after-data is ambiguous with a pooled transport too', async () => {
    const s = sender({ pool: true, maxConnections: 1 });
    await s.send(MESSAGE);
    sink.inject('drop-after-data', { times: 1 });
    const err = await sendExpectingError(s);
    assert.equal(err.code, 'BW_EMAIL_AMBIGUOUS');
    await s.send(MESSAGE);
    assert.equal(sink.messages.length, 2);
  });

  it('a fault scoped to one recipient leaves others alone', async () => {
    const s = sender();
    sink.inject('reject-550', { to: 'bob@example.com' });
    await s.send(MESSAGE);
    const err = await sendExpectingError(s, { ...MESSAGE, to: 'bob@example.com' });
    assert.equal(err.code, 'BW_EMAIL_REJECTED');
    assert.equal(sink.messages.length, 1);
  });

  it('DKIM-signs, and still tells a drop after DATA apart', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const s = sender({
      dkim: {
        domainName: 'bank.example',
        keySelector: 'bw1',
        privateKey: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
      },
    });
    await s.send(MESSAGE);
    const signature = sink.messages[0]?.headers['dkim-signature'] ?? '';
    assert.match(signature, /d=bank\.example/);
    assert.match(signature, /s=bw1/);

    sink.inject('drop-after-data', { times: 1 });
    const err = await sendExpectingError(s);
    assert.equal(err.code, 'BW_EMAIL_AMBIGUOUS');
  });
});

describe('createSmtpEmailSender: authentication', () => {
  let authSink: SmtpSink;
  before(async () => {
    authSink = await startSmtpSink({ auth: { user: 'mailer', pass: 's3cret' } });
  });
  after(async () => {
    await authSink.close();
  });

  const at = (auth?: { user: string; pass: string }): SmtpEmailSender =>
    sender({ host: authSink.host, port: authSink.port, ...(auth ? { auth } : {}) });

  it('authenticates with the configured credentials', async () => {
    await at({ user: 'mailer', pass: 's3cret' }).send(MESSAGE);
    assert.equal(authSink.messages[0]?.user, 'mailer');
  });

  it('maps refused credentials (535) to BW_EMAIL_AUTH', async () => {
    const err = await sendExpectingError(at({ user: 'mailer', pass: 'wrong' }));
    assert.equal(err.code, 'BW_EMAIL_AUTH');
    assert.equal(err.providerCode, '535 5.7.8');
  });

  it('maps "authentication required" (530) to BW_EMAIL_AUTH', async () => {
    const err = await sendExpectingError(at());
    assert.equal(err.code, 'BW_EMAIL_AUTH');
    assert.match(err.providerCode ?? '', /^530/);
  });
});

describe('createSmtpEmailSender: connection failures', () => {
  /** A scripted SMTP peer: answers the session up to DATA, then hangs up on DATA itself. */
  async function startDroppingPeer(): Promise<{ port: number; close(): Promise<void> }> {
    const sockets = new Set<net.Socket>();
    const server = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
      socket.write('220 peer.invalid ESMTP\r\n');
      let buffer = '';
      socket.on('data', (chunk: Buffer) => {
        buffer += chunk.toString('utf-8');
        let nl: number;
        while ((nl = buffer.indexOf('\r\n')) >= 0) {
          const line = buffer.slice(0, nl).toUpperCase();
          buffer = buffer.slice(nl + 2);
          if (line.startsWith('EHLO')) socket.write('250-peer.invalid\r\n250 8BITMIME\r\n');
          else if (line.startsWith('MAIL') || line.startsWith('RCPT')) socket.write('250 OK\r\n');
          else if (line === 'DATA') socket.destroy();
          else if (line === 'QUIT') socket.end('221 bye\r\n');
          else socket.write('250 OK\r\n');
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
      port: (server.address() as AddressInfo).port,
      close: () =>
        new Promise<void>((resolve) => {
          for (const socket of sockets) socket.destroy();
          server.close(() => resolve());
        }),
    };
  }

  it('a drop before the message was sent is BW_EMAIL_NETWORK (safe to retry), with or without DKIM', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const dkim = {
      domainName: 'bank.example',
      keySelector: 'bw1',
      privateKey: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
    };
    const peer = await startDroppingPeer();
    try {
      for (const extra of [{}, { dkim }]) {
        const err = await sendExpectingError(sender({ port: peer.port, ...extra }));
        assert.equal(err.code, 'BW_EMAIL_NETWORK');
        assert.equal(err.kind, 'transient');
      }
    } finally {
      await peer.close();
    }
  });

  it('a refused connection is BW_EMAIL_NETWORK', async () => {
    const closedPort = await new Promise<number>((resolve) => {
      const probe = net.createServer();
      probe.listen(0, '127.0.0.1', () => {
        const { port } = probe.address() as AddressInfo;
        probe.close(() => resolve(port));
      });
    });
    const err = await sendExpectingError(sender({ port: closedPort }));
    assert.equal(err.code, 'BW_EMAIL_NETWORK');
  });

  it('a server that never greets times out as BW_EMAIL_NETWORK', async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const started = Date.now();
      const err = await sendExpectingError(
        sender({ port: (silent.address() as AddressInfo).port, connectionTimeoutMs: 200 }),
      );
      assert.equal(err.code, 'BW_EMAIL_NETWORK');
      assert.equal(err.providerCode, 'ETIMEDOUT');
      assert.ok(Date.now() - started < 2000);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => silent.close(() => resolve()));
    }
  });
});
