import { auditStreamKey } from './audit-stream.js';

/**
 * Every Redis key breachwave itself writes (BullMQ's own keys live under `<prefix>:<queue>:…`).
 * Changing a key's shape strands data already written: add a new key and migrate instead.
 */
export function keys(prefix: string) {
  return {
    /** Sorted set of wave ids by creation time. */
    waves: `${prefix}:waves`,
    /** Hash: the wave's manifest (JSON), status, when it entered each status (`first:<status>`, `last:<status>`, epoch ms) and ingest/feed counters. */
    wave: (w: string) => `${prefix}:wave:${w}`,
    /** Hash: per-action state counters, `<action>:<state>` and extra counters. */
    counts: (w: string) => `${prefix}:wave:${w}:counts`,
    /** Hash: accountId → the account's ledger entry (JSON, one object per action). */
    ledger: (w: string) => `${prefix}:wave:${w}:ledger`,
    /** String: the wave's finished accounts compacted, one fixed-width slot per account ordinal (`compact.ts`). */
    compact: (w: string) => `${prefix}:wave:${w}:compact`,
    /** String with a TTL: the lease of the one process feeding the wave (its holder token, `host:pid#uuid`). */
    feeder: (w: string) => `${prefix}:wave:${w}:feeder`,
    /** Hash: the minimised account record with its contact points sealed (AES-256-GCM). */
    account: (w: string, a: string) => `${prefix}:wave:${w}:acct:${a}`,
    /** Hash: keyed fingerprint of a source file's bytes → the id of the wave first created from it. */
    sources: `${prefix}:sources`,
    /** Stream of audit records, drained by the audit-writer. */
    audit: auditStreamKey(prefix),
  } as const;
}
export type Keys = ReturnType<typeof keys>;
