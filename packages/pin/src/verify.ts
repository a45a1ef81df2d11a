import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { BreachwaveError } from '@breachwave/domain';
import type { AuditInput } from '@breachwave/ledger';
import { digestEquals } from '@breachwave/secrets';
import { pinKeys } from './keys.js';
import type { VerifierKeyring } from './verifier.js';

/** NIST SP 800-63B §5.2.2: no more than 100 failed attempts on one account. */
export const MAX_FAILURES_CEILING = 100;

/** Defaults of the throttle: 30-day window, waits from the 5th consecutive failure, 1 s doubling up to 15 min. */
export const PIN_THROTTLE_DEFAULTS = {
  failureWindowMs: 30 * 86_400_000,
  backoffAfter: 5,
  backoffBaseMs: 1000,
  backoffMaxMs: 15 * 60_000,
} as const;

/**
 * KEYS: verifier hash, failure log, backoff hash, legacy failure counter.
 * ARGV: now (ms), window (ms), max failures, backoff after, base (ms), max wait (ms), log member.
 *
 * An account without a verifier answers `unknown` before anything is written: made-up ids leave
 * no trace. Otherwise failures older than the window are dropped; at the cap the account is
 * `locked` until the oldest failure leaves the window; inside the wait set by the last failure the
 * try is `throttled` — neither counts nor reaches the PIN check, so a guesser's tries only ever
 * push the next check later. An `open` try is counted as a failure *before* the comparison
 * (undone on success), so concurrent guesses can pass neither the waits nor the cap.
 * Returns {state, failures in window, wait or retry-after (ms), verifier, key id}.
 */
const BEGIN = `
local rec = redis.call('HMGET', KEYS[1], 'v', 'kid')
if not rec[1] then return {'unknown', 0, 0, '', ''} end
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window)
local n = redis.call('ZCARD', KEYS[2])
if n >= tonumber(ARGV[3]) then
  local oldest = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
  return {'locked', n, math.max(1, tonumber(oldest[2]) + window - now), '', ''}
end
local nextAt = tonumber(redis.call('HGET', KEYS[3], 'next') or '0')
if nextAt > now then return {'throttled', n, nextAt - now, '', ''} end
redis.call('DEL', KEYS[4])
redis.call('ZADD', KEYS[2], now, ARGV[7])
redis.call('PEXPIRE', KEYS[2], window)
local c = redis.call('HINCRBY', KEYS[3], 'c', 1)
local after = tonumber(ARGV[4])
local wait = 0
if c >= after then wait = math.min(tonumber(ARGV[5]) * 2 ^ (c - after), tonumber(ARGV[6])) end
redis.call('HSET', KEYS[3], 'next', string.format('%.0f', now + wait))
redis.call('PEXPIRE', KEYS[3], window)
return {'open', n + 1, wait, rec[1], rec[2] or ''}
`;

/**
 * KEYS: failure log, backoff hash, verifier hash, legacy failure counter.
 * ARGV: this try's log member, verifier that matched, new verifier, new key id.
 * Takes back the failure counted in advance and ends the run of consecutive failures (the waits
 * start over). Earlier failures stay in the window: a success by the owner does not hand a guesser
 * a fresh budget of 100. Re-keys the verifier when the match was under an old key (only if it has
 * not changed meanwhile).
 */
const SUCCEED = `
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2], KEYS[4])
if ARGV[3] ~= '' and redis.call('HGET', KEYS[3], 'v') == ARGV[2] then
  redis.call('HSET', KEYS[3], 'v', ARGV[3], 'kid', ARGV[4])
end
return 1
`;

type VerifyRedis = Redis & {
  bwPinVerifyBegin(k1: string, k2: string, k3: string, k4: string, ...args: string[]): Promise<[string, number, number, string, string]>;
  bwPinVerifySucceed(k1: string, k2: string, k3: string, k4: string, ...args: string[]): Promise<number>;
};

