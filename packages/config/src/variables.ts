import { z } from 'zod';
import { DEFAULT_ACCOUNTS_PER_JOB, MAX_ACCOUNTS_PER_JOB } from '@breachwave/jobs';
import { isKey32, KEY_ID_PATTERN, parseKeyRing } from './keyring.js';

/**
 * One environment variable: how it is parsed, and what a right value is, in words that complete
 * "BW_X must be …" (the error messages are built from it).
 */
export interface Variable<S extends z.ZodType = z.ZodType> {
  readonly schema: S;
  readonly expects: string;
}

const v = <S extends z.ZodType>(schema: S, expects: string): Variable<S> => ({ schema, expects });

const fmt = (n: number): string => n.toLocaleString('en-US');

/** An integer in [min, max] with a default; the words name the range. */
function int(def: number, min = 1, max = Number.MAX_SAFE_INTEGER) {
  const expects = max === Number.MAX_SAFE_INTEGER ? `an integer ≥ ${fmt(min)}` : `an integer from ${fmt(min)} to ${fmt(max)}`;
  return v(z.coerce.number().int().min(min).max(max).default(def), expects);
}

const idPattern = 'an id of letters, digits, _ and -';
const id = (def: string) => v(z.string().regex(KEY_ID_PATTERN).default(def), idPattern);
const key32Schema = z.string().refine(isKey32);
const key32Words = 'a 32-byte key, base64';
const key32 = () => v(key32Schema, key32Words);
const optionalKey32 = () => v(key32Schema.optional(), key32Words);
const token = () => v(z.string().min(32).optional(), 'a token of at least 32 characters');
const url = (def: string) => v(z.string().url().default(def), 'an absolute URL');
const optionalUrl = () => v(z.string().url().optional(), 'an absolute URL');
const text = (def: string) => v(z.string().min(1).default(def), 'a non-empty string');
const optionalText = () => v(z.string().min(1).optional(), 'a non-empty string');
const bool = (def: boolean) => v(z.enum(['true', 'false', '1', '0']).transform((s) => s === 'true' || s === '1').default(def), 'true, false, 1 or 0');
const oneOf = <const T extends readonly [string, ...string[]]>(values: T, def: T[number]) =>
  v(z.enum(values).default(def as never), `one of ${values.join(', ')}`);

/** `id:base64,id:base64` older keys, validated by the one key-ring parser; each bad entry is named. */
const keyRing = () =>
  v(
    z.string().default('').transform((s, ctx) => {
      const ring = parseKeyRing(s);
      if (ring.ok) return ring.keys;
      for (const problem of ring.problems) ctx.addIssue({ code: 'custom', message: problem, params: { detail: true } });
      return z.NEVER;
    }),
    'a comma-separated list of id:base64 pairs of 32-byte keys',
  );

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/**
 * Every environment variable breachwave reads, in sections: a section is what one service (or a
 * part every service shares) needs. Their documentation is the table in `docs.ts`, checked against
 * these names by a test, and the README table and `.env.example` are generated from both.
 */
