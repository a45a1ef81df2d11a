import { z } from 'zod';
import { MIN_JOBS_PER_SLOT } from '@breachwave/jobs';
import { clusterPrefixProblem, shardsPrefixProblem } from './cluster.js';
import { variableDocs } from './docs.js';
import { configError, describeIssues, withoutEmpty, type EnvInput } from './problems.js';
import { sections, shapeOf, variables, type VariableName, type VariableTable } from './variables.js';

export { variableDocs, type Service, type VariableDoc } from './docs.js';
export { isKey32, KEY_BYTES, KEY_ID_PATTERN, parseKeyRing, type KeyRingResult, type RingKey } from './keyring.js';
export { configError, describeProblem, type EnvInput } from './problems.js';
export { sections, sectionOf, variables, type SectionName, type Variable, type VariableName, type VariableTable } from './variables.js';

/**
 * The variables the keyed services (feeder, notifier, pin-rotator, code-issuer, ops-api, and the
 * CLI's commands that touch contact data) read through {@link loadConfig}. The audit writer's and
 * the CLI's own sections are loaded by {@link loadAuditWriterSettings} and {@link loadCliConfig}:
 * the audit writer holds none of these keys, and must not need them to start.
 */
export const envSchema = z.object({
  ...shapeOf(sections.connection),
  ...shapeOf(sections.keys),
  ...shapeOf(sections.notices),
  ...shapeOf(sections.feeder),
  ...shapeOf(sections.notifier),
  ...shapeOf(sections.twilio),
  ...shapeOf(sections.smtp),
  ...shapeOf(sections.opsApi),
  ...shapeOf(sections.pin),
  ...shapeOf(sections.codes),
  ...shapeOf(sections.workers),
  ...shapeOf(sections.metrics),
});

export type Env = z.infer<typeof envSchema>;

type LogLevel = NonNullable<Env['LOG_LEVEL']>;
type Key = { readonly id: string; readonly base64: string };

/** Parses `env` against `schema`, or throws one BW_CONFIG_INVALID listing every bad variable. */
function parse<S extends z.ZodType>(schema: S, env: EnvInput): z.output<S> {
  const given = withoutEmpty(env);
  const parsed = schema.safeParse(given);
  if (!parsed.success) throw configError(describeIssues(parsed.error.issues, given));
  return parsed.data;
}

/**
 * Parses just the named variables, with their defaults: for commands that need a setting or two
 * and none of the keys. Pure; the result is frozen.
 * @throws BreachwaveError BW_CONFIG_INVALID naming every bad variable.
 */
/**
 * The process's environment, with `overrides` on top: the one place breachwave reads
 * `process.env`. Every loader here defaults to it; tests and embedders pass their own.
 */
export function environment(overrides: EnvInput = {}): EnvInput {
  return { ...process.env, ...overrides };
}

export function loadVariables<const N extends VariableName>(env: EnvInput, names: readonly N[]): Readonly<{ [K in N]: z.output<VariableTable[K]['schema']> }> {
  const shape = Object.fromEntries(names.map((name) => [name, variables[name].schema]));
  return Object.freeze(parse(z.object(shape), env)) as { [K in N]: z.output<VariableTable[K]['schema']> };
}

/**
 * TLS to Redis, when `REDIS_URL` is `rediss://`: file paths only (the Redis factory reads the
 * files when it creates a client), so loading the configuration stays pure.
 */
export interface RedisTlsSettings {
  /** PEM CA bundle trusted instead of the system CAs (`REDIS_TLS_CA_FILE`). */
  readonly caFile?: string;
  /** PEM client certificate and its key, for mutual TLS (`REDIS_TLS_CERT_FILE`, `REDIS_TLS_KEY_FILE`). */
  readonly certFile?: string;
  readonly keyFile?: string;
  /** The name checked in the server's certificate, when not the URL's host (`REDIS_TLS_SERVERNAME`). */
  readonly servername?: string;
}

