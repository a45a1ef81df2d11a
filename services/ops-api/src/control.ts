import { once } from 'node:events';
import { createReadStream } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { API_ROLES, TOKEN_NAME, createApiTokenStore, type ApiRole } from '@breachwave/access';
import { cancelOpenAccounts, recoverWave } from '@breachwave/actions';
import { createCodeStore, reminderAccountIds } from '@breachwave/codes';
import { openDeadLetters, type Selector } from '@breachwave/dlq';
import type { BreachwaveConfig } from '@breachwave/config';
import { ACTIONS, BreachwaveError, WAVE_ID_PATTERN, checkSmsTemplates, type ActionName } from '@breachwave/domain';
import {
  REJECTS_FILE, UPLOAD_ID, addToWave, createFeeder, createReminderWave, createWave, dryRunAndRecord, parseWaveManifest, plannedWaveOptions, removeUpload, saveUpload, uploadPath,
  type FeedResult,
} from '@breachwave/feeder';
import { createLedger, keys as ledgerKeys, waveClock, waveProgress, type WaveControlOp } from '@breachwave/ledger';
import type { Logger } from '@breachwave/logging';
import { MAX_PACE, senderIds, setSenderPace, showSenderPace } from '@breachwave/pacing';
import { checkHmacKey, checkRedis, closeRedis, createRedis } from '@breachwave/redis';
import { createEnvelope, parseKey } from '@breachwave/secrets';
import { REPORT_FORMATS, openWaveReport, type ReportFormat } from '@breachwave/report';
import type { OpsRequest, OpsResponse } from './http.js';
import type { MountedRoute } from './run.js';

/** Where the OpenAPI document is served (to any valid API token). */
export const OPENAPI_PATH = '/v1/openapi.json';

