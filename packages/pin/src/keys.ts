/**
 * Redis keys of the PIN package. None holds a PIN: verifiers are keyed hashes, a held PIN is an
 * AES-256-GCM envelope. Changing a key's shape strands data already written: add a key and
 * migrate instead.
 */
export function pinKeys(prefix: string) {
  return {
    /** Hash: the account's current verifier `v`, its key id `kid`, the rotation `rot` that set it, rotations applied `n`, time `at`. */
    verifier: (accountId: string) => `${prefix}:pin:verifier:${accountId}`,
    /** String `<kid>.<verifier>` of the PIN a rotation applied; makes `apply` idempotent by rotation id. */
    applied: (rotationId: string) => `${prefix}:pin:applied:${rotationId}`,
    /**
     * Legacy: a counter of consecutive failures that never expired (the account stayed locked for
     * ever). No longer written; deleted when its account is verified, unlocked or rotated.
     */
    failures: (accountId: string) => `${prefix}:pin:failures:${accountId}`,
    /** Sorted set: the account's failed verifications within the failure window, scored by time (ms); at most the cap. TTL: the window. */
    failureLog: (accountId: string) => `${prefix}:pin:fails:${accountId}`,
    /** Hash: consecutive failures `c` and the time (ms) before which no try is checked `next`. TTL: the window. */
    backoff: (accountId: string) => `${prefix}:pin:backoff:${accountId}`,
    /** Per-client request counter of PIN verification (fixed window, TTL one window). */
    clientRate: (clientId: string) => `${prefix}:pin:rl:${clientId}`,
    /** The rotation's PIN, sealed, from before the store call until the notice is sent (TTL). */
    held: (waveId: string, accountId: string) => `${prefix}:pin:held:${waveId}:${accountId}`,
  } as const;
}
export type PinKeys = ReturnType<typeof pinKeys>;
