import { open, readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { BreachwaveError } from '@breachwave/domain';

/** `audit-<timestamp>-<first seq, 12 digits>.jsonl`; the timestamp is ISO 8601 with `:` → `-`. */
const FILE_NAME = /^audit-(\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}\.\d{3}Z)-(\d+)\.jsonl$/;

/** True for a file name the audit writer produces. */
export function isAuditFileName(name: string): boolean {
  return FILE_NAME.test(name);
}

/**
 * Name of a new audit file whose first line has `firstSeq`. `notBefore` is the newest existing
 * file name: the timestamp never goes below it, so name order stays chain order even when the
 * clock steps back between restarts.
 */
export function auditFileName(firstSeq: number, now: Date, notBefore?: string): string {
  let stamp = now.toISOString().replaceAll(':', '-');
  const prior = notBefore === undefined ? undefined : FILE_NAME.exec(basename(notBefore))?.[1];
  if (prior !== undefined && prior > stamp) stamp = prior;
  return `audit-${stamp}-${String(firstSeq).padStart(12, '0')}.jsonl`;
}

/** Compares file paths by file name (then full path), the order the chain runs through them. */
export function compareAuditPaths(a: string, b: string): number {
  const na = basename(a);
  const nb = basename(b);
  if (na !== nb) return na < nb ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The audit files in `dir`, oldest first (full paths). A missing directory has none.
 * @throws BreachwaveError BW_INPUT_FILE when `dir` exists but cannot be listed.
 */
export async function listAuditFiles(dir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new BreachwaveError('BW_INPUT_FILE', { detail: `cannot list ${dir}: ${(err as Error).message}`, cause: err });
  }
  return names.filter(isAuditFileName).map((n) => join(dir, n)).sort(compareAuditPaths);
}

/** The tail of a file: its last complete line, and any bytes after the last newline. */
export interface FileTail {
  /** Last newline-terminated line, without the newline; undefined when there is none. */
  readonly lastLine: string | undefined;
  /** Bytes after the last newline (a torn write), empty when the file ends with a newline. */
  readonly torn: Buffer;
  /** Byte offset where `torn` starts (= file size when `torn` is empty). */
  readonly tornOffset: number;
}

/** Reads a file's tail backwards in chunks, so it costs the same on a huge file as on a small one. */
export async function readFileTail(path: string, chunkSize = 64 * 1024): Promise<FileTail> {
  const fh = await open(path, 'r');
  try {
    const { size } = await fh.stat();
    let pos = size;
    let buf = Buffer.alloc(0);
    let lastNl = -1;
    // Find the last newline.
    while (pos > 0 && lastNl < 0) {
      const n = Math.min(chunkSize, pos);
      pos -= n;
      const chunk = Buffer.alloc(n);
      await fh.read(chunk, 0, n, pos);
      buf = Buffer.concat([chunk, buf]);
      lastNl = buf.lastIndexOf(0x0a);
    }
    if (lastNl < 0) return { lastLine: undefined, torn: buf, tornOffset: 0 };
    const tornOffset = pos + lastNl + 1;
    const torn = buf.subarray(lastNl + 1);
    // Find the newline before it (or the start of the file).
    let prevNl = lastNl === 0 ? -1 : buf.lastIndexOf(0x0a, lastNl - 1);
    let shift = 0;
    while (prevNl < 0 && pos > 0) {
      const n = Math.min(chunkSize, pos);
      pos -= n;
      const chunk = Buffer.alloc(n);
      await fh.read(chunk, 0, n, pos);
      buf = Buffer.concat([chunk, buf]);
      shift += n;
      prevNl = buf.lastIndexOf(0x0a, lastNl + shift - 1);
    }
    const lastLine = buf.subarray(prevNl + 1, lastNl + shift).toString('utf8');
    return { lastLine, torn: Buffer.from(torn), tornOffset };
  } finally {
    await fh.close();
  }
}

/**
 * The directory of one shard's chain (`BW_SHARDS`): shard 0 writes into the audit directory itself,
 * as a deployment without shards does; shard s > 0 into its subdirectory `shard-<s>`, which the
 * listing of the audit directory does not descend into, so every chain stays apart.
 */
export function auditShardDir(dir: string, shard: number): string {
  return shard === 0 ? dir : join(dir, `shard-${shard}`);
}
