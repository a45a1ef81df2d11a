/**
 * A loopback stand-in for the Twilio REST API (Programmable Messaging only), good enough for the
 * real `twilio` SDK to talk to through a rebased `RequestClient`.
 *
 * It implements what breachwave uses of the Messages API with the real wire format (form-encoded
 * requests, Twilio's JSON resources and error bodies, Basic auth, the paging envelope), records
 * every request, can fire signed status callbacks, and injects provider faults on demand
 * (throttling, permanent rejections, 5xx, hung requests, resets after the message was created).
 *
 * Credentials are synthetic and generated per instance; nothing here is a real SID.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { checkFaultOptions, createFaultBook, type FaultRuleBase } from './faults.js';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';

/** Faults the server can inject into message creation (`POST .../Messages.json`). */
export type TwilioFaultKind =
  | 'throttle'
  | 'invalid-number'
  | 'opted-out'
  | 'server-error'
  | 'unavailable'
  | 'hang'
  | 'reset-after-accept';

/** Every {@link TwilioFaultKind}, in a stable order. */
export const TWILIO_FAULT_KINDS: readonly TwilioFaultKind[] = [
  'throttle',
  'invalid-number',
  'opted-out',
  'server-error',
  'unavailable',
  'hang',
  'reset-after-accept',
];

/** When an injected fault applies. With neither `times` nor `probability` it applies until cleared. */
export interface TwilioFaultOptions {
  /** Apply to this many (matching) requests, then retire the rule. */
  readonly times?: number;
  /** Apply to this fraction of matching requests, drawn from the server's seeded PRNG. */
  readonly probability?: number;
  /** Only requests whose `To` equals this number match. */
  readonly to?: string;
}

export interface TwilioServerOptions {
  /** Defaults to 0 (an ephemeral port). */
  readonly port?: number;
  /** Seed of the PRNG used for `probability` faults, so runs are reproducible. Defaults to 1. */
  readonly seed?: number;
  /** Delay before every answer (and before a `reset-after-accept` reset), in ms. Default 0. */
  readonly latencyMs?: number;
  /** Override the generated credentials (e.g. to test a credential mismatch). */
  readonly accountSid?: string;
  readonly authToken?: string;
  /** Serve HTTPS with this key and certificate (PEM) instead of plain HTTP; see `selfSignedCertificate`. */
  readonly tls?: { readonly key: string | Buffer; readonly cert: string | Buffer };
}

/** One HTTP request as the server received it. */
export interface RecordedTwilioRequest {
  readonly method: string;
  /** Path without the query string. */
  readonly path: string;
  /** Query parameters (first value wins). */
  readonly query: Readonly<Record<string, string>>;
  /** Form-encoded body parameters (first value wins). */
  readonly params: Readonly<Record<string, string>>;
  readonly rawBody: string;
  readonly headers: Readonly<http.IncomingHttpHeaders>;
  readonly time: Date;
  /** HTTP status answered; undefined while unanswered or when the request was hung or reset. */
  status: number | undefined;
  /** The fault injected into this request, if any. */
  fault: TwilioFaultKind | undefined;
}

/** A message the server created (it counts as sent from Twilio's point of view). */
export interface TwilioMessageRecord {
  readonly sid: string;
  readonly accountSid: string;
  readonly to: string;
  readonly from: string | null;
  readonly messagingServiceSid: string | null;
  readonly body: string;
  status: string;
  readonly statusCallback: string | undefined;
  readonly validityPeriod: number | undefined;
  readonly smartEncoded: boolean;
  readonly numSegments: number;
  readonly dateCreated: Date;
  dateUpdated: Date;
  dateSent: Date | null;
  errorCode: number | null;
  /** All form parameters of the create request. */
  readonly params: Readonly<Record<string, string>>;
}

