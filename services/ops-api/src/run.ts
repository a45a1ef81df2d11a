import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { BreachwaveConfig } from '@breachwave/config';
import { BreachwaveError, type ErrorCode } from '@breachwave/domain';
import type { Logger } from '@breachwave/logging';
import { checkHmacKey, checkRedis, checkShards, closeRedis, createRedis, type Redis } from '@breachwave/redis';
import { mapTwilioErrorCode } from '@breachwave/adapter-twilio';
import {
  createDeliveryTracker, createSuppressionList, unsubscribeKey, type DeliveryTrackerDeps, type KeywordIntent,
} from '@breachwave/suppression';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest, type HTTPMethods } from 'fastify';
import type { Readable } from 'node:stream';
import swagger from '@fastify/swagger';
import { createApiTokenStore, isApiRole, roleAllows, type ApiRole, type ApiTokenInfo } from '@breachwave/access';
import {
  COMMON_HEADERS, OPERATOR_HEADER, TOKEN_ROLES, errorBody, field, mediaType, parseMultipart, parseUrlEncoded, statusFor,
  type OpsAuth, type OpsRequest, type OpsRoute, type TokenRole,
} from './http.js';
import { createOpsMetrics, type MetricsSource, type OpsMetrics } from './metrics.js';
import { createRoutes } from './routes.js';
import { BOARD_MANAGE_PATH, BOARD_PATH, BOARD_VIEW_PATH, boardWriteAllowed, mountQueueBoard, type BoardQueue } from './board.js';
import { LOGIN_PATH, LOGOUT_PATH, htmlResponse, loginPage, safeNext } from './console.js';
import { SESSION_COOKIE, createSessionStore, readCookie, sessionCookie, type Session } from './session.js';

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
  readonly metrics?: readonly MetricsSource[];
  /** Connects the channel fallback: called once per notice after a permanent undelivered/failed status. */
  readonly onPermanentUndelivered?: DeliveryTrackerDeps['onPermanentUndelivered'];
  /** Twilio ErrorCode → catalog code. Default: the Twilio adapter's `mapTwilioErrorCode`. */
  readonly classifyErrorCode?: (code: number) => ErrorCode | undefined;
  /**
   * TwiML replies to inbound keywords. Default none: Twilio's standard opt-out handling answers
   * STOP/START/HELP itself. Set them when Advanced Opt-Out has its auto-replies turned off.
   */
  readonly inboundReplies?: Readonly<Partial<Record<KeywordIntent, string>>>;
  /**
   * The queue board (bull-board) over these queues (every action's, of every shard), at
   * `/queues`: read-only for a viewer; retry, promote, pause and resume for an operator. `audit`
   * records each change made through it.
   */
  readonly board?: {
    readonly queues: readonly BoardQueue[];
    readonly audit?: (change: { readonly actor: string; readonly method: string; readonly path: string }) => Promise<void>;
  };
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
  readonly routes: readonly { readonly method: string; readonly path: string; readonly auth: OpsAuth; readonly browser?: boolean }[];
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
/** The login form and its post: they take the token in the form, so they need none before. */
const LOGIN_ROUTES = new Set([`GET ${LOGIN_PATH}`, `POST ${LOGIN_PATH}`]);
const OPERATOR_NAME = /^[A-Za-z0-9._-]{1,64}$/;

/**
 * True when a browser says the request comes from another site: `Sec-Fetch-Site` when sent, else
 * an `Origin` of another host. Clients that send neither are judged by the SameSite cookie (and,
 * on forms, the CSRF token) alone.
 */