export const sections = {
  /** Where state lives; every process. */
  connection: {
    REDIS_URL: url('redis://127.0.0.1:6379'),
    // `{name}` is a Redis Cluster hash tag: every key of the deployment then lands in one slot.
    BW_PREFIX: v(z.string().regex(/^(?:[A-Za-z0-9_-]+|\{[A-Za-z0-9_-]+\})$/).default('bw'), 'letters, digits, _ and - only, or those in braces as a hash tag ({bw}) (it becomes part of every Redis key)'),
    // Shards of the accounts over hash-tag slots; 64 is the ledger's MAX_SHARDS (a bound on fan-out per read).
    BW_SHARDS: int(1, 1, 64),
    BW_DATA_DIR: text('.breachwave'),
    LOG_LEVEL: v(z.enum(LOG_LEVELS).optional(), `one of ${LOG_LEVELS.join(', ')}`),
    REDIS_TLS_CA_FILE: optionalText(),
    REDIS_TLS_CERT_FILE: optionalText(),
    REDIS_TLS_KEY_FILE: optionalText(),
    REDIS_TLS_SERVERNAME: optionalText(),
  },
  /** The deployment's symmetric keys: contact envelopes and HMAC. */
  keys: {
    BW_ENVELOPE_KEY: key32(),
    BW_ENVELOPE_KEY_ID: id('k1'),
    BW_ENVELOPE_OLD_KEYS: keyRing(),
    BW_HMAC_KEY: key32(),
  },
  /** What the notices say. */
  notices: {
    BW_BRAND: text('Example Wireless'),
    BW_HELP_URL: url('https://breach-help.example.com'),
  },
  feeder: {
    BW_FEED_WINDOW: int(5000),
    BW_FEED_BATCH: int(500, 1, 10_000),
    BW_JOB_ACCOUNTS: int(DEFAULT_ACCOUNTS_PER_JOB, 1, MAX_ACCOUNTS_PER_JOB),
    BW_FEED_MIN_JOBS: v(z.coerce.number().int().min(1).max(10_000_000).optional(), 'an integer from 1 to 10,000,000'),
  },
  notifier: {
    BW_NOTIFY_CONCURRENCY: int(50, 1, 1000),
    BW_SMS_RATE: v(z.coerce.number().positive().max(10_000).optional(), 'a number of messages per second above 0, at most 10,000'),
    BW_EMAIL_RATE: v(z.coerce.number().positive().max(10_000).optional(), 'a number of messages per second above 0, at most 10,000'),
    BW_CONTACT_RETENTION_SECONDS: int(0, 0),
  },
  twilio: {
    TWILIO_ACCOUNT_SID: v(z.string().regex(/^AC[0-9a-fA-F]{32}$/).optional(), 'AC followed by 32 hexadecimal digits'),
    TWILIO_AUTH_TOKEN: optionalText(),
    TWILIO_BASE_URL: optionalUrl(),
    TWILIO_FROM: optionalText(),
    TWILIO_MESSAGING_SERVICE_SID: v(z.string().regex(/^MG[0-9a-fA-F]{32}$/).optional(), 'MG followed by 32 hexadecimal digits'),
    TWILIO_STATUS_CALLBACK: optionalUrl(),
    TWILIO_TIMEOUT_MS: int(15_000),
    TWILIO_CA_BUNDLE: optionalText(),
    HTTP_PROXY: optionalUrl(),
  },
  smtp: {
    SMTP_HOST: text('127.0.0.1'),
    SMTP_PORT: int(25, 1, 65535),
    SMTP_SECURE: bool(false),
    SMTP_USER: optionalText(),
    SMTP_PASS: optionalText(),
    SMTP_FROM: text('Security Notices <notices@example.com>'),
    SMTP_MAX_CONNECTIONS: int(5, 1, 100),
    SMTP_TIMEOUT_MS: int(30_000, 1000, 600_000),
    SMTP_DKIM_DOMAIN: optionalText(),
    SMTP_DKIM_SELECTOR: optionalText(),
    SMTP_DKIM_KEY_FILE: optionalText(),
  },
  opsApi: {
    BW_OPS_HOST: text('127.0.0.1'),
    BW_OPS_PORT: int(8080, 0, 65535),
    BW_PUBLIC_URL: optionalUrl(),
    BW_UNSUBSCRIBE_KEY: optionalKey32(),
    BW_UNSUBSCRIBE_TTL_SECONDS: int(60 * 86_400, 3600),
    BW_OPS_TOKEN: token(),
    BW_OPS_MAX_BODY_BYTES: int(64 * 1024, 1024, 10 * 1024 * 1024),
    BW_OPS_SESSION_TTL_SECONDS: int(8 * 3600, 300, 7 * 86_400),
  },
  pin: {
    BW_PIN_LENGTH: int(6, 6, 12),
    BW_PIN_STORE: oneOf(['vault', 'bss'], 'vault'),
    BW_PIN_VERIFIER_KEY: optionalKey32(),
    BW_PIN_VERIFIER_KEY_ID: id('v1'),
    BW_PIN_VERIFIER_OLD_KEYS: keyRing(),
    BW_PIN_HOLD_KEY: optionalKey32(),
    BW_PIN_HOLD_KEY_ID: id('p1'),
    BW_PIN_TEMP_TTL_SECONDS: int(259_200, 60, 30 * 86_400),
    BW_PIN_MAX_FAILURES: int(100, 1, 100),
    BW_PIN_FAILURE_WINDOW_SECONDS: int(30 * 86_400, 60, 90 * 86_400),
    BW_PIN_BACKOFF_AFTER: int(5, 1, 100),
    BW_PIN_BACKOFF_BASE_MS: int(1000, 1, 3_600_000),
    BW_PIN_BACKOFF_MAX_MS: int(15 * 60_000, 1, 24 * 3_600_000),
    BW_PIN_CLIENT_RATE: int(10, 1, 100_000),
    BW_PIN_VERIFY_TOKEN: token(),
    BW_PIN_CONCURRENCY: int(20, 1, 500),
    BW_BSS_URL: optionalUrl(),
    BW_BSS_TOKEN: optionalText(),
    BW_BSS_TIMEOUT_MS: int(5000, 100, 120_000),
  },
  codes: {
    BW_CODE_KEY: optionalKey32(),
    BW_CODE_KEY_ID: id('c1'),
    BW_CODE_OLD_KEYS: keyRing(),
    BW_CODE_LOW_WATERMARK: int(1000, 0),
    BW_CODE_CONCURRENCY: int(20, 1, 1000),
    BW_CODE_RETRY_MS: int(60_000, 10, 24 * 3_600_000),
  },
  /** Action workers (notifier, pin-rotator, code-issuer) and the recovery sweep they run. */
  workers: {
    BW_LOCK_DURATION_MS: int(30_000, 500, 600_000),
    BW_STALLED_INTERVAL_MS: int(30_000, 200, 600_000),
    BW_RECOVERY_INTERVAL_MS: int(30_000, 200, 3_600_000),
    BW_RECOVERY_MAX: int(3, 1, 100),
    BW_PIN_NOTICE_LIMIT_SECONDS: int(900, 1, 30 * 86_400),
    BW_COMPACT_AFTER_SECONDS: int(600, 60, 30 * 86_400),
  },
  /** Every long-running process's own `/metrics`, `/healthz` and `/readyz` (the ops-api serves them on its own port). */
  metrics: {
    BW_METRICS_TOKEN: token(),
    BW_METRICS_HOST: text('127.0.0.1'),
    BW_METRICS_PORT: int(0, 0, 65535),
    BW_METRICS_CACHE_MS: int(5000, 0, 60_000),
    BW_METRICS_DLQ_CACHE_MS: int(60_000, 0, 3_600_000),
    // Every process that serves metrics reports `breachwave_wave_stuck` by it, the ops-api's page and `wave status` too.
    BW_STUCK_AFTER_SECONDS: int(600, 30),
  },
  auditWriter: {
    BW_AUDIT_DIR: text('.breachwave/audit'),
    BW_AUDIT_MAX_LINES_PER_FILE: int(1_000_000),
    BW_AUDIT_LINGER_MS: int(20, 0, 1000),
    BW_AUDIT_LEASE_MS: int(15_000, 1000, 600_000),
    BW_AUDIT_SIGNING_KEY: v(z.string().min(1).optional(), 'an Ed25519 private key, PKCS#8 PEM or base64 of its DER'),
    BW_AUDIT_SIGNING_KEY_ID: v(z.string().regex(/^[A-Za-z0-9._-]{1,64}$/).optional(), 'an id of up to 64 letters, digits, ., _ and -'),
    BW_AUDIT_CHECKPOINT_RECORDS: int(1000, 1, 1_000_000),
    BW_AUDIT_CHECKPOINT_MS: int(5000, 100, 3_600_000),
    BW_ENV: optionalText(),
    NODE_ENV: optionalText(),
  },
  cli: {
    BW_OPERATOR: optionalText(),
    BW_APPROVALS_REQUIRED: int(1, 0, 5),
    USER: optionalText(),
    BW_AUDIT_PUBLIC_KEYS: optionalText(),
  },
} as const;

export type SectionName = keyof typeof sections;
type Sections = typeof sections;
type AllVariables = { [S in SectionName]: Sections[S] }[SectionName];
type UnionToIntersection<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void ? I : never;

/** Every variable, by name, across all sections. */
export type VariableTable = UnionToIntersection<AllVariables>;
export type VariableName = keyof VariableTable;

/** The zod shape of a set of variables. */
export type ShapeOf<T extends Record<string, Variable>> = { [K in keyof T]: T[K]['schema'] };

/** Every variable, by name (a name appears in one section only; a test checks it). */
export const variables = Object.assign({}, ...Object.values(sections)) as VariableTable;

/** The zod shape of the given sections. */
export function shapeOf<T extends Record<string, Variable>>(table: T): ShapeOf<T> {
  return Object.fromEntries(Object.entries(table).map(([name, variable]) => [name, variable.schema])) as ShapeOf<T>;
}

/** The section each variable belongs to. */
export function sectionOf(name: VariableName): SectionName {
  for (const [section, table] of Object.entries(sections)) if (name in table) return section as SectionName;
  throw new Error(`no section holds ${name}`);
}