export interface StatusCallbackExtra {
  /** Sent as `ErrorCode` (e.g. 30003 for an unreachable handset). */
  readonly errorCode?: number | string;
  /** Further parameters to add to (or override in) the callback body. */
  readonly params?: Readonly<Record<string, string>>;
}

/** What happened when the server fired a status callback. */
export interface StatusCallbackResult {
  readonly url: string;
  readonly params: Readonly<Record<string, string>>;
  /** The `X-Twilio-Signature` header that was sent. */
  readonly signature: string;
  /** HTTP status the callback receiver answered. */
  readonly status: number;
  readonly body: string;
}

export interface TwilioServer {
  /** Base URL, e.g. `http://127.0.0.1:43121` (no trailing slash; `https:` with `tls`). */
  readonly url: string;
  /** TCP connections accepted since the start or the last `reset()` (shows keep-alive reuse). */
  readonly connections: number;
  readonly accountSid: string;
  readonly authToken: string;
  /** Every request received, in arrival order. */
  readonly requests: readonly RecordedTwilioRequest[];
  /** Every message created, in creation order (includes `reset-after-accept` ones). */
  readonly messages: readonly TwilioMessageRecord[];
  /** How many times each fault kind was injected. */
  readonly injectedFaults: Readonly<Record<TwilioFaultKind, number>>;
  /** Adds a fault rule; rules are tried in the order they were added, the first match applies. */
  inject(kind: TwilioFaultKind, options?: TwilioFaultOptions): void;
  clearFaults(): void;
  /** Forgets requests, messages, faults and counters (credentials and URL stay). */
  reset(): void;
  /**
   * POSTs a Twilio status callback for message `sid` to its `StatusCallback` URL, signed with
   * `X-Twilio-Signature`, and updates the stored message's status.
   * @throws Error when the message does not exist or has no StatusCallback.
   */
  fireStatusCallback(sid: string, status: string, extra?: StatusCallbackExtra): Promise<StatusCallbackResult>;
  /** Stops listening and destroys every connection, including hung ones. */
  close(): Promise<void>;
}

const API_PREFIX = '/2010-04-01/Accounts/';
const MORE_INFO = 'https://www.twilio.com/docs/errors/';

interface FaultRule extends FaultRuleBase<TwilioFaultKind> {
  readonly to: string | undefined;
}

interface TwilioErrorBody {
  readonly code: number;
  readonly message: string;
  readonly more_info: string;
  readonly status: number;
}

/**
 * Twilio's request signature: HMAC-SHA1, keyed by the auth token, of the full URL followed by
 * every POST parameter name and value, sorted by name; base64-encoded.
 */
export function computeTwilioSignature(
  authToken: string,
  url: string,
  params: Readonly<Record<string, string>>,
): string {
  const data = Object.keys(params)
    .sort()
    .reduce((acc, key) => acc + key + (params[key] ?? ''), url);
  return createHmac('sha1', authToken).update(Buffer.from(data, 'utf-8')).digest('base64');
}

