import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { CHAIN_FIELDS, parseJsonObject } from '../chain.js';
import { AUDIT_FIELD } from '../record.js';

const MALFORMED_TYPE = 'audit.malformed';
const SELF_ACTOR = 'audit-writer';
const OPTIONAL_STRINGS = ['wave', 'account', 'action', 'from', 'to'] as const;

/**
 * Builds the record for a stream entry; an unusable entry becomes an `audit.malformed` record,
 * never a gap. `fields` is null for an entry deleted from the stream before it was read.
 */
export function entryRecord(id: string, fields: readonly string[] | null, now: () => Date, log: Logger): Record<string, unknown> {
  const raw = fieldValue(fields, AUDIT_FIELD);
  const problem = fields === null ? 'entry was deleted from the stream before it was written'
    : raw === undefined ? `entry has no "${AUDIT_FIELD}" field`
    : undefined;
  let reason = problem;
  if (raw !== undefined) {
    const checked = checkRecord(raw);
    if (typeof checked !== 'string') return checked;
    reason = checked;
  }
  log.warn({ streamId: id, reason }, 'audit writer: malformed audit entry; recorded as audit.malformed');
  // The payload itself is not kept: it broke the contract, so it may also break the no-PII rule.
  const detail: Record<string, unknown> = { reason: reason ?? 'unknown' };
  if (raw !== undefined) {
    detail.bytes = Buffer.byteLength(raw);
    detail.sha256 = createHash('sha256').update(raw).digest('hex');
  }
  return { ts: now().toISOString(), type: MALFORMED_TYPE, actor: SELF_ACTOR, detail };
}

function fieldValue(fields: readonly string[] | null, name: string): string | undefined {
  if (!fields) return undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

/** The record parsed from an entry, or why it breaks the stream contract. */
function checkRecord(raw: string): Record<string, unknown> | string {
  const r = parseJsonObject(raw);
  if (typeof r === 'string') return `record is ${r}`;
  for (const f of ['ts', 'type', 'actor'] as const) {
    if (typeof r[f] !== 'string' || r[f] === '') return `record field ${f} is missing or not a string`;
  }
  for (const f of OPTIONAL_STRINGS) {
    if (r[f] !== undefined && typeof r[f] !== 'string') return `record field ${f} is not a string`;
  }
  if (r.detail !== undefined && (r.detail === null || typeof r.detail !== 'object' || Array.isArray(r.detail))) {
    return 'record field detail is not an object';
  }
  for (const f of CHAIN_FIELDS) if (Object.hasOwn(r, f)) return `record carries the writer's field ${f}`;
  return r;
}
