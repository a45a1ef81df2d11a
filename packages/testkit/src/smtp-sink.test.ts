import assert from 'node:assert/strict';
import net from 'node:net';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import { startSmtpSink, type SmtpSink } from './smtp-sink.js';

/** A minimal line-based SMTP client, so the sink is tested without the library the adapters use. */
class RawSmtp {
  private buffer = '';
  private lines: string[] = [];
  private waiting: { resolve: (reply: string) => void; reject: (err: Error) => void } | undefined;
  private ended = false;
  readonly closed: Promise<void>;

  private constructor(private readonly socket: net.Socket) {
    socket.setEncoding('utf-8');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      let nl: number;
      while ((nl = this.buffer.indexOf('\r\n')) >= 0) {
        this.lines.push(this.buffer.slice(0, nl));
        this.buffer = this.buffer.slice(nl + 2);
      }
      this.deliver();
    });
    socket.on('error', () => undefined);
    this.closed = new Promise((resolve) =>
      socket.on('close', () => {
        this.ended = true;
        this.deliver();
        resolve();
      }),
    );
  }

  static async connect(port: number): Promise<RawSmtp> {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const client = new RawSmtp(socket);
    const greeting = await client.reply();
    assert.match(greeting, /^220 /);
    return client;
  }

  private deliver(): void {
    if (!this.waiting) return;
    const end = this.lines.findIndex((l) => /^\d{3}( |$)/.test(l));
    if (end >= 0) {
      const reply = this.lines.splice(0, end + 1).join('\n');
      const { resolve } = this.waiting;
      this.waiting = undefined;
      resolve(reply);
    } else if (this.ended) {
      const { reject } = this.waiting;
      this.waiting = undefined;
      reject(new Error('connection closed without a reply'));
    }
  }

  /** The next complete reply (multi-line replies joined with \n). */
  reply(): Promise<string> {
    return new Promise((resolve, reject) => {
      this.waiting = { resolve, reject };
      this.deliver();
    });
  }

  async cmd(line: string): Promise<string> {
    this.socket.write(`${line}\r\n`);
    return this.reply();
  }

  /** Sends DATA, the message and the terminating dot; resolves to the final reply. */
  async data(message: string): Promise<string> {
    assert.match(await this.cmd('DATA'), /^354/);
    this.socket.write(`${message.replace(/\r?\n/g, '\r\n')}\r\n.\r\n`);
    return this.reply();
  }

  close(): void {
    this.socket.destroy();
  }
}

const MESSAGE = [
  'From: Sender <sender@bank.example>',
  'To: alice@example.com',
  'Subject: Your notice',
  'Message-ID: <abc-123@bank.example>',
  'X-Breachwave-Ref: wave-1:acct-1',
  'List-Unsubscribe: <https://bank.example/u?t=1>,',
  ' <mailto:u@bank.example>',
  'Content-Type: text/plain; charset=utf-8',
  '',
  'Hello Alice.',
].join('\n');

let sink: SmtpSink;
const clients: RawSmtp[] = [];

async function client(port = sink.port): Promise<RawSmtp> {
  const c = await RawSmtp.connect(port);
  clients.push(c);
  assert.match(await c.cmd('EHLO client.test'), /^250/);
  return c;
}

async function envelope(c: RawSmtp, to = 'alice@example.com'): Promise<string> {
  assert.match(await c.cmd('MAIL FROM:<sender@bank.example>'), /^250/);
  return c.cmd(`RCPT TO:<${to}>`);
}

before(async () => {
  sink = await startSmtpSink();
});
after(async () => {
  await sink.close();
});
beforeEach(() => {
  sink.reset();
});
afterEach(() => {
  for (const c of clients.splice(0)) c.close();
});

describe('startSmtpSink: accepted messages', () => {
  it('records envelope, headers, subject, text, Message-ID and size', async () => {
    const c = await client();
    assert.match(await envelope(c), /^250/);
    const reply = await c.data(MESSAGE);
    assert.match(reply, /^250 /);

    assert.equal(sink.messages.length, 1);
    const [m] = sink.messages;
    assert.ok(m);
    assert.ok(reply.includes(m.id), 'the 250 reply names the stored id');
    assert.deepEqual(m.envelope, { from: 'sender@bank.example', to: ['alice@example.com'] });
    assert.equal(m.subject, 'Your notice');
    assert.equal(m.text?.trim(), 'Hello Alice.');
    assert.equal(m.html, undefined);
    assert.equal(m.messageId, '<abc-123@bank.example>');
    assert.equal(m.headers['x-breachwave-ref'], 'wave-1:acct-1');
    assert.equal(m.headers['list-unsubscribe'], '<https://bank.example/u?t=1>, <mailto:u@bank.example>');
    assert.equal(m.size, m.raw.length);
    assert.ok(m.size > MESSAGE.length - 20);
    assert.equal(m.user, undefined);
  });

  it('parses the html part of a multipart message', async () => {
    const c = await client();
    await envelope(c);
    const multipart = [
      'Subject: both',
      'MIME-Version: 1.0',
      'Content-Type: multipart/alternative; boundary="b1"',
      '',
      '--b1',
      'Content-Type: text/plain; charset=utf-8',
      '',
      'plain',
      '--b1',
      'Content-Type: text/html; charset=utf-8',
      '',
      '<p>rich</p>',
      '--b1--',
    ].join('\n');
    assert.match(await c.data(multipart), /^250/);
    assert.equal(sink.messages[0]?.text?.trim(), 'plain');
    assert.equal(sink.messages[0]?.html?.trim(), '<p>rich</p>');
  });

  it('accepts any credentials when AUTH is optional', async () => {
    const c = await client();
    const token = Buffer.from('\0anyone\0anything').toString('base64');
    assert.match(await c.cmd(`AUTH PLAIN ${token}`), /^235/);
    await envelope(c);
    assert.match(await c.data(MESSAGE), /^250/);
    assert.equal(sink.messages[0]?.user, 'anyone');
  });
});