/** Starts the server on 127.0.0.1 and resolves once it listens. */
export async function startTwilioServer(options: TwilioServerOptions = {}): Promise<TwilioServer> {
  const accountSid = options.accountSid ?? `AC${randomBytes(16).toString('hex')}`;
  const authToken = options.authToken ?? randomBytes(16).toString('hex');

  const requests: RecordedTwilioRequest[] = [];
  const messages: TwilioMessageRecord[] = [];
  const faults = createFaultBook<TwilioFaultKind, FaultRule>(TWILIO_FAULT_KINDS, options.seed ?? 1);
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const latencyMs = options.latencyMs ?? 0;

  /** Runs `fn` after the configured latency (at once without one). */
  function later(fn: () => void): void {
    if (latencyMs <= 0) {
      fn();
      return;
    }
    const timer = setTimeout(() => {
      timers.delete(timer);
      fn();
    }, latencyMs);
    timers.add(timer);
  }

  const listener: http.RequestListener = (req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent && !res.destroyed) sendJson(res, 500, twilioError(20500, 'Internal Server Error', 500));
    });
  };
  const server = options.tls
    ? https.createServer({ key: options.tls.key, cert: options.tls.cert }, listener)
    : http.createServer(listener);
  let connections = 0;
  server.on('connection', (socket: Socket) => {
    connections += 1;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const rawBody = await readBody(req);
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const record: RecordedTwilioRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: firstValues(url.searchParams),
      params: firstValues(new URLSearchParams(rawBody)),
      rawBody,
      headers: req.headers,
      time: new Date(),
      status: undefined,
      fault: undefined,
    };
    requests.push(record);
    const reply = (status: number, body: unknown): void => {
      later(() => {
        record.status = status;
        sendJson(res, status, body);
      });
    };

    const route = matchRoute(url.pathname);
    if (!route) {
      reply(404, twilioError(20404, `The requested resource ${url.pathname} was not found`, 404));
      return;
    }
    if (!authorized(req.headers.authorization, route.accountSid)) {
      res.setHeader('WWW-Authenticate', 'Basic realm="Twilio API"');
      reply(401, twilioError(20003, 'Authenticate', 401));
      return;
    }

    if (route.messageSid === undefined && record.method === 'POST') {
      createMessage(record, reply, req, res);
      return;
    }
    if (route.messageSid === undefined && record.method === 'GET') {
      reply(200, listMessages(url));
      return;
    }
    if (route.messageSid !== undefined && record.method === 'GET') {
      const message = messages.find((m) => m.sid === route.messageSid);
      if (!message) {
        reply(404, twilioError(20404, `The requested resource ${url.pathname} was not found`, 404));
        return;
      }
      reply(200, messageResource(message));
      return;
    }
    reply(405, twilioError(20004, 'Method not allowed', 405));
  }

  function createMessage(
    record: RecordedTwilioRequest,
    reply: (status: number, body: unknown) => void,
    req: http.IncomingMessage,
    res: http.ServerResponse,
  ): void {
    const params = record.params;
    const fault = takeFault(params.To);
    record.fault = fault;
    switch (fault) {
      case 'throttle':
        reply(429, twilioError(20429, 'Too Many Requests', 429));
        return;
      case 'invalid-number':
        // Real Twilio echoes the number here; adapters must not copy this message into theirs.
        reply(400, twilioError(21211, `The 'To' number ${params.To ?? ''} is not a valid phone number.`, 400));
        return;
      case 'opted-out':
        reply(400, twilioError(21610, 'Attempt to send to unsubscribed recipient', 400));
        return;
      case 'server-error':
        reply(500, twilioError(20500, 'Internal Server Error', 500));
        return;
      case 'unavailable':
        reply(503, twilioError(20503, 'Service Unavailable', 503));
        return;
      case 'hang':
        // Never answer; close() (or the client giving up) destroys the socket.
        return;
      case 'reset-after-accept':
      case undefined:
        break;
    }

    if (!params.To) {
      reply(400, twilioError(21604, "A 'To' phone number is required.", 400));
      return;
    }
    if (!params.From && !params.MessagingServiceSid) {
      reply(400, twilioError(21603, "A 'From' phone number is required.", 400));
      return;
    }
    if (params.Body === undefined || params.Body === '') {
      if (!params.MediaUrl && !params.ContentSid) {
        reply(400, twilioError(21602, 'Message body is required.', 400));
        return;
      }
    }
    let validityPeriod: number | undefined;
    if (params.ValidityPeriod !== undefined) {
      validityPeriod = Number(params.ValidityPeriod);
      if (!Number.isInteger(validityPeriod) || validityPeriod < 1 || validityPeriod > 36000) {
        reply(400, twilioError(21623, 'ValidityPeriod must be an integer between 1 and 36000 seconds.', 400));
        return;
      }
    }

    const now = wholeSecond(new Date());
    const body = params.Body ?? '';
    const smartEncoded = params.SmartEncoded === 'true' || params.SmartEncoded === 'True';
    const message: TwilioMessageRecord = {
      sid: `SM${randomBytes(16).toString('hex')}`,
      accountSid,
      to: params.To,
      from: params.From ?? null,
      messagingServiceSid: params.MessagingServiceSid ?? null,
      body,
      // Twilio answers `accepted` when a Messaging Service still has to pick the sender.
      status: params.From ? 'queued' : 'accepted',
      statusCallback: params.StatusCallback,
      validityPeriod,
      smartEncoded,
      numSegments: countSegments(smartEncoded ? smartEncode(body) : body),
      dateCreated: now,
      dateUpdated: now,
      dateSent: null,
      errorCode: null,
      params,
    };
    messages.push(message);

    if (fault === 'reset-after-accept') {
      later(() => {
        req.socket.destroy();
        res.destroy();
      });
      return;
    }
    reply(201, messageResource(message));
  }

  function listMessages(url: URL): unknown {
    const q = url.searchParams;
    const pageSize = clampInt(q.get('PageSize'), 50, 1, 1000);
    const page = clampInt(q.get('Page'), 0, 0, Number.MAX_SAFE_INTEGER);
    const filters: Array<(m: TwilioMessageRecord) => boolean> = [];
    const to = q.get('To');
    if (to !== null) filters.push((m) => m.to === to);
    const from = q.get('From');
    if (from !== null) filters.push((m) => m.from === from);
    const on = q.get('DateSent');
    if (on !== null) filters.push(dateFilter(on, 'on'));
    const after = q.get('DateSent>');
    if (after !== null) filters.push(dateFilter(after, 'after'));
    const before = q.get('DateSent<');
    if (before !== null) filters.push(dateFilter(before, 'before'));

    // Newest first, as Twilio lists them (creation order is chronological).
    const ordered = messages.filter((m) => filters.every((f) => f(m))).reverse();
    const start = page * pageSize;
    const slice = ordered.slice(start, start + pageSize);

    const base = `${API_PREFIX}${accountSid}/Messages.json`;
    const pageUri = (n: number): string => {
      const p = new URLSearchParams();
      for (const key of ['To', 'From', 'DateSent', 'DateSent<', 'DateSent>']) {
        const value = q.get(key);
        if (value !== null) p.set(key, value);
      }
      p.set('PageSize', String(pageSize));
      p.set('Page', String(n));
      if (n > 0) p.set('PageToken', `PA${n * pageSize}`);
      return `${base}?${p.toString()}`;
    };
    const hasNext = start + pageSize < ordered.length;
    return {
      end: start + Math.max(slice.length - 1, 0),
      first_page_uri: pageUri(0),
      messages: slice.map(messageResource),
      next_page_uri: hasNext ? pageUri(page + 1) : null,
      page,
      page_size: pageSize,
      previous_page_uri: page > 0 ? pageUri(page - 1) : null,
      start,
      uri: pageUri(page),
    };
  }

  function messageResource(m: TwilioMessageRecord): Record<string, unknown> {
    const uri = `${API_PREFIX}${m.accountSid}/Messages/${m.sid}.json`;
    return {
      account_sid: m.accountSid,
      api_version: '2010-04-01',
      body: m.body,
      date_created: rfc2822(m.dateCreated),
      date_sent: m.dateSent ? rfc2822(m.dateSent) : null,
      date_updated: rfc2822(m.dateUpdated),
      direction: 'outbound-api',
      error_code: m.errorCode,
      error_message: null,
      from: m.from,
      messaging_service_sid: m.messagingServiceSid,
      num_media: '0',
      num_segments: String(m.numSegments),
      price: null,
      price_unit: 'USD',
      sid: m.sid,
      status: m.status,
      subresource_uris: {
        media: `${API_PREFIX}${m.accountSid}/Messages/${m.sid}/Media.json`,
        feedback: `${API_PREFIX}${m.accountSid}/Messages/${m.sid}/Feedback.json`,
      },
      to: m.to,
      uri,
    };
  }

  function authorized(header: string | undefined, pathAccountSid: string): boolean {
    if (!header?.startsWith('Basic ')) return false;
    const decoded = Buffer.from(header.slice('Basic '.length), 'base64').toString('utf-8');
    const colon = decoded.indexOf(':');
    if (colon < 0) return false;
    const user = decoded.slice(0, colon);
    const pass = decoded.slice(colon + 1);
    return user === accountSid && pass === authToken && pathAccountSid === accountSid;
  }

  function takeFault(to: string | undefined): TwilioFaultKind | undefined {
    return faults.take((rule) => rule.to === undefined || rule.to === to);
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const url = `${options.tls ? 'https' : 'http'}://127.0.0.1:${address.port}`;

  return {
    url,
    accountSid,
    authToken,
    get connections() {
      return connections;
    },
    get requests() {
      return requests;
    },
    get messages() {
      return messages;
    },
    get injectedFaults() {
      return { ...faults.counts };
    },
    inject(kind, faultOptions = {}) {
      if (!TWILIO_FAULT_KINDS.includes(kind)) throw new Error(`unknown Twilio fault kind: ${String(kind)}`);
      checkFaultOptions(faultOptions);
      faults.add({ kind, remaining: faultOptions.times, probability: faultOptions.probability, to: faultOptions.to });
    },
    clearFaults() {
      faults.clear();
    },
    reset() {
      connections = 0;
      requests.length = 0;
      messages.length = 0;
      faults.reset();
    },
    async fireStatusCallback(sid, status, extra = {}) {
      const message = messages.find((m) => m.sid === sid);
      if (!message) throw new Error(`no message ${sid}`);
      if (!message.statusCallback) throw new Error(`message ${sid} has no StatusCallback`);
      const now = wholeSecond(new Date());
      message.status = status;
      message.dateUpdated = now;
      if (message.dateSent === null && ['sent', 'delivered', 'undelivered', 'failed', 'read'].includes(status)) {
        message.dateSent = now;
      }
      if (extra.errorCode !== undefined) message.errorCode = Number(extra.errorCode);

      const params: Record<string, string> = {
        AccountSid: accountSid,
        ApiVersion: '2010-04-01',
        MessageSid: sid,
        MessageStatus: status,
        SmsSid: sid,
        SmsStatus: status,
        To: message.to,
      };
      if (message.from !== null) params.From = message.from;
      if (message.messagingServiceSid !== null) params.MessagingServiceSid = message.messagingServiceSid;
      if (extra.errorCode !== undefined) params.ErrorCode = String(extra.errorCode);
      Object.assign(params, extra.params);

      const signature = computeTwilioSignature(authToken, message.statusCallback, params);
      const answer = await postForm(message.statusCallback, params, {
        'X-Twilio-Signature': signature,
        'User-Agent': 'TwilioProxy/1.1',
        'I-Twilio-Idempotency-Token': randomBytes(16).toString('hex'),
      });
      return { url: message.statusCallback, params, signature, ...answer };
    },
    close() {
      return new Promise<void>((resolve) => {
        for (const timer of timers) clearTimeout(timer);
        timers.clear();
        server.close(() => resolve());
        server.closeAllConnections();
        for (const socket of sockets) socket.destroy();
      });
    },
  };
}



