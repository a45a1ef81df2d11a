import { BreachwaveError } from '@breachwave/domain';
import { keyedHash, type KeyRef } from '@breachwave/secrets';

/**
 * HMAC-SHA256 verifier keys: the current key first, older ones kept for verifying only. A verifier
 * names the key that made it (`kid`), so keys can be rotated without re-issuing PINs.
 *
 * Why HMAC and not scrypt: a six-digit PIN has ~20 bits, so no password hash makes a stolen
 * verifier safe on its own — the secret key, held outside Redis, does. scrypt at OWASP strength
 * costs ~0.6 s per PIN here (74 h for 850K); an HMAC costs microseconds.
 */
export interface VerifierKeyring {
  readonly currentId: string;
  /** The verifier of `pin` for `accountId` under key `kid` (default: the current key); undefined for an unknown key id. */
  compute(accountId: string, pin: string, kid?: string): string | undefined;
  has(kid: string): boolean;
}

/** @throws BreachwaveError BW_CONFIG_INVALID when no key is given or a key is not 32 bytes. */
export function createVerifierKeyring(keys: readonly KeyRef[]): VerifierKeyring {
  const current = keys[0];
  if (!current) throw new BreachwaveError('BW_CONFIG_INVALID', { detail: 'BW_PIN_VERIFIER_KEY is not set' });
  for (const k of keys) {
    if (k.key.length !== 32) throw new BreachwaveError('BW_CONFIG_INVALID', { detail: `PIN verifier key ${k.id} must be 32 bytes` });
    if (!/^[A-Za-z0-9_-]+$/.test(k.id)) throw new BreachwaveError('BW_CONFIG_INVALID', { detail: 'PIN verifier key id must be [A-Za-z0-9_-]+' });
  }
  const byId = new Map(keys.map((k) => [k.id, k.key]));
  return {
    currentId: current.id,
    // Binding the account id means one precomputed table per account, not one for everyone.
    compute: (accountId, pin, kid = current.id) => {
      const key = byId.get(kid);
      return key ? keyedHash(key, `pin-verifier:v1:${accountId}:${pin}`) : undefined;
    },
    has: (kid) => byId.has(kid),
  };
}
