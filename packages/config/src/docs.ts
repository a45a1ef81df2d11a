import type { VariableName } from './variables.js';

/** The processes that read configuration. */
export type Service = 'feeder' | 'notifier' | 'pin-rotator' | 'code-issuer' | 'ops-api' | 'audit-writer' | 'cli';

/** How one variable is documented in the README table, in `.env.example` and in error messages. */
export interface VariableDoc {
  /** What it does, in Markdown (one paragraph; the README table cell). */
  readonly description: string;
  /** A right value, or how to make one; shown after "e.g." in errors and the docs. */
  readonly example: string;
  /** The processes that read it. */
  readonly services: readonly Service[];
  /** A secret: its value is never echoed in errors, and `.env.example` leaves it empty. */
  readonly secret: boolean;
  /** The default as people should read it, when the parsed default alone would mislead (derived, or per service). */
  readonly default?: string;
}

const workers: readonly Service[] = ['notifier', 'pin-rotator', 'code-issuer'];
const all: readonly Service[] = ['feeder', 'notifier', 'pin-rotator', 'code-issuer', 'ops-api', 'audit-writer', 'cli'];
const keyed: readonly Service[] = ['feeder', 'notifier', 'pin-rotator', 'code-issuer', 'ops-api', 'cli'];
const newKey = 'generate one with: openssl rand -base64 32';
const token = 'generate one with: openssl rand -base64 33';
const metricsReaders: readonly Service[] = ['notifier', 'pin-rotator', 'code-issuer', 'audit-writer', 'feeder', 'ops-api'];
const workerMetrics: readonly Service[] = ['notifier', 'pin-rotator', 'code-issuer', 'audit-writer', 'feeder'];
const oldKeys = 'k0:<32-byte base64 key>,k-1:<another>';

/**
 * The documentation of every variable in `sections`. Typed by variable name, so the compiler
 * refuses a missing or unknown entry; a test checks the same at run time.
 */