describe('startSmtpSink: faults', () => {
  it('reject-550 answers RCPT with 550 5.1.1', async () => {
    sink.inject('reject-550', { times: 1 });
    const c = await client();
    assert.match(await envelope(c), /^550 5\.1\.1 /);
    assert.match(await c.cmd('RCPT TO:<alice@example.com>'), /^250/, 'spent after one use');
    assert.equal(sink.injectedFaults['reject-550'], 1);
  });

  it('temp-421 answers RCPT with 421 and closes the connection', async () => {
    sink.inject('temp-421', { times: 1 });
    const c = await client();
    assert.match(await envelope(c), /^421 /);
    await c.closed;
    assert.equal(sink.messages.length, 0);
  });

  it('temp-421 can answer MAIL instead', async () => {
    sink.inject('temp-421', { at: 'MAIL', times: 1 });
    const c = await client();
    assert.match(await c.cmd('MAIL FROM:<sender@bank.example>'), /^421 /);
    await c.closed;
  });

  it('temp-451 answers the end of DATA with 451 4.3.0 and records nothing', async () => {
    sink.inject('temp-451', { times: 1 });
    const c = await client();
    await envelope(c);
    assert.match(await c.data(MESSAGE), /^451 4\.3\.0 /);
    assert.equal(sink.messages.length, 0);
    assert.equal(sink.unacknowledged.length, 0);
  });

  it('drop-after-data takes the whole message, then closes without a reply', async () => {
    sink.inject('drop-after-data', { times: 1 });
    const c = await client();
    await envelope(c);
    await assert.rejects(c.data(MESSAGE), /closed without a reply/);
    assert.equal(sink.messages.length, 0);
    assert.equal(sink.unacknowledged.length, 1);
    assert.equal(sink.unacknowledged[0]?.messageId, '<abc-123@bank.example>');
    assert.equal(sink.injectedFaults['drop-after-data'], 1);
  });

  it('limits a fault to one recipient with `to` (case-insensitive)', async () => {
    sink.inject('reject-550', { to: 'Bob@Example.com' });
    const c = await client();
    assert.match(await envelope(c, 'alice@example.com'), /^250/);
    assert.match(await c.cmd('RCPT TO:<bob@example.com>'), /^550/);
    sink.clearFaults();
    assert.match(await c.cmd('RCPT TO:<bob@example.com>'), /^250/);
  });

  it('draws `probability` from a seeded PRNG: same seed, same outcomes', async () => {
    const pattern = async (seed: number): Promise<string> => {
      const s = await startSmtpSink({ seed });
      try {
        s.inject('reject-550', { probability: 0.5 });
        const c = await client(s.port);
        assert.match(await c.cmd('MAIL FROM:<sender@bank.example>'), /^250/);
        let out = '';
        for (let i = 0; i < 16; i += 1) out += (await c.cmd(`RCPT TO:<r${i}@example.com>`)).slice(0, 1);
        assert.equal(s.injectedFaults['reject-550'], [...out].filter((x) => x === '5').length);
        return out;
      } finally {
        await s.close();
      }
    };
    const a = await pattern(9);
    assert.equal(a, await pattern(9));
    assert.ok(a.includes('2') && a.includes('5'), `a 50% fault over 16 recipients should mix outcomes: ${a}`);
  });

  it('validates fault options', () => {
    assert.throws(() => sink.inject('temp-421', { at: 'MAIL', to: 'x@example.com' }));
    assert.throws(() => sink.inject('reject-550', { at: 'MAIL' }));
    assert.throws(() => sink.inject('temp-451', { times: -1 }));
    assert.throws(() => sink.inject('temp-451', { probability: 1.5 }));
  });
});

describe('startSmtpSink: required authentication', () => {
  let authSink: SmtpSink;
  before(async () => {
    authSink = await startSmtpSink({ auth: { user: 'mailer', pass: 's3cret' } });
  });
  after(async () => {
    await authSink.close();
  });

  it('refuses mail before AUTH and wrong credentials, accepts the configured ones', async () => {
    const c = await client(authSink.port);
    assert.match(await c.cmd('MAIL FROM:<sender@bank.example>'), /^530 /);
    const wrong = Buffer.from('\0mailer\0nope').toString('base64');
    assert.match(await c.cmd(`AUTH PLAIN ${wrong}`), /^535 5\.7\.8 /);
    const right = Buffer.from('\0mailer\0s3cret').toString('base64');
    assert.match(await c.cmd(`AUTH PLAIN ${right}`), /^235/);
    await envelope(c);
    assert.match(await c.data(MESSAGE), /^250/);
    assert.equal(authSink.messages[0]?.user, 'mailer');
  });
});

describe('startSmtpSink: close', () => {
  it('closes promptly with a client still connected', async () => {
    const s = await startSmtpSink();
    const c = await client(s.port);
    const started = Date.now();
    await s.close();
    await c.closed;
    assert.ok(Date.now() - started < 1000);
  });
});
