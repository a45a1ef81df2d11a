import { BreachwaveError } from '@breachwave/domain';

/**
 * Maps a BSS HTTP status to the error catalog. `errorCode` is the BSS's short code, kept as the
 * provider code next to the status (e.g. `404 account_not_found`).
 * - 401/403 → `BW_PIN_STORE_AUTH` (config: our token is wrong);
 * - 404 → `BW_PIN_STORE_ACCOUNT_UNKNOWN` (permanent);
 * - 408 → `BW_PIN_STORE_AMBIGUOUS` (the server gave up reading; it may have acted);
 * - 429 → `BW_PIN_STORE_THROTTLED`;
 * - other 4xx → `BW_PIN_STORE_REJECTED` (permanent: the same request will be refused again);
 * - 5xx and anything else → `BW_PIN_STORE_UNAVAILABLE` (transient; the idempotency key makes a
 *   retry safe even when the BSS acted before failing).
 */
export function mapBssStatus(status: number, errorCode?: string): BreachwaveError {
  const providerCode = errorCode ? `${status} ${errorCode}` : String(status);
  const detail = `HTTP ${status}`;
  if (status === 401 || status === 403) return new BreachwaveError('BW_PIN_STORE_AUTH', { detail, providerCode });
  if (status === 404) return new BreachwaveError('BW_PIN_STORE_ACCOUNT_UNKNOWN', { detail, providerCode });
  if (status === 408) return new BreachwaveError('BW_PIN_STORE_AMBIGUOUS', { detail, providerCode });
  if (status === 429) return new BreachwaveError('BW_PIN_STORE_THROTTLED', { detail, providerCode });
  if (status >= 400 && status < 500) return new BreachwaveError('BW_PIN_STORE_REJECTED', { detail, providerCode });
  return new BreachwaveError('BW_PIN_STORE_UNAVAILABLE', { detail, providerCode });
}

/** Socket errors that happen before a request leaves: nothing reached the BSS. */
const NOT_SENT = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT']);

function causeCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && typeof e === 'object' && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') return code;
  }
  return undefined;
}

/**
 * Maps a `fetch` failure: refused or unresolvable before sending → `BW_PIN_STORE_NETWORK`
 * (transient); a timeout or a connection lost after the request may have left →
 * `BW_PIN_STORE_AMBIGUOUS`. The original error is kept as `cause` (it carries no request body).
 */
export function mapBssTransportError(err: unknown): BreachwaveError {
  if (err instanceof BreachwaveError) return err;
  const name = err instanceof Error ? err.name : '';
  if (name === 'TimeoutError' || name === 'AbortError') {
    return new BreachwaveError('BW_PIN_STORE_AMBIGUOUS', { detail: 'timed out', providerCode: 'timeout', cause: err });
  }
  const code = causeCode(err);
  if (code && NOT_SENT.has(code)) return new BreachwaveError('BW_PIN_STORE_NETWORK', { detail: code, providerCode: code, cause: err });
  return new BreachwaveError('BW_PIN_STORE_AMBIGUOUS', { detail: code ?? 'connection lost', ...(code ? { providerCode: code } : {}), cause: err });
}
