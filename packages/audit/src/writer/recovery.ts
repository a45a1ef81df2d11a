import { createReadStream } from 'node:fs';
import { appendFile, truncate, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { BreachwaveError } from '@breachwave/domain';
import { hashAuditLine, isStreamId, parseJsonObject, type AuditLine } from '../chain.js';
import { listAuditFiles, readFileTail } from '../files.js';
import { auditHeadKey, readAuditHead } from '../head.js';
import { fsyncPath } from './file-sink.js';

/** The last line of the chain as found in the files. */
export interface ChainEnd {
  readonly seq: number;
  readonly hash: string;
  readonly streamId: string;
}

/** What {@link recoverChain} found in the directory. */
export interface RecoveredChain {
  /** The last valid line; undefined when no file holds a line (a new chain). */
  readonly end: ChainEnd | undefined;
  /** Name of the newest audit file, empty or not. */
  readonly newestName: string | undefined;
  /** The file holding `end`, and the line it is on. */
  readonly endAt?: { readonly path: string; readonly lines: number };
}

/**
 * Picks the chain up from the last line of the newest non-empty file in `dir`, repairing a
 * tail torn by a crash first.
 * @throws BreachwaveError BW_AUDIT_CHAIN_BROKEN when that last line is not a valid chain record.
 */
export async function recoverChain(dir: string, log: Logger): Promise<RecoveredChain> {
  const files = await listAuditFiles(dir);
  const newest = files.at(-1);
  const newestName = newest === undefined ? undefined : basename(newest);
  for (let i = files.length - 1; i >= 0; i--) {
    const file = files[i] as string;
    let tail = await readFileTail(file);
    if (tail.torn.length > 0) {
      await repairTornTail(file, tail.torn, tail.tornOffset, log);
      tail = await readFileTail(file);
    }
    if (tail.lastLine === undefined) continue;
    const line = parseChainLine(tail.lastLine);
    if (typeof line === 'string') {
      throw new BreachwaveError('BW_AUDIT_CHAIN_BROKEN', { detail: `last line of ${file}: ${line}; run verify and repair before restarting` });
    }
    log.info({ file, seq: line.seq, streamId: line.streamId }, 'audit chain recovered');
    return { end: { seq: line.seq, hash: line.hash, streamId: line.streamId }, newestName, endAt: { path: file, lines: await countLines(file) } };
  }
  return { end: undefined, newestName };
}

/**
 * A line without its newline is a write cut short by a crash: its entry was never acked, so it
 * will be written again. A complete, valid record just gets its newline; anything else is set
 * aside next to the file (never silently dropped) and cut off.
 */
async function repairTornTail(file: string, torn: Buffer, offset: number, log: Logger): Promise<void> {
  if (typeof parseChainLine(torn.toString('utf8')) !== 'string') {
    await appendFile(file, '\n');
    await fsyncPath(file);
    log.warn({ file }, 'audit file ended without a newline after a valid record; newline added');
    return;
  }
  const aside = `${file}.torn-${Date.now()}`;
  await writeFile(aside, torn, { flag: 'wx' });
  await fsyncPath(aside);
  await truncate(file, offset);
  await fsyncPath(file);
  log.warn({ file, bytes: torn.length, savedTo: aside }, 'audit file ended with a partial line (crash during write); moved aside, its entry will be rewritten');
}

/** A line as chain state, or why it is not a valid chain record. */
function parseChainLine(text: string): AuditLine | string {
  const r = parseJsonObject(text);
  if (typeof r === 'string') return r;
  if (!Number.isSafeInteger(r.seq) || (r.seq as number) < 1) return 'seq missing or invalid';
  if (typeof r.prev !== 'string' || typeof r.hash !== 'string') return 'prev or hash missing';
  if (!isStreamId(r.streamId)) return 'streamId missing or invalid';
  if (hashAuditLine(r as { prev: string }) !== r.hash) return 'hash mismatch';
  return r as unknown as AuditLine;
}

/**
 * Compares the chain's end in the files (`seq`, `hash`: seq 0 and the genesis hash for none)
 * with the head the writer last recorded in Redis.
 * @throws BreachwaveError BW_AUDIT_CHAIN_BROKEN when the files end before that head, or end at
 * its seq with another hash (files lost, cut or replaced).
 */
export async function checkHead(redis: Redis, prefix: string, dir: string, seq: number, hash: string): Promise<void> {
  const head = await readAuditHead(redis, prefix);
  if (!head) return;
  const headKey = auditHeadKey(prefix);
  const fix = 'restore them (or delete that key to start a new chain on purpose)';
  if (head.seq > seq) {
    throw new BreachwaveError('BW_AUDIT_CHAIN_BROKEN', {
      detail: `audit files in ${dir} end at seq ${seq} but the chain head recorded in Redis (${headKey}) is seq ${head.seq}: ` +
        `files are missing or truncated; ${fix}`,
    });
  }
  if (head.seq === seq && head.hash !== hash) {
    throw new BreachwaveError('BW_AUDIT_CHAIN_BROKEN', {
      detail: `the last record in ${dir} (seq ${seq}) is not the chain head recorded in Redis (${headKey}): ` +
        `these files belong to another chain or were replaced; ${fix}`,
    });
  }
}

/** Lines in a file (its newlines: every line of an audit file ends with one). */
async function countLines(file: string): Promise<number> {
  let n = 0;
  for await (const chunk of createReadStream(file)) {
    const buf = chunk as Buffer;
    for (let i = buf.indexOf(10); i !== -1; i = buf.indexOf(10, i + 1)) n++;
  }
  return n;
}
