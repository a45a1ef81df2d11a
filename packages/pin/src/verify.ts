import type { Redis } from 'ioredis';
import { BreachwaveError } from '@breachwave/domain';
import type { AuditInput } from '@breachwave/ledger';
import { digestEquals } from '@breachwave/secrets';
import { pinKeys } from './keys.js';
import type { VerifierKeyring } from './verifier.js';

/** NIST SP 800-63B §5.2.2: no more than 100 consecutive failed attempts on one account. */
export const MAX_FAILURES_CEILING = 100;

/**
 * KEYS: failure counter, verifier hash. ARGV: max failures.
 * Counts the attempt as a failure *before* the comparison (reset on success), so concurrent
 * guesses can never pass the limit. Returns {state, failures, verifier, keyId}.
 */
const BEGIN = `
local f = tonumber(redis.call('GET', KEYS[1]) or '0')
if f >= tonumber(ARGV[1]) then return {'locked', f, '', ''} end
f = redis.call('INCR', KEYS[1])
local rec = redis.call('HMGET', KEYS[2], 'v', 'kid')
return {'open', f, rec[1] or '', rec[2] or ''}
`;

/**
 * KEYS: failure counter, verifier hash. ARGV: verifier that matched, new verifier, new key id.
 * Clears the failures and, when the match was under an old key, re-keys the verifier (only if it
 * has not changed meanwhile).
 */
const SUCCEED = `
redis.call('DEL', KEYS[1])
if ARGV[2] ~= '' and redis.call('HGET', KEYS[2], 'v') == ARGV[1] then
  redis.call('HSET', KEYS[2], 'v', ARGV[2], 'kid', ARGV[3])
end
return 1
`;

type VerifyRedis = Redis & {
  bwPinVerifyBegin(k1: string, k2: string, max: string): Promise<[string, number, string, string]>;
  bwPinVerifySucceed(k1: string, k2: string, ...args: string[]): Promise<number>;
};

/** Dependencies of {@link createPinVerificationService}. */
export interface PinVerificationDeps {
  /** A fail-fast (`producer`) client: a caller on the phone should hear an error, not wait. */
  readonly redis: Redis;
  readonly prefix: string;
  readonly keyring: VerifierKeyring;
  /** Consecutive failures before lockout (`BW_PIN_MAX_FAILURES`), 1–100. */
  readonly maxFailures: number;
  /** Audit sink (the ledger's `audit`). */
  readonly audit: (input: AuditInput) => Promise<void>;
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

export interface VerifyResult {
  readonly verified: boolean;
  /** True when the account is locked after this attempt (or was before it). */
  readonly locked: boolean;
  /** Failed attempts left before lockout. */
  readonly remainingAttempts: number;
}

/**
 * PIN verification for care agents and the IVR: a constant-time comparison with the account's
 * stored verifier, throttled by consecutive failures (locked at `maxFailures`; unlocked by
 * {@link PinVerificationService.unlock} or by the next rotation), and every attempt and lockout
 * audited without the PIN.
 * @throws BreachwaveError BW_CONFIG_INVALID when `maxFailures` is outside 1–100.
 */
export function createPinVerificationService(deps: PinVerificationDeps) {
  if (!Number.isInteger(deps.maxFailures) || deps.maxFailures < 1 || deps.maxFailures > MAX_FAILURES_CEILING) {
    throw new BreachwaveError('BW_CONFIG_INVALID', { detail: `PIN max failures must be 1–${MAX_FAILURES_CEILING} (NIST SP 800-63B)` });
  }
  const k = pinKeys(deps.prefix);
  const r = deps.redis as VerifyRedis;
  if (typeof r.bwPinVerifyBegin !== 'function') {
    r.defineCommand('bwPinVerifyBegin', { numberOfKeys: 2, lua: BEGIN });
    r.defineCommand('bwPinVerifySucceed', { numberOfKeys: 2, lua: SUCCEED });
  }
  const max = deps.maxFailures;
  // Compared against when the account has no verifier, so a miss costs what a mismatch costs.
  const decoy = deps.keyring.compute('decoy', 'decoy') ?? '';

  const audit = (type: string, req: VerifyRequest, detail: Record<string, unknown>) =>
    deps.audit({ type, actor: req.actor, account: req.accountId, ...(req.waveId ? { wave: req.waveId } : {}), detail });

  return {
    async verify(req: VerifyRequest): Promise<VerifyResult> {
      const failuresKey = k.failures(req.accountId);
      const verifierKey = k.verifier(req.accountId);
      const [state, failures, stored, keyId] = await r.bwPinVerifyBegin(failuresKey, verifierKey, String(max));
      if (state === 'locked') {
        await audit('pin.verify', req, { result: 'locked', failures });
        return { verified: false, locked: true, remainingAttempts: 0 };
      }
      const candidate = (stored && deps.keyring.compute(req.accountId, req.pin, keyId)) || deps.keyring.compute(req.accountId, req.pin) || '';
      const match = digestEquals(candidate, stored || decoy) && stored !== '';
      if (match) {
        const rekey = keyId !== deps.keyring.currentId ? deps.keyring.compute(req.accountId, req.pin) ?? '' : '';
        await r.bwPinVerifySucceed(failuresKey, verifierKey, stored, rekey, deps.keyring.currentId);
        await audit('pin.verify', req, { result: 'verified', keyId, ...(rekey ? { rekeyedTo: deps.keyring.currentId } : {}) });
        return { verified: true, locked: false, remainingAttempts: max };
      }
      const locked = failures >= max;
      await audit('pin.verify', req, { result: stored ? 'mismatch' : 'no-verifier', failures });
      if (locked) await audit('pin.locked', req, { failures, maxFailures: max });
      return { verified: false, locked, remainingAttempts: Math.max(0, max - failures) };
    },

    /** Clears an account's lockout (an operator or care supervisor decision), audited. */
    async unlock(accountId: string, actor: string): Promise<void> {
      await r.unlink(k.failures(accountId));
      await deps.audit({ type: 'pin.unlocked', actor, account: accountId });
    },
  };
}
export type PinVerificationService = ReturnType<typeof createPinVerificationService>;