type TlsVariables = Pick<Env, 'REDIS_URL' | 'REDIS_TLS_CA_FILE' | 'REDIS_TLS_CERT_FILE' | 'REDIS_TLS_KEY_FILE' | 'REDIS_TLS_SERVERNAME'>;
const TLS_VARIABLES = ['REDIS_TLS_CA_FILE', 'REDIS_TLS_CERT_FILE', 'REDIS_TLS_KEY_FILE', 'REDIS_TLS_SERVERNAME'] as const;

/**
 * The Redis TLS settings, or the rules they break: they apply to a `rediss://` URL only (set with
 * a plain `redis://` URL they would either be ignored or silently turn TLS on against a server
 * that does not speak it), and a client certificate goes with its key.
 */
function redisTlsOf(e: TlsVariables): { readonly tls?: RedisTlsSettings; readonly problems: string[] } {
  const problems: string[] = [];
  const set = TLS_VARIABLES.filter((name) => e[name] !== undefined);
  const tlsUrl = /^rediss(\+cluster)?:\/\//i.test(e.REDIS_URL);
  if (set.length && !tlsUrl) problems.push(`${set.join(', ')} ${set.length === 1 ? 'is' : 'are'} set, but REDIS_URL is not a rediss:// URL: use rediss://HOST:PORT for TLS, or unset ${set.length === 1 ? 'it' : 'them'}`);
  if ((e.REDIS_TLS_CERT_FILE === undefined) !== (e.REDIS_TLS_KEY_FILE === undefined)) {
    problems.push('REDIS_TLS_CERT_FILE and REDIS_TLS_KEY_FILE go together: set both for mutual TLS, or neither');
  }
  if (!tlsUrl || !set.length) return { problems };
  return {
    problems,
    tls: {
      ...(e.REDIS_TLS_CA_FILE ? { caFile: e.REDIS_TLS_CA_FILE } : {}),
      ...(e.REDIS_TLS_CERT_FILE ? { certFile: e.REDIS_TLS_CERT_FILE } : {}),
      ...(e.REDIS_TLS_KEY_FILE ? { keyFile: e.REDIS_TLS_KEY_FILE } : {}),
      ...(e.REDIS_TLS_SERVERNAME ? { servername: e.REDIS_TLS_SERVERNAME } : {}),
    },
  };
}

/** `redisTls` when there is one, for spreading into a config object. */
function redisTlsField(e: TlsVariables): { redisTls?: RedisTlsSettings } {
  const r = redisTlsOf(e);
  if (r.problems.length) throw configError(r.problems);
  return r.tls ? { redisTls: r.tls } : {};
}

/**
 * The log level a process starts its logger with, read before the rest of the configuration so
 * that a configuration error can itself be logged. Never throws: a bad value gives `info` and is
 * named in `invalid` for the caller to warn about; an empty value counts as unset.
 */
export function bootLogLevel(env: EnvInput = environment()): { readonly level: LogLevel; readonly invalid?: string } {
  try {
    return { level: loadVariables(env, ['LOG_LEVEL']).LOG_LEVEL ?? 'info' };
  } catch {
    return { level: 'info', invalid: 'LOG_LEVEL' };
  }
}