function matchRoute(pathname: string): { accountSid: string; messageSid: string | undefined } | undefined {
  const match = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages(?:\/([^/]+))?\.json$/.exec(pathname);
  if (!match?.[1]) return undefined;
  return { accountSid: decodeURIComponent(match[1]), messageSid: match[2] };
}

function twilioError(code: number, message: string, status: number): TwilioErrorBody {
  return { code, message, more_info: `${MORE_INFO}${code}`, status };
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  if (res.destroyed || res.writableEnded) return;
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(payload),
    'Twilio-Request-Id': `RQ${randomBytes(16).toString('hex')}`,
  });
  res.end(payload);
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf-8')));
    req.on('error', reject);
  });
}

function firstValues(params: URLSearchParams): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of params) {
    if (!(key in out)) out[key] = value;
  }
  return out;
}

function clampInt(raw: string | null, fallback: number, min: number, max: number): number {
  if (raw === null) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n)) return fallback;
  return Math.min(Math.max(n, min), max);
}

/**
 * `DateSent` filters accept a day (`YYYY-MM-DD`, compared by UTC day) or a timestamp. A message
 * that has not been sent yet is matched on its creation time, so a message Twilio accepted but has
 * not handed to a carrier is still found (the simulator's only leniency over the real API).
 */