/** Dependencies of {@link createPinVerificationService}. */
export interface PinVerificationDeps {
  /** A fail-fast (`producer`) client: a caller on the phone should hear an error, not wait. */
  readonly redis: Redis;
  readonly prefix: string;
  readonly keyring: VerifierKeyring;
  /**
   * Failures within `failureWindowMs` after which the account is locked until the oldest of them
   * leaves the window (`BW_PIN_MAX_FAILURES`), 1–100.
   */
  readonly maxFailures: number;
  /** The sliding window failures are counted in. Default 30 days. */
  readonly failureWindowMs?: number;
  /** Consecutive failures after which each further one makes the next try wait. Default 5. */
  readonly backoffAfter?: number;
  /** The first wait, doubled with each further consecutive failure. Default 1 s. */
  readonly backoffBaseMs?: number;
  /** The longest wait. Default 15 min. */
  readonly backoffMaxMs?: number;
  /** Audit sink (the ledger's `audit`). */
  readonly audit: (input: AuditInput) => Promise<void>;
  /** Clock (ms since the epoch) the waits and the window are measured with. Default `Date.now`. */
  readonly now?: () => number;
}

/** A verification request. `pin` is compared and forgotten: never logged, audited or stored. */
export interface VerifyRequest {
  readonly accountId: string;
  readonly pin: string;
  /** The wave the caller is helping with, for the audit. */
  readonly waveId?: string;
  /** Who asks (e.g. `care`, `ivr`, an agent id), for the audit. */
  readonly actor: string;
}

/**
 * How a try ended. `unknown` (the account has no verifier) is for metrics and logs only: callers
 * must answer it exactly like `mismatch`, or they tell a guesser which ids exist.
 */
export type VerifyOutcome = 'verified' | 'mismatch' | 'unknown' | 'throttled' | 'locked';

export interface VerifyResult {
  readonly verified: boolean;
  readonly outcome: VerifyOutcome;
  /** `throttled` and `locked`: how long until a try is checked again (ms). */
  readonly retryAfterMs?: number;
}

/** Dependencies of {@link unlockPinVerification}. */
export interface PinUnlockDeps {
  readonly redis: Redis;
  readonly prefix: string;
  readonly audit: (input: AuditInput) => Promise<void>;
}

/**
 * Clears an account's verification throttle — its failures in the window, its wait and any legacy
 * lock — as an operator's decision, audited as `pin.unlocked` with the operator as actor.
 * @returns whether there was anything to clear.
 */
export async function unlockPinVerification(deps: PinUnlockDeps, accountId: string, actor: string): Promise<{ readonly cleared: boolean }> {
  const k = pinKeys(deps.prefix);
  const removed = await deps.redis.unlink(k.failureLog(accountId), k.backoff(accountId), k.failures(accountId));
  await deps.audit({ type: 'pin.unlocked', actor, account: accountId, detail: { cleared: removed > 0 } });
  return { cleared: removed > 0 };
}

function checkPositive(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new BreachwaveError('BW_CONFIG_INVALID', { detail: `PIN ${name} must be a positive integer` });
}

/**
 * PIN verification for care agents and the IVR, throttled as NIST SP 800-63B §5.2.2 asks rather
 * than locked for good: a constant-time comparison with the account's stored verifier; after
 * `backoffAfter` consecutive failures each further one doubles the wait before the next try is
 * checked (tries inside the wait are refused without counting); at `maxFailures` failures within
 * the window the account locks until the oldest leaves it, or an operator unlocks it
 * ({@link unlockPinVerification}), or a rotation sets a new PIN. Every checked try on an existing
 * account is audited without the PIN; a try on an account without a verifier costs the same HMAC
 * and round trips as a mismatch but writes nothing.
 * @throws BreachwaveError BW_CONFIG_INVALID when `maxFailures` is outside 1–100 or a wait is not positive.
 */
