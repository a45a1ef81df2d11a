/**
 * A loopback SMTP server that records what it receives, built on `smtp-server` and `mailparser`.
 *
 * No TLS (STARTTLS is disabled, AUTH is allowed in clear text). Authentication is optional by
 * default (any credentials are accepted when a client authenticates) or required with a configured
 * user/password. Faults can be injected per recipient: 421 and 550 replies at RCPT, a 451 reply to
 * the end of DATA, or a connection dropped after the whole message arrived without any reply.
 */
import { randomUUID } from 'node:crypto';
import { checkFaultOptions, createFaultBook, type FaultRuleBase } from './faults.js';
import type { AddressInfo, Socket } from 'node:net';
import type { simpleParser as SimpleParserFn } from 'mailparser';
import type { SMTPServerAddress, SMTPServerDataStream, SMTPServerSession } from 'smtp-server';

type SimpleParser = typeof SimpleParserFn;

/** Faults the sink can inject. */
export type SmtpFaultKind = 'temp-421' | 'temp-451' | 'reject-550' | 'drop-after-data';

/** Every {@link SmtpFaultKind}, in a stable order. */
export const SMTP_FAULT_KINDS: readonly SmtpFaultKind[] = ['temp-421', 'temp-451', 'reject-550', 'drop-after-data'];

/** When an injected fault applies. With neither `times` nor `probability` it applies until cleared. */
export interface SmtpFaultOptions {
  /** Apply to this many (matching) transactions, then retire the rule. */
  readonly times?: number;
  /** Apply to this fraction of matching transactions, drawn from the sink's seeded PRNG. */
  readonly probability?: number;
  /** Only this recipient (envelope RCPT TO, compared case-insensitively) matches. */
  readonly to?: string;
  /**
   * `temp-421` only: answer 421 to `MAIL` instead of `RCPT` (the default). A MAIL-stage rule
   * cannot have `to`, since the recipient is not known yet.
   */
  readonly at?: 'MAIL' | 'RCPT';
}

export interface SmtpSinkOptions {
  /** Defaults to 0 (an ephemeral port). */
  readonly port?: number;
  /** Require AUTH with these credentials. Without it, AUTH is optional and anything is accepted. */
  readonly auth?: { readonly user: string; readonly pass: string };
  /** Seed of the PRNG used for `probability` faults. Defaults to 1. */
  readonly seed?: number;
  /** Maximum message size in bytes (advertised with SIZE). */
  readonly size?: number;
}

/** One message the sink received, parsed. */
export interface ReceivedEmail {
  /** Unique id the sink gave this message (also in its 250 reply). */
  readonly id: string;
  /** SMTP session (connection) id. */
  readonly sessionId: string;
  readonly envelope: { readonly from: string; readonly to: readonly string[] };
  /** The authenticated user name, if the client authenticated. */
  readonly user: string | undefined;
  /**
   * Raw header values keyed by lower-case name (unfolded, not decoded); repeated headers are
   * joined with a newline.
   */
  readonly headers: Readonly<Record<string, string>>;
  readonly subject: string | undefined;
  readonly text: string | undefined;
  readonly html: string | undefined;
  /** `Message-ID` header value with angle brackets. */
  readonly messageId: string | undefined;
  /** Size of the DATA content in bytes. */
  readonly size: number;
  readonly raw: Buffer;
  readonly receivedAt: Date;
}

export interface SmtpSink {
  readonly host: string;
  readonly port: number;
  /** Messages acknowledged with 250. */
  readonly messages: readonly ReceivedEmail[];
  /** Messages received in full but never acknowledged (`drop-after-data`). */
  readonly unacknowledged: readonly ReceivedEmail[];
  /** How many times each fault kind was injected. */
  readonly injectedFaults: Readonly<Record<SmtpFaultKind, number>>;
  /** Adds a fault rule; rules are tried in the order they were added, the first match applies. */
  inject(kind: SmtpFaultKind, options?: SmtpFaultOptions): void;
  clearFaults(): void;
  /** Forgets messages, faults and counters. */
  reset(): void;
  /** Stops listening and destroys every connection. */
  close(): Promise<void>;
}

interface FaultRule extends FaultRuleBase<SmtpFaultKind> {
  readonly to: string | undefined;
  readonly at: 'MAIL' | 'RCPT' | 'DATA';
}

type SmtpReplyError = Error & { responseCode: number };

function replyError(responseCode: number, message: string): SmtpReplyError {
  return Object.assign(new Error(message), { responseCode });
}

