import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BreachwaveConfig } from '@breachwave/config';
import { BreachwaveError, type ErrorCode } from '@breachwave/domain';
import type { Logger } from '@breachwave/logging';
import { checkHmacKey, checkRedis, closeRedis, createRedis, type Redis } from '@breachwave/redis';
import { mapTwilioErrorCode } from '@breachwave/adapter-twilio';
import {
  createDeliveryTracker, createSuppressionList, unsubscribeKey, type DeliveryTrackerDeps, type KeywordIntent,
} from '@breachwave/suppression';
import {
  OPERATOR_HEADER, TOKEN_ROLES, errorBody, mediaType, parseMultipart, parseUrlEncoded, readBody, send, statusFor,
  type OpsAuth, type OpsRequest, type OpsResponse, type OpsRoute, type TokenRole,
} from './http.js';
import { createOpsMetrics, type OpsMetrics } from './metrics.js';
import { createRoutes } from './routes.js';

export type { FormFields, OpsAuth, OpsHandler, OpsRequest, OpsResponse, OpsRoute, TokenRole } from './http.js';
export { OPERATOR_HEADER, TOKEN_ROLES } from './http.js';
export { INBOUND_SMS_PATH } from './routes.js';

/** A mounted route: a token role and a handler. */
export interface MountedRoute extends OpsRoute {
  readonly auth: TokenRole;
}

export interface OpsApiOverrides {
  /**
   * Extra routes, keyed `METHOD /path` (e.g. `'POST /v1/pins/verify'`), each with the token role
   * that may call it (`operator`, `pin-verify` or `metrics`): a mounted route cannot be public.
   * Handlers get the size-capped body and throw `BreachwaveError`s, which become
   * `{ error: { code, message } }`. A key that collides with a built-in route is refused at start.
   */
  readonly routes?: Readonly<Record<string, MountedRoute>>;
  /** More counters for `/metrics` (those of mounted routes). */
  readonly metrics?: readonly { render(): string }[];
  /** Connects the channel fallback: called once per notice after a permanent undelivered/failed status. */
  readonly onPermanentUndelivered?: DeliveryTrackerDeps['onPermanentUndelivered'];
  /** Twilio ErrorCode → catalog code. Default: the Twilio adapter's `mapTwilioErrorCode`. */
  readonly classifyErrorCode?: (code: number) => ErrorCode | undefined;
  /**
   * TwiML replies to inbound keywords. Default none: Twilio's standard opt-out handling answers
   * STOP/START/HELP itself. Set them when Advanced Opt-Out has its auto-replies turned off.
   */
  readonly inboundReplies?: Readonly<Partial<Record<KeywordIntent, string>>>;
  /** Override `config.ops` (tests listen on port 0). */
  readonly host?: string;
  readonly port?: number;
  readonly publicUrl?: string;
  readonly now?: () => Date;
}

export interface RunningOpsApi {
  /** Where it listens, e.g. `http://127.0.0.1:8080`. */
  readonly url: string;
  /** The base URL webhook signatures are checked against (`BW_PUBLIC_URL`, else {@link url}). */
  readonly publicUrl: string;
  readonly metrics: OpsMetrics;
  /** Every route it serves and who may call it, built-in and mounted: what an auth test walks. */
  readonly routes: readonly { readonly method: string; readonly path: string; readonly auth: OpsAuth }[];
  /** Stops accepting, lets requests in flight finish (up to 5 s), closes Redis. Idempotent. */
  close(): Promise<void>;
}

