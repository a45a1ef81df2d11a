import { createHmac, timingSafeEqual } from 'node:crypto';

/** Form parameters of a webhook; a repeated name carries every value. */
export type WebhookParams = Readonly<Record<string, string | readonly string[]>>;

/**
 * Twilio's documented request signature (`X-Twilio-Signature`): HMAC-SHA1 keyed by the auth
 * token over the full URL Twilio called (with its query string) followed by each POST parameter
 * name and value, sorted by name (a repeated name contributes each distinct value, sorted);
 * base64. Implemented here so no package outside the adapters imports the `twilio` SDK.
 */
export function twilioSignature(authToken: string, url: string, params: WebhookParams): string {
  let data = url;
  for (const name of Object.keys(params).sort()) {
    const value = params[name];
    if (typeof value === 'string') data += name + value;
    else for (const v of [...new Set(value)].sort()) data += name + v;
  }
  return createHmac('sha1', authToken).update(Buffer.from(data, 'utf8')).digest('base64');
}

/** `url` with the scheme's default port added (`:443`/`:80`) and without any port, as Twilio may have signed either. */
function portVariants(url: string): string[] {
  const m = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#@]*@)?(\[[^\]]*\]|[^/?#:]*)(:\d+)?(.*)$/is.exec(url);
  if (!m) return [url];
  const [, scheme = '', user = '', host = '', port = '', rest = ''] = m;
  const defaultPort = scheme.toLowerCase() === 'https://' ? ':443' : ':80';
  return [...new Set([url, scheme + user + host + rest, scheme + user + host + (port || defaultPort) + rest])];
}

/**
 * True when `signature` is Twilio's signature of this request. `url` is the public URL Twilio
 * called (scheme, host, path and query exactly as configured). Like the SDK's `validateRequest`,
 * it accepts the URL with or without the default port; comparisons are constant-time.
 */
export function validateTwilioSignature(authToken: string, signature: string | undefined, url: string, params: WebhookParams): boolean {
  if (!signature || authToken.length === 0) return false;
  const given = Buffer.from(signature, 'utf8');
  let ok = false;
  for (const candidate of portVariants(url)) {
    const expected = Buffer.from(twilioSignature(authToken, candidate, params), 'utf8');
    // Every candidate is compared, so timing does not tell which variant matched.
    if (expected.length === given.length && timingSafeEqual(expected, given)) ok = true;
  }
  return ok;
}
