import { BreachwaveError, type ErrorCode } from '@breachwave/domain';

/** What the sender knows about how far the message got when the error happened. */
export interface SmtpErrorContext {
  /**
   * True when the whole message (DATA content) had been handed to the connection, so the server
   * may have received the terminating dot: a drop from then on leaves the outcome unknown.
   */
  readonly dataSent?: boolean;
}

/** Error codes nodemailer uses for a broken or timed-out connection. */
const CONNECTION_CODES: ReadonlySet<string> = new Set([
  'ECONNECTION',
  'ETIMEDOUT',
  'ESOCKET',
  'EDNS',
  'ETLS',
  'EPROXY',
  'EPROTOCOL',
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
]);

const AUTH_REPLY_CODES: ReadonlySet<number> = new Set([530, 534, 535, 538]);

interface NodemailerLikeError {
  readonly code?: unknown;
  readonly responseCode?: unknown;
  readonly response?: unknown;
  readonly command?: unknown;
}

/** `550 5.1.1` from a reply like `550 5.1.1 <x@y>: Recipient address rejected`. */
function replyCode(responseCode: number, response: unknown): string {
  if (typeof response === 'string') {
    const match = /^(\d{3})[ -](\d\.\d{1,3}\.\d{1,3})\b/.exec(response);
    if (match && Number(match[1]) === responseCode) return `${match[1]} ${match[2]}`;
  }
  return String(responseCode);
}

/**
 * Maps a nodemailer/SMTP failure to a {@link BreachwaveError} with an email code.
 *
 * - A server reply decides first: 421 throttled; 530/534/535/538 auth; other 4xx (and 503, a bad
 *   command sequence) temporary; other 5xx rejected. `providerCode` is the reply code plus the
 *   enhanced status when present (`550 5.1.1`).
 * - Without a reply: authentication failures are auth; connection failures, drops and timeouts
 *   are `BW_EMAIL_AMBIGUOUS` when the message had been sent (`context.dataSent`, or nodemailer
 *   reports the DATA command), else `BW_EMAIL_NETWORK`.
 * - Message or envelope errors found before sending (no reply) are rejected.
 *
 * The result never carries the server's reply text or nodemailer's message, which can contain
 * the recipient address.
 */
export function mapSmtpError(err: unknown, context: SmtpErrorContext = {}): BreachwaveError {
  if (err instanceof BreachwaveError) return err;
  const e: NodemailerLikeError = typeof err === 'object' && err !== null ? (err as NodemailerLikeError) : {};
  const code = typeof e.code === 'string' ? e.code : undefined;
  const command = typeof e.command === 'string' ? e.command : undefined;
  const stage = command !== undefined ? ` to ${command}` : '';

  if (typeof e.responseCode === 'number' && e.responseCode >= 400) {
    const responseCode = e.responseCode;
    const providerCode = replyCode(responseCode, e.response);
    let mapped: ErrorCode;
    if (responseCode === 421) mapped = 'BW_EMAIL_THROTTLED';
    else if (AUTH_REPLY_CODES.has(responseCode)) mapped = 'BW_EMAIL_AUTH';
    else if (responseCode < 500 || responseCode === 503) mapped = 'BW_EMAIL_TEMPORARY';
    else mapped = 'BW_EMAIL_REJECTED';
    return new BreachwaveError(mapped, { providerCode, detail: `SMTP reply ${providerCode}${stage}` });
  }

  if (code === 'EAUTH' || code === 'ENOAUTH' || code === 'EOAUTH2') {
    return new BreachwaveError('BW_EMAIL_AUTH', { providerCode: code, detail: `${code}${stage}` });
  }

  const afterData = context.dataSent === true || command === 'DATA';
  if (code === undefined || CONNECTION_CODES.has(code)) {
    const providerCode = code ?? 'UNKNOWN';
    return afterData
      ? new BreachwaveError('BW_EMAIL_AMBIGUOUS', { providerCode, detail: `${providerCode} after the message was sent` })
      : new BreachwaveError('BW_EMAIL_NETWORK', { providerCode, detail: `${providerCode} before the message was sent` });
  }

  if (code === 'EENVELOPE' || code === 'EMESSAGE' || code === 'EMAXRECIPIENTS' || code === 'EREQUIRETLS') {
    return new BreachwaveError('BW_EMAIL_REJECTED', { providerCode: code, detail: `${code}${stage}` });
  }

  // Anything else (stream or configuration errors, aborts) failed locally.
  return afterData
    ? new BreachwaveError('BW_EMAIL_AMBIGUOUS', { providerCode: code, detail: `${code} after the message was sent` })
    : new BreachwaveError('BW_EMAIL_TEMPORARY', { providerCode: code, detail: `${code} before the message was sent` });
}