export const variableDocs: { readonly [K in VariableName]: VariableDoc } = {
  REDIS_URL: { description: 'Redis; it must run with `maxmemory-policy noeviction` (checked at start, on every primary of a cluster). `rediss://` connects over TLS (with the `REDIS_TLS_*` settings below). A Redis Cluster: `redis+cluster://host:port` (TLS: `rediss+cluster://`), more seed nodes in `?nodes=host:port,host:port`; `BW_PREFIX` must then be a hash tag such as `{bw}` (see docs/CLUSTER.md).', example: 'redis://redis.internal:6379', services: all, secret: false },
  BW_PREFIX: { description: 'Prefix of every Redis key, queues included; isolates deployments and tests sharing one Redis. In braces (`{bw}`) it is a Redis Cluster hash tag, required in cluster mode. Changing it (braces included) moves every key: a deployment holding waves keeps its prefix.', example: 'bw', services: all, secret: false },
  BW_SHARDS: { description: 'Shards of the accounts over Redis Cluster slots: with N > 1 each wave\'s accounts are spread by a hash of wave and account id over N hash tags (`{bw}`, `{bw:s1}`, …), each with its own ledger keys, queues and audit stream, so one wave is not bound to one primary; needs a hash-tag `BW_PREFIX`. Waves with consolidated notices need 1. Fixed for a deployment\'s Redis, as its prefix is: changing it moves accounts between shards (see docs/CLUSTER.md).', example: '3', services: all, secret: false },
  BW_DATA_DIR: { description: 'Spool files, reject reports and the demo\'s files (files created 0600, directories 0700).', example: '/var/lib/breachwave', services: ['feeder', 'cli'], secret: false },
  REDIS_TLS_CA_FILE: { description: 'PEM file of the CA(s) that signed the Redis server\'s certificate, trusted instead of the system bundle; only with a `rediss://` `REDIS_URL` (see docs/REDIS-TLS.md).', example: '/etc/breachwave/redis-tls/ca.crt', services: all, secret: false, default: 'the system CAs' },
  REDIS_TLS_CERT_FILE: { description: 'PEM client certificate for mutual TLS (a server with `tls-auth-clients yes`); with `REDIS_TLS_KEY_FILE`.', example: '/etc/breachwave/redis-tls/client.crt', services: all, secret: false },
  REDIS_TLS_KEY_FILE: { description: 'PEM private key of `REDIS_TLS_CERT_FILE`. The path is not secret; keep the file readable by the service alone.', example: '/etc/breachwave/redis-tls/client.key', services: all, secret: false },
  REDIS_TLS_SERVERNAME: { description: 'The name checked in the server\'s certificate (and sent as SNI) when it differs from the `REDIS_URL` host, e.g. when connecting through an IP address or a tunnel.', example: 'redis.internal', services: all, secret: false, default: 'the `REDIS_URL` host' },
  LOG_LEVEL: {
    description: 'pino level. Each notice sent and each PIN rotation is logged at `debug` (the ledger and audit trail record every one), failures and retries at `warn`. The process bootstrap reads it before the rest of the configuration, so that a configuration error is itself logged.',
    example: 'debug', services: all, secret: false, default: '`info` (`warn` for the CLI)',
  },
  BW_ENVELOPE_KEY: { description: 'AES-256-GCM key sealing contact points at rest.', example: newKey, services: keyed, secret: true },
  BW_ENVELOPE_KEY_ID: { description: 'Id of `BW_ENVELOPE_KEY`, recorded in every envelope it seals; change it with the key to rotate.', example: 'k2', services: keyed, secret: false },
  BW_ENVELOPE_OLD_KEYS: { description: 'Older envelope keys still accepted for opening, `id:base64,…`.', example: oldKeys, services: keyed, secret: true },
  BW_HMAC_KEY: {
    description: 'HMAC-SHA256 key for dedupe keys and verifiers. The suppression list, the code index and (without `BW_UNSUBSCRIBE_KEY`) unsubscribe links are keyed by it, so it cannot be rotated in place: the first service to start records its fingerprint in Redis (`<prefix>:keys:hmac`), and the notifier, code-issuer, ops-api and CLI refuse to start with another key (`BW_CONFIG_INVALID`) rather than miss every recorded opt-out.',
    example: newKey, services: keyed, secret: true,
  },
  BW_BRAND: { description: 'The company name the notices speak for.', example: 'Acme Mobile', services: ['feeder', 'notifier', 'cli'], secret: false },
  BW_HELP_URL: { description: 'The help page the notices point to.', example: 'https://help.example.com/breach', services: ['feeder', 'notifier', 'cli'], secret: false },
  BW_FEED_WINDOW: { description: 'Accounts kept waiting in a queue at most (each waiting job counted as `BW_JOB_ACCOUNTS` accounts): the feeder\'s memory bound, whatever the wave size.', example: '5000', services: ['feeder', 'notifier', 'cli'], secret: false },
  BW_FEED_BATCH: { description: 'Accounts per feed batch (read, validate, add jobs, checkpoint).', example: '500', services: ['feeder', 'cli'], secret: false },
  BW_JOB_ACCOUNTS: {
    description: 'Accounts per first-action job the feeder adds (1 = one job per account). A worker runs a job\'s accounts one after another, each with its own ledger state, attempts and audit records; an account to retry or defer leaves the job as a one-account job (`rotate-pin.<wave>.<account>`), and a job\'s finished accounts go on to their next action together. Jobs share BullMQ\'s per-job cost across their accounts (see docs/PERFORMANCE.md).',
    example: '20', services: ['feeder', 'cli'], secret: false,
  },
  BW_FEED_MIN_JOBS: {
    description: 'First-action jobs a wave is cut into at least: a wave of fewer than this × `BW_JOB_ACCOUNTS` accounts gets fewer accounts per job (accounts ÷ this, down to one; the feed\'s `feed started` log line says how many). A job\'s accounts go one after another, so a small wave in a few large jobs would leave worker slots idle while a slow provider answers. With several notifier processes, set it to about 5 × their concurrency summed.',
    example: '1000', services: ['feeder', 'cli'], secret: false, default: '5 × `BW_NOTIFY_CONCURRENCY`',
  },
  BW_NOTIFY_CONCURRENCY: { description: 'Notices in flight per notifier process; a notifier sends at most this ÷ the provider\'s latency per second (raise it for a slow provider, up to what the CPU allows; see docs/PERFORMANCE.md).', example: '200', services: ['notifier', 'feeder', 'cli'], secret: false },
  BW_SMS_RATE: { description: 'Initial pace (messages/s) of the SMS sender, shared by all notifiers; applied when the sender has no pace yet, `breachwave pace set` changes it while a wave runs. Unset: unpaced (Twilio long code ≈ 1/s, toll-free 3/s, short code 100+/s).', example: '3', services: ['notifier'], secret: false },
  BW_EMAIL_RATE: { description: 'Initial pace (messages/s) of the SMTP relay, shared by all notifiers, as `BW_SMS_RATE`. Unset: unpaced.', example: '50', services: ['notifier'], secret: false },
  BW_CONTACT_RETENTION_SECONDS: { description: 'How long a finished account\'s encrypted contact record outlives its last action (0 = deleted at once).', example: '86400', services: ['notifier'], secret: false },
  TWILIO_ACCOUNT_SID: { description: 'SMS provider account; goes with `TWILIO_AUTH_TOKEN` and one of `TWILIO_FROM`, `TWILIO_MESSAGING_SERVICE_SID`. Unset: no SMS.', example: 'AC<32 hex digits from the Twilio console>', services: ['notifier', 'ops-api'], secret: false },
  TWILIO_AUTH_TOKEN: { description: 'Twilio auth token; also checks the signatures of Twilio\'s webhooks.', example: 'from the Twilio console', services: ['notifier', 'ops-api'], secret: true },
  TWILIO_BASE_URL: { description: 'A Twilio-compatible endpoint every request goes to instead of `https://api.twilio.com` (a regional edge, an egress proxy, or the test kit\'s loopback server).', example: 'https://proxy.internal/twilio', services: ['notifier'], secret: false },
  TWILIO_FROM: { description: 'Sender number (E.164), when no messaging service is used.', example: '+15005550006', services: ['notifier', 'ops-api'], secret: false },
  TWILIO_MESSAGING_SERVICE_SID: { description: 'Twilio messaging service to send through, instead of `TWILIO_FROM`.', example: 'MG<32 hex digits from the Twilio console>', services: ['notifier', 'ops-api'], secret: false },
  TWILIO_STATUS_CALLBACK: { description: 'Where Twilio posts delivery statuses. Unset: built from `BW_PUBLIC_URL` when that is set.', example: 'https://hooks.example.com/v1/twilio/status', services: ['notifier'], secret: false },
  TWILIO_TIMEOUT_MS: { description: 'Per-request timeout of Twilio calls; a timeout after sending is an ambiguous outcome, counted and reconciled.', example: '10000', services: ['notifier'], secret: false },
  TWILIO_CA_BUNDLE: { description: 'A PEM file of the CAs to trust for Twilio instead of Node\'s bundle (e.g. an inspecting egress proxy\'s), read as the Twilio SDK reads it.', example: '/etc/ssl/egress-ca.pem', services: ['notifier'], secret: false },
  HTTP_PROXY: { description: 'An HTTP proxy for Twilio calls, read as the Twilio SDK reads it: when set, requests go through the SDK\'s own HTTP client, otherwise through breachwave\'s keep-alive client with no per-host connection cap.', example: 'http://proxy.internal:3128', services: ['notifier'], secret: true },
  SMTP_HOST: { description: 'Email relay (pooled connections).', example: 'smtp.internal', services: ['notifier'], secret: false },
  SMTP_PORT: { description: 'Email relay port.', example: '587', services: ['notifier'], secret: false },
  SMTP_SECURE: { description: 'TLS from the first byte (port 465); otherwise STARTTLS when the relay offers it.', example: 'true', services: ['notifier'], secret: false },
  SMTP_USER: { description: 'Relay login. Unset: no authentication.', example: 'notices', services: ['notifier'], secret: false },
  SMTP_PASS: { description: 'Relay password.', example: 'from the relay\'s administrator', services: ['notifier'], secret: true },
  SMTP_FROM: { description: 'The From header of every notice email.', example: 'Acme Security <security@acme.example>', services: ['notifier'], secret: false },
  SMTP_MAX_CONNECTIONS: { description: 'Pooled connections to the relay per notifier process.', example: '10', services: ['notifier'], secret: false },
  SMTP_TIMEOUT_MS: { description: 'How long the relay may take to accept a connection, greet, or answer a command before the send is given up as ambiguous (after the message was sent) or failed; also bounds how long a notice taken over from a stalled attempt waits for that attempt\'s send to settle.', example: '20000', services: ['notifier'], secret: false },
  SMTP_DKIM_DOMAIN: { description: 'DKIM signing domain; DKIM needs all three `SMTP_DKIM_*`, or none.', example: 'acme.example', services: ['notifier'], secret: false },
  SMTP_DKIM_SELECTOR: { description: 'DKIM selector.', example: 'notices2026', services: ['notifier'], secret: false },
  SMTP_DKIM_KEY_FILE: { description: 'File holding the DKIM private key (PEM); the key is read from a file, never from the environment.', example: '/run/secrets/dkim.pem', services: ['notifier'], secret: false },
  BW_OPS_HOST: { description: 'Where the ops-api (webhooks, one-click unsubscribe, PIN verification, health, metrics) listens. On an address other than loopback it warns at start unless `BW_PUBLIC_URL` is https, since bearer tokens would cross the network in clear.', example: '0.0.0.0', services: ['ops-api'], secret: false },
  BW_OPS_PORT: { description: 'The ops-api\'s port (0: any free port).', example: '8080', services: ['ops-api'], secret: false },
  BW_PUBLIC_URL: { description: 'Base URL the world reaches the ops-api at (the TLS-terminating proxy\'s `https://` URL). Twilio signs the URL it called, so webhook signatures are checked against it; it also turns on status callbacks and List-Unsubscribe headers. Unset: the listen address.', example: 'https://hooks.example.com', services: ['ops-api', 'notifier'], secret: false },
  BW_UNSUBSCRIBE_KEY: { description: 'Key of one-click unsubscribe tokens. Unset: derived from `BW_HMAC_KEY`. A separate key can be rotated (invalidating links) without touching the suppression list.', example: newKey, services: ['ops-api', 'notifier'], secret: true, default: 'derived from `BW_HMAC_KEY`' },
  BW_UNSUBSCRIBE_TTL_SECONDS: { description: 'How long an unsubscribe link works; CAN-SPAM wants at least 30 days after the send.', example: '5184000', services: ['ops-api', 'notifier'], secret: false, default: '5184000 (60 days)' },
  BW_OPS_TOKEN: { description: 'A shared bearer token of the `operator` API role, whose holder names themselves in `X-Breachwave-Operator` (audited as `operator:<name>`); kept for existing callers. Named API tokens (`breachwave token create`) bind the name to the token and are preferred; this one never approves a wave. Unset: only named tokens are accepted. The three configured tokens must differ.', example: token, services: ['ops-api'], secret: true },
  BW_OPS_MAX_BODY_BYTES: { description: 'Largest request body the ops-api reads.', example: '65536', services: ['ops-api'], secret: false },
  BW_OPS_SESSION_TTL_SECONDS: { description: 'How long a browser login (`/login`, for the queue board and the wave overview) lasts before the token must be given again; the session lives in Redis and ends at once on logout or when its token is revoked.', example: '28800', services: ['ops-api'], secret: false, default: '28800 (8 h)' },
  BW_STUCK_AFTER_SECONDS: { description: 'A running wave that is not paused, has notices open and has finished none for this long is flagged stuck: by `wave status`, on the wave overview (`/waves`, when jobs also wait in the queues) and in the metrics of every process that serves them (`breachwave_wave_stuck`).', example: '600', services: [...metricsReaders, 'cli'], secret: false },
  BW_PIN_LENGTH: { description: 'Digits per new PIN; NIST SP 800-63B asks for at least 6 when the system chooses.', example: '8', services: ['pin-rotator'], secret: false },
  BW_PIN_STORE: { description: 'Where rotated PINs are applied: breachwave\'s own verifier vault, or the carrier\'s BSS over HTTP (`BW_BSS_URL`).', example: 'bss', services: ['pin-rotator', 'ops-api'], secret: false },
  BW_PIN_VERIFIER_KEY: { description: 'HMAC-SHA256 key of PIN verifiers; required by the pin-rotator and PIN verification.', example: newKey, services: ['pin-rotator', 'ops-api'], secret: true },
  BW_PIN_VERIFIER_KEY_ID: { description: 'Id of `BW_PIN_VERIFIER_KEY`, recorded in each verifier.', example: 'v2', services: ['pin-rotator', 'ops-api'], secret: false },
  BW_PIN_VERIFIER_OLD_KEYS: { description: 'Older verifier keys still accepted when verifying, `id:base64,…`.', example: oldKeys, services: ['pin-rotator', 'ops-api'], secret: true },
  BW_PIN_HOLD_KEY: { description: 'AES-256-GCM key sealing temporary PINs while they wait for their notice.', example: newKey, services: ['pin-rotator', 'notifier'], secret: true, default: '`BW_ENVELOPE_KEY`' },
  BW_PIN_HOLD_KEY_ID: { description: 'Id of `BW_PIN_HOLD_KEY`.', example: 'p2', services: ['pin-rotator', 'notifier'], secret: false },
  BW_PIN_TEMP_TTL_SECONDS: { description: 'How long a temporary PIN may wait, sealed, for its notice.', example: '86400', services: ['pin-rotator', 'notifier'], secret: false, default: '259200 (72 h)' },
  BW_PIN_MAX_FAILURES: { description: 'Failed verifications of one account within `BW_PIN_FAILURE_WINDOW_SECONDS` after which it is locked until the oldest of them leaves the window (or an operator unlocks it). NIST SP 800-63B caps it at 100; the growing delays, not this cap, are what slow a guesser down.', example: '50', services: ['ops-api'], secret: false },
  BW_PIN_FAILURE_WINDOW_SECONDS: { description: 'The sliding window failed verifications are counted in.', example: '604800', services: ['ops-api'], secret: false, default: '2592000 (30 days)' },
  BW_PIN_BACKOFF_AFTER: { description: 'Consecutive failures after which the next try waits `BW_PIN_BACKOFF_BASE_MS` × 2^(failures − this), at most `BW_PIN_BACKOFF_MAX_MS`.', example: '3', services: ['ops-api'], secret: false },
  BW_PIN_BACKOFF_BASE_MS: { description: 'The first wait after `BW_PIN_BACKOFF_AFTER` consecutive failures, doubled with each further one; at most `BW_PIN_BACKOFF_MAX_MS`.', example: '2000', services: ['ops-api'], secret: false },
  BW_PIN_BACKOFF_MAX_MS: { description: 'The longest wait between tries.', example: '600000', services: ['ops-api'], secret: false, default: '900000 (15 min)' },
  BW_PIN_CLIENT_RATE: { description: 'PIN verification requests per second one client (bearer token and source address) may make.', example: '20', services: ['ops-api'], secret: false },
  BW_PIN_VERIFY_TOKEN: { description: 'Bearer token of care agents and the IVR for `POST /v1/pins/verify`. Unset: it answers 401.', example: token, services: ['ops-api'], secret: true },
  BW_PIN_CONCURRENCY: { description: 'PIN rotations in flight per pin-rotator process.', example: '50', services: ['pin-rotator'], secret: false },
  BW_BSS_URL: { description: 'The carrier BSS endpoint that takes PIN rotations; required when `BW_PIN_STORE=bss`.', example: 'https://bss.internal/pins', services: ['pin-rotator'], secret: false },
  BW_BSS_TOKEN: { description: 'Bearer token for the BSS endpoint.', example: 'from the BSS team', services: ['pin-rotator'], secret: true },
  BW_BSS_TIMEOUT_MS: { description: 'Per-request timeout of BSS calls.', example: '10000', services: ['pin-rotator'], secret: false },
  BW_CODE_KEY: { description: 'AES-256-GCM key sealing enrollment codes at rest. A separate key lets codes, which must stay readable for the whole enrollment window, be held and rotated apart from a wave\'s contact data.', example: newKey, services: ['code-issuer', 'notifier', 'cli'], secret: true, default: 'the envelope keys' },
  BW_CODE_KEY_ID: { description: 'Id of `BW_CODE_KEY`.', example: 'c2', services: ['code-issuer', 'notifier', 'cli'], secret: false },
  BW_CODE_OLD_KEYS: { description: 'Older code keys still accepted for opening, `id:base64,…`.', example: oldKeys, services: ['code-issuer', 'notifier', 'cli'], secret: true },
  BW_CODE_LOW_WATERMARK: { description: 'A pool whose unexpired, unassigned codes fall below this fires a low-watermark event (and `codes status` marks it LOW).', example: '5000', services: ['code-issuer', 'cli'], secret: false },
  BW_CODE_CONCURRENCY: { description: 'Code allocations in flight per code-issuer process.', example: '50', services: ['code-issuer'], secret: false },
  BW_CODE_RETRY_MS: { description: 'How long an account waits (jittered) before asking an exhausted pool again.', example: '300000', services: ['code-issuer'], secret: false },
  BW_LOCK_DURATION_MS: { description: 'Action workers: how long a job\'s lock lasts unrenewed (BullMQ\'s default). A dead worker\'s jobs re-run after about this plus `BW_STALLED_INTERVAL_MS`.', example: '60000', services: workers, secret: false },
  BW_STALLED_INTERVAL_MS: { description: 'Action workers: how often stalled jobs (their worker died) are looked for (BullMQ\'s default).', example: '15000', services: workers, secret: false },
  BW_RECOVERY_INTERVAL_MS: { description: 'How often the recovery sweep looks for accounts no live job will finish (in one worker process at a time). An account counts as orphaned once its last change is older than `BW_LOCK_DURATION_MS` + `BW_STALLED_INTERVAL_MS`.', example: '60000', services: [...workers, 'cli'], secret: false },
  BW_RECOVERY_MAX: { description: 'Re-drives of one action by the recovery sweep before it is dead-lettered with `BW_WORKER_LOST`.', example: '5', services: [...workers, 'cli'], secret: false },
  BW_COMPACT_AFTER_SECONDS: { description: 'The recovery sweep compacts an account whose actions are all finished once its last change is older than this: its ledger entry becomes a 15-byte slot, so Redis does not grow with the wave. A delivery callback that comes later is still audited but no longer updates the account. Shorter lowers the peak of a large wave; longer than the providers\' callback delay keeps delivery states.', example: '120', services: [...workers, 'cli'], secret: false },
  BW_PIN_NOTICE_LIMIT_SECONDS: { description: 'A rotated PIN whose notice has not gone out after this long is reported overdue (`wave status`, the sweep\'s log).', example: '3600', services: [...workers, 'cli'], secret: false },
  BW_METRICS_TOKEN: { description: 'Bearer token of the metrics scraper (`GET /metrics` of the ops-api and of every process with `BW_METRICS_PORT` set), a role of its own so a scraper can do nothing else. Unset: `/metrics` answers 401.', example: token, services: metricsReaders, secret: true },
  BW_METRICS_HOST: { description: 'Where a worker process (notifier, pin-rotator, code-issuer, audit-writer, feeder) serves `/metrics`, `/healthz` and `/readyz` when `BW_METRICS_PORT` is set. The ops-api serves them on `BW_OPS_HOST`:`BW_OPS_PORT` instead.', example: '0.0.0.0', services: workerMetrics, secret: false },
  BW_METRICS_PORT: { description: 'Port of that small HTTP server; 0 (the default) serves none, since a fixed default port would clash between processes on one host: give each process its own.', example: '9464', services: workerMetrics, secret: false, default: '0 (off)' },
  BW_METRICS_CACHE_MS: { description: 'How long the figures read from Redis at scrape time (queues, waves, code pools, pace, Redis memory) are reused, so that many scrapers cost Redis one read per interval.', example: '10000', services: metricsReaders, secret: false },
  BW_METRICS_DLQ_CACHE_MS: { description: 'How long the dead-letter counts are reused: they are read by scanning the ledger of the most recent waves, much dearer than the other figures.', example: '300000', services: metricsReaders, secret: false },
  BW_AUDIT_DIR: { description: 'Where the audit writer puts the hash-chained JSONL files and their checkpoints.', example: '/var/lib/breachwave/audit', services: ['audit-writer', 'cli'], secret: false },
  BW_AUDIT_MAX_LINES_PER_FILE: { description: 'Lines per audit file before the writer starts the next one.', example: '100000', services: ['audit-writer', 'cli'], secret: false },
  BW_AUDIT_LINGER_MS: { description: 'How long new audit entries may gather before one write + fsync takes them together (0: at once).', example: '5', services: ['audit-writer', 'cli'], secret: false },
  BW_AUDIT_LEASE_MS: { description: 'How long the audit writer\'s lease lasts unrenewed; a crashed writer\'s lease frees itself after this, and a second writer stands by until then.', example: '30000', services: ['audit-writer', 'cli'], secret: false },
  BW_AUDIT_SIGNING_KEY: {
    description: 'Ed25519 private key (PKCS#8 PEM, or base64 of its DER) that signs the chain\'s checkpoints, checked at start. Required in production (`BW_ENV` or `NODE_ENV` = `production`): unsigned checkpoints prove nothing against anyone who can write the audit files.',
    example: 'generate one with: openssl genpkey -algorithm ed25519', services: ['audit-writer', 'cli'], secret: true, default: 'none (required in production)',
  },
  BW_AUDIT_SIGNING_KEY_ID: { description: 'Key id written into each checkpoint (change it with the key to rotate).', example: 'audit-2026', services: ['audit-writer', 'cli'], secret: false, default: 'fingerprint of the public key' },
  BW_AUDIT_CHECKPOINT_RECORDS: { description: 'A signed checkpoint once this many records are uncovered; with `BW_AUDIT_CHECKPOINT_MS`, the window of records an attacker with write access could remove unnoticed (see Audit evidence).', example: '500', services: ['audit-writer', 'cli'], secret: false },
  BW_AUDIT_CHECKPOINT_MS: { description: 'A signed checkpoint at most this long after the first record it covers.', example: '2000', services: ['audit-writer', 'cli'], secret: false },
  BW_ENV: { description: '`production` (or `NODE_ENV=production`): the audit writer refuses to start without `BW_AUDIT_SIGNING_KEY`.', example: 'production', services: ['audit-writer', 'cli'], secret: false },
  NODE_ENV: { description: 'Read only as `BW_ENV` is: `production` makes the audit signing key required.', example: 'production', services: ['audit-writer', 'cli'], secret: false },
  BW_OPERATOR: { description: 'Who the CLI\'s operator actions (DLQ, recovery, PIN unlock, pace) are recorded as in the audit trail, as `operator:<name>`; `--actor` overrides it.', example: 'jdoe', services: ['cli'], secret: false, default: '`USER`, else `unknown`' },
  BW_APPROVALS_REQUIRED: { description: 'Operators other than its creator who must approve a wave made by `wave create`, after `wave dry-run`, before `wave start` may feed it (the two-person rule); `wave create --approvals` overrides it per wave. 0 turns approval off. The ops API applies it to the waves created through it.', example: '2', services: ['cli', 'ops-api'], secret: false },
  USER: { description: 'The login name; the operator\'s name when `BW_OPERATOR` is unset.', example: 'jdoe', services: ['cli'], secret: false },
  BW_AUDIT_PUBLIC_KEYS: { description: '`audit verify`: public keys, `id:base64,…` (SPKI DER; an entry without `id:` gets the fingerprint id), in addition to `--public-key` files; keep old keys to verify files signed before a rotation.', example: 'audit-2026:MCowBQYDK2VwAyEA…', services: ['cli'], secret: false },
};