function dateFilter(raw: string, mode: 'on' | 'after' | 'before'): (m: TwilioMessageRecord) => boolean {
  const dayOnly = /^\d{4}-\d{2}-\d{2}$/.test(raw);
  const at = new Date(dayOnly ? `${raw}T00:00:00Z` : raw).getTime();
  if (Number.isNaN(at)) return () => false;
  const endOfDay = at + 86_400_000;
  return (m) => {
    const t = (m.dateSent ?? m.dateCreated).getTime();
    if (mode === 'on') return dayOnly ? t >= at && t < endOfDay : t === at;
    if (mode === 'after') return t >= at;
    return dayOnly ? t < endOfDay : t <= at;
  };
}

function wholeSecond(date: Date): Date {
  return new Date(Math.floor(date.getTime() / 1000) * 1000);
}

/** RFC 2822 as Twilio writes it: `Thu, 24 Aug 2023 05:01:45 +0000`. */
function rfc2822(date: Date): string {
  return date.toUTCString().replace('GMT', '+0000');
}

const GSM7_BASIC = new Set(
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà',
);
const GSM7_EXTENDED = new Set('^{}\\[~]|€\f');

/**
 * SMS segment count: GSM-7 (160, or 153 per part) or UCS-2 (70, or 67 per part). Written here
 * apart from the domain's own count on purpose: the stand-in provider bills what it receives by
 * its own reckoning, as the real one does, so a wrong count in the product shows up in tests.
 */
