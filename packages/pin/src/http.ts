import { createHash, timingSafeEqual } from 'node:crypto';
import type http from 'node:http';
import { z } from 'zod';
import { WAVE_ID_PATTERN, isBreachwaveError, MIN_PIN_LENGTH, MAX_PIN_LENGTH } from '@breachwave/domain';
import type { Logger } from '@breachwave/logging';
import type { PinVerificationService } from './verify.js';

/** Where the handler answers unless told otherwise. */
export const PIN_VERIFY_PATH = '/v1/pins/verify';

/** Dependencies of {@link createPinVerificationHandler}. */
export interface PinVerificationHandlerDeps {
  readonly service: Pick<PinVerificationService, 'verify'>;
  /** Bearer token callers must present (`BW_PIN_VERIFY_TOKEN`); unset: every request gets 401. */
  readonly token: string | undefined;
  readonly log: Logger;
  /** Audit actor for verifications through this endpoint. Default `pin-verify-api`. */
  readonly actor?: string;
  /** Default {@link PIN_VERIFY_PATH}. */
  readonly path?: string;
  /** Largest body read. Default 4 KiB. */
  readonly maxBodyBytes?: number;
}

const bodySchema = z.object({
  waveId: z.string().regex(WAVE_ID_PATTERN).optional(),
  accountId: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/),
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

/**
 * The endpoint's logic on an already-read body: bearer check, validation, verification. HTTP
 * errors come back as answers (4xx with `{ error: { code, message } }`); Redis failures throw.
 */
export async function answerPinVerification(deps: Omit<PinVerificationHandlerDeps, 'path' | 'maxBodyBytes'>, authorization: string | undefined, raw: string): Promise<PinVerificationAnswer> {
  const actor = deps.actor ?? 'pin-verify-api';
  try {
    if (!deps.token || !tokenMatches(authorization, deps.token)) {
      return { status: 401, json: { error: { code: 'BW_PIN_VERIFY_UNAUTHORIZED', message: 'missing or invalid bearer token' } }, headers: { 'www-authenticate': 'Bearer' } };
    }
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      throw new HttpError(400, 'BW_INPUT_INVALID', 'body must be JSON');
    }
    const parsed = bodySchema.safeParse(json);
    if (!parsed.success) {
      const fields = [...new Set(parsed.error.issues.map((i) => (i.code === 'unrecognized_keys' ? i.keys.join(', ') : i.path.join('.') || '(body)')))];
      const pinBad = parsed.error.issues.some((i) => i.path[0] === 'pin');
      throw new HttpError(400, 'BW_INPUT_INVALID', `invalid ${fields.join(', ')}${pinBad ? ` (pin must be ${MIN_PIN_LENGTH}–${MAX_PIN_LENGTH} digits)` : ''}`);
    }
    const { accountId, pin, waveId } = parsed.data;
    const result = await deps.service.verify({ accountId, pin, actor, ...(waveId ? { waveId } : {}) });
    deps.log.info({ account: accountId, verified: result.verified, locked: result.locked }, 'PIN verification');
    return { status: result.locked ? 423 : 200, json: result, headers: {} };
  } catch (err) {
    if (err instanceof HttpError) return { status: err.status, json: { error: { code: err.code, message: err.message } }, headers: {} };
    throw err;
  }
}

/**
 * `POST /v1/pins/verify` for care agents and the IVR, framework-free so any `node:http` server can
 * mount it. Request: `Authorization: Bearer <token>`, JSON `{ "waveId"?, "accountId", "pin" }`.
 * Answers:
 * - 200 `{ verified, locked: false, remainingAttempts }`;
 * - 423 `{ verified: false, locked: true, remainingAttempts: 0 }` when the account is locked
 *   (before this attempt, or by it);
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
      const answer = await answerPinVerification(deps, req.headers.authorization, raw);
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
