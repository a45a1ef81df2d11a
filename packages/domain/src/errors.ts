/**
 * The error catalog: every failure breachwave reports is a {@link BreachwaveError} with a stable
 * `code` (safe to alert and group on) and a `kind` that decides what happens next.
 *
 * - `permanent`: retrying cannot help (invalid number, opted out, 550 mailbox unknown).
 * - `transient`: may succeed later (5xx, 451, connection refused before sending).
 * - `throttled`: the provider asked us to slow down (Twilio 20429, HTTP 429, SMTP 421);
 *   nothing was processed, always safe to retry.
 * - `ambiguous`: the request may or may not have taken effect (timeout or reset after the request
 *   was sent); must be reconciled before any resend.
 * - `invalid-input`: bad operator input or a malformed job payload; not retried.
 * - `config`: the process cannot run as configured.
 *
 * Messages never carry a PIN, code, phone number, email address or token.
 */
export type ErrorKind = 'permanent' | 'transient' | 'throttled' | 'ambiguous' | 'invalid-input' | 'config';

export interface ErrorSpec {
  readonly kind: ErrorKind;
  readonly message: string;
}

/** Stable codes. Renaming a code breaks dashboards and `dlq retry --reason`: add, never rename. */
export const ERROR_CATALOG = {
  BW_CONFIG_INVALID: { kind: 'config', message: 'configuration is invalid' },
  BW_REDIS_UNREACHABLE: { kind: 'config', message: 'Redis is unreachable' },
  BW_REDIS_EVICTION_POLICY: { kind: 'config', message: 'Redis maxmemory-policy must be noeviction' },
  BW_INPUT_INVALID: { kind: 'invalid-input', message: 'input is invalid' },
  BW_INPUT_FILE: { kind: 'invalid-input', message: 'input file cannot be read' },
  BW_JOB_PAYLOAD_INVALID: { kind: 'invalid-input', message: 'job payload is invalid' },
  BW_WAVE_NOT_FOUND: { kind: 'invalid-input', message: 'wave not found' },
  BW_ACCOUNT_NOT_FOUND: { kind: 'permanent', message: 'account record not found for this wave' },
  BW_NO_CHANNEL: { kind: 'permanent', message: 'account has no usable contact channel' },
  BW_AUDIT_CHAIN_BROKEN: { kind: 'permanent', message: 'audit chain is broken' },
  BW_AUDIT_WRITER_BUSY: { kind: 'config', message: 'another audit writer holds the lease on this audit stream' },
  BW_WAVE_BUSY: { kind: 'transient', message: 'another process is feeding this wave' },
  BW_ENVELOPE_INVALID: { kind: 'permanent', message: 'encrypted envelope cannot be opened' },
  BW_SUPPRESSED: { kind: 'permanent', message: 'the contact point is on the suppression list' },
  BW_ORDER_VIOLATION: { kind: 'permanent', message: 'an earlier action of this account is not done' },
  BW_SOURCE_REUSED: { kind: 'invalid-input', message: 'this source file was already made into a wave' },
  BW_WAVE_STATE: { kind: 'invalid-input', message: 'the wave\'s state does not allow this step' },
  BW_APPROVAL_REFUSED: { kind: 'invalid-input', message: 'the approval was refused' },
  BW_WORKER_LOST: { kind: 'permanent', message: 'the action was re-driven after lost jobs too many times (workers died while running it)' },
  BW_LEDGER_UNWRITABLE: { kind: 'transient', message: 'the ledger could not be written (Redis unreachable); the outcome is kept and the write retried' },

  // Provider outcomes, mapped inside the adapter packages.
  BW_SMS_INVALID_NUMBER: { kind: 'permanent', message: 'SMS: the number is invalid' },
  BW_SMS_OPTED_OUT: { kind: 'permanent', message: 'SMS: the recipient has opted out' },
  BW_SMS_NOT_MOBILE: { kind: 'permanent', message: 'SMS: the number cannot receive SMS' },
  BW_SMS_REJECTED: { kind: 'permanent', message: 'SMS: the provider rejected the message' },
  BW_SMS_AUTH: { kind: 'config', message: 'SMS: the provider refused our credentials' },
  BW_SMS_THROTTLED: { kind: 'throttled', message: 'SMS: the provider asked us to slow down' },
  BW_SMS_PROVIDER_UNAVAILABLE: { kind: 'transient', message: 'SMS: the provider is unavailable' },
  BW_SMS_NETWORK: { kind: 'transient', message: 'SMS: the request could not be sent' },
  BW_SMS_AMBIGUOUS: { kind: 'ambiguous', message: 'SMS: no answer after the request was sent' },
  BW_EMAIL_REJECTED: { kind: 'permanent', message: 'email: the server rejected the recipient or message' },
  BW_EMAIL_THROTTLED: { kind: 'throttled', message: 'email: the server asked us to slow down' },
  BW_EMAIL_TEMPORARY: { kind: 'transient', message: 'email: temporary failure' },
  BW_EMAIL_NETWORK: { kind: 'transient', message: 'email: the connection failed before sending' },
  BW_EMAIL_AMBIGUOUS: { kind: 'ambiguous', message: 'email: the connection dropped after the message was sent' },
  BW_EMAIL_AUTH: { kind: 'config', message: 'email: the server refused our credentials' },

  // Identity-protection enrollment codes.
  BW_CODE_POOL_EXHAUSTED: { kind: 'transient', message: 'enrollment codes: the pool has no unexpired code left' },
  BW_CODE_INVALID: { kind: 'invalid-input', message: 'enrollment code is malformed' },
  BW_CODE_SOURCE_INVALID: { kind: 'invalid-input', message: 'the wave has no usable enrollment code source' },
  BW_CODE_NOT_ASSIGNED: { kind: 'permanent', message: 'no enrollment code is recorded for this account' },
  BW_CODE_COLLISION: { kind: 'transient', message: 'enrollment codes: generated codes kept colliding' },

  // PIN rotation and verification.
  BW_PIN_POLICY: { kind: 'config', message: 'PIN policy cannot produce an allowed PIN' },
  BW_PIN_STORE_REJECTED: { kind: 'permanent', message: 'PIN store: the rotation was rejected' },
  BW_PIN_STORE_ACCOUNT_UNKNOWN: { kind: 'permanent', message: 'PIN store: the account is unknown' },
  BW_PIN_STORE_AUTH: { kind: 'config', message: 'PIN store: our credentials were refused' },
  BW_PIN_STORE_THROTTLED: { kind: 'throttled', message: 'PIN store: asked us to slow down' },
  BW_PIN_STORE_UNAVAILABLE: { kind: 'transient', message: 'PIN store: unavailable' },
  BW_PIN_STORE_NETWORK: { kind: 'transient', message: 'PIN store: the request could not be sent' },
  BW_PIN_STORE_AMBIGUOUS: { kind: 'ambiguous', message: 'PIN store: no answer after the request was sent' },
  BW_PIN_LOCKED: { kind: 'permanent', message: 'PIN verification is locked for this account' },
  BW_PIN_THROTTLED: { kind: 'throttled', message: 'PIN verification: too soon after failed attempts on this account; try again later' },
  BW_RATE_LIMITED: { kind: 'throttled', message: 'too many requests from this client; try again later' },
  BW_PIN_VERIFY_UNAUTHORIZED: { kind: 'invalid-input', message: 'PIN verification: missing or invalid bearer token' },

  // Inbound webhooks, opt-out and delivery status. HTTP answers derive from these codes.
  BW_WEBHOOK_SIGNATURE_INVALID: { kind: 'invalid-input', message: 'webhook signature is missing or invalid' },
  BW_UNSUBSCRIBE_TOKEN_INVALID: { kind: 'invalid-input', message: 'unsubscribe link is invalid' },
  BW_UNSUBSCRIBE_TOKEN_EXPIRED: { kind: 'invalid-input', message: 'unsubscribe link has expired' },
  BW_DELIVERY_UNMATCHED: { kind: 'invalid-input', message: 'status callback matches no recorded message' },
  BW_HTTP_NOT_FOUND: { kind: 'invalid-input', message: 'no such route' },
  BW_HTTP_METHOD_NOT_ALLOWED: { kind: 'invalid-input', message: 'method not allowed on this route' },
  BW_HTTP_BODY_TOO_LARGE: { kind: 'invalid-input', message: 'request body is too large' },
  BW_HTTP_UNSUPPORTED_MEDIA_TYPE: { kind: 'invalid-input', message: 'unsupported content type' },
  BW_HTTP_UNAUTHORIZED: { kind: 'invalid-input', message: 'missing or invalid bearer token' },
  BW_HTTP_FORBIDDEN: { kind: 'invalid-input', message: 'the bearer token\'s role does not allow this route' },
  BW_TOKEN_NAME_TAKEN: { kind: 'invalid-input', message: 'an API token with this name exists already' },
  BW_TOKEN_NOT_FOUND: { kind: 'invalid-input', message: 'no API token has this name' },
  BW_UPLOAD_NOT_FOUND: { kind: 'invalid-input', message: 'no such upload (an upload no wave was made of is removed after a day)' },
  BW_HTTP_OPERATOR_MISSING: { kind: 'invalid-input', message: 'operator routes need an X-Breachwave-Operator header naming who acts' },
  BW_INTERNAL: { kind: 'transient', message: 'internal error' },

  // Distributed pacing of a sender.
  BW_PACE_NO_RATE: { kind: 'config', message: 'pacing: no rate is configured for the sender' },
  BW_PACE_CLOSED: { kind: 'transient', message: 'pacing: the pacer is closed (the process is stopping)' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_CATALOG;

export interface BreachwaveErrorOptions {
  /** Detail for operators; must not contain secrets or contact data. */
  readonly detail?: string;
  /** Provider's own code or status (e.g. Twilio `21211`, SMTP `550 5.1.1`), kept for reports. */
  readonly providerCode?: string;
  /** Override the catalog's kind (rare: e.g. a 5xx the adapter knows arrived after sending). */
  readonly kind?: ErrorKind;
  readonly cause?: unknown;
}

/** A failure with a stable code. Safe to log: it carries no PII by construction. */
export class BreachwaveError extends Error {
  override readonly name = 'BreachwaveError';
  readonly code: ErrorCode;
  readonly kind: ErrorKind;
  readonly providerCode: string | undefined;
  readonly detail: string | undefined;

  constructor(code: ErrorCode, options: BreachwaveErrorOptions = {}) {
    const spec: ErrorSpec = ERROR_CATALOG[code];
    super(options.detail ? `${spec.message}: ${options.detail}` : spec.message, { cause: options.cause });
    this.code = code;
    this.kind = options.kind ?? spec.kind;
    this.providerCode = options.providerCode;
    this.detail = options.detail;
  }

  /** True when a later attempt may succeed without operator action. */
  get retryable(): boolean {
    return this.kind === 'transient' || this.kind === 'throttled';
  }

  toJSON(): Record<string, unknown> {
    return { code: this.code, kind: this.kind, providerCode: this.providerCode, message: this.message };
  }
}

export function isBreachwaveError(err: unknown): err is BreachwaveError {
  return err instanceof BreachwaveError;
}

/** Wraps anything thrown into a catalog error, keeping BreachwaveErrors as they are. */
export function toBreachwaveError(err: unknown, fallback: ErrorCode): BreachwaveError {
  if (err instanceof BreachwaveError) return err;
  return new BreachwaveError(fallback, { cause: err });
}
