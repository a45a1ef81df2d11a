/**
 * The audit stream's contract, shared by every producer (the ledger's scripts and transactions,
 * the code store, the suppression list, PIN holds) and its one consumer, the audit writer in
 * `@breachwave/audit`: where the stream is, which field of an entry holds the record, what a
 * record is and how it is encoded. It imports nothing, so the audit package can depend on it
 * (as `@breachwave/ledger/audit-stream`) without pulling in the ledger.
 *
 * Changing the key or the field name strands entries already on the stream: the writer would no
 * longer find them, or would record them as malformed.
 */

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

/** What a producer says about an event: an {@link AuditRecord} without its time (see {@link auditRecordJson}). */
export interface AuditInput {
  readonly type: string;
  readonly actor: string;
  readonly wave?: string;
  readonly account?: string;
  readonly action?: string;
  readonly detail?: Readonly<Record<string, unknown>>;
}

/** The stream entry field holding the JSON {@link AuditRecord}. */
export const AUDIT_FIELD = 'r';

/**
 * {@link AUDIT_FIELD} as a Lua string literal, for the scripts that append a record themselves:
 * `redis.call('XADD', KEYS[n], '*', ${AUDIT_FIELD_LUA}, record)`.
 */
export const AUDIT_FIELD_LUA = `'${AUDIT_FIELD}'`;

/** The audit stream's key: `${prefix}:audit`. */
export function auditStreamKey(prefix: string): string {
  return `${prefix}:audit`;
}

/**
 * An audit record as the stream holds it (field {@link AUDIT_FIELD}): the input with its time
 * first. For code that appends a record inside its own script or transaction, so it reads like
 * every other.
 */
export function auditRecordJson(input: AuditInput, at: Date): string {
  return JSON.stringify({ ts: at.toISOString(), ...input });
}
