import http from 'node:http';
import https from 'node:https';

/** What the `twilio` SDK hands its `httpClient` (see `RequestClient.request` in the SDK). */
export interface TwilioHttpRequest {
  readonly method: string;
  readonly uri: string;
  readonly username?: string;
  readonly password?: string;
  readonly authStrategy?: { getAuthString(): Promise<string> };
  readonly headers?: Record<string, string>;
  readonly params?: Readonly<Record<string, unknown>>;
  readonly data?: Readonly<Record<string, unknown>>;
  readonly timeout?: number;
}

/** What the SDK expects back: it parses a string body as JSON and throws on a non-2xx status. */
export interface TwilioHttpResponse {
  readonly statusCode: number;
  readonly body: string;
  readonly headers: http.IncomingHttpHeaders;
}

export interface TwilioHttpClientOptions {
  /**
   * Send every request to this endpoint + the original path and query instead of the SDK's host
   * (a regional edge, an egress proxy, the test kit's loopback server).
   */
  readonly baseUrl?: string;
  /** Whole-request timeout in milliseconds, from the request to the last byte of the answer. Default 30,000. */
  readonly timeoutMs?: number;
  /** Connections per host at most. Default: no limit, so the caller's own concurrency is the bound. */
  readonly maxSockets?: number;
  /** CA certificates (PEM) to trust for HTTPS instead of Node's bundle, e.g. an egress proxy's. */
  readonly ca?: string | Buffer;
}

const DEFAULT_TIMEOUT_MS = 30_000;

/** Form-encodes the SDK's serialised parameters; arrays repeat the key, undefined values are left out. */
function formEncode(values: Readonly<Record<string, unknown>>): string {
  const form = new URLSearchParams();
  for (const [key, value] of Object.entries(values)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) {
      for (const item of value) form.append(key, String(item));
    } else {
      form.append(key, String(value));
    }
  }
  return form.toString();
}

/** Hides the request from JSON and enumeration: it holds the Authorization header. */
function attachRequest(err: Error, request: http.ClientRequest): Error {
  Object.defineProperty(err, 'request', { value: request, enumerable: false, configurable: true });
  return err;
}

/**
 * The `httpClient` breachwave gives the `twilio` SDK: plain Node `http`/`https` over keep-alive
 * agents, in place of the SDK's axios-based `RequestClient`. The SDK still builds every request
 * (resources, parameters, auth, headers) and parses every answer; this only moves the bytes, at
 * about half the CPU per request of the default client, and without its cap of 20 connections
 * per host (which would hold a notifier of concurrency 50 to 20 sends in flight).
 *
 * Behaviour the rest of the adapter relies on: every HTTP status is an answer (the SDK decides
 * what is an error); transport failures reject with Node's error `code` (`ECONNREFUSED`,
 * `ECONNRESET`, `ETIMEDOUT` for the timeout) and the `ClientRequest` as a non-enumerable
 * `request`, so `mapTwilioError` can tell a request that never left from an ambiguous one.
 * Redirects are not followed (Twilio's REST API does not redirect).
 */
export class TwilioHttpClient {
  readonly #base: string | undefined;
  readonly #timeoutMs: number;
  readonly #httpAgent: http.Agent;
  readonly #httpsAgent: https.Agent;

  constructor(options: TwilioHttpClientOptions = {}) {
    this.#base = options.baseUrl?.replace(/\/+$/, '');
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const agentOptions = { keepAlive: true, ...(options.maxSockets !== undefined ? { maxSockets: options.maxSockets } : {}) };
    this.#httpAgent = new http.Agent(agentOptions);
    this.#httpsAgent = new https.Agent({ ...agentOptions, ...(options.ca !== undefined ? { ca: options.ca } : {}) });
  }

  async request(opts: TwilioHttpRequest): Promise<TwilioHttpResponse> {
    if (!opts.method) throw new Error('http method is required');
    if (!opts.uri) throw new Error('uri is required');
    const target = new URL(opts.uri);
    const url = this.#base === undefined ? target : new URL(`${this.#base}${target.pathname}${target.search}`);
    if (opts.params) {
      const query = formEncode(opts.params);
      if (query) url.search = url.search ? `${url.search}&${query}` : `?${query}`;
    }

    const headers: Record<string, string> = { ...opts.headers };
    if (opts.username && opts.password) {
      headers.Authorization = `Basic ${Buffer.from(`${opts.username}:${opts.password}`).toString('base64')}`;
    } else if (opts.authStrategy) {
      headers.Authorization = await opts.authStrategy.getAuthString();
    }
    let body: string | undefined;
    if (opts.data) {
      const type = headers['Content-Type'];
      if (type === 'application/json') body = JSON.stringify(opts.data);
      else if (type === 'application/x-www-form-urlencoded') body = formEncode(opts.data);
      if (body !== undefined) headers['Content-Length'] = String(Buffer.byteLength(body));
    }

    const secure = url.protocol === 'https:';
    const transport = secure ? https : http;
    const timeoutMs = opts.timeout ?? this.#timeoutMs;
    return new Promise<TwilioHttpResponse>((resolve, reject) => {
      const req = transport.request(url, {
        method: opts.method.toUpperCase(),
        headers,
        agent: secure ? this.#httpsAgent : this.#httpAgent,
      });
      const timer = setTimeout(() => {
        const err = Object.assign(new Error(`Twilio request timed out after ${timeoutMs} ms`), { code: 'ETIMEDOUT' });
        req.destroy(attachRequest(err, req));
      }, timeoutMs);
      const fail = (err: Error): void => {
        clearTimeout(timer);
        reject(attachRequest(err, req));
      };
      req.on('error', fail);
      req.on('response', (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('error', fail);
        res.on('close', () => {
          // A connection lost mid-answer: Node does not always emit 'error' on the response.
          if (!res.complete) fail(Object.assign(new Error('the answer was cut off'), { code: 'ECONNRESET' }));
        });
        res.on('end', () => {
          clearTimeout(timer);
          resolve({ statusCode: res.statusCode ?? 0, body: text, headers: res.headers });
        });
      });
      req.end(body);
    });
  }

  /** Destroys every connection of the client's agents; call it after the last request. */
  close(): void {
    this.#httpAgent.destroy();
    this.#httpsAgent.destroy();
  }
}
