import { BreachwaveError, type ErrorCode } from '@breachwave/domain';

/**
 * Network error codes that prove the request never reached Twilio (no connection was made), so a
 * resend cannot duplicate the message.
 */
const NOT_SENT_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'ERR_INVALID_URL',
]);

/** Codes that end an exchange after (or while) the request was written: the outcome is unknown. */
const AFTER_SEND_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'EPIPE',
  'ERR_CANCELED',
  'ERR_STREAM_PREMATURE_CLOSE',
]);

/** Twilio error codes (REST `code` or status-callback `ErrorCode`) with a fixed meaning for us. */
const TWILIO_CODES: ReadonlyMap<number, ErrorCode> = new Map<number, ErrorCode>([
  [21211, 'BW_SMS_INVALID_NUMBER'], // invalid 'To' phone number
  [21614, 'BW_SMS_INVALID_NUMBER'], // 'To' number is not a valid mobile number
  [21610, 'BW_SMS_OPTED_OUT'], // recipient replied STOP
  [21408, 'BW_SMS_NOT_MOBILE'], // permission to send to this region is not enabled
  [21612, 'BW_SMS_NOT_MOBILE'], // cannot route to this number
  [30003, 'BW_SMS_NOT_MOBILE'], // unreachable destination handset
  [30005, 'BW_SMS_INVALID_NUMBER'], // unknown destination handset
  [30006, 'BW_SMS_NOT_MOBILE'], // landline or unreachable carrier
  [30007, 'BW_SMS_REJECTED'], // carrier filtering
  [20003, 'BW_SMS_AUTH'], // authentication failed
  [20429, 'BW_SMS_THROTTLED'], // too many requests
  [63017, 'BW_SMS_THROTTLED'], // rate limit exceeded
]);

/**
 * Maps a Twilio error code (the REST error body's `code`, or a status callback's `ErrorCode`) to a
 * breachwave code, or `undefined` when the code has no specific meaning here.
 */
export function mapTwilioErrorCode(code: number): ErrorCode | undefined {
  return TWILIO_CODES.get(code);
}

interface RestLikeError {
  readonly status: number;
  readonly code?: unknown;
}

interface NetworkLikeError {
  readonly code: string;
  readonly request?: unknown;
}

function isRestLike(err: unknown): err is RestLikeError {
  // twilio's RestException and TwilioServiceException both carry the HTTP status as `status`.
  // Axios errors never do here: the SDK's RequestClient accepts every HTTP status as a response.
  return (
    typeof err === 'object' &&
    err !== null &&
    typeof (err as { status?: unknown }).status === 'number' &&
    (err as { isAxiosError?: unknown }).isAxiosError !== true
  );
}

function networkCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const code = (err as Partial<NetworkLikeError>).code;
  if (typeof code === 'string') return code;
  const cause = (err as { cause?: unknown }).cause;
  return cause !== err ? networkCode(cause) : undefined;
}

/**
 * True when the error carries the Node `ClientRequest` and it shows the request bytes never fully
 * left this process (still buffered while connecting): the server cannot have processed it.
 */
function provablyUnsent(err: unknown): boolean {
  const request = (err as { request?: unknown }).request;
  if (typeof request !== 'object' || request === null) return false;
  const { writableFinished } = request as { writableFinished?: unknown };
  return writableFinished === false;
}

/**
 * Maps anything the Twilio SDK (or its HTTP layer) throws to a {@link BreachwaveError} with an SMS
 * code. The result never carries the phone number, the body or Twilio's own message text (which
 * can echo the number); `providerCode` is Twilio's error code, else the HTTP status, else the
 * network error code.
 *
 * - REST errors map by Twilio code, then by HTTP status: 401 auth, 429 throttled, 5xx unavailable,
 *   any other 4xx rejected.
 * - Connection failures that prove nothing was sent (refused, DNS) are `BW_SMS_NETWORK`.
 * - Timeouts, resets and hang-ups after the request was written are `BW_SMS_AMBIGUOUS`, and so is
 *   anything unrecognised: the message may exist, reconcile before resending.
 */
export function mapTwilioError(err: unknown): BreachwaveError {
  if (err instanceof BreachwaveError) return err;

  if (isRestLike(err)) {
    const status = err.status;
    const twilioCode = typeof err.code === 'number' ? err.code : undefined;
    const providerCode = String(twilioCode ?? status);
    const detail = `Twilio ${twilioCode !== undefined ? `error ${twilioCode}, ` : ''}HTTP ${status}`;
    const byCode = twilioCode !== undefined ? mapTwilioErrorCode(twilioCode) : undefined;
    let code: ErrorCode;
    if (byCode) code = byCode;
    else if (status === 401) code = 'BW_SMS_AUTH';
    else if (status === 429) code = 'BW_SMS_THROTTLED';
    else if (status >= 500) code = 'BW_SMS_PROVIDER_UNAVAILABLE';
    else if (status >= 400) code = 'BW_SMS_REJECTED';
    else code = 'BW_SMS_PROVIDER_UNAVAILABLE';
    return new BreachwaveError(code, { providerCode, detail });
  }

  const code = networkCode(err);
  if (code !== undefined && NOT_SENT_CODES.has(code)) {
    return new BreachwaveError('BW_SMS_NETWORK', { providerCode: code, detail: `${code} before the request was sent` });
  }
  if (code !== undefined && provablyUnsent(err)) {
    return new BreachwaveError('BW_SMS_NETWORK', { providerCode: code, detail: `${code} before the request was sent` });
  }
  if (code !== undefined && AFTER_SEND_CODES.has(code)) {
    return new BreachwaveError('BW_SMS_AMBIGUOUS', { providerCode: code, detail: `${code} after the request was sent` });
  }
  const name = err instanceof Error ? err.name : typeof err;
  return new BreachwaveError('BW_SMS_AMBIGUOUS', {
    ...(code !== undefined ? { providerCode: code } : {}),
    detail: `unrecognised failure (${code ?? name})`,
  });
}
