/**
 * REFERENCE — `createTwilioClient` before breachwave gave the SDK its own `TwilioHttpClient`: the
 * SDK's default axios-based `RequestClient`, rebased onto `baseUrl`. The bare-send baseline runs it
 * beside the current client, on the same server, in the same run. Benchmark only.
 */

interface RequestOptions {
  readonly uri: string;
  readonly [key: string]: unknown;
}
interface RequestClientLike {
  request(opts: RequestOptions): Promise<unknown>;
}
/** The slice of the `twilio` module this file uses (the test package does not depend on twilio). */
export interface TwilioModuleV0 {
  default: {
    (accountSid: string, authToken: string, opts: Record<string, unknown>): unknown;
    RequestClient: new (opts: Record<string, unknown>) => RequestClientLike;
  };
}

export function createTwilioClientV0<T>(
  mod: TwilioModuleV0,
  options: { accountSid: string; authToken: string; baseUrl: string; timeoutMs: number },
): T {
  const twilio = mod.default;
  const base = options.baseUrl.replace(/\/+$/, '');
  class RebasedRequestClient extends twilio.RequestClient {
    override request(opts: RequestOptions) {
      const original = new URL(opts.uri);
      return super.request({ ...opts, uri: `${base}${original.pathname}${original.search}` });
    }
  }
  return twilio(options.accountSid, options.authToken, {
    httpClient: new RebasedRequestClient({ timeout: options.timeoutMs }),
    autoRetry: false,
  }) as T;
}
