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
    /** Consecutive failed verifications of the account. */
    failures: (accountId: string) => `${prefix}:pin:failures:${accountId}`,
    /** The rotation's PIN, sealed, from before the store call until the notice is sent (TTL). */
    held: (waveId: string, accountId: string) => `${prefix}:pin:held:${waveId}:${accountId}`,
  } as const;
}
export type PinKeys = ReturnType<typeof pinKeys>;
