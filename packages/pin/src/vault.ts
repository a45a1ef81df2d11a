import type { Redis } from 'ioredis';
import { BreachwaveError, type PinApplyOutcome, type PinApplyResult, type PinRotationRequest, type PinStore } from '@breachwave/domain';
import { digestEquals } from '@breachwave/secrets';
import { pinKeys } from './keys.js';
import type { VerifierKeyring } from './verifier.js';

/**
 * KEYS: verifier hash, applied marker, legacy failure counter, failure log, backoff.
 * ARGV: rotation id, key id, verifier, ISO time, marker TTL (s).
 * A rotation id seen before answers `replayed` (same verifier) or `conflict` (another PIN) and
 * changes nothing; a new one sets the verifier, counts it, and clears the verification throttle
 * (a new PIN starts a new throttling window: what a guesser learned about the old one is void).
 */
const APPLY = `
local mark = ARGV[2] .. '.' .. ARGV[3]
local prior = redis.call('GET', KEYS[2])
if prior then
  if prior == mark then return 'replayed' end
  return 'conflict'
end
redis.call('HSET', KEYS[1], 'v', ARGV[3], 'kid', ARGV[2], 'rot', ARGV[1], 'at', ARGV[4])
redis.call('HINCRBY', KEYS[1], 'n', 1)
redis.call('SET', KEYS[2], mark, 'EX', tonumber(ARGV[5]))
redis.call('DEL', KEYS[3], KEYS[4], KEYS[5])
return 'applied'
`;

type VaultRedis = Redis & {
  bwPinApply(k1: string, k2: string, k3: string, k4: string, k5: string, ...args: string[]): Promise<string>;
};

/** What the vault holds for an account (no PIN). */
export interface VaultRecord {
  readonly verifier: string;
  readonly keyId: string;
  readonly rotationId: string;
  /** Rotations applied to this account. */
  readonly applied: number;
  readonly at: string;
}

export interface VaultPinStoreDeps {
  readonly redis: Redis;
  readonly prefix: string;
  readonly keyring: VerifierKeyring;
  /** How long a rotation id stays known (its retries must fall inside). Default 30 days. */
  readonly appliedTtlSeconds?: number;
  readonly now?: () => Date;
}

/** The Redis vault: a {@link PinStore} that keeps only a keyed verifier per account. */
export interface VaultPinStore extends PinStore {
  read(accountId: string): Promise<VaultRecord | undefined>;
  /**
   * A constant-time check of a candidate against the account's current verifier, for the
   * policy's "not the previous PIN" rule; undefined when the account has no verifier here.
   */
  previousMatcher(accountId: string): Promise<((pin: string) => boolean) | undefined>;
}

/**
 * Breachwave's own PIN vault in Redis. `apply` stores HMAC-SHA256(key, account, PIN) and the key
 * id, idempotently by rotation id (one Lua script, so a retried rotation can never apply twice).
 */
export function createVaultPinStore(deps: VaultPinStoreDeps): VaultPinStore {
  const k = pinKeys(deps.prefix);
  const now = deps.now ?? (() => new Date());
  const ttl = deps.appliedTtlSeconds ?? 30 * 86_400;
  const r = deps.redis as VaultRedis;
  if (typeof r.bwPinApply !== 'function') r.defineCommand('bwPinApply', { numberOfKeys: 5, lua: APPLY });

  const read = async (accountId: string): Promise<VaultRecord | undefined> => {
    const h = await r.hgetall(k.verifier(accountId));
    if (!h.v || !h.kid) return undefined;
    return { verifier: h.v, keyId: h.kid, rotationId: h.rot ?? '', applied: Number(h.n ?? 0), at: h.at ?? '' };
  };

  return {
    name: 'vault',
    async apply(request: PinRotationRequest): Promise<PinApplyResult> {
      const kid = deps.keyring.currentId;
      const verifier = deps.keyring.compute(request.accountId, request.pin, kid);
      if (!verifier) throw new BreachwaveError('BW_CONFIG_INVALID', { detail: 'PIN verifier key missing' });
      const outcome = await r.bwPinApply(k.verifier(request.accountId), k.applied(request.rotationId), k.failures(request.accountId),
        k.failureLog(request.accountId), k.backoff(request.accountId),
        request.rotationId, kid, verifier, now().toISOString(), String(ttl));
      return { outcome: outcome as PinApplyOutcome, store: 'vault', keyId: kid };
    },
    read,
    async previousMatcher(accountId) {
      const rec = await read(accountId);
      if (!rec || !deps.keyring.has(rec.keyId)) return undefined;
      return (pin: string) => digestEquals(deps.keyring.compute(accountId, pin, rec.keyId) ?? '', rec.verifier);
    },
  };
}

/**
 * A store that applies to `primary` (the carrier's BSS, the system of record) and then mirrors
 * the verifier into `mirror` (the vault) so care agents and the IVR can verify through breachwave.
 * Both are idempotent by rotation id, so a retry re-runs both safely. When the primary reports a
 * `conflict` the PIN in hand is not the account's PIN and is not mirrored.
 */
export function createMirroredPinStore(primary: PinStore, mirror: PinStore): PinStore {
  return {
    name: primary.name,
    async apply(request) {
      const result = await primary.apply(request);
      if (result.outcome === 'conflict') return result;
      const mirrored = await mirror.apply(request);
      return { ...result, ...(mirrored.keyId ? { keyId: mirrored.keyId } : {}) };
    },
  };
}