function countSegments(body: string): number {
  let septets = 0;
  let gsm = true;
  for (const ch of body) {
    if (GSM7_BASIC.has(ch)) septets += 1;
    else if (GSM7_EXTENDED.has(ch)) septets += 2;
    else {
      gsm = false;
      break;
    }
  }
  if (gsm) return septets <= 160 ? 1 : Math.ceil(septets / 153);
  const units = body.length;
  return units <= 70 ? 1 : Math.ceil(units / 67);
}

const SMART_ENCODING: Readonly<Record<string, string>> = {
  '\u2018': "'",
  '\u2019': "'",
  '\u201C': '"',
  '\u201D': '"',
  '\u2013': '-',
  '\u2014': '-',
  '\u2026': '...',
  '\u00A0': ' ',
};

function smartEncode(body: string): string {
  return [...body].map((ch) => SMART_ENCODING[ch] ?? ch).join('');
}


function postForm(
  target: string,
  params: Readonly<Record<string, string>>,
  headers: Readonly<Record<string, string>>,
): Promise<{ status: number; body: string }> {
  const payload = new URLSearchParams(params).toString();
  const url = new URL(target);
  const transport = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = transport.request(
      url,
      {
        method: 'POST',
        agent: false,
        headers: {
          ...headers,
          'Content-Type': 'application/x-www-form-urlencoded; charset=utf-8',
          'Content-Length': Buffer.byteLength(payload),
          Connection: 'close',
        },
        timeout: 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf-8') }),
        );
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('status callback timed out')));
    req.on('error', reject);
    req.end(payload);
  });
}
