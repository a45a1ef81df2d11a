import { createHash, timingSafeEqual } from 'node:crypto';
import type http from 'node:http';
import { z } from 'zod';
import { BreachwaveError, WAVE_ID_PATTERN, isBreachwaveError, MIN_PIN_LENGTH, MAX_PIN_LENGTH, type ErrorCode } from '@breachwave/domain';
import type { Logger } from '@breachwave/logging';
import type { ClientRateLimiter } from './rate-limit.js';
import type { PinVerificationService, VerifyResult } from './verify.js';

/** Where the handler answers unless told otherwise. */
export const PIN_VERIFY_PATH = '/v1/pins/verify';
/** Where the ops-api mounts the operator's unlock. */
export const PIN_UNLOCK_PATH = '/v1/pins/unlock';

/** Dependencies of {@link createPinVerificationHandler}. */
export interface PinVerificationHandlerDeps {
  readonly service: Pick<PinVerificationService, 'verify'>;
  /** Bearer token callers must present (`BW_PIN_VERIFY_TOKEN`); unset: every request gets 401. */
  readonly token: string | undefined;
  readonly log: Logger;
  /** Per-client limit (token and source address) checked before any account is looked at. Default none. */
  readonly rateLimiter?: ClientRateLimiter;
  /** Told how each checked try ended (`unknown` included), e.g. to count it in a metric. */
  readonly onOutcome?: (outcome: VerifyResult['outcome']) => void;
  /** Audit actor for verifications through this endpoint. Default `pin-verify-api`. */
  readonly actor?: string;
  /** Default {@link PIN_VERIFY_PATH}. */
  readonly path?: string;
  /** Largest body read. Default 4 KiB. */
  readonly maxBodyBytes?: number;
}

const ACCOUNT_ID = /^[A-Za-z0-9_-]{1,64}$/;

const bodySchema = z.object({
  waveId: z.string().regex(WAVE_ID_PATTERN).optional(),
  accountId: z.string().regex(ACCOUNT_ID),
  pin: z.string().regex(new RegExp(`^\\d{${MIN_PIN_LENGTH},${MAX_PIN_LENGTH}}$`)),
}).strict();

class HttpError extends Error {
  constructor(readonly status: number, readonly code: string, message: string) {
    super(message);
  }
}