const ERROR = {
  type: 'object',
  required: ['error'],
  properties: { error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' } } } },
} as const;
const errors = (...statuses: number[]) => Object.fromEntries([401, 403, ...statuses].map((s) => [s, { ...ERROR, description: STATUS_TEXT[s] ?? 'refused' }]));
const STATUS_TEXT: Record<number, string> = {
  400: 'invalid input (BW_INPUT_INVALID)',
  401: 'no API token, or an unknown one (BW_HTTP_UNAUTHORIZED)',
  403: 'the token\'s role does not allow this (BW_HTTP_FORBIDDEN)',
  404: 'no such wave (BW_WAVE_NOT_FOUND), token (BW_TOKEN_NOT_FOUND) or upload (BW_UPLOAD_NOT_FOUND)',
  409: 'the wave\'s state does not allow the step (BW_WAVE_STATE, BW_APPROVAL_REFUSED), another process feeds it (BW_WAVE_BUSY), the name is taken (BW_TOKEN_NAME_TAKEN), or the file was already made into a wave (BW_SOURCE_REUSED)',
  413: 'the upload is larger than the limit (BW_HTTP_BODY_TOO_LARGE)',
  415: 'the upload is neither text/csv nor application/x-ndjson (BW_HTTP_UNSUPPORTED_MEDIA_TYPE)',
};
/** Upload media types and the file format each is read as. */
const UPLOAD_TYPES: Record<string, 'csv' | 'jsonl'> = {
  'text/csv': 'csv',
  'application/x-ndjson': 'jsonl',
  'application/jsonl': 'jsonl',
  'application/json-lines': 'jsonl',
};
const CREATE_BODY = {
  type: 'object', required: ['manifest', 'upload'], additionalProperties: false,
  properties: {
    manifest: {
      description: 'the wave manifest (the same fields as a manifest file, without accounts): an object, or its YAML or JSON text',
      oneOf: [{ type: 'object', additionalProperties: true }, { type: 'string', minLength: 1, maxLength: 65536 }],
    },
    upload: { type: 'string', pattern: UPLOAD_ID.source, description: 'the id POST /v1/uploads answered with' },
    allowSameFile: { type: 'boolean', description: 'create the wave although this very file was already made into one (it would notify those people again); audited' },
  },
} as const;
const WAVE_PARAMS = {
  type: 'object', required: ['id'], additionalProperties: false,
  properties: { id: { type: 'string', pattern: WAVE_ID_PATTERN.source, description: 'wave id' } },
} as const;
const REASON_BODY = {
  type: 'object', additionalProperties: false,
  properties: { reason: { type: 'string', minLength: 1, maxLength: 500, description: 'why, for the audit trail (no personal data)' } },
} as const;
const APPROVE_BODY = {
  type: 'object', additionalProperties: false,
  properties: {
    reason: REASON_BODY.properties.reason,
    allowOverlap: { type: 'boolean', description: 'approve although the dry run found accounts, phones or emails earlier waves already notified, or accounts whose PIN they rotated (audited)' },
  },
} as const;
const OBJECT = { type: 'object', additionalProperties: true } as const;
const UPLOAD_BODY = {
  type: 'object', required: ['upload'], additionalProperties: false,
  properties: { upload: { type: 'string', pattern: UPLOAD_ID.source, description: 'the id POST /v1/uploads answered with' } },
} as const;
const SENDER_PARAMS = {
  type: 'object', required: ['id'], properties: { id: { type: 'string', minLength: 1, maxLength: 200, description: 'e.g. twilio:+15005550006, smtp:relay.example.com:25' } },
} as const;
const DLQ_FILTER = {
  wave: { type: 'string', pattern: WAVE_ID_PATTERN.source, description: 'only this wave (default: every wave)' },
  action: { type: 'string', enum: [...ACTIONS], description: 'only this action' },
  reason: { type: 'string', minLength: 1, maxLength: 100, description: 'only this reason (error code), e.g. BW_SMS_INVALID_NUMBER' },
} as const;
const DEAD_LETTER = {
  type: 'object', additionalProperties: false,
  properties: {
    waveId: { type: 'string' }, accountId: { type: 'string' }, action: { type: 'string' }, reason: { type: 'string' },
    attempts: { type: 'integer' }, at: { type: ['string', 'null'] },
  },
} as const;
const CONTROL_RESULT = {
  type: 'object', additionalProperties: true,
  properties: {
    waveId: { type: 'string' }, status: { type: 'string' }, paused: { type: 'boolean' },
    approvers: { type: 'array', items: { type: 'string' } }, approvals: { type: 'integer' },
    cancelledAccounts: { type: 'integer' }, underWay: { type: 'integer' },
  },
} as const;
const NULLABLE_NUMBER = { type: ['number', 'null'] } as const;
/** `WaveClock` of `@breachwave/ledger`. */
const WAVE_CLOCK = {
  type: 'object', additionalProperties: false,
  required: ['ratePerSecond', 'etaSeconds', 'projectedFinish', 'notifiedPct', 'deadline', 'timeLeftSeconds', 'atRisk', 'stuck', 'idleSeconds'],
  properties: {
    ratePerSecond: { ...NULLABLE_NUMBER, description: 'notices finished per second since the feed began; null before any finished' },
    etaSeconds: { ...NULLABLE_NUMBER, description: 'seconds until every accepted account is finished at that rate; 0 when complete; null when unknown' },
    projectedFinish: { type: ['string', 'null'], description: 'ISO time the wave would finish at that rate' },
    notifiedPct: { type: 'number', description: 'share of the accepted accounts whose notice was sent, 0–100' },
    deadline: { type: ['string', 'null'], description: 'the notice deadline of the manifest\'s regulatory clock (ISO time), null without one' },
    timeLeftSeconds: { ...NULLABLE_NUMBER, description: 'seconds until the deadline, negative once past' },
    atRisk: { type: 'boolean', description: 'not complete, and the deadline passed, the projected finish is after it, or nothing finished with under a day left' },
    stuck: { type: 'boolean', description: 'running, not paused, notices open and none finished for BW_STUCK_AFTER_SECONDS' },
    idleSeconds: { ...NULLABLE_NUMBER, description: 'seconds since a notice last finished (or since the feed began)' },
  },
} as const;
const WAVE_PROGRESS = {
  type: 'object', additionalProperties: true, required: ['waveId', 'status', 'feeding', 'complete', 'clock'],
  properties: {
    waveId: { type: 'string' }, status: { type: 'string' }, paused: { type: 'boolean' }, complete: { type: 'boolean' },
    feeding: { type: 'boolean', description: 'this ops-api process is feeding the wave' },
    accepted: { type: 'integer' }, fed: { type: 'integer' }, cancelledUnfed: { type: 'integer' },
    actions: { type: 'object', additionalProperties: { type: 'object', additionalProperties: { type: 'integer' } }, description: 'action → state → accounts (they add up)' },
    events: { type: 'object', additionalProperties: true, description: 'action → event → count (they do not add up)' },
    clock: WAVE_CLOCK,
    deadlineRule: { type: ['string', 'null'], description: 'the rule the deadline comes from' },
  },
} as const;
const TOKEN_INFO = {
  type: 'object', additionalProperties: false,
  properties: { name: { type: 'string' }, role: { type: 'string', enum: [...API_ROLES] }, createdAt: { type: 'string' }, createdBy: { type: 'string' } },
} as const;

const REPORT_TYPES: Record<ReportFormat, string> = {
  csv: 'text/csv; charset=utf-8',
  jsonl: 'application/x-ndjson; charset=utf-8',
  md: 'text/markdown; charset=utf-8',
  html: 'text/html; charset=utf-8',
};

export interface ControlApi {
  /** The routes to mount (`OpsApiOverrides.routes`). */
  readonly routes: Record<string, MountedRoute>;
  /** Stops the feeds this process runs (each leaves a checkpoint to resume from), then closes Redis. Idempotent. */
  close(): Promise<void>;
}

export interface ControlApiOptions {
  /** Longest wait for a started feed to take the wave's lease before answering 202 anyway. Default 5,000 ms. */
  readonly startWaitMs?: number;
  /** Approvals a wave created here needs when its manifest names none (`BW_APPROVALS_REQUIRED`). Default 1. */
  readonly approvalsRequired?: number;
  /** Largest affected-account upload, in bytes. Default {@link DEFAULT_MAX_UPLOAD_BYTES}. */
  readonly maxUploadBytes?: number;
}

/** 16 GiB: a CSV of some 50 million affected accounts. */
export const DEFAULT_MAX_UPLOAD_BYTES = 16 * 1024 ** 3;

/**
 * The operator's side of the ops API: API tokens (`admin`), and the wave operations the CLI has —
 * list, progress, dry run, approve, start, pause, resume, cancel, add accounts, recover, reminder
 * waves, dead letters (list, show, re-drive), pace (show, set), report — calling the same
 * package functions, so the same guards (the ledger's Lua scripts) and the same audit records
 * apply whichever way an operator comes in. Each audit record names the caller's token as
 * `operator:<name>`.
 *
 * `start` feeds the wave from this process, in the background, under the wave's feed lease: a
 * second start, here or in another process, is refused with 409 `BW_WAVE_BUSY`. The wave's spool
 * (`BW_DATA_DIR`) must be readable here, as for `breachwave wave start`.
 * @throws BreachwaveError BW_REDIS_UNREACHABLE | BW_REDIS_EVICTION_POLICY | BW_CONFIG_INVALID
 */
export async function createControlApi(config: BreachwaveConfig, log: Logger, options: ControlApiOptions = {}): Promise<ControlApi> {
  const redis = createRedis({ url: config.redisUrl, tls: config.redisTls, role: 'producer', name: 'breachwave-ops-api-control' });
  const hmacKey = Buffer.from(config.hmacKey, 'base64');
  try {
    await checkRedis(redis, config.redisUrl);
    await checkHmacKey(redis, config.prefix, hmacKey);
  } catch (err) {
    redis.disconnect();
    throw err;
  }
  const ledger = createLedger({ redis, prefix: config.prefix, shards: config.shards });
  const tokens = createApiTokenStore({ redis, prefix: config.prefix, hmacKey });
  const envelope = createEnvelope(config.envelopeKeys.map((k) => parseKey(k.id, k.base64)));
  const senders = senderIds({ twilioFrom: config.twilio?.from, twilioMessagingServiceSid: config.twilio?.messagingServiceSid, smtpHost: config.smtp.host, smtpPort: config.smtp.port });
  const startWaitMs = options.startWaitMs ?? 5000;
  const maxUploadBytes = options.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES;
  const feeds = new Map<string, { readonly controller: AbortController; readonly done: Promise<void> }>();
  const thisProcess = `${hostname()}:${process.pid}#`;

  const actorOf = (req: OpsRequest): string => {
    // Every route here needs a role, so authentication has named the caller.
    if (!req.operator) throw new BreachwaveError('BW_HTTP_UNAUTHORIZED');
    return `operator:${req.operator}`;
  };
  const waveIdOf = (req: OpsRequest): string => req.params.id ?? '';
  const reasonOf = (req: OpsRequest): Record<string, string> => {
    const body = req.parsedBody as { reason?: string } | undefined;
    return body?.reason ? { reason: body.reason } : {};
  };
  const ok = (json: unknown, status = 200): OpsResponse => ({ status, json });
  /** The dead-letter filter of a request's query string (already validated by the route's schema). */
  const selectorOf = (req: OpsRequest): Selector => {
    const [wave, action, reason] = ['wave', 'action', 'reason'].map((k) => req.query.get(k) ?? undefined);
    return { ...(wave ? { waveId: wave } : {}), ...(action ? { action: action as ActionName } : {}), ...(reason ? { reason } : {}) };
  };
  const withDeadLetters = async (fn: (d: ReturnType<typeof openDeadLetters>) => Promise<OpsResponse>): Promise<OpsResponse> => {
    const d = openDeadLetters({ ledger, connection: redis, prefix: config.prefix, shards: config.shards });
    try {
      return await fn(d);
    } finally {
      await d.close();
    }
  };

  const control = (op: Exclude<WaveControlOp, 'dry-run'>): MountedRoute['handler'] => async (req) => {
    const waveId = waveIdOf(req);
    const actor = actorOf(req);
    const allow = op === 'approve' && (req.parsedBody as { allowOverlap?: boolean } | undefined)?.allowOverlap === true;
    const r = await ledger.control(op, waveId, actor, { ...reasonOf(req), ...(allow ? { allowOverlap: true } : {}) }, 0, { allow });
    const sweep = op === 'cancel' ? await cancelOpenAccounts(ledger, waveId, actor) : undefined;
    if (op === 'cancel') feeds.get(waveId)?.controller.abort();
    req.log.info({ waveId, op, status: r.status }, 'wave step');
    return ok({ waveId, ...r, ...(sweep ? { cancelledAccounts: sweep.accounts, underWay: sweep.underWay } : {}) });
  };

  /** Runs a feed in the background; resolves once it holds the wave (or has ended, or failed). */
  const start = async (req: OpsRequest): Promise<OpsResponse> => {
    const waveId = waveIdOf(req);
    const actor = actorOf(req);
    if (feeds.has(waveId)) throw new BreachwaveError('BW_WAVE_BUSY', { detail: `wave ${waveId} is being fed by this ops-api` });
    await ledger.getWave(waveId);
    const feeder = createFeeder({
      ledger, connection: redis, prefix: config.prefix, shards: config.shards, window: config.feed.window, batch: config.feed.batch,
      accountsPerJob: config.feed.accountsPerJob, minJobs: config.feed.minJobs, log: log.child({ waveId }), actor,
    });
    const controller = new AbortController();
    let settled: { result?: FeedResult; error?: unknown } | undefined;
    const run = feeder.feed(waveId, { signal: controller.signal }).then(
      (result) => {
        settled = { result };
        log.info({ waveId, ...result, actor }, 'feed ended');
      },
      (error: unknown) => {
        settled = { error };
        log.warn({ err: error, waveId }, 'feed failed');
      },
    );
    const done = run.finally(async () => {
      feeds.delete(waveId);
      await feeder.close().catch((err: unknown) => log.warn({ err, waveId }, 'could not close the feeder\'s queues'));
    });
    feeds.set(waveId, { controller, done });
    const deadline = Date.now() + startWaitMs;
    // The feeder takes the lease, checks the wave's state, then marks it feeding: answering once
    // this process holds the lease of a feeding wave means the start was accepted, not just asked.
    while (settled === undefined && Date.now() < deadline) {
      const [holder, wave] = await Promise.all([redis.get(ledgerKeys(config.prefix).feeder(waveId)), ledger.getWave(waveId)]);
      if (holder?.startsWith(thisProcess) && wave.status === 'feeding') break;
      await sleep(25);
    }
    // A settled feed: `settled` was assigned by the callbacks above, which TypeScript cannot see.
    const outcome = settled as { result?: FeedResult; error?: unknown } | undefined;
    if (outcome?.error !== undefined) throw outcome.error instanceof Error ? outcome.error : new Error(String(outcome.error));
    if (outcome?.result) return ok({ waveId, feeding: false, ...outcome.result });
    return ok({ waveId, feeding: true }, 202);
  };

  const routes: Record<string, MountedRoute> = {
    [`GET ${OPENAPI_PATH}`]: {
      auth: 'viewer',
      schema: { summary: 'This document: every route, its schemas and the credential it needs', tags: ['meta'], response: { 200: OBJECT, ...errors() } },
      handler: async (req) => ok(req.openapi()),
    },

    'POST /v1/tokens': {
      auth: 'admin',
      schema: {
        summary: 'Create an API token; the token is in this answer and nowhere else, ever',
        tags: ['tokens'],
        body: {
          type: 'object', required: ['name', 'role'], additionalProperties: false,
          properties: { name: { type: 'string', pattern: TOKEN_NAME.source, description: 'who it stands for; audited as operator:<name>' }, role: { type: 'string', enum: [...API_ROLES] } },
        },
        response: { 201: { type: 'object', properties: { ...TOKEN_INFO.properties, token: { type: 'string' } } }, ...errors(400, 409) },
      },
      handler: async (req) => {
        const body = req.parsedBody as { name: string; role: ApiRole } | undefined;
        if (!body) throw new BreachwaveError('BW_INPUT_INVALID', { detail: 'a JSON body { name, role } is needed' });
        const actor = actorOf(req);
        const { token, info } = await tokens.create({ name: body.name, role: body.role, createdBy: actor });
        await ledger.audit({ type: 'operator.token.created', actor, detail: { name: info.name, role: info.role } });
        return ok({ ...info, token }, 201);
      },
    },
    'GET /v1/tokens': {
      auth: 'admin',
      schema: { summary: 'Every API token\'s name and role (never a token)', tags: ['tokens'], response: { 200: { type: 'object', properties: { tokens: { type: 'array', items: TOKEN_INFO } } }, ...errors() } },
      handler: async () => ok({ tokens: await tokens.list() }),
    },
    'DELETE /v1/tokens/:name': {
      auth: 'admin',
      schema: {
        summary: 'Revoke an API token by name; it stops working at once',
        tags: ['tokens'],
        params: { type: 'object', required: ['name'], properties: { name: { type: 'string', pattern: TOKEN_NAME.source } } },
        response: { 200: { type: 'object', properties: { name: { type: 'string' }, revoked: { type: 'boolean' } } }, ...errors(400, 404) },
      },
      handler: async (req) => {
        const actor = actorOf(req);
        const info = await tokens.revoke(req.params.name ?? '');
        await ledger.audit({ type: 'operator.token.revoked', actor, detail: { name: info.name, role: info.role } });
        return ok({ name: info.name, revoked: true });
      },
    },

    'POST /v1/uploads': {
      auth: 'operator',
      upload: true,
      schema: {
        summary: 'Upload an affected-account file (CSV with a header row, or JSONL), streamed to this server\'s data directory (owner-only) until a wave is made of it; removed then, or after a day',
        tags: ['waves'],
        consumes: Object.keys(UPLOAD_TYPES),
        response: { 201: { type: 'object', properties: { upload: { type: 'string' }, format: { type: 'string', enum: ['csv', 'jsonl'] }, bytes: { type: 'integer' } } }, ...errors(400, 413, 415) },
      },
      handler: async (req) => {
        const format = UPLOAD_TYPES[req.contentType];
        if (!format) throw new BreachwaveError('BW_HTTP_UNSUPPORTED_MEDIA_TYPE', { detail: `an upload is ${Object.keys(UPLOAD_TYPES).join(', ')}` });
        if (!req.upload) throw new BreachwaveError('BW_INPUT_INVALID', { detail: 'the upload has no body' });
        const saved = await saveUpload({ dataDir: config.dataDir, body: req.upload, format, maxBytes: maxUploadBytes });
        req.log.info({ upload: saved.upload, format, bytes: saved.bytes, actor: actorOf(req) }, 'upload stored');
        return ok(saved, 201);
      },
    },
    'DELETE /v1/uploads/:id': {
      auth: 'operator',
      schema: {
        summary: 'Remove an upload no wave was made of',
        tags: ['waves'],
        params: { type: 'object', required: ['id'], additionalProperties: false, properties: { id: { type: 'string', pattern: UPLOAD_ID.source } } },
        response: { 200: { type: 'object', properties: { upload: { type: 'string' }, removed: { type: 'boolean' } } }, ...errors(400, 404) },
      },
      handler: async (req) => {
        const id = req.params.id ?? '';
        if (!(await removeUpload(config.dataDir, id))) throw new BreachwaveError('BW_UPLOAD_NOT_FOUND', { detail: `upload ${id}` });
        return ok({ upload: id, removed: true });
      },
    },
    'POST /v1/waves': {
      auth: 'operator',
      schema: {
        summary: 'Create a wave from a manifest and an uploaded file: validated, normalised, minimised and de-duplicated as by breachwave wave create --manifest; the caller is its creator',
        tags: ['waves'], body: CREATE_BODY,
        response: { 201: OBJECT, ...errors(400, 404, 409) },
      },
      handler: async (req) => {
        const body = req.parsedBody as { manifest: unknown; upload: string; allowSameFile?: boolean };
        const actor = actorOf(req);
        const text = typeof body.manifest === 'string' ? body.manifest : JSON.stringify(body.manifest);
        const plan = parseWaveManifest(text, '(request)', typeof body.manifest === 'string' ? 'yaml' : 'json');
        if (plan.accounts) throw new BreachwaveError('BW_INPUT_INVALID', { detail: 'manifest (request): accounts: not taken here; upload the file (POST /v1/uploads) and name it in upload' });
        const file = await uploadPath(config.dataDir, body.upload);
        const created = await createWave({
          ledger, file,
          ...plannedWaveOptions(plan, { brand: config.brand, helpUrl: config.helpUrl, approvals: options.approvalsRequired ?? 1 }),
          dataDir: config.dataDir, envelope, log: req.log,
          fingerprintKey: hmacKey,
          allowSameFile: body.allowSameFile === true,
          actor,
        });
        // The file held contact points in clear; the wave's spool holds them sealed.
        await removeUpload(config.dataDir, body.upload);
        const templateWarnings = checkSmsTemplates({ brand: created.manifest.brand, helpUrl: created.manifest.helpUrl }, plan.smsSegmentBudget);
        req.log.info({ waveId: created.waveId, accepted: created.stats.accepted, rejected: created.stats.rejected, actor }, 'wave created');
        return ok({
          waveId: created.waveId, manifest: created.manifest, stats: created.stats, droppedColumns: created.droppedColumns,
          ignoredColumns: created.ingest.ignoredColumns, templateWarnings,
        }, 201);
      },
    },
    'GET /v1/waves/:id/rejects': {
      auth: 'operator',
      schema: {
        summary: 'The rejects report of a wave\'s files: line numbers, account ids and reasons (no contact data), as CSV',
        tags: ['waves'], params: WAVE_PARAMS,
        response: { 200: { type: 'string' }, ...errors(400, 404) },
      },
      handler: async (req) => {
        const waveId = waveIdOf(req);
        await ledger.getWave(waveId);
        const path = join(config.dataDir, 'waves', waveId, REJECTS_FILE);
        const stream = createReadStream(path);
        await once(stream, 'open').catch((cause: unknown) => {
          throw new BreachwaveError('BW_WAVE_NOT_FOUND', { detail: `wave ${waveId} has no rejects report on this server (it was created on another one)`, cause });
        });
        return { status: 200, headers: { 'Content-Type': 'text/csv; charset=utf-8' }, stream };
      },
    },
    'GET /v1/waves': {
      auth: 'viewer',
      schema: {
        summary: 'Every wave, with its status and intake counts', tags: ['waves'],
        response: { 200: { type: 'object', properties: { waves: { type: 'array', items: OBJECT } } }, ...errors() },
      },
      handler: async () => {
        const ids = await ledger.listWaves();
        const waves = await Promise.all(ids.map(async (id) => {
          const w = await ledger.getWave(id);
          return { waveId: id, status: w.status, createdAt: w.manifest.createdAt, createdBy: w.manifest.createdBy ?? null, accepted: w.stats.accepted ?? 0, rows: w.stats.rows ?? 0 };
        }));
        return ok({ waves });
      },
    },
    'GET /v1/waves/:id': {
      auth: 'viewer',
      schema: {
        summary: 'A wave\'s progress: counts by action and state, and its clock (rate, ETA, the notice deadline and the time left, at risk, stuck), as breachwave wave status --json gives them',
        tags: ['waves'], params: WAVE_PARAMS, response: { 200: WAVE_PROGRESS, ...errors(400, 404) },
      },
      handler: async (req) => {
        const waveId = waveIdOf(req);
        const [progress, wave] = await Promise.all([waveProgress(ledger, waveId), ledger.getWave(waveId)]);
        const clock = waveClock(wave, progress, new Date(), undefined, config.ops.stuckAfterSeconds);
        return ok({ waveId, feeding: feeds.has(waveId), ...progress, clock, deadlineRule: wave.manifest.regulatory?.rule ?? null });
      },
    },
    'POST /v1/waves/:id/dry-run': {
      auth: 'operator',
      schema: {
        summary: 'What the wave would do, read from its accounts without sending or queueing anything; recorded as the dry run an approval needs',
        tags: ['waves'], params: WAVE_PARAMS,
        querystring: {
          type: 'object', additionalProperties: false,
          properties: {
            smsRate: { type: 'number', exclusiveMinimum: 0, maximum: 10000, description: 'SMS pace for the estimate when the SMS sender has none stored or planned (default BW_SMS_RATE)' },
            emailRate: { type: 'number', exclusiveMinimum: 0, maximum: 10000, description: 'email pace for the estimate when the SMTP relay has none stored or planned (default BW_EMAIL_RATE)' },
            startAt: { type: 'string', maxLength: 64, description: 'when the sends would start, for the quiet-hours deferrals (default now)' },
          },
        },
        response: { 200: OBJECT, ...errors(400, 404, 409) },
      },
      handler: async (req) => {
        const waveId = waveIdOf(req);
        const smsGiven = Number(req.query.get('smsRate') ?? '');
        const emailGiven = Number(req.query.get('emailRate') ?? '');
        const sms = smsGiven || config.notifier.smsRate;
        const email = emailGiven || config.notifier.emailRate;
        const start = req.query.get('startAt');
        const startAt = start ? new Date(start) : undefined;
        if (startAt && Number.isNaN(startAt.getTime())) throw new BreachwaveError('BW_INPUT_INVALID', { detail: 'startAt must be an ISO 8601 time' });
        return ok(await dryRunAndRecord(ledger, waveId, actorOf(req), {
          fallback: { ...(sms ? { sms } : {}), ...(email ? { email } : {}) },
          fallbackFrom: { sms: smsGiven ? 'smsRate' : 'BW_SMS_RATE', email: emailGiven ? 'emailRate' : 'BW_EMAIL_RATE' },
          pacing: { redis, prefix: config.prefix, senders },
          envelope,
          ...(startAt ? { startAt } : {}),
        }));
      },
    },
    'POST /v1/waves/:id/approve': {
      auth: 'approver',
      schema: {
        summary: 'Approve a wave after its dry run, as someone other than its creator (two-person rule)',
        tags: ['waves'], params: WAVE_PARAMS, body: APPROVE_BODY, response: { 200: CONTROL_RESULT, ...errors(400, 404, 409) },
      },
      handler: control('approve'),
    },
    'POST /v1/waves/:id/start': {
      auth: 'operator',
      schema: {
        summary: 'Feed an approved wave from this process, in the background (202); resumable from its checkpoint',
        tags: ['waves'], params: WAVE_PARAMS,
        response: { 202: { type: 'object', properties: { waveId: { type: 'string' }, feeding: { type: 'boolean' } } }, 200: OBJECT, ...errors(400, 404, 409) },
      },
      handler: start,
    },
    'POST /v1/waves/:id/pause': {
      auth: 'operator',
      schema: { summary: 'Pause a running wave: nothing new is fed or started; sends in flight finish', tags: ['waves'], params: WAVE_PARAMS, body: REASON_BODY, response: { 200: CONTROL_RESULT, ...errors(400, 404, 409) } },
      handler: control('pause'),
    },
    'POST /v1/waves/:id/resume': {
      auth: 'operator',
      schema: { summary: 'Resume a paused wave', tags: ['waves'], params: WAVE_PARAMS, body: REASON_BODY, response: { 200: CONTROL_RESULT, ...errors(400, 404, 409) } },
      handler: control('resume'),
    },
    'POST /v1/waves/:id/cancel': {
      auth: 'operator',
      schema: {
        summary: 'Cancel a wave for good: the feed stops, queued accounts nothing was done to end cancelled, accounts under way finish',
        tags: ['waves'], params: WAVE_PARAMS, body: REASON_BODY, response: { 200: CONTROL_RESULT, ...errors(400, 404, 409) },
      },
      handler: control('cancel'),
    },
    'GET /v1/waves/:id/report': {
      auth: 'viewer',
      schema: {
        summary: 'Every account\'s outcome (csv, jsonl) or the wave\'s summary (md, html): ids, states, error codes and times only',
        tags: ['waves'], params: WAVE_PARAMS,
        querystring: { type: 'object', additionalProperties: false, properties: { format: { type: 'string', enum: [...REPORT_FORMATS], default: 'csv' } } },
        response: { 200: { type: 'string', description: 'the report, streamed a page of accounts at a time' }, ...errors(400, 404) },
      },
      handler: async (req) => {
        const format = (req.query.get('format') ?? 'csv') as ReportFormat;
        const report = await openWaveReport({ ledger, waveId: waveIdOf(req), format });
        const stream = Readable.from(report.chunks);
        stream.on('error', (err) => req.log.error({ err }, 'report failed while streaming'));
        return {
          status: 200,
          headers: {
            'Content-Type': REPORT_TYPES[format],
            ...(format === 'html' ? { 'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'" } : {}),
          },
          stream,
        };
      },
    },
    'POST /v1/waves/:id/accounts': {
      auth: 'operator',
      schema: {
        summary: 'Add the rows of another uploaded file (the fixed rows of a rejects report, say) to a wave not yet completed or cancelled, as breachwave wave add does; ids already in the wave are rejected; then start the wave to feed them',
        tags: ['waves'], params: WAVE_PARAMS, body: UPLOAD_BODY,
        response: { 200: OBJECT, ...errors(400, 404, 409) },
      },
      handler: async (req) => {
        const waveId = waveIdOf(req);
        const actor = actorOf(req);
        const body = req.parsedBody as { upload: string } | undefined;
        if (!body) throw new BreachwaveError('BW_INPUT_INVALID', { detail: 'a JSON body { upload } is needed' });
        const file = await uploadPath(config.dataDir, body.upload);
        const added = await addToWave({ redis, prefix: config.prefix, ledger, waveId, file, envelope, log: req.log, actor, contactKey: hmacKey });
        // The file held contact points in clear; the wave's spool holds them sealed.
        await removeUpload(config.dataDir, body.upload);
        req.log.info({ waveId, accepted: added.ingest.accepted, rejected: added.ingest.rejected, actor }, 'accounts added');
        // The rejects report's path is this server's business; GET /v1/waves/:id/rejects serves the wave's.
        return ok({ waveId, status: added.status, stats: added.stats, ingest: added.ingest });
      },
    },
    'POST /v1/waves/:id/recover': {
      auth: 'operator',
      schema: {
        summary: 'Find the wave\'s accounts that are not terminal and that no live job will finish, and re-drive them (dead-lettering one re-driven too often), as breachwave wave recover does; dryRun only counts them',
        tags: ['waves'], params: WAVE_PARAMS,
        body: { type: 'object', additionalProperties: false, properties: { dryRun: { type: 'boolean', default: false, description: 'only say what would be done' } } },
        response: { 200: OBJECT, ...errors(400, 404) },
      },
      handler: async (req) => {
        const dryRun = (req.parsedBody as { dryRun?: boolean } | undefined)?.dryRun === true;
        const actor = actorOf(req);
        return ok(await recoverWave({ ledger, connection: redis, prefix: config.prefix, shards: config.shards, log: req.log, actor, workers: config.workers }, waveIdOf(req), { dryRun }));
      },
    },
    'POST /v1/waves/:id/reminders': {
      auth: 'operator',
      schema: {
        summary: 'Create a reminder wave for the wave\'s people whose code is unredeemed and whose enroll-by date is at most days away, as breachwave codes reminders --wave --create does: the reminder lane, the same code; then dry-run, approve and start it like any wave',
        tags: ['waves'], params: WAVE_PARAMS,
        body: { type: 'object', required: ['days'], additionalProperties: false, properties: { days: { type: 'integer', minimum: 0, maximum: 3650, description: 'days before the enroll-by date' } } },
        response: { 201: OBJECT, ...errors(400, 404) },
      },
      handler: async (req) => {
        const waveId = waveIdOf(req);
        const actor = actorOf(req);
        const body = req.parsedBody as { days: number } | undefined;
        if (!body) throw new BreachwaveError('BW_INPUT_INVALID', { detail: 'a JSON body { days } is needed' });
        const store = createCodeStore({ redis, prefix: config.prefix });
        const created = await createReminderWave({
          ledger, sourceWaveId: waveId, accountIds: await reminderAccountIds(store, ledger, waveId, body.days), envelope, dataDir: config.dataDir, log: req.log,
          actor, approvals: options.approvalsRequired ?? 1,
        });
        req.log.info({ waveId: created.waveId, source: waveId, accepted: created.accepted, actor }, 'reminder wave created');
        return ok(created, 201);
      },
    },
    'GET /v1/dead-letters': {
      auth: 'viewer',
      schema: {
        summary: 'Dead letters (actions that failed for good) grouped by action and reason, with counts and waves, as breachwave dlq list does',
        tags: ['dead letters'],
        querystring: { type: 'object', additionalProperties: false, properties: { wave: DLQ_FILTER.wave, action: DLQ_FILTER.action } },
        response: {
          200: { type: 'object', properties: { groups: { type: 'array', items: { type: 'object', properties: { action: { type: 'string' }, reason: { type: 'string' }, count: { type: 'integer' }, waves: { type: 'array', items: { type: 'string' } } } } } } },
          ...errors(400, 404),
        },
      },
      handler: async (req) => withDeadLetters(async (d) => ok({ groups: await d.list(selectorOf(req)) })),
    },
    'GET /v1/dead-letters/letters': {
      auth: 'viewer',
      schema: {
        summary: 'The dead letters themselves: wave, account id, action, reason, attempts, time (ids only), as breachwave dlq show does',
        tags: ['dead letters'],
        querystring: {
          type: 'object', additionalProperties: false,
          properties: { ...DLQ_FILTER, limit: { type: 'integer', minimum: 1, maximum: 10_000, default: 50 } },
        },
        response: { 200: { type: 'object', properties: { letters: { type: 'array', items: DEAD_LETTER } } }, ...errors(400, 404) },
      },
      handler: async (req) => {
        const limit = Number(req.query.get('limit') ?? '50');
        return withDeadLetters(async (d) => ok({ letters: (await d.show(selectorOf(req), limit)).map((l) => ({ ...l, at: l.at ?? null })) }));
      },
    },
    'POST /v1/dead-letters/retry': {
      auth: 'operator',
      schema: {
        summary: 'Re-drive the dead letters of one reason, after fixing its cause, as breachwave dlq retry does; audited',
        tags: ['dead letters'],
        body: { type: 'object', required: ['reason'], additionalProperties: false, properties: DLQ_FILTER },
        response: { 200: { type: 'object', properties: { retried: { type: 'integer' }, expired: { type: 'integer', description: 'could not be re-driven: the account\'s contact record expired' } } }, ...errors(400, 404) },
      },
      handler: async (req) => {
        const body = req.parsedBody as { reason: string; wave?: string; action?: ActionName } | undefined;
        if (!body) throw new BreachwaveError('BW_INPUT_INVALID', { detail: 'a JSON body { reason } is needed' });
        const actor = actorOf(req);
        const sel: Selector = { reason: body.reason, ...(body.wave ? { waveId: body.wave } : {}), ...(body.action ? { action: body.action } : {}) };
        if (sel.waveId) await ledger.getWave(sel.waveId);
        return withDeadLetters(async (d) => ok(await d.retry({ ...sel, reason: body.reason }, actor)));
      },
    },
    'GET /v1/senders/:id/pace': {
      auth: 'viewer',
      schema: {
        summary: 'A sender\'s stored pace (messages/s); null: none stored, the notifiers\' configured default applies',
        tags: ['senders'], params: SENDER_PARAMS,
        response: { 200: { type: 'object', properties: { sender: { type: 'string' }, rate: { type: ['number', 'null'] } } }, ...errors(400) },
      },
      handler: async (req) => ok(await showSenderPace({ redis, prefix: config.prefix }, req.params.id ?? '')),
    },
    'PUT /v1/senders/:id/pace': {
      auth: 'operator',
      schema: {
        summary: 'Set a sender\'s pace (messages/s), shared by every notifier; they follow within a fraction of a second',
        tags: ['senders'],
        params: SENDER_PARAMS,
        body: { type: 'object', required: ['rate'], additionalProperties: false, properties: { rate: { type: 'number', exclusiveMinimum: 0, maximum: MAX_PACE } } },
        response: { 200: { type: 'object', properties: { sender: { type: 'string' }, from: { type: ['number', 'null'] }, rate: { type: 'number' } } }, ...errors(400) },
      },
      handler: async (req) => {
        const body = req.parsedBody as { rate: number } | undefined;
        if (!body) throw new BreachwaveError('BW_INPUT_INVALID', { detail: 'a JSON body { rate } is needed' });
        return ok(await setSenderPace({ redis, prefix: config.prefix, ledger }, req.params.id ?? '', body.rate, actorOf(req)));
      },
    },
  };

  let closing: Promise<void> | undefined;
  return {
    routes,
    close: () => {
      closing ??= (async () => {
        for (const f of feeds.values()) f.controller.abort();
        await Promise.allSettled([...feeds.values()].map((f) => f.done));
        await closeRedis(redis);
      })();
      return closing;
    },
  };
}