/** Starts the sink on 127.0.0.1 and resolves once it listens. */
export async function startSmtpSink(options: SmtpSinkOptions = {}): Promise<SmtpSink> {
  // Loaded when a sink starts, not when the test kit is imported: most test files never start
  // one, and the two packages cost each process about a second of CPU to load.
  const [{ SMTPServer }, { simpleParser }] = await Promise.all([import('smtp-server'), import('mailparser')]);
  const parse = (raw: Buffer, session: SMTPServerSession): Promise<ReceivedEmail> => parseEmail(simpleParser, raw, session);
  const messages: ReceivedEmail[] = [];
  const unacknowledged: ReceivedEmail[] = [];
  const faults = createFaultBook<SmtpFaultKind, FaultRule>(SMTP_FAULT_KINDS, options.seed ?? 1);
  const sockets = new Set<Socket>();
  const required = options.auth;

  function takeFault(at: FaultRule['at'], recipients: readonly string[]): SmtpFaultKind | undefined {
    return faults.take((rule) => rule.at === at && (rule.to === undefined || recipients.some((r) => r.toLowerCase() === rule.to)));
  }

  const server = new SMTPServer({
    name: 'smtp-sink.invalid',
    logger: false,
    disableReverseLookup: true,
    disabledCommands: ['STARTTLS'],
    // Replies carry RFC 3463 enhanced status codes (`550 5.1.1 ...`), as most real servers do.
    hideENHANCEDSTATUSCODES: false,
    allowInsecureAuth: true,
    authOptional: required === undefined,
    closeTimeout: 100,
    ...(options.size !== undefined ? { size: options.size } : {}),
    onAuth(auth, _session, callback) {
      if (required && (auth.username !== required.user || auth.password !== required.pass)) {
        callback(replyError(535, 'Authentication credentials invalid'));
        return;
      }
      callback(null, { user: auth.username ?? 'anonymous' });
    },
    onMailFrom(_address: SMTPServerAddress, _session: SMTPServerSession, callback) {
      if (takeFault('MAIL', []) === 'temp-421') {
        callback(replyError(421, 'Too many messages, slow down'));
        return;
      }
      callback();
    },
    onRcptTo(address: SMTPServerAddress, _session: SMTPServerSession, callback) {
      const fault = takeFault('RCPT', [address.address]);
      if (fault === 'temp-421') {
        callback(replyError(421, 'Too many messages, slow down'));
        return;
      }
      if (fault === 'reject-550') {
        callback(replyError(550, 'Mailbox unavailable'));
        return;
      }
      callback();
    },
    onData(stream: SMTPServerDataStream, session: SMTPServerSession, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('error', (err) => callback(err));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks);
        const recipients = session.envelope.rcptTo.map((r) => r.address);
        const fault = takeFault('DATA', recipients);
        parse(raw, session)
          .then((email) => {
            if (fault === 'drop-after-data') {
              // Recorded first, so a client that sees the drop also sees the record.
              unacknowledged.push(email);
              for (const socket of sockets) {
                if (socket.remotePort === session.remotePort) socket.destroy();
              }
              return;
            }
            if (fault === 'temp-451') {
              callback(replyError(451, 'Requested action aborted: local error in processing'));
              return;
            }
            messages.push(email);
            callback(null, `OK: queued as ${email.id}`);
          })
          .catch((err: unknown) => callback(err instanceof Error ? err : new Error(String(err))));
      });
    },
  });

  server.server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.on('error', () => {
    // Client-side resets surface here; the sink keeps running.
  });

  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.server.off('error', reject);
      resolve();
    });
  });
  const address = server.server.address() as AddressInfo;

  return {
    host: '127.0.0.1',
    port: address.port,
    get messages() {
      return messages;
    },
    get unacknowledged() {
      return unacknowledged;
    },
    get injectedFaults() {
      return { ...faults.counts };
    },
    inject(kind, faultOptions = {}) {
      if (!SMTP_FAULT_KINDS.includes(kind)) throw new Error(`unknown SMTP fault kind: ${String(kind)}`);
      checkFaultOptions(faultOptions);
      let at: FaultRule['at'] = kind === 'temp-421' || kind === 'reject-550' ? 'RCPT' : 'DATA';
      if (faultOptions.at !== undefined) {
        if (kind !== 'temp-421') throw new Error('fault option `at` only applies to temp-421');
        at = faultOptions.at;
      }
      if (at === 'MAIL' && faultOptions.to !== undefined) {
        throw new Error('a MAIL-stage fault cannot be limited to a recipient');
      }
      faults.add({ kind, remaining: faultOptions.times, probability: faultOptions.probability, to: faultOptions.to?.toLowerCase(), at });
    },
    clearFaults() {
      faults.clear();
    },
    reset() {
      messages.length = 0;
      unacknowledged.length = 0;
      faults.reset();
    },
    close() {
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
    },
  };
}

async function parseEmail(simpleParser: SimpleParser, raw: Buffer, session: SMTPServerSession): Promise<ReceivedEmail> {
  const parsed = await simpleParser(raw, { skipImageLinks: true, skipTextToHtml: true });
  const headers: Record<string, string> = {};
  for (const { key, line } of parsed.headerLines) {
    const colon = line.indexOf(':');
    const value = (colon >= 0 ? line.slice(colon + 1) : '').replace(/\r?\n[ \t]+/g, ' ').trim();
    headers[key] = headers[key] === undefined ? value : `${headers[key]}\n${value}`;
  }
  const mailFrom = session.envelope.mailFrom;
  return {
    id: randomUUID(),
    sessionId: session.id,
    envelope: {
      from: mailFrom ? mailFrom.address : '',
      to: session.envelope.rcptTo.map((r) => r.address),
    },
    user: typeof session.user === 'string' ? session.user : undefined,
    headers,
    subject: parsed.subject,
    text: parsed.text,
    html: typeof parsed.html === 'string' ? parsed.html : undefined,
    messageId: parsed.messageId,
    size: raw.length,
    raw,
    receivedAt: new Date(),
  };
}


