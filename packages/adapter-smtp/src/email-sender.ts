import { randomUUID } from 'node:crypto';
import { PassThrough, pipeline, type Readable } from 'node:stream';
import { BreachwaveError, type EmailMessage, type EmailSender, type SendResult } from '@breachwave/domain';
import nodemailer from 'nodemailer';
import DKIM, { type DKIMOptions } from 'nodemailer/lib/dkim';
import { mapSmtpError } from './errors.js';

export interface SmtpEmailSenderOptions {
  readonly host: string;
  readonly port: number;
  /** Implicit TLS (port 465). Without it STARTTLS is used when the server offers it. */
  readonly secure?: boolean;
  /** Refuse to send unless the connection is upgraded with STARTTLS. */
  readonly requireTls?: boolean;
  readonly auth?: { readonly user: string; readonly pass: string };
  /** `From` address (`"Name" <addr>` or a bare address); also the envelope sender. */
  readonly from: string;
  /** Keep connections open and reuse them (recommended for waves). */
  readonly pool?: boolean;
  /** Pool size (nodemailer's default is 5). */
  readonly maxConnections?: number;
  /** How long to wait for the connection and greeting, in ms. */
  readonly connectionTimeoutMs?: number;
  /** How long a connection may stay silent, e.g. waiting for the reply to the message, in ms. */
  readonly socketTimeoutMs?: number;
  /** DKIM signing (`domainName`, `keySelector`, `privateKey`, or `keys`). */
  readonly dkim?: DKIMOptions;
}

/** An {@link EmailSender} over SMTP that owns connections and must be closed. */
export interface SmtpEmailSender extends EmailSender {
  /** Closes pooled connections; resolves once the transport is closed. Never rejects. */
  close(): Promise<void>;
}

/** Per-send progress, keyed by the Message-ID the sender generated. */
interface SendProgress {
  /** The whole message was handed to the SMTP connection (so the final dot may have arrived). */
  dataSent: boolean;
}

/**
 * An {@link EmailSender} built on nodemailer's SMTP transport. Each message goes out with text,
 * optional html, the caller's headers (e.g. `List-Unsubscribe`) and `X-Breachwave-Ref:
 * <reference>`, under a Message-ID generated here; `send` resolves to that Message-ID and
 * `accepted` once the server acknowledged the message (250 to the end of DATA).
 *
 * Failures are {@link BreachwaveError}s from `mapSmtpError`. To tell a drop before sending from
 * a drop after it, the sender watches the message stream the transport reads: once it was read to
 * the end, a lost connection is `BW_EMAIL_AMBIGUOUS`, before that it is `BW_EMAIL_NETWORK`.
 */
export function createSmtpEmailSender(options: SmtpEmailSenderOptions): SmtpEmailSender {
  const domain = domainOf(options.from);
  const inflight = new Map<string, SendProgress>();
  const signer = options.dkim ? new DKIM(options.dkim) : undefined;

  const common = {
    host: options.host,
    port: options.port,
    secure: options.secure ?? false,
    ...(options.requireTls ? { requireTLS: true } : {}),
    ...(options.auth ? { auth: { user: options.auth.user, pass: options.auth.pass } } : {}),
    ...(options.connectionTimeoutMs !== undefined
      ? { connectionTimeout: options.connectionTimeoutMs, greetingTimeout: options.connectionTimeoutMs }
      : {}),
    ...(options.socketTimeoutMs !== undefined ? { socketTimeout: options.socketTimeoutMs } : {}),
    disableFileAccess: true,
    disableUrlAccess: true,
  };
  const transport = options.pool
    ? nodemailer.createTransport({
        ...common,
        pool: true,
        ...(options.maxConnections !== undefined ? { maxConnections: options.maxConnections } : {}),
      })
    : nodemailer.createTransport(common);

  // Runs after nodemailer compiled the message. DKIM is applied here rather than through
  // nodemailer's own option so that the tracking stream is the very last stage: the stream the
  // SMTP connection reads from.
  transport.use('stream', (mail, done) => {
    const progress = inflight.get(String(mail.data.messageId));
    if (signer) mail.message.processFunc((input: Readable) => signer.sign(input));
    if (progress) {
      mail.message.processFunc((input: Readable) => {
        const out = new PassThrough();
        pipeline(input, out, () => {
          // Errors reach the transport through `out`.
        });
        out.on('end', () => {
          progress.dataSent = true;
        });
        return out;
      });
    }
    done();
  });

  let closed: Promise<void> | undefined;

  return {
    async send(message: EmailMessage): Promise<SendResult> {
      const messageId = `<${randomUUID()}@${domain}>`;
      const progress: SendProgress = { dataSent: false };
      inflight.set(messageId, progress);
      try {
        const info = await transport.sendMail({
          from: options.from,
          to: message.to,
          subject: message.subject,
          text: message.text,
          ...(message.html !== undefined ? { html: message.html } : {}),
          messageId,
          headers: { ...message.headers, 'X-Breachwave-Ref': message.reference },
        });
        if (info.rejected.length > 0) {
          throw new BreachwaveError('BW_EMAIL_REJECTED', { detail: 'the server refused the recipient' });
        }
        return { providerId: info.messageId || messageId, status: 'accepted' };
      } catch (err) {
        throw mapSmtpError(err, { dataSent: progress.dataSent });
      } finally {
        inflight.delete(messageId);
      }
    },
    close(): Promise<void> {
      closed ??= new Promise<void>((resolve) => {
        try {
          transport.close();
        } catch {
          // Closing is best effort.
        }
        resolve();
      });
      return closed;
    },
  };
}

function domainOf(from: string): string {
  const address = /<([^>]+)>/.exec(from)?.[1] ?? from;
  const at = address.lastIndexOf('@');
  const domain = at >= 0 ? address.slice(at + 1).trim() : '';
  return /^[A-Za-z0-9.-]+$/.test(domain) ? domain : 'breachwave.invalid';
}
