import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { API_ROLES, type ApiRole } from '@breachwave/access';
import { BreachwaveError, type ErrorCode } from '@breachwave/domain';
import type { Logger } from '@breachwave/logging';

/** Form fields; a repeated name keeps every value. */
export type FormFields = Record<string, string | string[]>;

/** A request as handlers see it: the body is already read (size-capped). */
export interface OpsRequest {
  readonly method: string;
  /** Path without the query string. */
  readonly path: string;
  readonly query: URLSearchParams;
  /** The URL the client called, as the world sees it (public base + path + query as received): what Twilio signs. */
  readonly publicUrl: string;
  readonly headers: IncomingHttpHeaders;
  /** Media type without parameters, lower case; `''` when absent. */
  readonly contentType: string;
  readonly body: Buffer;
  /** Path parameters of the route template (`/v1/waves/:id` → `{ id }`), already validated by the route's schema. */
  readonly params: Readonly<Record<string, string>>;
  /** The body as validated by the route's `schema.body` (JSON routes with a schema only). */
  readonly parsedBody?: unknown;
  /** A child logger for this request (request id, route). */
  readonly log: Logger;
  /** The connection's source address (behind a reverse proxy: the proxy's). */
  readonly remoteAddress: string;
  /**
   * On API-role routes: who acts, the name of the API token (or, with the shared `BW_OPS_TOKEN`,
   * the `X-Breachwave-Operator` header, checked `[A-Za-z0-9._-]{1,64}`). Audited as `operator:<name>`.
   */
  readonly operator?: string;
  /** The role of the caller's API token (`operator` for the shared `BW_OPS_TOKEN`). */
  readonly role?: ApiRole;
  /**
   * On `browser` routes called with the login session cookie: the session's CSRF token, for the
   * forms the page renders (a POST's `csrf` field has been checked against it before the handler runs).
   */
  readonly session?: { readonly csrf: string };
  /**
   * On `upload` routes: the request body as it arrives, not read by the server (`body` is empty).
   * The handler streams it where it goes and enforces its own size limit.
   */
  readonly upload?: Readable;
  /** The service's OpenAPI 3 document, generated from the route schemas. */
  openapi(): unknown;
  /**
   * The body as form fields (`application/x-www-form-urlencoded` or `multipart/form-data` text fields).
   * @throws BreachwaveError BW_HTTP_UNSUPPORTED_MEDIA_TYPE for another content type.
   */
  form(): FormFields;
  /**
   * The body as JSON.
   * @throws BreachwaveError BW_HTTP_UNSUPPORTED_MEDIA_TYPE | BW_INPUT_INVALID
   */
  json(): unknown;
}

/** What a handler answers. `json` is serialised; otherwise `body` (or `stream`) is sent as is. */
export interface OpsResponse {
  readonly status: number;
  readonly headers?: Readonly<Record<string, string>>;
  readonly body?: string | Buffer;
  readonly json?: unknown;
  /** A body produced while it is sent (a report of a large wave, a page at a time). */
  readonly stream?: Readable;
}

export type OpsHandler = (req: OpsRequest) => Promise<OpsResponse>;

/**
 * Who may call a route. Every route names one, so none is open by omission:
 * - `public`: no credential — only `GET /healthz` and `GET /readyz` may be public;
 * - `viewer`, `operator`, `approver`, `admin`: an API token of that role (see `@breachwave/access`:
 *   each role allows what the ones before it allow, but only `approver` approves), named, its name
 *   the operator in the audit trail. The shared `BW_OPS_TOKEN` counts as an `operator` token whose
 *   holder names themselves in `X-Breachwave-Operator`;
 * - `pin-verify`: `Authorization: Bearer <BW_PIN_VERIFY_TOKEN>` (care agents, the IVR);
 * - `metrics`: `Authorization: Bearer <BW_METRICS_TOKEN>` (the Prometheus scraper);
 * - `twilio-signature`, `unsubscribe-token`: built-in routes whose handler checks the request's
 *   own credential (`X-Twilio-Signature`; the signed token in the link);
 * - `login`: the built-in browser login (`GET`/`POST /login`), whose handler checks the API token
 *   posted in its form.
 * A missing or unknown token gets 401; a known token without the role, 403.
 */
export type OpsAuth = 'public' | ApiRole | 'pin-verify' | 'metrics' | 'twilio-signature' | 'unsubscribe-token' | 'login';

/** Roles a bearer token stands for, and so the ones a mounted route may use. */
export const TOKEN_ROLES = [...API_ROLES, 'pin-verify', 'metrics'] as const satisfies readonly OpsAuth[];
export type TokenRole = (typeof TOKEN_ROLES)[number];

/** Header naming the operator when the shared `BW_OPS_TOKEN` is used, for the audit trail. */
export const OPERATOR_HEADER = 'x-breachwave-operator';

