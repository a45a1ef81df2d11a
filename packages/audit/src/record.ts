import type { Redis } from 'ioredis';
import { AUDIT_FIELD, auditStreamKey as streamKey, type AuditRecord } from '@breachwave/ledger/audit-stream';

// The stream's contract (key, field, record shape) is defined once, beside its producers.
export { AUDIT_FIELD, type AuditRecord };

/** Default key prefix shared by all breachwave processes. */
export const DEFAULT_PREFIX = 'bw';

/** The audit stream's key: `${prefix}:audit`. */
export function auditStreamKey(prefix: string = DEFAULT_PREFIX): string {
  return streamKey(prefix);
}

/**
 * Appends one record to the audit stream (XADD) and returns its stream id. A convenience for
 * producers and tests; anything that XADDs the same shape is equally valid.
 */
export async function appendAuditRecord(redis: Redis, prefix: string, record: AuditRecord): Promise<string> {
  const id = await redis.xadd(auditStreamKey(prefix), '*', AUDIT_FIELD, JSON.stringify(record));
  // XADD only returns null with NOMKSTREAM, which is not used here.
  return id as string;
}
