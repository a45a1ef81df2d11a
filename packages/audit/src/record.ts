import type { Redis } from 'ioredis';

/**
 * One audit event as producers put it on the audit stream (field {@link AUDIT_FIELD}, JSON).
 * Producers guarantee it carries no PII and no secrets: the written trail is append-only and
 * hash-chained, so nothing in it can be scrubbed later without breaking the chain.
 */
export interface AuditRecord {
  /** When the event happened (ISO 8601), set by the producer. */
  readonly ts: string;
  /** Event type, e.g. `wave.created`, `notify.claimed`, `notify.done`, `operator.dlq.retry`. */
  readonly type: string;
  readonly wave?: string;
  readonly account?: string;
  readonly action?: string;
  /** State before a transition (not a contact point). */
  readonly from?: string;
  /** State after a transition (not a contact point). */
  readonly to?: string;
  /** Who caused it: a service name or an operator id. */
  readonly actor: string;
  readonly detail?: Record<string, unknown>;
}

/** The stream entry field holding the JSON {@link AuditRecord}. */
export const AUDIT_FIELD = 'r';

/** Default key prefix shared by all breachwave processes. */
export const DEFAULT_PREFIX = 'bw';

/** The audit stream's key: `${prefix}:audit`. */
export function auditStreamKey(prefix: string = DEFAULT_PREFIX): string {
  return `${prefix}:audit`;
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
