import { BreachwaveError } from '@breachwave/domain';
import twilio from 'twilio';
import type RequestClient from 'twilio/lib/base/RequestClient.js';

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
 * Creates a real `twilio` SDK client. With `baseUrl`, requests go to that endpoint through a
 * rebased `RequestClient`; `timeoutMs` bounds each request. Automatic 429 retries stay off: the
 * pipeline decides about retries.
 * @throws BreachwaveError `BW_CONFIG_INVALID` for an unusable `baseUrl` or account sid.
 */
export function createTwilioClient(options: TwilioClientOptions): twilio.Twilio {
  if (options.baseUrl !== undefined && !URL.canParse(options.baseUrl)) {
    throw new BreachwaveError('BW_CONFIG_INVALID', { detail: 'Twilio baseUrl is not a URL' });
  }
  try {
    if (options.baseUrl !== undefined) {
      return twilio(options.accountSid, options.authToken, {
        httpClient: new RebasedRequestClient(options.baseUrl, options.timeoutMs),
        autoRetry: false,
      });
    }
    return twilio(options.accountSid, options.authToken, {
      autoRetry: false,
      ...(options.timeoutMs !== undefined ? { timeout: options.timeoutMs } : {}),
    });
  } catch {
    // e.g. an account sid that does not start with AC; the SDK's message may echo credentials.
    throw new BreachwaveError('BW_CONFIG_INVALID', { detail: 'the Twilio SDK refused the account credentials' });
  }
}