/** A route and who may call it. */
export interface OpsRoute {
  readonly handler: OpsHandler;
  readonly auth: OpsAuth;
  /**
   * JSON Schemas of `params`, `querystring`, `body` and `response` (plus `summary`, `description`,
   * `tags`): requests are validated against them (400 `BW_INPUT_INVALID`), and they make the
   * route's part of the OpenAPI document.
   */
  readonly schema?: Readonly<Record<string, unknown>>;
  /**
   * A page for a browser (API-role routes only): the login session cookie is taken in place of a
   * bearer token, a `GET` without a valid credential is sent to the login page, and any other
   * method called with the session must carry the session's CSRF token in its form field `csrf`.
   */
  readonly browser?: boolean;
  /**
   * A file upload: the body is handed to the handler as a stream (`OpsRequest.upload`), neither
   * buffered nor capped by `BW_OPS_MAX_BODY_BYTES`; the handler caps it.
   */
  readonly upload?: boolean;
}

/** HTTP status for each code that has its own; other codes map by kind (see {@link statusFor}). */
const STATUS_BY_CODE: Partial<Record<ErrorCode, number>> = {
  BW_WEBHOOK_SIGNATURE_INVALID: 403,
  BW_UNSUBSCRIBE_TOKEN_INVALID: 403,
  BW_UNSUBSCRIBE_TOKEN_EXPIRED: 410,
  BW_DELIVERY_UNMATCHED: 404,
  BW_WAVE_NOT_FOUND: 404,
  BW_HTTP_NOT_FOUND: 404,
  BW_HTTP_METHOD_NOT_ALLOWED: 405,
  BW_HTTP_BODY_TOO_LARGE: 413,
  BW_HTTP_UNSUPPORTED_MEDIA_TYPE: 415,
  BW_HTTP_UNAUTHORIZED: 401,
  BW_HTTP_FORBIDDEN: 403,
  BW_TOKEN_NAME_TAKEN: 409,
  BW_TOKEN_NOT_FOUND: 404,
  BW_UPLOAD_NOT_FOUND: 404,
  BW_SOURCE_REUSED: 409,
  BW_WAVE_STATE: 409,
  BW_APPROVAL_REFUSED: 409,
  BW_WAVE_BUSY: 409,
  BW_PIN_VERIFY_UNAUTHORIZED: 401,
  BW_PIN_LOCKED: 423,
};

/** The HTTP status a catalog error answers with. */
export function statusFor(err: BreachwaveError): number {
  const byCode = STATUS_BY_CODE[err.code];
  if (byCode) return byCode;
  switch (err.kind) {
    case 'invalid-input':
      return 400;
    case 'permanent':
      return 422;
    case 'throttled':
      return 429;
    case 'config':
    case 'transient':
    case 'ambiguous':
      return 503;
  }
}

/** `{ error: { code, message } }`; the message is the catalog text plus detail, which never carries contact data. */
export function errorBody(err: BreachwaveError): { error: { code: ErrorCode; message: string } } {
  return { error: { code: err.code, message: err.message } };
}

/** Headers on every answer. */
export const COMMON_HEADERS = {
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
  // Unsubscribe URLs carry a token: never hand it to another site in a Referer.
  'Referrer-Policy': 'no-referrer',
} as const;

/** The media type of a Content-Type header, lower case, without parameters. */
export function mediaType(header: string | undefined): string {
  return (header ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

/** Parses a form body; repeated names collect every value. */
export function parseUrlEncoded(text: string): FormFields {
  const out: FormFields = {};
  for (const [name, value] of new URLSearchParams(text)) add(out, name, value);
  return out;
}

function add(out: FormFields, name: string, value: string): void {
  const prev = out[name];
  if (prev === undefined) out[name] = value;
  else if (Array.isArray(prev)) prev.push(value);
  else out[name] = [prev, value];
}

/**
 * Text fields of a `multipart/form-data` body (RFC 7578) — enough for RFC 8058's
 * `List-Unsubscribe=One-Click`, which mail providers SHOULD send this way. File parts are skipped.
 * @throws BreachwaveError BW_INPUT_INVALID when the boundary is missing.
 */
export function parseMultipart(body: Buffer, contentTypeHeader: string): FormFields {
  const boundary = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentTypeHeader);
  const b = boundary?.[1] ?? boundary?.[2];
  if (!b) throw new BreachwaveError('BW_INPUT_INVALID', { detail: 'multipart body without a boundary' });
  const out: FormFields = {};
  const parts = body.toString('utf8').split(`--${b}`);
  for (const part of parts.slice(1)) {
    if (part.startsWith('--')) break;
    const split = part.indexOf('\r\n\r\n');
    if (split < 0) continue;
    const head = part.slice(0, split);
    const disposition = /content-disposition:\s*form-data;([^\r\n]*)/i.exec(head)?.[1] ?? '';
    const name = /\bname="([^"]*)"/i.exec(disposition)?.[1];
    if (name === undefined || /\bfilename=/i.test(disposition)) continue;
    add(out, name, part.slice(split + 4).replace(/\r\n$/, ''));
  }
  return out;
}

/** The first value of a form field. */
export function field(fields: FormFields, name: string): string | undefined {
  const v = fields[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Escapes text for HTML content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}
