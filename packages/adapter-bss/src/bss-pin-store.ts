import { BreachwaveError, type PinApplyResult, type PinRotationRequest, type PinStore } from '@breachwave/domain';
import { mapBssStatus, mapBssTransportError } from './errors.js';

/** Options for {@link createBssPinStore}. */
export interface BssPinStoreOptions {
  /** The BSS endpoint that takes PIN rotations (`BW_BSS_URL`). */
  readonly url: string;
  /** Bearer token (`BW_BSS_TOKEN`), when the BSS asks for one. */
  readonly token?: string;
  /** Whole-request deadline in ms (`BW_BSS_TIMEOUT_MS`). Default 5,000. */
  readonly timeoutMs?: number;
  /** Injected `fetch` (default: Node's global). */
  readonly fetch?: typeof fetch;
}

/** Idempotency header name (IETF draft-ietf-httpapi-idempotency-key-header). */
export const IDEMPOTENCY_HEADER = 'Idempotency-Key';
/** Header a BSS sets on an answer it replays for a key it has seen with the same body. */
export const REPLAYED_HEADER = 'Idempotent-Replayed';
/** Error code a BSS answers (409/422) when a key is reused with a different body. */
export const KEY_REUSED = 'idempotency_key_reused';

/**
 * The carrier's account system (BSS) as a {@link PinStore}. Wire contract:
 *
 * ```
 * POST <url>
 * Idempotency-Key: rot.<wave>.<account>
 * Authorization: Bearer <token>            (when configured)
 * Content-Type: application/json
 * {"accountId": "...", "pin": "......"}
 * ```
 *
 * - `2xx` → `applied`, or `replayed` with `Idempotent-Replayed: true` (a duplicate request);
 * - `409`/`422` with `{"error":"idempotency_key_reused"}` → `conflict`: the rotation was applied
 *   earlier with another PIN, so this request's PIN is not the account's PIN;
 * - every other outcome is a {@link BreachwaveError} (`BW_PIN_STORE_*`, see `mapBssStatus`);
 *   a timeout or a reset after the request left is `ambiguous` — safe to retry, since the
 *   idempotency key makes the retry a replay.
 *
 * Nothing the BSS answers is copied into errors (it could echo the PIN), only its status and a
 * short error code.
 */
export function createBssPinStore(options: BssPinStoreOptions): PinStore {
  const doFetch = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? 5000;
  let url: URL;
  try {
    url = new URL(options.url);
  } catch (cause) {
    throw new BreachwaveError('BW_CONFIG_INVALID', { detail: 'BSS URL is not a URL', cause });
  }

  return {
    name: 'bss',
    async apply(request: PinRotationRequest): Promise<PinApplyResult> {
      let res: Response;
      try {
        res = await doFetch(url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            accept: 'application/json',
            [IDEMPOTENCY_HEADER]: request.rotationId,
            ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
          },
          body: JSON.stringify({ accountId: request.accountId, pin: request.pin }),
          signal: AbortSignal.timeout(timeoutMs),
          redirect: 'error',
        });
      } catch (err) {
        throw mapBssTransportError(err);
      }
      if (res.ok) {
        // The status decides; a body cut short after a 2xx changes nothing.
        await res.arrayBuffer().catch(() => undefined);
        return { outcome: res.headers.get(REPLAYED_HEADER) === 'true' ? 'replayed' : 'applied', store: 'bss' };
      }
      const errorCode = await readErrorCode(res);
      if ((res.status === 409 || res.status === 422) && errorCode === KEY_REUSED) return { outcome: 'conflict', store: 'bss' };
      throw mapBssStatus(res.status, errorCode);
    },
  };
}

/** The BSS's own short error code (`{"error": "account_not_found"}`), only if it looks like one. */
async function readErrorCode(res: Response): Promise<string | undefined> {
  try {
    const body = (await res.json()) as unknown;
    const code = body && typeof body === 'object' ? (body as { error?: unknown }).error : undefined;
    return typeof code === 'string' && /^[a-z][a-z0-9_]{0,63}$/.test(code) ? code : undefined;
  } catch {
    return undefined;
  }
}
