import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { BreachwaveError } from '@breachwave/domain';
import { GENESIS_HASH, hashAuditLine } from './chain.js';
import { compareAuditPaths } from './files.js';

/** Outcome of {@link verifyAuditFiles}. */
export type VerifyResult = VerifyOk | VerifyFailure;

/** Every line of every file checked out. */
export interface VerifyOk {
  readonly ok: true;
  /** Records verified. */
  readonly records: number;
  /** Files read. */
  readonly files: number;
  /** `hash` of the last record ({@link GENESIS_HASH} when there are none, or `after.hash`). */
  readonly lastHash: string;
  /** `seq` of the last record (0 when there are none, or `after.seq`). */
  readonly lastSeq: number;
}

/** The first bad record. */
export interface VerifyFailure {
  readonly ok: false;
  /** Records verified before the bad one. */
  readonly records: number;
  /** File holding the bad record (as given). */
  readonly file: string;
  /** 1-based line number in `file` (for a problem at the end of the chain: the last line, or 0). */
  readonly line: number;
  /** The bad record's `seq`, when it could be read. */
  readonly seq?: number;
  /** e.g. `hash mismatch`, `sequence gap: expected seq 5, found 6`, `prev mismatch`, `not JSON`. */
  readonly reason: string;
}

/** Options for {@link verifyAuditFiles}. */
export interface VerifyOptions {
  /**
   * Where the first file continues from, when older files are archived elsewhere. Default: the
   * first record must be the genesis record (seq 1, prev = 64 zeros).
   */
  readonly after?: { readonly seq: number; readonly hash: string };
  /**
   * A chain head recorded elsewhere (e.g. {@link readAuditHead}). The files must contain it:
   * catches lines cut off the end, which the chain alone cannot show.
   */
  readonly head?: { readonly seq: number; readonly hash: string };
}

/**
 * Verifies the hash chain across `paths`, read in file-name order, streaming line by line (bounded
 * memory whatever the file size). For each line, in order: it parses as a JSON object with
 * `seq`/`prev`/`hash`; `seq` is the previous one + 1; `prev` is the previous `hash`; `hash`
 * recomputes. Stops at the first bad record and names its file, line and seq.
 * @throws BreachwaveError BW_INPUT_FILE when a file cannot be read.
 */
export async function verifyAuditFiles(paths: readonly string[], options: VerifyOptions = {}): Promise<VerifyResult> {
  const files = [...paths].sort(compareAuditPaths);
  let expectedSeq = (options.after?.seq ?? 0) + 1;
  let prevHash = options.after?.hash ?? GENESIS_HASH;
  let records = 0;
  let lastFile: string | undefined;
  let lastLineNo = 0;
  const head = options.head;
  let headSeen = head === undefined || head.seq < expectedSeq;

  for (const file of files) {
    await assertReadableFile(file);
    const input = createReadStream(file, { encoding: 'utf8' });
    const lines = createInterface({ input, crlfDelay: Infinity });
    let lineNo = 0;
    try {
      for await (const text of lines) {
        lineNo++;
        const fail = (reason: string, seq?: number): VerifyFailure => ({
          ok: false, records, file, line: lineNo, ...(seq === undefined ? {} : { seq }), reason,
        });
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          return fail(text.length === 0 ? 'not JSON (empty line)' : 'not JSON');
        }
        if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return fail('not JSON (not an object)');
        const rec = parsed as Record<string, unknown>;
        const seq = Number.isSafeInteger(rec.seq) ? (rec.seq as number) : undefined;
        if (seq === undefined) return fail('not a chain record: seq missing or not an integer');
        if (typeof rec.prev !== 'string' || typeof rec.hash !== 'string') return fail('not a chain record: prev or hash missing', seq);
        if (seq !== expectedSeq) return fail(`sequence gap: expected seq ${expectedSeq}, found ${seq}`, seq);
        if (rec.prev !== prevHash) return fail('prev mismatch: prev is not the previous record\'s hash', seq);
        if (hashAuditLine(rec as { prev: string }) !== rec.hash) return fail('hash mismatch', seq);
        if (head !== undefined && seq === head.seq) {
          if (rec.hash !== head.hash) return fail('hash differs from the recorded chain head', seq);
          headSeen = true;
        }
        prevHash = rec.hash;
        expectedSeq = seq + 1;
        records++;
      }
    } catch (err) {
      throw new BreachwaveError('BW_INPUT_FILE', { detail: `cannot read ${file}: ${(err as Error).message}`, cause: err });
    } finally {
      lines.close();
      input.destroy();
    }
    lastFile = file;
    lastLineNo = lineNo;
  }

  if (!headSeen && head !== undefined) {
    return {
      ok: false, records, file: lastFile ?? '', line: lastLineNo, reason:
        `chain ends at seq ${expectedSeq - 1} but the recorded head is seq ${head.seq}: records are missing from the end`,
    };
  }
  return { ok: true, records, files: files.length, lastHash: prevHash, lastSeq: expectedSeq - 1 };
}

async function assertReadableFile(file: string): Promise<void> {
  try {
    const s = await stat(file);
    if (!s.isFile()) throw new Error('not a regular file');
  } catch (err) {
    throw new BreachwaveError('BW_INPUT_FILE', { detail: `cannot read ${file}: ${(err as Error).message}`, cause: err });
  }
}

/** The catalog error for a failed verification (for CLIs and the writer's start-up check). */
export function chainBrokenError(failure: VerifyFailure): BreachwaveError {
  const where = `${failure.file}:${failure.line}${failure.seq === undefined ? '' : ` (seq ${failure.seq})`}`;
  return new BreachwaveError('BW_AUDIT_CHAIN_BROKEN', { detail: `${where}: ${failure.reason}` });
}