function send(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

function tokenMatches(header: string | undefined, token: string): boolean {
  // Hash both sides so the comparison is constant-time whatever the lengths.
  const given = createHash('sha256').update(header ?? '').digest();
  const want = createHash('sha256').update(`Bearer ${token}`).digest();
  return timingSafeEqual(given, want);
}

async function readBody(req: http.IncomingMessage, limit: number): Promise<string> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) throw new HttpError(413, 'BW_INPUT_INVALID', `body larger than ${limit} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > limit) throw new HttpError(413, 'BW_INPUT_INVALID', `body larger than ${limit} bytes`);
    chunks.push(buf);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** A verification answer, for servers that read the body themselves (the ops-api). */
export interface PinVerificationAnswer {
  readonly status: number;
  readonly json: unknown;
  readonly headers: Record<string, string>;
}

function refusal(status: number, code: ErrorCode, retryAfterMs: number): PinVerificationAnswer {
  const seconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
  const error = new BreachwaveError(code);
  return { status, json: { error: { code, message: error.message }, retryAfterSeconds: seconds }, headers: { 'retry-after': String(seconds) } };
}

function parseJson(raw: string): unknown {
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    throw new HttpError(400, 'BW_INPUT_INVALID', 'body must be JSON');
  }
}

/**
 * The endpoint's logic on an already-read body: bearer check, per-client limit, validation,
 * verification. HTTP errors come back as answers (4xx with `{ error: { code, message } }`);
 * Redis failures throw. A made-up account gets exactly the answer a wrong PIN gets.
 * @param client the connection's source address, for the per-client limit.
 */
export async function answerPinVerification(deps: Omit<PinVerificationHandlerDeps, 'path' | 'maxBodyBytes'>, authorization: string | undefined, raw: string, client: { readonly address?: string } = {}): Promise<PinVerificationAnswer> {
  const actor = deps.actor ?? 'pin-verify-api';
  try {
    if (!deps.token || !tokenMatches(authorization, deps.token)) {
      return { status: 401, json: { error: { code: 'BW_PIN_VERIFY_UNAUTHORIZED', message: 'missing or invalid bearer token' } }, headers: { 'www-authenticate': 'Bearer' } };
    }
    if (deps.rateLimiter) {
      const decision = await deps.rateLimiter.take({ token: deps.token, address: client.address ?? '' });
      if (!decision.allowed) return refusal(429, 'BW_RATE_LIMITED', decision.retryAfterMs);
    }
    const parsed = bodySchema.safeParse(parseJson(raw));
    if (!parsed.success) {
      const fields = [...new Set(parsed.error.issues.map((i) => (i.code === 'unrecognized_keys' ? i.keys.join(', ') : i.path.join('.') || '(body)')))];
      const pinBad = parsed.error.issues.some((i) => i.path[0] === 'pin');
      throw new HttpError(400, 'BW_INPUT_INVALID', `invalid ${fields.join(', ')}${pinBad ? ` (pin must be ${MIN_PIN_LENGTH}–${MAX_PIN_LENGTH} digits)` : ''}`);
    }
    const { accountId, pin, waveId } = parsed.data;
    const result = await deps.service.verify({ accountId, pin, actor, ...(waveId ? { waveId } : {}) });
    deps.onOutcome?.(result.outcome);
    deps.log.info({ account: accountId, outcome: result.outcome }, 'PIN verification');
    switch (result.outcome) {
      case 'throttled':
        return refusal(429, 'BW_PIN_THROTTLED', result.retryAfterMs ?? 1000);
      case 'locked':
        return refusal(423, 'BW_PIN_LOCKED', result.retryAfterMs ?? 1000);
      default:
        return { status: 200, json: { verified: result.verified }, headers: {} };
    }
  } catch (err) {
    if (err instanceof HttpError) return { status: err.status, json: { error: { code: err.code, message: err.message } }, headers: {} };
    throw err;
  }
}

/**
 * The operator's unlock on an already-read body `{ "accountId" }`: clears the account's
 * verification throttle, audited with `actor`. The caller has authenticated the operator.
 * Answers 200 `{ accountId, cleared }` or 400 naming the bad field.
 */
export async function answerPinUnlock(deps: { readonly unlock: PinVerificationService['unlock']; readonly log: Logger }, actor: string, raw: string): Promise<PinVerificationAnswer> {
  try {
    const parsed = z.object({ accountId: z.string().regex(ACCOUNT_ID) }).strict().safeParse(parseJson(raw));
    if (!parsed.success) throw new HttpError(400, 'BW_INPUT_INVALID', 'the body must be { "accountId": "..." }');
    const { accountId } = parsed.data;
    const { cleared } = await deps.unlock(accountId, actor);
    deps.log.info({ account: accountId, actor, cleared }, 'PIN verification unlocked');
    return { status: 200, json: { accountId, cleared }, headers: {} };
  } catch (err) {
    if (err instanceof HttpError) return { status: err.status, json: { error: { code: err.code, message: err.message } }, headers: {} };
    throw err;
  }
}

/**
 * `POST /v1/pins/verify` for care agents and the IVR, framework-free so any `node:http` server can
 * mount it. Request: `Authorization: Bearer <token>`, JSON `{ "waveId"?, "accountId", "pin" }`.
 * Answers:
 * - 200 `{ verified }` — `false` alike for a wrong PIN and an account without a PIN;
 * - 429 `BW_PIN_THROTTLED` with `Retry-After` (and `retryAfterSeconds`) while the account waits
 *   after consecutive failures: the try was not checked and does not count;
 * - 423 `BW_PIN_LOCKED` with `Retry-After` when the account reached its failure cap in the window;
 * - 429 `BW_RATE_LIMITED` with `Retry-After` when this client (token and source address) asked
 *   too often;
 * - 400 with `{ error: { code, message } }` naming the bad field (never echoing its value);
 * - 401 without a valid token, 404 for another path, 405 for another method, 413 for a large body,
 *   503 when Redis cannot be reached.
 * The handler reads the request body itself: mount it before any body parser.
 */
export function createPinVerificationHandler(deps: PinVerificationHandlerDeps): (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void> {
  const path = deps.path ?? PIN_VERIFY_PATH;
  const limit = deps.maxBodyBytes ?? 4096;
  return async function handlePinVerification(req, res) {
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (url.pathname !== path) throw new HttpError(404, 'BW_INPUT_INVALID', 'not found');
      if (req.method !== 'POST') {
        res.setHeader('allow', 'POST');
        throw new HttpError(405, 'BW_INPUT_INVALID', 'use POST');
      }
      const raw = await readBody(req, limit);
      const answer = await answerPinVerification(deps, req.headers.authorization, raw, { address: req.socket.remoteAddress ?? '' });
      send(res, answer.status, answer.json, answer.headers);
    } catch (err) {
      if (err instanceof HttpError) {
        send(res, err.status, { error: { code: err.code, message: err.message } });
        return;
      }
      const code = isBreachwaveError(err) ? err.code : 'BW_REDIS_UNREACHABLE';
      deps.log.error({ err }, 'PIN verification failed');
      if (!res.headersSent) send(res, 503, { error: { code, message: 'verification is unavailable; try again' } });
      else res.destroy();
    }
  };
}
