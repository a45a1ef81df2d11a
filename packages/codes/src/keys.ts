/**
 * Redis keys of the code store, all under `<prefix>:codes:`. They outlive waves (a code is good
 * for its whole enrollment window), so they are per deployment, not per wave. Changing a key's
 * shape strands codes already loaded: add a new key and migrate instead.
 */
export function codeKeys(prefix: string) {
  const base = `${prefix}:codes`;
  return {
    /**
     * Hash: keyed hash of a code → its owner: `pool:<name>` or `gen` while unassigned,
     * `<source>|<personKey>` once assigned. The deployment-wide uniqueness index, and the
     * lookup for redemption feeds; it never holds a code.
     */
    index: `${base}:idx`,
    /** Hash: person key → the assignment (JSON: hash, sealed code, masked code, enroll-by day, source, wave, time). */
    assign: `${base}:assign`,
    /** Hash: keyed hash of a redeemed code → the ISO date the vendor reported. */
    redeemed: `${base}:redeemed`,
    /** Set of pool names. */
    pools: `${base}:pools`,
    /** Hash: a pool's counters and event flags (loaded, assigned, redeemed, waits, low, empty…). */
    pool: (name: string) => `${base}:pool:${name}`,
    /** Sorted set: the pool's unassigned codes (by keyed hash), scored by enroll-by epoch day. */
    available: (name: string) => `${base}:pool:${name}:avail`,
    /** Hash: keyed hash → `{ m: masked, c: sealed }` for the pool's unassigned codes. */
    sealed: (name: string) => `${base}:pool:${name}:sealed`,
    /** Hash: counters of generated codes (assigned, collisions, redeemed). */
    generated: `${base}:gen`,
    /** Hash: wave id → `wave` when the operator asked for fresh codes in that wave. */
    scope: `${base}:scope`,
    /** Hash: keyed hash → file line, for one import run (duplicate lines name their first line). */
    importRun: (pool: string, importId: string) => `${base}:import:${pool}:${importId}`,
    /** Prefix of pool hashes, for scripts that touch the pool a code came from. */
    poolPrefix: `${base}:pool:`,
  } as const;
}
export type CodeKeys = ReturnType<typeof codeKeys>;