export function createPinVerificationService(deps: PinVerificationDeps) {
  if (!Number.isInteger(deps.maxFailures) || deps.maxFailures < 1 || deps.maxFailures > MAX_FAILURES_CEILING) {
    throw new BreachwaveError('BW_CONFIG_INVALID', { detail: `PIN max failures must be 1–${MAX_FAILURES_CEILING} (NIST SP 800-63B)` });
  }
  const windowMs = deps.failureWindowMs ?? PIN_THROTTLE_DEFAULTS.failureWindowMs;
  const backoffAfter = deps.backoffAfter ?? PIN_THROTTLE_DEFAULTS.backoffAfter;
  const baseMs = deps.backoffBaseMs ?? PIN_THROTTLE_DEFAULTS.backoffBaseMs;
  const maxWaitMs = deps.backoffMaxMs ?? PIN_THROTTLE_DEFAULTS.backoffMaxMs;
  checkPositive('failure window', windowMs);
  checkPositive('backoff threshold', backoffAfter);
  checkPositive('backoff base', baseMs);
  checkPositive('backoff maximum', maxWaitMs);
  const now = deps.now ?? Date.now;
  const k = pinKeys(deps.prefix);
  const r = deps.redis as VerifyRedis;
  if (typeof r.bwPinVerifyBegin !== 'function') {
    r.defineCommand('bwPinVerifyBegin', { numberOfKeys: 4, lua: BEGIN });
    r.defineCommand('bwPinVerifySucceed', { numberOfKeys: 4, lua: SUCCEED });
  }
  const max = deps.maxFailures;
  // Compared against when the account has no verifier, so a miss costs what a mismatch costs.
  const decoy = deps.keyring.compute('decoy', 'decoy') ?? '';

  const audit = (type: string, req: VerifyRequest, detail: Record<string, unknown>) =>
    deps.audit({ type, actor: req.actor, account: req.accountId, ...(req.waveId ? { wave: req.waveId } : {}), detail });

  return {
    async verify(req: VerifyRequest): Promise<VerifyResult> {
      const verifierKey = k.verifier(req.accountId);
      const logKey = k.failureLog(req.accountId);
      const backoffKey = k.backoff(req.accountId);
      const legacyKey = k.failures(req.accountId);
      const at = now();
      const member = `${at}.${randomBytes(4).toString('hex')}`;
      const [state, failures, ms, stored, keyId] = await r.bwPinVerifyBegin(verifierKey, logKey, backoffKey, legacyKey,
        String(at), String(windowMs), String(max), String(backoffAfter), String(baseMs), String(maxWaitMs), member);
      if (state === 'throttled' || state === 'locked') return { verified: false, outcome: state, retryAfterMs: Number(ms) };

      const candidate = (stored && deps.keyring.compute(req.accountId, req.pin, keyId)) || deps.keyring.compute(req.accountId, req.pin) || '';
      const match = digestEquals(candidate, stored || decoy) && stored !== '';
      if (state === 'unknown') {
        // One round trip standing in for the audit write a mismatch makes, so timing does not
        // tell made-up ids from real ones; a read, so nothing is left behind.
        await r.exists(verifierKey);
        return { verified: false, outcome: 'unknown' };
      }
      if (match) {
        const rekey = keyId !== deps.keyring.currentId ? deps.keyring.compute(req.accountId, req.pin) ?? '' : '';
        await r.bwPinVerifySucceed(logKey, backoffKey, verifierKey, legacyKey, member, stored, rekey, deps.keyring.currentId);
        await audit('pin.verify', req, { result: 'verified', keyId, ...(rekey ? { rekeyedTo: deps.keyring.currentId } : {}) });
        return { verified: true, outcome: 'verified' };
      }
      await audit('pin.verify', req, { result: 'mismatch', failures, waitMs: Number(ms) });
      if (failures >= max) await audit('pin.locked', req, { failures, maxFailures: max, windowSeconds: Math.round(windowMs / 1000) });
      return { verified: false, outcome: 'mismatch' };
    },

    /** Clears an account's throttle: see {@link unlockPinVerification}. */
    unlock(accountId: string, actor: string): Promise<{ readonly cleared: boolean }> {
      return unlockPinVerification({ redis: deps.redis, prefix: deps.prefix, audit: deps.audit }, accountId, actor);
    },
  };
}
export type PinVerificationService = ReturnType<typeof createPinVerificationService>;
