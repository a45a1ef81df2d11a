import { readFileSync } from 'node:fs';
import { BreachwaveError } from '@breachwave/domain';
import twilio from 'twilio';
import type RequestClient from 'twilio/lib/base/RequestClient.js';
import { TwilioHttpClient } from './http-client.js';

export interface TwilioClientOptions {
  readonly accountSid: string;
  readonly authToken: string;
  /**
   * A Twilio-compatible endpoint to send every request to instead of `https://api.twilio.com`
   * (a regional edge, an egress proxy, or the test kit's loopback server), e.g.
   * `http://127.0.0.1:4010` or `https://proxy.internal/twilio`. The original path and query are
   * appended to it.
   */
  readonly baseUrl?: string;
  /** Per-request timeout in milliseconds (the SDK's default is 30 s). */
  readonly timeoutMs?: number;
  /**
   * CA certificates (PEM) to trust for HTTPS instead of Node's bundle. Default: the file named by
   * `caBundleFile` when given, else Node's bundle.
   */
  readonly ca?: string | Buffer;
  /** A PEM file of CAs to trust (configured as `TWILIO_CA_BUNDLE`, the name the SDK reads it by). */
  readonly caBundleFile?: string;
  /**
   * The HTTP proxy (configured as `HTTP_PROXY`). When given, requests go through the SDK's own
   * `RequestClient`, which reads that same variable and knows how to talk to a proxy.
   */
  readonly httpProxy?: string;
}

/** A `RequestClient` that sends every request to `baseUrl` + the original path and query. */
class RebasedRequestClient extends twilio.RequestClient {
  readonly #base: string;

  constructor(baseUrl: string, timeoutMs: number | undefined) {
    super(timeoutMs !== undefined ? { timeout: timeoutMs } : {});
    this.#base = baseUrl.replace(/\/+$/, '');
  }

  // Return type inferred from super.request: the SDK's Response class is not importable by name from ESM.
  override request<TData>(opts: RequestClient.RequestOptions<TData>) {
    const original = new URL(opts.uri);
    return super.request<TData>({ ...opts, uri: `${this.#base}${original.pathname}${original.search}` });
  }
}

/**
 * Creates a real `twilio` SDK client. Its requests go through {@link TwilioHttpClient} (Node's
 * `http`/`https` on keep-alive agents), or, when `HTTP_PROXY` is set, through the SDK's own
 * `RequestClient`, which knows that proxy. With `baseUrl`, every request goes to that endpoint;
 * `timeoutMs` bounds each request. Automatic 429 retries stay off: the pipeline decides about retries.
 * @throws BreachwaveError `BW_CONFIG_INVALID` for an unusable `baseUrl`, account sid or CA bundle.
 */
export function createTwilioClient(options: TwilioClientOptions): twilio.Twilio {
  if (options.baseUrl !== undefined && !URL.canParse(options.baseUrl)) {
    throw new BreachwaveError('BW_CONFIG_INVALID', { detail: 'Twilio baseUrl is not a URL' });
  }
  let httpClient: RequestClient;
  if (options.httpProxy) {
    httpClient =
      options.baseUrl !== undefined
        ? new RebasedRequestClient(options.baseUrl, options.timeoutMs)
        : new twilio.RequestClient(options.timeoutMs !== undefined ? { timeout: options.timeoutMs } : {});
  } else {
    const ca = options.ca ?? readCaBundle(options.caBundleFile);
    // The SDK only calls request() on its httpClient; TwilioHttpClient implements that contract.
    httpClient = new TwilioHttpClient({
      ...(options.baseUrl !== undefined ? { baseUrl: options.baseUrl } : {}),
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
      ...(ca !== undefined ? { ca } : {}),
    }) as unknown as RequestClient;
  }
  try {
    return twilio(options.accountSid, options.authToken, { httpClient, autoRetry: false });
  } catch {
    // e.g. an account sid that does not start with AC; the SDK's message may echo credentials.
    throw new BreachwaveError('BW_CONFIG_INVALID', { detail: 'the Twilio SDK refused the account credentials' });
  }
}

function readCaBundle(path: string | undefined): Buffer | undefined {
  if (!path) return undefined;
  try {
    return readFileSync(path);
  } catch {
    throw new BreachwaveError('BW_CONFIG_INVALID', { detail: 'TWILIO_CA_BUNDLE names a file that cannot be read' });
  }
}

/** Closes the connections of a client made by {@link createTwilioClient}; call after its last request. */
export function closeTwilioClient(client: twilio.Twilio): void {
  if (client.httpClient instanceof TwilioHttpClient) client.httpClient.close();
}
