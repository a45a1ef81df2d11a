import { z } from 'zod';
import { BreachwaveError } from '@breachwave/domain';
import { DEFAULT_ACCOUNTS_PER_JOB, MAX_ACCOUNTS_PER_JOB, MIN_JOBS_PER_SLOT } from '@breachwave/jobs';

const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
const int = (def: number, min = 1, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max).default(def);
const key32 = z.string().refine((v) => Buffer.from(v, 'base64').length === 32, 'must be 32 bytes, base64');

/**
 * Environment variables read by breachwave processes. Each service parses once in `main`, passes
 * the frozen result down, and never logs it whole (it holds keys and tokens).
 */
export const envSchema = z.object({
  REDIS_URL: z.string().url().default('redis://127.0.0.1:6379'),
  /** Prefix for every Redis key breachwave and its queues use; isolates deployments and tests. */
  BW_PREFIX: z.string().regex(/^[A-Za-z0-9_-]+$/).default('bw'),
  BW_DATA_DIR: z.string().default('.breachwave'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** AES-256-GCM key for contact envelopes (base64, 32 bytes) and its id. */
  BW_ENVELOPE_KEY: key32,
  BW_ENVELOPE_KEY_ID: z.string().regex(/^[A-Za-z0-9_-]+$/).default('k1'),
  /** Older envelope keys still accepted for opening, `id:base64,id:base64`. */
  BW_ENVELOPE_OLD_KEYS: z.string().default(''),
  /** HMAC key for dedupe keys and verifiers (base64, 32 bytes). */
  BW_HMAC_KEY: key32,
  BW_BRAND: z.string().min(1).default('Example Wireless'),
  BW_HELP_URL: z.string().url().default('https://breach-help.example.com'),
  BW_FEED_WINDOW: int(5000),
  BW_FEED_BATCH: int(500, 1, 10_000),
  /**
   * Accounts per first-action job the feeder adds (1 = one job per account). A multi-account job
   * shares BullMQ's per-job cost; each account keeps its own ledger state, attempts and audit.
   */
  BW_JOB_ACCOUNTS: int(DEFAULT_ACCOUNTS_PER_JOB, 1, MAX_ACCOUNTS_PER_JOB),
  /**
   * First-action jobs a wave is cut into at least: a smaller wave gets fewer accounts per job
   * (down to one), so its jobs keep every worker slot busy while a slow provider answers.
   * Unset: `MIN_JOBS_PER_SLOT` × BW_NOTIFY_CONCURRENCY.
   */
  BW_FEED_MIN_JOBS: z.coerce.number().int().min(1).max(10_000_000).optional(),
  BW_NOTIFY_CONCURRENCY: int(50, 1, 1000),
  /**
   * Initial pace (messages/s) of the SMS sender and the SMTP relay, shared by all notifiers.
   * Applied when the sender has no pace yet; `breachwave pace set` changes it while a wave runs.
   * Unset: unpaced (Twilio long code ≈ 1/s, toll-free 3/s, short code 100+/s).
   */
  BW_SMS_RATE: z.coerce.number().positive().max(10_000).optional(),
  BW_EMAIL_RATE: z.coerce.number().positive().max(10_000).optional(),
  /** How long an account's encrypted contact record outlives its last action (0 = delete at once). */
  BW_CONTACT_RETENTION_SECONDS: int(0, 0),
  TWILIO_ACCOUNT_SID: z.string().regex(/^AC[0-9a-fA-F]{32}$/).optional(),
  TWILIO_AUTH_TOKEN: z.string().min(1).optional(),
  /** A Twilio-compatible base URL (a regional edge, a proxy, or the test kit's loopback server). */
  TWILIO_BASE_URL: z.string().url().optional(),
  TWILIO_FROM: z.string().optional(),
  TWILIO_MESSAGING_SERVICE_SID: z.string().regex(/^MG[0-9a-fA-F]{32}$/).optional(),
  TWILIO_STATUS_CALLBACK: z.string().url().optional(),
  TWILIO_TIMEOUT_MS: int(15_000),
  SMTP_HOST: z.string().default('127.0.0.1'),
  SMTP_PORT: int(25, 1, 65535),
  SMTP_SECURE: bool.default(false),
  SMTP_USER: z.string().optional(),
  SMTP_PASS: z.string().optional(),
  SMTP_FROM: z.string().default('Security Notices <notices@example.com>'),
  SMTP_MAX_CONNECTIONS: int(5, 1, 100),
  /** DKIM signing: all three, or none. The key is read from a file, never from the environment. */
  SMTP_DKIM_DOMAIN: z.string().min(1).optional(),
  SMTP_DKIM_SELECTOR: z.string().min(1).optional(),
  SMTP_DKIM_KEY_FILE: z.string().min(1).optional(),
  /**
   * ops-api (webhooks, one-click unsubscribe, PIN verification, health, metrics): where it listens.
   * On an address other than loopback it warns at start unless BW_PUBLIC_URL is https (a
   * TLS-terminating reverse proxy in front), since bearer tokens would cross the network in clear.
   */
  BW_OPS_HOST: z.string().min(1).default('127.0.0.1'),
  BW_OPS_PORT: int(8080, 0, 65535),
  /**
   * Base URL the world reaches the ops-api at (e.g. `https://hooks.example.com`). Twilio signs the
   * URL it called, so webhook signatures are checked against this base + the request path; the
   * one-click unsubscribe and status-callback URLs are built from it. Unset: the listen address.
   */
  BW_PUBLIC_URL: z.string().url().optional(),
  /**
   * Key for one-click unsubscribe tokens (base64, 32 bytes). Unset: derived from BW_HMAC_KEY.
   * A separate key can be rotated (invalidating links) without touching the suppression list.
   */
  BW_UNSUBSCRIBE_KEY: key32.optional(),
  /** How long an unsubscribe link works; CAN-SPAM wants ≥ 30 days after the send. Default 60 days. */
  BW_UNSUBSCRIBE_TTL_SECONDS: int(60 * 86_400, 3600),
  /**
   * Bearer token of the operator role on the ops-api (≥ 32 characters): PIN unlock and any other
   * operator route. Unset: those routes answer 401.
   */
  BW_OPS_TOKEN: z.string().min(32).optional(),
  /** Bearer token for GET /metrics (≥ 32 characters), a role of its own so a scraper can do nothing else. Unset: /metrics answers 401. */
  BW_METRICS_TOKEN: z.string().min(32).optional(),
  /** Largest request body the ops-api reads. */
  BW_OPS_MAX_BODY_BYTES: int(64 * 1024, 1024, 10 * 1024 * 1024),
  /** PIN rotation (issue 3). Digits per new PIN; NIST SP 800-63B asks for ≥ 6 when the system chooses. */
  BW_PIN_LENGTH: int(6, 6, 12),
  /** Where rotated PINs are applied: breachwave's own verifier vault, or the carrier's BSS over HTTP. */
  BW_PIN_STORE: z.enum(['vault', 'bss']).default('vault'),
  /** HMAC-SHA256 key for PIN verifiers (base64, 32 bytes) and its id; required by the pin-rotator and PIN verification. */
  BW_PIN_VERIFIER_KEY: key32.optional(),
  BW_PIN_VERIFIER_KEY_ID: z.string().regex(/^[A-Za-z0-9_-]+$/).default('v1'),
  /** Older verifier keys still accepted when verifying, `id:base64,id:base64`. */
  BW_PIN_VERIFIER_OLD_KEYS: z.string().default(''),
  /** AES-256-GCM key sealing held PINs (base64, 32 bytes) and its id. Unset: BW_ENVELOPE_KEY. */
  BW_PIN_HOLD_KEY: key32.optional(),
  BW_PIN_HOLD_KEY_ID: z.string().regex(/^[A-Za-z0-9_-]+$/).default('p1'),
  /** How long a temporary PIN may wait, sealed, for its notice. Default 72 h. */
  BW_PIN_TEMP_TTL_SECONDS: int(259_200, 60, 30 * 86_400),
  /**
   * Failed verifications of one account within BW_PIN_FAILURE_WINDOW_SECONDS after which it is
   * locked until the oldest of them leaves the window (or an operator unlocks it). NIST SP 800-63B
   * caps it at 100; the growing delays, not this cap, are what slow a guesser down.
   */
  BW_PIN_MAX_FAILURES: int(100, 1, 100),
  /** The sliding window failures are counted in. Default 30 days. */
  BW_PIN_FAILURE_WINDOW_SECONDS: int(30 * 86_400, 60, 90 * 86_400),
  /** Consecutive failures after which each further one makes the next try wait (BW_PIN_BACKOFF_BASE_MS, doubling). */
  BW_PIN_BACKOFF_AFTER: int(5, 1, 100),
  /** The first wait, doubled with each further consecutive failure, up to BW_PIN_BACKOFF_MAX_MS. */
  BW_PIN_BACKOFF_BASE_MS: int(1000, 1, 3_600_000),
  BW_PIN_BACKOFF_MAX_MS: int(15 * 60_000, 1, 24 * 3_600_000),
  /** PIN verification requests one client (bearer token and source address) may make per second. */
  BW_PIN_CLIENT_RATE: int(10, 1, 100_000),
  /** Bearer token for POST /v1/pins/verify (care agents, IVR; ≥ 32 characters). Unset: it answers 401. */
  BW_PIN_VERIFY_TOKEN: z.string().min(32).optional(),
  BW_PIN_CONCURRENCY: int(20, 1, 500),
  /** The carrier BSS endpoint that takes PIN rotations (required when BW_PIN_STORE=bss). */
  BW_BSS_URL: z.string().url().optional(),
  BW_BSS_TOKEN: z.string().min(1).optional(),
  BW_BSS_TIMEOUT_MS: int(5000, 100, 120_000),
  /**
   * Enrollment codes (issue 4). AES-256-GCM key sealing codes at rest (base64, 32 bytes) and its id.
   * Unset: the envelope key ring (BW_ENVELOPE_KEY). A separate key lets codes, which must stay
   * readable for the whole enrollment window, be held and rotated apart from a wave's contact data.
   */
  BW_CODE_KEY: key32.optional(),
  BW_CODE_KEY_ID: z.string().regex(/^[A-Za-z0-9_-]+$/).default('c1'),
  /** Older code keys still accepted for opening, `id:base64,id:base64`. */
  BW_CODE_OLD_KEYS: z.string().default(''),
  /** A pool whose unexpired, unassigned codes fall below this fires a low-watermark event. */
  BW_CODE_LOW_WATERMARK: int(1000, 0),
  BW_CODE_CONCURRENCY: int(20, 1, 1000),
  /** How long an account waits (ms, jittered) before asking an exhausted pool again. */
  BW_CODE_RETRY_MS: int(60_000, 10, 24 * 3_600_000),
  /**
   * Action workers (notifier, pin-rotator, code-issuer): how long a job's lock lasts unrenewed,
   * and how often stalled jobs (their worker died) are looked for. A dead worker's job re-runs
   * after about their sum. BullMQ's defaults.
   */
  BW_LOCK_DURATION_MS: int(30_000, 500, 600_000),
  BW_STALLED_INTERVAL_MS: int(30_000, 200, 600_000),
  /**
   * How often the recovery sweep looks for accounts no live job will finish (one worker process
   * sweeps at a time). An account counts as orphaned once its last change is older than the lock
   * duration plus the stalled interval.
   */
  BW_RECOVERY_INTERVAL_MS: int(30_000, 200, 3_600_000),
  /** Re-drives of one action by the recovery sweep before it is dead-lettered (BW_WORKER_LOST). */
  BW_RECOVERY_MAX: int(3, 1, 100),
  /** A rotated PIN whose notice has not gone out after this long is reported (status, logs). */
  BW_PIN_NOTICE_LIMIT_SECONDS: int(900, 1, 30 * 86_400),
});

export type Env = z.infer<typeof envSchema>;

export interface BreachwaveConfig {
  readonly redisUrl: string;
  readonly prefix: string;
  readonly dataDir: string;
  readonly logLevel: Env['LOG_LEVEL'];
  readonly envelopeKeys: readonly { readonly id: string; readonly base64: string }[];
  readonly hmacKey: string;
  readonly brand: string;
  readonly helpUrl: string;
  readonly feed: { readonly window: number; readonly batch: number; readonly accountsPerJob: number; readonly minJobs: number };
  readonly notifier: { readonly concurrency: number; readonly contactRetentionSeconds: number; readonly smsRate?: number; readonly emailRate?: number };
  readonly codes: {
    /** Sealing keys for enrollment codes, current first (the envelope keys when BW_CODE_KEY is unset). */
    readonly keys: readonly { readonly id: string; readonly base64: string }[];
    readonly lowWatermark: number;
    readonly concurrency: number;
    readonly retryMs: number;
  };
  readonly twilio?: {
    readonly accountSid: string;
    readonly authToken: string;
    readonly baseUrl?: string;
    readonly from?: string;
    readonly messagingServiceSid?: string;
    readonly statusCallback?: string;
    readonly timeoutMs: number;
  };
  readonly smtp: {
    readonly host: string;
    readonly port: number;
    readonly secure: boolean;
    readonly user?: string;
    readonly pass?: string;
    readonly from: string;
    readonly maxConnections: number;
    readonly dkim?: { readonly domain: string; readonly selector: string; readonly keyFile: string };
  };
  readonly ops: {
    readonly host: string;
    readonly port: number;
    readonly publicUrl?: string;
    /** Base64; absent: derive from `hmacKey`. */
    readonly unsubscribeKey?: string;
    readonly unsubscribeTtlSeconds: number;
    /** Operator role (`BW_OPS_TOKEN`). */
    readonly token?: string;
    /** Metrics role (`BW_METRICS_TOKEN`). */
    readonly metricsToken?: string;
    readonly maxBodyBytes: number;
  };
  readonly workers: {
    readonly lockDurationMs: number;
    readonly stalledIntervalMs: number;
    readonly recoveryIntervalMs: number;
    /** An open account's last change must be older than this to count as orphaned. */
    readonly staleMs: number;
    readonly maxRecoveries: number;
    readonly pinNoticeLimitMs: number;
  };
  readonly pin: {
    readonly length: number;
    readonly store: 'vault' | 'bss';
    /** Current verifier key first, then older ones; empty when BW_PIN_VERIFIER_KEY is unset. */
    readonly verifierKeys: readonly { readonly id: string; readonly base64: string }[];
    readonly holdKey: { readonly id: string; readonly base64: string };
    readonly tempTtlSeconds: number;
    /** Failures within `failureWindowSeconds` that lock the account until the oldest leaves the window. */
    readonly maxFailures: number;
    readonly failureWindowSeconds: number;
    /** Consecutive failures after which the next try waits `backoffBaseMs` × 2^(failures − backoffAfter), at most `backoffMaxMs`. */
    readonly backoffAfter: number;
    readonly backoffBaseMs: number;
    readonly backoffMaxMs: number;
    /** Verification requests per second per client (token and source address). */
    readonly clientRatePerSecond: number;
    readonly verifyToken?: string;
    readonly concurrency: number;
    readonly bss?: { readonly url: string; readonly token?: string; readonly timeoutMs: number };
  };
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

/** The `codes` section: BW_CODE_KEY (+ old keys) when set, else the envelope key ring. */
function codesConfig(e: Env): BreachwaveConfig['codes'] {
  const old = e.BW_CODE_OLD_KEYS.split(',').filter(Boolean).map((pair) => {
    const [id, base64] = pair.split(':');
    if (!id || !base64 || Buffer.from(base64, 'base64').length !== 32) {
      throw new BreachwaveError('BW_CONFIG_INVALID', { detail: 'BW_CODE_OLD_KEYS must be id:base64 pairs of 32-byte keys' });
    }
    return { id, base64 };
  });
  const envelope = [{ id: e.BW_ENVELOPE_KEY_ID, base64: e.BW_ENVELOPE_KEY }];
  for (const pair of e.BW_ENVELOPE_OLD_KEYS.split(',').filter(Boolean)) {
    const [id, base64] = pair.split(':');
    if (id && base64) envelope.push({ id, base64 });
  }
  return {
    keys: e.BW_CODE_KEY ? [{ id: e.BW_CODE_KEY_ID, base64: e.BW_CODE_KEY }, ...old] : [...envelope, ...old],
    lowWatermark: e.BW_CODE_LOW_WATERMARK,
    concurrency: e.BW_CODE_CONCURRENCY,
    retryMs: e.BW_CODE_RETRY_MS,
  };
}

/**
 * Parses the environment into a frozen config. Pure: reads only `env`.
 * @throws BreachwaveError BW_CONFIG_INVALID naming every bad variable (never its value).
 */
export function loadConfig(env: Readonly<Record<string, string | undefined>>): BreachwaveConfig {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new BreachwaveError('BW_CONFIG_INVALID', { detail });
  }
  const e = parsed.data;
  if ((e.TWILIO_ACCOUNT_SID === undefined) !== (e.TWILIO_AUTH_TOKEN === undefined)) {
    throw new BreachwaveError('BW_CONFIG_INVALID', { detail: 'TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN go together' });
  }
  if ([e.SMTP_DKIM_DOMAIN, e.SMTP_DKIM_SELECTOR, e.SMTP_DKIM_KEY_FILE].filter(Boolean).length % 3 !== 0) {
    throw new BreachwaveError('BW_CONFIG_INVALID', { detail: 'SMTP_DKIM_DOMAIN, SMTP_DKIM_SELECTOR and SMTP_DKIM_KEY_FILE go together' });
  }
  if (e.TWILIO_ACCOUNT_SID && !e.TWILIO_FROM && !e.TWILIO_MESSAGING_SERVICE_SID) {
    throw new BreachwaveError('BW_CONFIG_INVALID', { detail: 'set TWILIO_FROM or TWILIO_MESSAGING_SERVICE_SID' });
  }
  if (e.BW_PIN_BACKOFF_BASE_MS > e.BW_PIN_BACKOFF_MAX_MS) {
    throw new BreachwaveError('BW_CONFIG_INVALID', { detail: 'BW_PIN_BACKOFF_BASE_MS must not exceed BW_PIN_BACKOFF_MAX_MS' });
  }
  // Distinct tokens are what make the roles distinct: a shared one would let a scraper unlock PINs.
  const tokens = [e.BW_OPS_TOKEN, e.BW_METRICS_TOKEN, e.BW_PIN_VERIFY_TOKEN].filter((t): t is string => t !== undefined);
  if (new Set(tokens).size !== tokens.length) {
    throw new BreachwaveError('BW_CONFIG_INVALID', { detail: 'BW_OPS_TOKEN, BW_METRICS_TOKEN and BW_PIN_VERIFY_TOKEN must differ from each other' });
  }
  if (e.BW_PIN_STORE === 'bss' && !e.BW_BSS_URL) {
    throw new BreachwaveError('BW_CONFIG_INVALID', { detail: 'BW_PIN_STORE=bss needs BW_BSS_URL' });
  }
  const oldVerifierKeys = e.BW_PIN_VERIFIER_OLD_KEYS.split(',').filter(Boolean).map((pair) => {
    const [id, base64] = pair.split(':');
    if (!id || !base64 || Buffer.from(base64, 'base64').length !== 32) {
      throw new BreachwaveError('BW_CONFIG_INVALID', { detail: 'BW_PIN_VERIFIER_OLD_KEYS must be id:base64 pairs of 32-byte keys' });
    }
    return { id, base64 };
  });
  const oldKeys = e.BW_ENVELOPE_OLD_KEYS.split(',').filter(Boolean).map((pair) => {
    const [id, base64] = pair.split(':');
    if (!id || !base64 || Buffer.from(base64, 'base64').length !== 32) {
      throw new BreachwaveError('BW_CONFIG_INVALID', { detail: 'BW_ENVELOPE_OLD_KEYS must be id:base64 pairs of 32-byte keys' });
    }
    return { id, base64 };
  });
  return deepFreeze<BreachwaveConfig>({
    redisUrl: e.REDIS_URL,
    prefix: e.BW_PREFIX,
    dataDir: e.BW_DATA_DIR,
    logLevel: e.LOG_LEVEL,
    envelopeKeys: [{ id: e.BW_ENVELOPE_KEY_ID, base64: e.BW_ENVELOPE_KEY }, ...oldKeys],
    hmacKey: e.BW_HMAC_KEY,
    brand: e.BW_BRAND,
    helpUrl: e.BW_HELP_URL,
    feed: { window: e.BW_FEED_WINDOW, batch: e.BW_FEED_BATCH, accountsPerJob: e.BW_JOB_ACCOUNTS, minJobs: e.BW_FEED_MIN_JOBS ?? MIN_JOBS_PER_SLOT * e.BW_NOTIFY_CONCURRENCY },
    notifier: {
      concurrency: e.BW_NOTIFY_CONCURRENCY,
      contactRetentionSeconds: e.BW_CONTACT_RETENTION_SECONDS,
      ...(e.BW_SMS_RATE ? { smsRate: e.BW_SMS_RATE } : {}),
      ...(e.BW_EMAIL_RATE ? { emailRate: e.BW_EMAIL_RATE } : {}),
    },
    codes: codesConfig(e),
    ...(e.TWILIO_ACCOUNT_SID && e.TWILIO_AUTH_TOKEN
      ? {
          twilio: {
            accountSid: e.TWILIO_ACCOUNT_SID,
            authToken: e.TWILIO_AUTH_TOKEN,
            timeoutMs: e.TWILIO_TIMEOUT_MS,
            ...(e.TWILIO_BASE_URL ? { baseUrl: e.TWILIO_BASE_URL } : {}),
            ...(e.TWILIO_FROM ? { from: e.TWILIO_FROM } : {}),
            ...(e.TWILIO_MESSAGING_SERVICE_SID ? { messagingServiceSid: e.TWILIO_MESSAGING_SERVICE_SID } : {}),
            ...(e.TWILIO_STATUS_CALLBACK ? { statusCallback: e.TWILIO_STATUS_CALLBACK } : {}),
          },
        }
      : {}),
    smtp: {
      host: e.SMTP_HOST,
      port: e.SMTP_PORT,
      secure: e.SMTP_SECURE,
      from: e.SMTP_FROM,
      maxConnections: e.SMTP_MAX_CONNECTIONS,
      ...(e.SMTP_DKIM_DOMAIN && e.SMTP_DKIM_SELECTOR && e.SMTP_DKIM_KEY_FILE
        ? { dkim: { domain: e.SMTP_DKIM_DOMAIN, selector: e.SMTP_DKIM_SELECTOR, keyFile: e.SMTP_DKIM_KEY_FILE } }
        : {}),
      ...(e.SMTP_USER ? { user: e.SMTP_USER } : {}),
      ...(e.SMTP_PASS ? { pass: e.SMTP_PASS } : {}),
    },
    ops: {
      host: e.BW_OPS_HOST,
      port: e.BW_OPS_PORT,
      unsubscribeTtlSeconds: e.BW_UNSUBSCRIBE_TTL_SECONDS,
      maxBodyBytes: e.BW_OPS_MAX_BODY_BYTES,
      ...(e.BW_PUBLIC_URL ? { publicUrl: e.BW_PUBLIC_URL.replace(/\/+$/, '') } : {}),
      ...(e.BW_UNSUBSCRIBE_KEY ? { unsubscribeKey: e.BW_UNSUBSCRIBE_KEY } : {}),
      ...(e.BW_OPS_TOKEN ? { token: e.BW_OPS_TOKEN } : {}),
      ...(e.BW_METRICS_TOKEN ? { metricsToken: e.BW_METRICS_TOKEN } : {}),
    },
    workers: workersSection(e),
    pin: {
      length: e.BW_PIN_LENGTH,
      store: e.BW_PIN_STORE,
      verifierKeys: e.BW_PIN_VERIFIER_KEY ? [{ id: e.BW_PIN_VERIFIER_KEY_ID, base64: e.BW_PIN_VERIFIER_KEY }, ...oldVerifierKeys] : [],
      holdKey: e.BW_PIN_HOLD_KEY ? { id: e.BW_PIN_HOLD_KEY_ID, base64: e.BW_PIN_HOLD_KEY } : { id: e.BW_ENVELOPE_KEY_ID, base64: e.BW_ENVELOPE_KEY },
      tempTtlSeconds: e.BW_PIN_TEMP_TTL_SECONDS,
      maxFailures: e.BW_PIN_MAX_FAILURES,
      failureWindowSeconds: e.BW_PIN_FAILURE_WINDOW_SECONDS,
      backoffAfter: e.BW_PIN_BACKOFF_AFTER,
      backoffBaseMs: e.BW_PIN_BACKOFF_BASE_MS,
      backoffMaxMs: e.BW_PIN_BACKOFF_MAX_MS,
      clientRatePerSecond: e.BW_PIN_CLIENT_RATE,
      concurrency: e.BW_PIN_CONCURRENCY,
      ...(e.BW_PIN_VERIFY_TOKEN ? { verifyToken: e.BW_PIN_VERIFY_TOKEN } : {}),
      ...(e.BW_BSS_URL ? { bss: { url: e.BW_BSS_URL, timeoutMs: e.BW_BSS_TIMEOUT_MS, ...(e.BW_BSS_TOKEN ? { token: e.BW_BSS_TOKEN } : {}) } } : {}),
    },
  });
}

/** Just where Redis is and the key prefix: for commands that only read state (status, reports). */
export function loadConnectionConfig(env: Readonly<Record<string, string | undefined>>): Pick<BreachwaveConfig, 'redisUrl' | 'prefix' | 'dataDir' | 'logLevel'> {
  const parsed = envSchema.pick({ REDIS_URL: true, BW_PREFIX: true, BW_DATA_DIR: true, LOG_LEVEL: true }).safeParse(env);
  if (!parsed.success) {
    throw new BreachwaveError('BW_CONFIG_INVALID', { detail: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') });
  }
  return Object.freeze({ redisUrl: parsed.data.REDIS_URL, prefix: parsed.data.BW_PREFIX, dataDir: parsed.data.BW_DATA_DIR, logLevel: parsed.data.LOG_LEVEL });
}

/** The workers' timing and recovery settings alone: for commands that recover or report on waves. */
export function loadWorkersConfig(env: Readonly<Record<string, string | undefined>>): BreachwaveConfig['workers'] {
  const parsed = envSchema.pick({ BW_LOCK_DURATION_MS: true, BW_STALLED_INTERVAL_MS: true, BW_RECOVERY_INTERVAL_MS: true, BW_RECOVERY_MAX: true, BW_PIN_NOTICE_LIMIT_SECONDS: true }).safeParse(env);
  if (!parsed.success) {
    throw new BreachwaveError('BW_CONFIG_INVALID', { detail: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') });
  }
  return workersSection(parsed.data);
}

function workersSection(e: Pick<Env, 'BW_LOCK_DURATION_MS' | 'BW_STALLED_INTERVAL_MS' | 'BW_RECOVERY_INTERVAL_MS' | 'BW_RECOVERY_MAX' | 'BW_PIN_NOTICE_LIMIT_SECONDS'>): BreachwaveConfig['workers'] {
  return Object.freeze({
    lockDurationMs: e.BW_LOCK_DURATION_MS,
    stalledIntervalMs: e.BW_STALLED_INTERVAL_MS,
    recoveryIntervalMs: e.BW_RECOVERY_INTERVAL_MS,
    staleMs: e.BW_LOCK_DURATION_MS + e.BW_STALLED_INTERVAL_MS,
    maxRecoveries: e.BW_RECOVERY_MAX,
    pinNoticeLimitMs: e.BW_PIN_NOTICE_LIMIT_SECONDS * 1000,
  });
}