const ROUTE_KEY = /^(GET|POST|PUT|PATCH|DELETE) \/[^\s?#]*$/;

function sameSecret(given: string, expected: string): boolean {
  // Digests first: equal lengths for timingSafeEqual, and the token's length does not leak.
  return timingSafeEqual(createHash('sha256').update(given).digest(), createHash('sha256').update(expected).digest());
}

/** The only routes that answer without a credential: orchestrators probe them unauthenticated. */
const PUBLIC_ROUTES = new Set(['GET /healthz', 'GET /readyz']);
const OPERATOR_NAME = /^[A-Za-z0-9._-]{1,64}$/;

/** True for an address only this host can reach. */
export function isLoopback(address: string): boolean {
  return address === 'localhost' || address === '::1' || /^(::ffff:)?127\./.test(address);
}

/**
 * Composition root of the ops-api: Twilio inbound SMS and status-callback webhooks, RFC 8058
 * one-click unsubscribe, health, readiness and metrics, plus routes mounted by other packages.
 * Holds no business rules: those live in `@breachwave/suppression`. Every route but `/healthz`
 * and `/readyz` needs a credential: a role's bearer token (see {@link OpsAuth}), a Twilio
 * signature, or a signed unsubscribe token; a missing or wrong token gets 401.
 *
 * Every bad request gets a 4xx `{ error: { code, message } }` without contact data; a handler
 * failure gets a 500 `BW_INTERNAL` and the process keeps serving.
 * @throws BreachwaveError BW_REDIS_UNREACHABLE | BW_REDIS_EVICTION_POLICY | BW_CONFIG_INVALID at start.
 */
export async function runOpsApi(config: BreachwaveConfig, log: Logger, overrides: OpsApiOverrides = {}): Promise<RunningOpsApi> {
  const redis = createRedis({ url: config.redisUrl, role: 'producer', name: 'breachwave-ops-api' });
  try {
    await checkRedis(redis, config.redisUrl);
    return await serve(config, log, overrides, redis);
  } catch (err) {
    await closeRedis(redis);
    throw err;
  }
}

/** Wires the routes and listens; the caller owns `redis` and closes it when this throws. */
async function serve(config: BreachwaveConfig, log: Logger, overrides: OpsApiOverrides, redis: Redis): Promise<RunningOpsApi> {
  const now = overrides.now ?? (() => new Date());
  const hmacKey = Buffer.from(config.hmacKey, 'base64');
  await checkHmacKey(redis, config.prefix, hmacKey);
  const suppression = createSuppressionList({ redis, prefix: config.prefix, hmacKey, actor: 'ops-api', now });
  const metrics = createOpsMetrics();
  const tracker = createDeliveryTracker({
    redis,
    prefix: config.prefix,
    suppression,
    classifyErrorCode: overrides.classifyErrorCode ?? mapTwilioErrorCode,
    ...(overrides.onPermanentUndelivered ? { onPermanentUndelivered: overrides.onPermanentUndelivered } : {}),
    actor: 'ops-api',
    now,
  });
  if (!config.twilio) log.warn('TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN unset: the Twilio webhooks answer 503');

  const routes = new Map<string, OpsRoute>(Object.entries(createRoutes({
    redis,
    suppression,
    tracker,
    unsubscribeKey: unsubscribeKey(hmacKey, config.ops.unsubscribeKey ? Buffer.from(config.ops.unsubscribeKey, 'base64') : undefined),
    ...(config.twilio ? { twilioAuthToken: config.twilio.authToken } : {}),
    metrics,
    ...(overrides.metrics ? { extraMetrics: overrides.metrics } : {}),
    inboundReplies: overrides.inboundReplies ?? {},
    now,
  })));
  for (const [key, route] of Object.entries(overrides.routes ?? {})) {
    if (!ROUTE_KEY.test(key)) throw new BreachwaveError('BW_CONFIG_INVALID', { detail: `route key "${key}" is not "METHOD /path"` });
    if (routes.has(key)) throw new BreachwaveError('BW_CONFIG_INVALID', { detail: `route ${key} is built in` });
    // Checked at run time too: a mounted route's handler checks no credential of its own.
    if (!(TOKEN_ROLES as readonly string[]).includes(route.auth)) {
      throw new BreachwaveError('BW_CONFIG_INVALID', { detail: `mounted route ${key} must name a token role (${TOKEN_ROLES.join(', ')})` });
    }
    routes.set(key, route);
  }
  for (const [key, route] of routes) {
    if (route.auth === 'public' && !PUBLIC_ROUTES.has(key)) throw new BreachwaveError('BW_CONFIG_INVALID', { detail: `route ${key} cannot be public` });
  }
  const tokens: Record<TokenRole, string | undefined> = { operator: config.ops.token, 'pin-verify': config.pin.verifyToken, metrics: config.ops.metricsToken };
  for (const role of TOKEN_ROLES) {
    const users = [...routes].filter(([, r]) => r.auth === role).map(([k]) => k);
    if (users.length > 0 && !tokens[role]) log.warn({ role, routes: users }, 'no token is configured for this role: its routes answer 401');
  }
  const paths = new Map<string, string[]>();
  for (const key of routes.keys()) {
    const [method = '', path = ''] = key.split(' ');
    paths.set(path, [...(paths.get(path) ?? []), method]);
  }

  let publicUrl = '';
  const maxBody = config.ops.maxBodyBytes;

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const method = req.method ?? 'GET';
    const rawUrl = req.url ?? '/';
    const parsed = URL.canParse(rawUrl, 'http://h') ? new URL(rawUrl, 'http://h') : undefined;
    const path = parsed?.pathname ?? '';
    const route = routes.get(`${method} ${path}`);
    // Label by route template only: raw paths would let anyone mint metric series.
    const routeLabel = paths.has(path) ? path : 'unmatched';
    const rlog = log.child({ req: randomBytes(4).toString('hex'), route: routeLabel, method });
    let response: OpsResponse;
    let extra: Record<string, string> = {};
    try {
      if (!parsed) throw new BreachwaveError('BW_INPUT_INVALID', { detail: 'request target is not a URL' });
      if (!route) {
        const allowed = paths.get(path);
        if (allowed) {
          extra = { Allow: allowed.join(', ') };
          throw new BreachwaveError('BW_HTTP_METHOD_NOT_ALLOWED');
        }
        throw new BreachwaveError('BW_HTTP_NOT_FOUND');
      }
      let operator: string | undefined;
      if (route.auth === 'operator' || route.auth === 'pin-verify' || route.auth === 'metrics') {
        const expected = tokens[route.auth];
        const header = req.headers.authorization ?? '';
        const given = header.startsWith('Bearer ') ? header.slice(7) : '';
        if (!expected || !given || !sameSecret(given, expected)) {
          extra = { 'WWW-Authenticate': 'Bearer' };
          throw new BreachwaveError('BW_HTTP_UNAUTHORIZED', { detail: `this route needs the ${route.auth} token` });
        }
        if (route.auth === 'operator') {
          const name = req.headers[OPERATOR_HEADER];
          if (typeof name !== 'string' || !OPERATOR_NAME.test(name)) throw new BreachwaveError('BW_HTTP_OPERATOR_MISSING');
          operator = name;
        }
      }
      const body = await readBody(req, maxBody);
      const contentTypeHeader = req.headers['content-type'] ?? '';
      const contentType = mediaType(contentTypeHeader);
      const opsReq: OpsRequest = {
        method,
        path,
        query: parsed.searchParams,
        publicUrl: `${publicUrl}${rawUrl}`,
        headers: req.headers,
        contentType,
        body,
        log: rlog,
        remoteAddress: req.socket.remoteAddress ?? '',
        ...(operator ? { operator } : {}),
        form() {
          if (contentType === 'application/x-www-form-urlencoded') return parseUrlEncoded(body.toString('utf8'));
          if (contentType === 'multipart/form-data') return parseMultipart(body, contentTypeHeader);
          throw new BreachwaveError('BW_HTTP_UNSUPPORTED_MEDIA_TYPE', { detail: 'expected a form body' });
        },
        json() {
          if (contentType !== 'application/json') throw new BreachwaveError('BW_HTTP_UNSUPPORTED_MEDIA_TYPE', { detail: 'expected application/json' });
          try {
            return JSON.parse(body.toString('utf8')) as unknown;
          } catch {
            throw new BreachwaveError('BW_INPUT_INVALID', { detail: 'body is not valid JSON' });
          }
        },
      };
      response = await route.handler(opsReq);
    } catch (err) {
      if (err instanceof BreachwaveError) {
        const status = statusFor(err);
        if (err.code === 'BW_HTTP_BODY_TOO_LARGE') extra = { ...extra, Connection: 'close' };
        response = { status, json: errorBody(err) };
        if (status >= 500) {
          rlog.error({ err, errorCode: err.code }, 'request failed');
        } else {
          metrics.rejected.inc({ route: routeLabel, code: err.code });
          rlog.info({ errorCode: err.code, status }, 'request refused');
        }
      } else if (res.destroyed || req.socket.destroyed) {
        // Not `req.destroyed`: a request is auto-destroyed once its body has been read.
        rlog.debug({ err }, 'client went away');
        return;
      } else {
        metrics.errors.inc({ route: routeLabel });
        rlog.error({ err }, 'handler failed');
        response = { status: 500, json: errorBody(new BreachwaveError('BW_INTERNAL')) };
      }
    }
    metrics.requests.inc({ route: routeLabel, status: String(response.status) });
    send(res, response, extra);
  };

  const server = http.createServer((req, res) => {
    // handle() answers every failure itself; this catch is for a bug in the answering code.
    handle(req, res).catch((err: unknown) => {
      log.error({ err }, 'unanswered request');
      if (!res.headersSent) send(res, { status: 500, json: errorBody(new BreachwaveError('BW_INTERNAL')) });
    });
  });
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    if (!socket.writable) return;
    const body = JSON.stringify(errorBody(new BreachwaveError('BW_INPUT_INVALID', { detail: 'malformed HTTP request' })));
    socket.end(`HTTP/1.1 400 Bad Request\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    log.debug({ errorCode: err.code }, 'malformed HTTP request');
  });

  const host = overrides.host ?? config.ops.host;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(overrides.port ?? config.ops.port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (cause) {
    throw new BreachwaveError('BW_CONFIG_INVALID', { detail: `ops-api cannot listen on ${host}:${overrides.port ?? config.ops.port}`, cause });
  }
  const address = server.address() as AddressInfo;
  const url = `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
  publicUrl = (overrides.publicUrl ?? config.ops.publicUrl ?? url).replace(/\/+$/, '');
  log.info({ url, publicUrl, twilio: Boolean(config.twilio), routes: [...routes.keys()] }, 'ops-api listening');
  if (!isLoopback(address.address) && !publicUrl.startsWith('https://')) {
    // The API itself speaks plain HTTP: bearer tokens and PINs would cross the network in clear.
    log.warn({ url }, 'ops-api listens beyond loopback without TLS: put a TLS-terminating reverse proxy in front and set BW_PUBLIC_URL to its https:// URL');
  }

  let closed: Promise<void> | undefined;
  return {
    url,
    publicUrl,
    metrics,
    routes: [...routes].map(([key, route]) => {
      const [method = '', path = ''] = key.split(' ');
      return { method, path, auth: route.auth };
    }),
    close: () => {
      closed ??= (async () => {
        await new Promise<void>((resolve) => {
          const force = setTimeout(() => server.closeAllConnections(), 5000);
          force.unref();
          server.close(() => {
            clearTimeout(force);
            resolve();
          });
          server.closeIdleConnections();
        });
        await closeRedis(redis);
        log.info('ops-api stopped');
      })();
      return closed;
    },
  };
}
