import type { Redis } from 'ioredis';
import { isStreamId } from './chain.js';

/** The chain's end as last acknowledged by the writer. */
export interface AuditHead {
  readonly seq: number;
  readonly hash: string;
  readonly streamId?: string;
}

/**
 * Key where the writer records the chain head with every acknowledged batch:
 * `${prefix}:audit:head`. Files cut short at the end still verify on their own; compared with
 * this head (see `VerifyOptions.head`) they do not.
 */
export function auditHeadKey(prefix: string): string {
  return `${prefix}:audit:head`;
}

/**
 * Key of the audit writer's lease (`${prefix}:audit:writer`): it holds the running writer's
 * `host:pid#uuid`. Only the holder writes the chain; a second writer stands by until it is free.
 */
export function auditWriterLeaseKey(prefix: string): string {
  return `${prefix}:audit:writer`;
}

/** Reads the recorded chain head; undefined when none was recorded or it is unreadable. */
export async function readAuditHead(redis: Redis, prefix: string): Promise<AuditHead | undefined> {
  const raw = await redis.get(auditHeadKey(prefix));
  if (raw === null) return undefined;
  try {
    const v = JSON.parse(raw) as Record<string, unknown>;
    if (!Number.isSafeInteger(v.seq) || typeof v.hash !== 'string') return undefined;
    return { seq: v.seq as number, hash: v.hash, ...(isStreamId(v.streamId) ? { streamId: v.streamId } : {}) };
  } catch {
    return undefined;
  }
}