function crossSite(headers: FastifyRequest['headers']): boolean {
  const site = headers['sec-fetch-site'];
  if (typeof site === 'string') return site !== 'same-origin' && site !== 'none';
  const origin = headers.origin;
  // Our pages send `Referrer-Policy: no-referrer`, under which a browser posts `Origin: null`.
  if (typeof origin !== 'string' || origin === '' || origin === 'null') return false;
  try {
    return new URL(origin).host !== headers.host;
  } catch {
    return true;
  }
}

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
  const redis = createRedis({ url: config.redisUrl, tls: config.redisTls, role: 'producer', name: 'breachwave-ops-api' });
  try {
    await checkRedis(redis, config.redisUrl);
    await checkShards(redis, config.prefix, config.shards);
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
  const metrics = createOpsMetrics({ config, log, redis, suppressions: () => suppression.counts() });
  const tracker = createDeliveryTracker({
    redis,
    prefix: config.prefix,
    shards: config.shards,
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
  const apiTokens = createApiTokenStore({ redis, prefix: config.prefix, hmacKey, now });
  const sessions = createSessionStore({ redis, prefix: config.prefix, tokens: apiTokens, ttlSeconds: config.ops.sessionTtlSeconds });
  const cookieSecure = (): boolean => publicUrl.startsWith('https://');
  routes.set(`GET ${LOGIN_PATH}`, {
    auth: 'login',
    handler: async (req) => htmlResponse(200, loginPage({ next: req.query.get('next') ?? undefined })),
  });
  routes.set(`POST ${LOGIN_PATH}`, {
    auth: 'login',
    handler: async (req) => {
      if (crossSite(req.headers)) throw new BreachwaveError('BW_HTTP_FORBIDDEN', { detail: 'a login must come from this site\'s own form' });
      const form = req.form();
      const next = safeNext(field(form, 'next'));
      const given = field(form, 'token') ?? '';
      let info: ApiTokenInfo | undefined;
      try {
        info = given ? await apiTokens.lookup(given) : undefined;
      } catch (cause) {
        throw new BreachwaveError('BW_REDIS_UNREACHABLE', { detail: 'API tokens cannot be read', cause });
      }
      if (!info) {
        req.log.info('login refused: unknown token');
        // The shared BW_OPS_TOKEN names nobody, so it cannot open a session either.
        return htmlResponse(401, loginPage({ next, error: 'That is not a valid API token. Use a named token (breachwave token create).' }));
      }
      const { id } = await sessions.open(info.name, info.role);
      req.log.info({ operator: info.name, role: info.role }, 'login');
      return { status: 303, headers: { Location: next, 'Set-Cookie': sessionCookie(id, { secure: cookieSecure(), maxAge: config.ops.sessionTtlSeconds }) }, body: '' };
    },
  });
  routes.set(`POST ${LOGOUT_PATH}`, {
    auth: 'viewer',
    browser: true,
    handler: async (req) => {
      const id = readCookie(req.headers.cookie, SESSION_COOKIE);
      if (id) await sessions.close(id);
      return { status: 303, headers: { Location: LOGIN_PATH, 'Set-Cookie': sessionCookie('', { secure: cookieSecure(), maxAge: 0 }) }, body: '' };
    },
  });
  if (overrides.board) {
    routes.set(`GET ${BOARD_PATH}`, {
      auth: 'viewer',
      browser: true,
      handler: async (req) => ({ status: 303, headers: { Location: `${roleAllows(req.role ?? 'viewer', 'operator') ? BOARD_MANAGE_PATH : BOARD_VIEW_PATH}/` }, body: '' }),
    });
  }
  for (const [key, route] of routes) {
    if (route.auth === 'public' && !PUBLIC_ROUTES.has(key)) throw new BreachwaveError('BW_CONFIG_INVALID', { detail: `route ${key} cannot be public` });
    if (route.auth === 'login' && !LOGIN_ROUTES.has(key)) throw new BreachwaveError('BW_CONFIG_INVALID', { detail: `route ${key} cannot take a login` });
    if (route.browser && !isApiRole(route.auth)) throw new BreachwaveError('BW_CONFIG_INVALID', { detail: `route ${key}: only API-role routes take a login session` });
  }
  const tokens: Record<'pin-verify' | 'metrics', string | undefined> = { 'pin-verify': config.pin.verifyToken, metrics: config.ops.metricsToken };
  for (const role of ['pin-verify', 'metrics'] as const) {
    const users = [...routes].filter(([, r]) => r.auth === role).map(([k]) => k);
    if (users.length > 0 && !tokens[role]) log.warn({ role, routes: users }, 'no token is configured for this role: its routes answer 401');
  }
  let publicUrl = '';
  const paths = new Map<string, string[]>();
  for (const key of routes.keys()) {
    const [method = '', path = ''] = key.split(' ');
    paths.set(path, [...(paths.get(path) ?? []), method]);
  }

  const maxBody = config.ops.maxBodyBytes;

  /** The route template a path falls under (`/v1/waves/w1` → `/v1/waves/:id`), for 405s and metric labels. */
  const templates = [...paths.keys()].map((template) => ({
    template,
    pattern: new RegExp(`^${template.split('/').map((seg) => (seg.startsWith(':') ? '[^/]+' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))).join('/')}$`),
  }));
  const templateOf = (path: string): string | undefined => (paths.has(path) ? path : templates.find((t) => t.pattern.test(path))?.template);

  const app = Fastify({
    logger: false,
    bodyLimit: maxBody,
    requestTimeout: 30_000,
    // HEAD is not served: only the methods each route names answer, anything else gets 405.
    exposeHeadRoutes: false,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true, allErrors: false } },
  });
  app.server.headersTimeout = 10_000;
  app.decorateRequest('bw', null);
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'breachwave ops API',
        version: '1',
        description: 'Webhooks, one-click unsubscribe, PIN verification and the wave operations of breachwave. ' +
          'Every operation names its security requirement; `x-breachwave-role` names the API token role it needs ' +
          '(viewer < operator < approver < admin, each allowing what the ones before it allow, except that only approver approves a wave).',
      },
      components: {
        securitySchemes: {
          bearer: { type: 'http', scheme: 'bearer', description: 'An API token (breachwave token create, POST /v1/tokens), BW_PIN_VERIFY_TOKEN or BW_METRICS_TOKEN, as the operation says.' },
          twilioSignature: { type: 'apiKey', in: 'header', name: 'X-Twilio-Signature', description: 'Twilio\'s HMAC-SHA1 of BW_PUBLIC_URL + path and the form body.' },
          unsubscribeToken: { type: 'apiKey', in: 'query', name: 't', description: 'The signed token of the unsubscribe link.' },
        },
      },
    },
  });

  // Bodies are read raw and size-capped by fastify (`bodyLimit`), and parsed by the handler that
  // needs them: a Twilio signature is computed over the form fields exactly as sent, and a PIN
  // verification answers a malformed body in its own way. Routes with a body schema get JSON
  // parsed here so it can be validated.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (req, body, done) => {
    const raw = body as Buffer;
    const schema = req.routeOptions.schema as { body?: unknown } | undefined;
    if (schema?.body === undefined) {
      done(null, raw);
      return;
    }
    if (mediaType(req.headers['content-type']) !== 'application/json') {
      if (raw.length === 0) done(null, undefined);
      else done(new BreachwaveError('BW_HTTP_UNSUPPORTED_MEDIA_TYPE', { detail: 'expected application/json' }), undefined);
      return;
    }
    try {
      done(null, raw.length === 0 ? undefined : JSON.parse(raw.toString('utf8')) as unknown);
    } catch {
      done(new BreachwaveError('BW_INPUT_INVALID', { detail: 'body is not valid JSON' }), undefined);
    }
  });

  interface RequestState {
    readonly log: Logger;
    readonly label: string;
    operator?: string;
    role?: ApiRole;
    /** The login session the caller came with (browser routes and the queue board). */
    session?: Session;
    /** A browser page or the board: an unauthenticated GET is sent to the login page. */
    browser?: boolean;
    extra: Record<string, string>;
  }
  const stateOf = (req: FastifyRequest): RequestState => {
    const holder = req as FastifyRequest & { bw: RequestState | null };
    if (!holder.bw) {
      const path = (req.raw.url ?? '/').split('?')[0] ?? '/';
      // Label by route template only: raw paths would let anyone mint metric series.
      const label = req.routeOptions.url ?? templateOf(path) ?? 'unmatched';
      holder.bw = { log: log.child({ req: randomBytes(4).toString('hex'), route: label, method: req.method }), label, extra: {} };
    }
    return holder.bw;
  };

  const bearer = (req: FastifyRequest): string => {
    const header = req.headers.authorization ?? '';
    return header.startsWith('Bearer ') ? header.slice(7) : '';
  };
  const unauthorized = (state: RequestState, detail: string): BreachwaveError => {
    state.extra['WWW-Authenticate'] = 'Bearer';
    return new BreachwaveError('BW_HTTP_UNAUTHORIZED', { detail });
  };

  /** Checks the route's credential before the body is read, so an anonymous caller cannot make us read one. */
  const authenticate = async (req: FastifyRequest, auth: OpsAuth, browser = false): Promise<void> => {
    const state = stateOf(req);
    if (browser) state.browser = true;
    if (auth === 'metrics' || auth === 'pin-verify') {
      const expected = tokens[auth];
      const given = bearer(req);
      if (!expected || !given || !sameSecret(given, expected)) throw unauthorized(state, `this route needs the ${auth} token`);
      return;
    }
    if (!isApiRole(auth)) return;
    const given = bearer(req);
    const cookie = browser && !given ? readCookie(req.headers.cookie, SESSION_COOKIE) : undefined;
    if (cookie) {
      let session: Session | undefined;
      try {
        session = await sessions.get(cookie);
      } catch (cause) {
        throw new BreachwaveError('BW_REDIS_UNREACHABLE', { detail: 'sessions cannot be read', cause });
      }
      if (!session) throw unauthorized(state, 'the login session expired or was closed');
      if (!roleAllows(session.role, auth)) throw new BreachwaveError('BW_HTTP_FORBIDDEN', { detail: `this needs the ${auth} role; ${session.name} has the ${session.role} role` });
      state.operator = session.name;
      state.role = session.role;
      state.session = session;
      return;
    }
    if (!given) throw unauthorized(state, `this route needs an API token of the ${auth} role`);
    if (config.ops.token && sameSecret(given, config.ops.token)) {
      // The shared token is an operator's: its holder is named by a header, not by the token.
      if (!roleAllows('operator', auth)) throw new BreachwaveError('BW_HTTP_FORBIDDEN', { detail: `this route needs an API token of the ${auth} role; BW_OPS_TOKEN is an operator's` });
      const name = req.headers[OPERATOR_HEADER];
      if (typeof name !== 'string' || !OPERATOR_NAME.test(name)) throw new BreachwaveError('BW_HTTP_OPERATOR_MISSING');
      state.operator = name;
      state.role = 'operator';
      return;
    }
    let info: ApiTokenInfo | undefined;
    try {
      info = await apiTokens.lookup(given);
    } catch (cause) {
      throw new BreachwaveError('BW_REDIS_UNREACHABLE', { detail: 'API tokens cannot be read', cause });
    }
    if (!info) throw unauthorized(state, `this route needs an API token of the ${auth} role`);
    if (!roleAllows(info.role, auth)) throw new BreachwaveError('BW_HTTP_FORBIDDEN', { detail: `this route needs the ${auth} role; the token ${info.name} has the ${info.role} role` });
    state.operator = info.name;
    state.role = info.role;
  };

  const securityOf = (auth: OpsAuth): Record<string, string[]>[] => {
    if (auth === 'public') return [];
    if (auth === 'twilio-signature') return [{ twilioSignature: [] }];
    if (auth === 'unsubscribe-token') return [{ unsubscribeToken: [] }];
    if (auth === 'login') return [];
    return [{ bearer: [] }];
  };

  app.addHook('onRequest', async (req) => {
    const opts = req.routeOptions.config as { auth?: OpsAuth; browser?: boolean } | undefined;
    if (opts?.auth) await authenticate(req, opts.auth, opts.browser === true);
  });
  // A body schema describes an optional JSON body (`{ reason }`): a request without one is
  // validated as `{}`, so its required fields, if any, are named in the 400.
  app.addHook('preValidation', async (req) => {
    const schema = req.routeOptions.schema as { body?: unknown } | undefined;
    if (schema?.body !== undefined && (req.body === undefined || (Buffer.isBuffer(req.body) && req.body.length === 0))) req.body = {};
  });
  app.addHook('onSend', async (req, reply, payload) => {
    const state = stateOf(req);
    for (const [k, v] of Object.entries({ ...COMMON_HEADERS, ...state.extra })) if (!reply.hasHeader(k)) reply.header(k, v);
    return payload;
  });
  app.addHook('onResponse', async (req, reply) => {
    metrics.requests.inc({ route: stateOf(req).label, status: String(reply.statusCode) });
  });

  app.setNotFoundHandler(async (req) => {
    const path = (req.raw.url ?? '/').split('?')[0] ?? '/';
    const template = templateOf(path);
    if (template) {
      stateOf(req).extra.Allow = (paths.get(template) ?? []).join(', ');
      throw new BreachwaveError('BW_HTTP_METHOD_NOT_ALLOWED');
    }
    throw new BreachwaveError('BW_HTTP_NOT_FOUND');
  });

  const handleError = async (error: FastifyError | BreachwaveError, req: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const state = stateOf(req);
    let err: BreachwaveError | undefined;
    if (error instanceof BreachwaveError) err = error;
    else if ('validation' in error && error.validation) err = new BreachwaveError('BW_INPUT_INVALID', { detail: `${error.validationContext ?? 'request'} ${error.validation[0]?.instancePath ?? ''} ${error.validation[0]?.message ?? ''}`.replace(/\s+/g, ' ').trim() });
    else if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') err = new BreachwaveError('BW_HTTP_BODY_TOO_LARGE', { detail: `limit is ${maxBody} bytes` });
    else if (error.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') err = new BreachwaveError('BW_HTTP_UNSUPPORTED_MEDIA_TYPE');
    else if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) err = new BreachwaveError('BW_INPUT_INVALID', { detail: 'malformed request' });
    if (err) {
      const status = statusFor(err);
      if (status === 401 && state.browser && req.method === 'GET') {
        // A browser that is not logged in (or whose session ended) goes to the login form and back.
        const path = req.raw.url ?? '/';
        return reply.code(303).header('Location', `${LOGIN_PATH}?next=${encodeURIComponent(safeNext(path))}`).send('');
      }
      if (err.code === 'BW_HTTP_BODY_TOO_LARGE') reply.header('Connection', 'close');
      if (status >= 500) {
        state.log.error({ err, errorCode: err.code }, 'request failed');
      } else {
        metrics.rejected.inc({ route: state.label, code: err.code });
        state.log.info({ errorCode: err.code, status }, 'request refused');
      }
      return reply.code(status).type('application/json; charset=utf-8').send(JSON.stringify(errorBody(err)));
    }
    metrics.errors.inc({ route: state.label });
    state.log.error({ err: error }, 'handler failed');
    return reply.code(500).type('application/json; charset=utf-8').send(JSON.stringify(errorBody(new BreachwaveError('BW_INTERNAL'))));
  };
  app.setErrorHandler(handleError);

  const mount = (target: FastifyInstance, key: string, route: OpsRoute): void => {
    const [method = 'GET', url = '/'] = key.split(' ');
    const schema = { ...(route.schema ?? {}), security: securityOf(route.auth), 'x-breachwave-role': route.auth };
    target.route({
      method: method as HTTPMethods,
      url,
      config: { auth: route.auth, browser: route.browser === true },
      schema,
      handler: async (req, reply) => {
        const state = stateOf(req);
        const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
        const contentTypeHeader = req.headers['content-type'] ?? '';
        const contentType = mediaType(contentTypeHeader);
        if (state.session && method !== 'GET') {
          // SameSite=Strict already keeps the cookie off other sites' requests; the per-session
          // token also refuses a form this site did not render for this session.
          const fields = contentType === 'application/x-www-form-urlencoded' ? parseUrlEncoded(raw.toString('utf8')) : {};
          const csrf = field(fields, 'csrf') ?? '';
          if (crossSite(req.headers) || !csrf || !sameSecret(csrf, state.session.csrf)) {
            throw new BreachwaveError('BW_HTTP_FORBIDDEN', { detail: 'the form\'s CSRF token is missing or is not this session\'s' });
          }
        }
        const rawUrl = req.raw.url ?? '/';
        const opsReq: OpsRequest = {
          method,
          path: rawUrl.split('?')[0] ?? '/',
          query: new URL(rawUrl, 'http://h').searchParams,
          publicUrl: `${publicUrl}${rawUrl}`,
          headers: req.headers,
          contentType,
          body: raw,
          params: (req.params ?? {}) as Record<string, string>,
          ...(route.upload ? { upload: req.body as Readable } : Buffer.isBuffer(req.body) || req.body === undefined ? {} : { parsedBody: req.body }),
          log: state.log,
          remoteAddress: req.socket.remoteAddress ?? '',
          ...(state.operator ? { operator: state.operator } : {}),
          ...(state.role ? { role: state.role } : {}),
          ...(state.session ? { session: { csrf: state.session.csrf } } : {}),
          openapi: () => openapiDocument(),
          form() {
            if (contentType === 'application/x-www-form-urlencoded') return parseUrlEncoded(raw.toString('utf8'));
            if (contentType === 'multipart/form-data') return parseMultipart(raw, contentTypeHeader);
            throw new BreachwaveError('BW_HTTP_UNSUPPORTED_MEDIA_TYPE', { detail: 'expected a form body' });
          },
          json() {
            if (contentType !== 'application/json') throw new BreachwaveError('BW_HTTP_UNSUPPORTED_MEDIA_TYPE', { detail: 'expected application/json' });
            if (!Buffer.isBuffer(req.body)) return req.body;
            try {
              return JSON.parse(raw.toString('utf8')) as unknown;
            } catch {
              throw new BreachwaveError('BW_INPUT_INVALID', { detail: 'body is not valid JSON' });
            }
          },
        };
        const response = await route.handler(opsReq);
        reply.code(response.status);
        for (const [k, v] of Object.entries(response.headers ?? {})) reply.header(k, v);
        if (response.json !== undefined) {
          if (!reply.hasHeader('content-type')) reply.type('application/json; charset=utf-8');
          return reply.send(JSON.stringify(response.json));
        }
        if (response.stream) return reply.send(response.stream);
        if (response.status === 204 || response.status === 304) return reply.send();
        return reply.send(response.body ?? '');
      },
    });
  };
  const uploads: [string, OpsRoute][] = [];
  for (const [key, route] of routes) {
    if (route.upload) uploads.push([key, route]);
    else mount(app, key, route);
  }
  if (uploads.length > 0) {
    // Upload routes in a scope of their own, whose parser hands the body over unread: an
    // affected-account file may be many gigabytes, streamed to disk by its handler.
    await app.register(async (scope) => {
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser('*', (_req, payload, done) => done(null, payload));
      for (const [key, route] of uploads) mount(scope, key, route);
    });
  }

  if (overrides.board) {
    const { audit } = overrides.board;
    await mountQueueBoard(app, {
      queues: overrides.board.queues,
      refuse: handleError,
      guard: async (req) => {
        const path = (req.raw.url ?? '/').split('?')[0] ?? '/';
        const manage = path === BOARD_MANAGE_PATH || path.startsWith(`${BOARD_MANAGE_PATH}/`);
        const below = path.slice((manage ? BOARD_MANAGE_PATH : BOARD_VIEW_PATH).length);
        const write = req.method !== 'GET' && req.method !== 'HEAD';
        await authenticate(req, write || manage ? 'operator' : 'viewer', true);
        if (!write) return;
        const state = stateOf(req);
        if (crossSite(req.headers)) throw new BreachwaveError('BW_HTTP_FORBIDDEN', { detail: 'a queue change must come from the board itself' });
        if (!manage || !boardWriteAllowed(req.method, below)) {
          throw new BreachwaveError('BW_HTTP_FORBIDDEN', { detail: 'the queue board allows retry, promote, pause and resume, on the operators\' board only' });
        }
        state.log.info({ operator: state.operator, method: req.method, path: below }, 'queue board change');
        await audit?.({ actor: `operator:${state.operator ?? 'unknown'}`, method: req.method, path: below });
      },
    });
  }

  let document: Record<string, unknown> | undefined;
  /** The OpenAPI document (built once, after every route is registered). */
  const openapiDocument = (): unknown => {
    document ??= app.swagger() as unknown as Record<string, unknown>;
    return document;
  };

  const host = overrides.host ?? config.ops.host;
  try {
    await app.listen({ port: overrides.port ?? config.ops.port, host });
  } catch (cause) {
    await app.close().catch(() => undefined);
    throw new BreachwaveError('BW_CONFIG_INVALID', { detail: `ops-api cannot listen on ${host}:${overrides.port ?? config.ops.port}`, cause });
  }
  const address = app.server.address() as AddressInfo;
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
      return { method, path, auth: route.auth, ...(route.browser ? { browser: true } : {}) };
    }),
    close: () => {
      closed ??= (async () => {
        // In-flight requests get 5 s to finish; then their connections are cut.
        const force = setTimeout(() => app.server.closeAllConnections(), 5000);
        force.unref();
        try {
          await app.close();
        } finally {
          clearTimeout(force);
        }
        await metrics.close();
        await closeRedis(redis);
        log.info('ops-api stopped');
      })();
      return closed;
    },
  };
}
