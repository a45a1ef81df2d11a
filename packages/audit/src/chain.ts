import { createHash } from 'node:crypto';
import type { AuditRecord } from './record.js';

/** `prev` of the first record of a chain: 64 zeros. */
export const GENESIS_HASH = '0'.repeat(64);

/** Keys the writer owns on every line; a record carrying any of them is rejected as malformed. */
export const CHAIN_FIELDS = ['seq', 'streamId', 'prev', 'hash'] as const;

/** One line of an audit file: the record plus its place in the hash chain. */
export interface AuditLine extends AuditRecord {
  /** 1 for the first record of the chain, then +1 per line, across files. */
  readonly seq: number;
  /** Id of the stream entry the record came from. */
  readonly streamId: string;
  /** `hash` of the previous line ({@link GENESIS_HASH} for seq 1). */
  readonly prev: string;
  /** `sha256hex(prev + '\n' + canonicalJson(line without hash))`. */
  readonly hash: string;
}

/**
 * JSON with object keys sorted recursively (UTF-16 code unit order), no whitespace. Arrays keep
 * their order; `undefined` members are dropped as `JSON.stringify` does.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    const s = JSON.stringify(value);
    // JSON.stringify(undefined) is undefined; inside arrays JSON writes null, so do the same.
    return s === undefined ? 'null' : s;
  }
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i > 0 ? ',' : '') + canonicalJson(value[i]);
    return `${out}]`;
  }
  return canonicalObject(value as Record<string, unknown>, undefined);
}

/**
 * An object's canonical JSON, leaving out the key `skip` (the line's own `hash`). Built as a
 * string, not an object: an own `__proto__` key (legal in parsed JSON) must survive.
 */
function canonicalObject(obj: Record<string, unknown>, skip: string | undefined): string {
  let out = '{';
  let first = true;
  for (const key of Object.keys(obj).sort()) {
    if (key === skip) continue;
    const v = obj[key];
    if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue;
    out += `${first ? '' : ','}${JSON.stringify(key)}:${canonicalJson(v)}`;
    first = false;
  }
  return `${out}}`;
}

/** The chain hash of a line: `sha256hex(prev + '\n' + canonicalJson(line without hash))`. */
export function hashAuditLine(line: { readonly prev: string }): string {
  return createHash('sha256').update(`${line.prev}\n${canonicalObject(line as unknown as Record<string, unknown>, 'hash')}`).digest('hex');
}

/** Builds the chained line for `record` (fields are copied as given, chain fields appended). */
export function chainAuditLine(record: Readonly<Record<string, unknown>>, seq: number, streamId: string, prev: string): AuditLine {
  const { ts, type, ...rest } = record;
  const line: Record<string, unknown> = { seq, ts, type, ...rest, streamId, prev };
  line.hash = hashAuditLine(line as { prev: string });
  return line as unknown as AuditLine;
}

const STREAM_ID = /^(\d+)-(\d+)$/;

/** True for a Redis stream id `ms-seq`. */
export function isStreamId(id: unknown): id is string {
  return typeof id === 'string' && STREAM_ID.test(id);
}

/** Orders two stream ids numerically (`-1`, `0`, `1`). Both must satisfy {@link isStreamId}. */
export function compareStreamIds(a: string, b: string): number {
  const ma = STREAM_ID.exec(a);
  const mb = STREAM_ID.exec(b);
  if (!ma || !mb) throw new TypeError(`not a stream id: ${ma ? b : a}`);
  return compareDigits(ma[1] ?? '0', mb[1] ?? '0') || compareDigits(ma[2] ?? '0', mb[2] ?? '0');
}

/** Orders two non-negative decimal integers of any length, without converting them. */
function compareDigits(a: string, b: string): number {
  const x = a.replace(/^0+(?=\d)/, '');
  const y = b.replace(/^0+(?=\d)/, '');
  if (x.length !== y.length) return x.length < y.length ? -1 : 1;
  return x < y ? -1 : x > y ? 1 : 0;
}

/** `text` parsed as a JSON object, or why it is not one: `not JSON` or `not a JSON object`. */
export function parseJsonObject(text: string): Record<string, unknown> | string {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return 'not JSON';
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return 'not a JSON object';
  return v as Record<string, unknown>;
}