export interface BreachwaveConfig {
  readonly redisUrl: string;
  /** TLS settings of a `rediss://` REDIS_URL; absent: plain TCP, or TLS with the system CAs. */
  readonly redisTls?: RedisTlsSettings;
  readonly prefix: string;
  /** Shards of the accounts over hash-tag slots (`BW_SHARDS`, 1: one slot, every key where it always was). */
  readonly shards: number;
  readonly dataDir: string;
  readonly logLevel: LogLevel;
  readonly envelopeKeys: readonly Key[];
  readonly hmacKey: string;
  readonly brand: string;
  readonly helpUrl: string;
  readonly feed: { readonly window: number; readonly batch: number; readonly accountsPerJob: number; readonly minJobs: number };
  readonly notifier: { readonly concurrency: number; readonly contactRetentionSeconds: number; readonly smsRate?: number; readonly emailRate?: number };
  readonly codes: {
    /** Sealing keys for enrollment codes, current first (the envelope keys when BW_CODE_KEY is unset). */
    readonly keys: readonly Key[];
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
    /** A PEM file of CAs to trust instead of Node's bundle (`TWILIO_CA_BUNDLE`). */
    readonly caBundleFile?: string;
    /** `HTTP_PROXY`: requests then go through the Twilio SDK's own client, which knows proxies. */
    readonly httpProxy?: string;
  };
  readonly smtp: {
    readonly host: string;
    readonly port: number;
    readonly secure: boolean;
    readonly user?: string;
    readonly pass?: string;
    readonly from: string;
    readonly maxConnections: number;
    /** Connection, greeting and socket timeout (ms). */
    readonly timeoutMs: number;
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
    /** How long a browser login session lasts (`BW_OPS_SESSION_TTL_SECONDS`). */
    readonly sessionTtlSeconds: number;
    /** A wave with open accounts and jobs waiting but nothing finished for this long is flagged stuck (`BW_STUCK_AFTER_SECONDS`). */
    readonly stuckAfterSeconds: number;
  };
  readonly metrics: MetricsSettings;
  readonly workers: {
    readonly lockDurationMs: number;
    readonly stalledIntervalMs: number;
    readonly recoveryIntervalMs: number;
    /** An open account's last change must be older than this to count as orphaned. */
    readonly staleMs: number;
    readonly maxRecoveries: number;
    readonly pinNoticeLimitMs: number;
    /** A finished account is compacted once its last change is older than this. */
    readonly compactAfterMs: number;
  };
  readonly pin: {
    readonly length: number;
    readonly store: 'vault' | 'bss';
    /** Current verifier key first, then older ones; empty when BW_PIN_VERIFIER_KEY is unset. */
    readonly verifierKeys: readonly Key[];
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

/** The `codes` section: BW_CODE_KEY (+ old keys) when set, else the envelope key ring (+ old code keys). */
function codesConfig(e: Env, envelopeKeys: readonly Key[]): BreachwaveConfig['codes'] {
  return {
    keys: e.BW_CODE_KEY ? [{ id: e.BW_CODE_KEY_ID, base64: e.BW_CODE_KEY }, ...e.BW_CODE_OLD_KEYS] : [...envelopeKeys, ...e.BW_CODE_OLD_KEYS],
    lowWatermark: e.BW_CODE_LOW_WATERMARK,
    concurrency: e.BW_CODE_CONCURRENCY,
    retryMs: e.BW_CODE_RETRY_MS,
  };
}

/** Rules across variables; each broken one is a line naming the variables (never their values). */
function crossProblems(e: Env): string[] {
  const clusterProblem = clusterPrefixProblem(e);
  const shardsProblem = shardsPrefixProblem(e);
  return [...(clusterProblem ? [clusterProblem] : []), ...(shardsProblem ? [shardsProblem] : []), ...otherCrossProblems(e)];
}

function otherCrossProblems(e: Env): string[] {
  const problems: string[] = [];
  if ((e.TWILIO_ACCOUNT_SID === undefined) !== (e.TWILIO_AUTH_TOKEN === undefined)) {
    problems.push('TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN go together: set both for SMS, or neither');
  } else if (e.TWILIO_ACCOUNT_SID && !e.TWILIO_FROM && !e.TWILIO_MESSAGING_SERVICE_SID) {
    problems.push('TWILIO_FROM or TWILIO_MESSAGING_SERVICE_SID is missing: Twilio needs a sender (e.g. TWILIO_FROM=+15005550006)');
  }
  if ([e.SMTP_DKIM_DOMAIN, e.SMTP_DKIM_SELECTOR, e.SMTP_DKIM_KEY_FILE].filter(Boolean).length % 3 !== 0) {
    problems.push('SMTP_DKIM_DOMAIN, SMTP_DKIM_SELECTOR and SMTP_DKIM_KEY_FILE go together: set all three for DKIM, or none');
  }
  if (e.BW_PIN_BACKOFF_BASE_MS > e.BW_PIN_BACKOFF_MAX_MS) {
    problems.push(`BW_PIN_BACKOFF_BASE_MS must not exceed BW_PIN_BACKOFF_MAX_MS, got ${e.BW_PIN_BACKOFF_BASE_MS} > ${e.BW_PIN_BACKOFF_MAX_MS}`);
  }
  // Distinct tokens are what make the roles distinct: a shared one would let a scraper unlock PINs.
  const tokens = [e.BW_OPS_TOKEN, e.BW_METRICS_TOKEN, e.BW_PIN_VERIFY_TOKEN].filter((t): t is string => t !== undefined);
  if (new Set(tokens).size !== tokens.length) {
    problems.push('BW_OPS_TOKEN, BW_METRICS_TOKEN and BW_PIN_VERIFY_TOKEN must differ from each other (one token per role)');
  }
  if (e.BW_PIN_STORE === 'bss' && !e.BW_BSS_URL) {
    problems.push(`BW_BSS_URL is missing: BW_PIN_STORE=bss needs the BSS endpoint (e.g. ${variableDocs.BW_BSS_URL.example})`);
  }
  return problems;
}

/**
 * Parses the environment into a frozen config. Pure: reads only `env`. Empty values count as unset.
 * @throws BreachwaveError BW_CONFIG_INVALID listing every bad variable, one line each: what is
 *   wrong, what a right value looks like, and the value given unless it is a secret.
 */
export function loadConfig(env: EnvInput = environment()): BreachwaveConfig {
  const e = parse(envSchema, env);
  const problems = [...redisTlsOf(e).problems, ...crossProblems(e)];
  if (problems.length) throw configError(problems);
  const envelopeKeys: Key[] = [{ id: e.BW_ENVELOPE_KEY_ID, base64: e.BW_ENVELOPE_KEY }, ...e.BW_ENVELOPE_OLD_KEYS];
  return deepFreeze<BreachwaveConfig>({
    redisUrl: e.REDIS_URL,
    ...redisTlsField(e),
    prefix: e.BW_PREFIX,
    shards: e.BW_SHARDS,
    dataDir: e.BW_DATA_DIR,
    logLevel: e.LOG_LEVEL ?? 'info',
    envelopeKeys,
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
    codes: codesConfig(e, envelopeKeys),
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
            ...(e.TWILIO_CA_BUNDLE ? { caBundleFile: e.TWILIO_CA_BUNDLE } : {}),
            ...(e.HTTP_PROXY ? { httpProxy: e.HTTP_PROXY } : {}),
          },
        }
      : {}),
    smtp: {
      host: e.SMTP_HOST,
      port: e.SMTP_PORT,
      secure: e.SMTP_SECURE,
      from: e.SMTP_FROM,
      maxConnections: e.SMTP_MAX_CONNECTIONS,
      timeoutMs: e.SMTP_TIMEOUT_MS,
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
      sessionTtlSeconds: e.BW_OPS_SESSION_TTL_SECONDS,
      stuckAfterSeconds: e.BW_STUCK_AFTER_SECONDS,
      ...(e.BW_PUBLIC_URL ? { publicUrl: e.BW_PUBLIC_URL.replace(/\/+$/, '') } : {}),
      ...(e.BW_UNSUBSCRIBE_KEY ? { unsubscribeKey: e.BW_UNSUBSCRIBE_KEY } : {}),
      ...(e.BW_OPS_TOKEN ? { token: e.BW_OPS_TOKEN } : {}),
      ...(e.BW_METRICS_TOKEN ? { metricsToken: e.BW_METRICS_TOKEN } : {}),
    },
    metrics: metricsSection(e),
    workers: workersSection(e),
    pin: {
      length: e.BW_PIN_LENGTH,
      store: e.BW_PIN_STORE,
      verifierKeys: e.BW_PIN_VERIFIER_KEY ? [{ id: e.BW_PIN_VERIFIER_KEY_ID, base64: e.BW_PIN_VERIFIER_KEY }, ...e.BW_PIN_VERIFIER_OLD_KEYS] : [],
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
export function loadConnectionConfig(env: EnvInput = environment()): Pick<BreachwaveConfig, 'redisUrl' | 'redisTls' | 'prefix' | 'shards' | 'dataDir' | 'logLevel'> {
  const e = loadVariables(env, ['REDIS_URL', 'BW_PREFIX', 'BW_SHARDS', 'BW_DATA_DIR', 'LOG_LEVEL', ...TLS_VARIABLES]);
  const problems = [clusterPrefixProblem(e), shardsPrefixProblem(e)].filter((p): p is string => p !== undefined);
  if (problems.length) throw configError(problems);
  return deepFreeze({ redisUrl: e.REDIS_URL, ...redisTlsField(e), prefix: e.BW_PREFIX, shards: e.BW_SHARDS, dataDir: e.BW_DATA_DIR, logLevel: e.LOG_LEVEL ?? 'info' });
}

const WORKER_VARIABLES = ['BW_LOCK_DURATION_MS', 'BW_STALLED_INTERVAL_MS', 'BW_RECOVERY_INTERVAL_MS', 'BW_RECOVERY_MAX', 'BW_PIN_NOTICE_LIMIT_SECONDS', 'BW_COMPACT_AFTER_SECONDS'] as const;

/** The workers' timing and recovery settings alone: for commands that recover or report on waves. */
export function loadWorkersConfig(env: EnvInput = environment()): BreachwaveConfig['workers'] {
  return workersSection(loadVariables(env, WORKER_VARIABLES));
}

/** A process's own metrics endpoint and the scrape-time cache (`BW_METRICS_*`). */
export interface MetricsSettings {
  readonly host: string;
  /** 0: no metrics server (the ops-api serves its metrics on its own port regardless). */
  readonly port: number;
  /** Bearer token of `/metrics`; absent: `/metrics` answers 401. */
  readonly token?: string;
  readonly cacheMs: number;
  readonly dlqCacheMs: number;
  /** A running wave with notices open and none finished for this long is reported stuck (`BW_STUCK_AFTER_SECONDS`). */
  readonly stuckAfterSeconds: number;
}

function metricsSection(e: Pick<Env, 'BW_METRICS_TOKEN' | 'BW_METRICS_HOST' | 'BW_METRICS_PORT' | 'BW_METRICS_CACHE_MS' | 'BW_METRICS_DLQ_CACHE_MS' | 'BW_STUCK_AFTER_SECONDS'>): MetricsSettings {
  return Object.freeze({
    host: e.BW_METRICS_HOST, port: e.BW_METRICS_PORT, cacheMs: e.BW_METRICS_CACHE_MS, dlqCacheMs: e.BW_METRICS_DLQ_CACHE_MS, stuckAfterSeconds: e.BW_STUCK_AFTER_SECONDS,
    ...(e.BW_METRICS_TOKEN ? { token: e.BW_METRICS_TOKEN } : {}),
  });
}

function workersSection(e: Pick<Env, (typeof WORKER_VARIABLES)[number]>): BreachwaveConfig['workers'] {
  return Object.freeze({
    lockDurationMs: e.BW_LOCK_DURATION_MS,
    stalledIntervalMs: e.BW_STALLED_INTERVAL_MS,
    recoveryIntervalMs: e.BW_RECOVERY_INTERVAL_MS,
    staleMs: e.BW_LOCK_DURATION_MS + e.BW_STALLED_INTERVAL_MS,
    maxRecoveries: e.BW_RECOVERY_MAX,
    pinNoticeLimitMs: e.BW_PIN_NOTICE_LIMIT_SECONDS * 1000,
    compactAfterMs: e.BW_COMPACT_AFTER_SECONDS * 1000,
  });
}

/** The audit writer's section, parsed; building the checkpoint signer from the key is the writer's own step. */
export interface AuditWriterSettings {
  readonly redisUrl: string;
  readonly redisTls?: RedisTlsSettings;
  readonly prefix: string;
  /** Shards of the accounts (`BW_SHARDS`): the writer drains each shard's audit stream into a chain of its own. */
  readonly shards: number;
  readonly auditDir: string;
  readonly logLevel: LogLevel;
  readonly maxLinesPerFile: number;
  readonly lingerMs: number;
  readonly leaseMs: number;
  /** Ed25519 private key (PKCS#8 PEM or base64 DER), unchecked beyond being present. */
  readonly signingKey?: string;
  readonly signingKeyId?: string;
  readonly checkpointEvery: number;
  readonly checkpointIntervalMs: number;
  readonly metrics: MetricsSettings;
}

/**
 * Parses the audit writer's section (and the connection it shares with everyone). Needs no
 * envelope or HMAC key: the writer only copies audit records to files. In production (`BW_ENV` or
 * `NODE_ENV` = `production`) the signing key is required: unsigned checkpoints prove nothing
 * against anyone who can write the audit files, which is the threat they exist for. Pure.
 * @throws BreachwaveError BW_CONFIG_INVALID listing every bad variable.
 */
export function loadAuditWriterSettings(env: EnvInput = environment()): AuditWriterSettings {
  const e = parse(z.object({ ...shapeOf(sections.connection), ...shapeOf(sections.auditWriter), ...shapeOf(sections.metrics) }), env);
  const prefixProblems = [clusterPrefixProblem(e), shardsPrefixProblem(e)].filter((p): p is string => p !== undefined);
  if (prefixProblems.length) throw configError(prefixProblems);
  const production = e.BW_ENV === 'production' || e.NODE_ENV === 'production';
  if (production && e.BW_AUDIT_SIGNING_KEY === undefined) {
    throw configError([`BW_AUDIT_SIGNING_KEY is missing, and production (BW_ENV or NODE_ENV) requires it: ${variables.BW_AUDIT_SIGNING_KEY.expects} (e.g. ${variableDocs.BW_AUDIT_SIGNING_KEY.example})`]);
  }
  return deepFreeze({
    redisUrl: e.REDIS_URL,
    ...redisTlsField(e),
    prefix: e.BW_PREFIX,
    shards: e.BW_SHARDS,
    auditDir: e.BW_AUDIT_DIR,
    logLevel: e.LOG_LEVEL ?? 'info',
    maxLinesPerFile: e.BW_AUDIT_MAX_LINES_PER_FILE,
    lingerMs: e.BW_AUDIT_LINGER_MS,
    leaseMs: e.BW_AUDIT_LEASE_MS,
    ...(e.BW_AUDIT_SIGNING_KEY !== undefined ? { signingKey: e.BW_AUDIT_SIGNING_KEY } : {}),
    ...(e.BW_AUDIT_SIGNING_KEY_ID !== undefined ? { signingKeyId: e.BW_AUDIT_SIGNING_KEY_ID } : {}),
    checkpointEvery: e.BW_AUDIT_CHECKPOINT_RECORDS,
    checkpointIntervalMs: e.BW_AUDIT_CHECKPOINT_MS,
    metrics: metricsSection(e),
  });
}

/** What the CLI reads besides the services' configuration. */
export interface CliConfig {
  /** Quiet by default: the CLI's stdout is for results and its log goes to stderr. */
  readonly logLevel: LogLevel;
  /** Who operator actions are recorded as (`operator:<name>` in the audit trail). */
  readonly operator: string;
  /** Approvals a new wave needs from operators other than its creator. */
  readonly approvalsRequired: number;
  /** `id:base64,…` public keys for `audit verify`, parsed by the audit package. */
  readonly auditPublicKeys?: string;
  /** REDIS_URL when it was set; the demo looks for a Redis of its own when it was not. */
  readonly givenRedisUrl?: string;
  readonly dataDir: string;
}

/**
 * The CLI's own section. Pure.
 * @throws BreachwaveError BW_CONFIG_INVALID listing every bad variable.
 */
export function loadCliConfig(env: EnvInput = environment()): CliConfig {
  const e = parse(z.object({ ...shapeOf(sections.connection), ...shapeOf(sections.cli) }), env);
  const given = withoutEmpty(env);
  return Object.freeze({
    logLevel: e.LOG_LEVEL ?? 'warn',
    operator: e.BW_OPERATOR ?? e.USER ?? 'unknown',
    approvalsRequired: e.BW_APPROVALS_REQUIRED,
    dataDir: e.BW_DATA_DIR,
    ...(e.BW_AUDIT_PUBLIC_KEYS !== undefined ? { auditPublicKeys: e.BW_AUDIT_PUBLIC_KEYS } : {}),
    ...(given.REDIS_URL !== undefined ? { givenRedisUrl: e.REDIS_URL } : {}),
  });
}
