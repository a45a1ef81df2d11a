import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { BreachwaveError } from '@breachwave/domain';
import { GENESIS_HASH, hashAuditLine } from './chain.js';
import { compareAuditPaths } from './files.js';
import type { Checkpoint } from './checkpoint.js';

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
  /** With `checkpoints`: how many were matched against the records. */
  readonly checkpoints?: number;
  /** With `checkpoints`: records after the newest one, accepted with `allowUncovered` (else 0). */
  readonly uncovered?: number;
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
  /**
   * Checkpoints whose signatures the caller checked already ({@link verifyAuditTrail} does). The
   * records must match each (hash, file and line), no file a checkpoint names may be missing, no
   * line may follow a sealed end, and none may come after the newest checkpoint. They catch what
   * the chain alone cannot: a cut tail, a forged line appended, a chain recomputed after an edit.
   */
  readonly checkpoints?: readonly Checkpoint[];
  /**
   * With `checkpoints`: accept records after the newest checkpoint (a running writer's window,
   * at most its checkpoint interval). Default false: anyone who can write the files could have
   * added them.
   */
  readonly allowUncovered?: boolean;
  /** Directory of the files the checkpoints name, for naming a missing one; default the first file's. */
  readonly dir?: string;
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
  const startSeq = (options.after?.seq ?? 0) + 1;
  let expectedSeq = startSeq;
  let prevHash = options.after?.hash ?? GENESIS_HASH;
  let records = 0;
  let lastFile: string | undefined;
  let lastLineNo = 0;
  const head = options.head;
  let headSeen = head === undefined || head.seq < expectedSeq;

  const useCheckpoints = options.checkpoints !== undefined;
  const cps = (options.checkpoints ?? []).filter((c) => c.seq >= startSeq).sort((a, b) => a.seq - b.seq || a.n - b.n);
  const newestCp = cps.at(-1);
  const coveredTo = newestCp?.seq ?? startSeq - 1;
  const dir = options.dir ?? (files[0] === undefined ? '.' : dirname(files[0]));
  const seals = new Map<string, Checkpoint>();
  for (const c of cps) if (c.sealed && (seals.get(c.file)?.line ?? Infinity) > c.line) seals.set(c.file, c);
  const given = new Set(files.map((f) => basename(f)));
  for (const c of cps) {
    if (!given.has(c.file)) {
      return { ok: false, records: 0, file: join(dir, c.file), line: c.line, seq: c.seq, reason: `file missing: signed checkpoint ${c.n} (${c.ts}) places seq ${c.seq} at its line ${c.line}` };
    }
  }
  let lastRecord: string | undefined;
  let ci = 0;
  let lastMatched: Checkpoint | undefined;
  let uncovered = 0;

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
        const seal = seals.get(basename(file));
        if (seal && lineNo > seal.line) {
          return fail(`line after the sealed end of the file: signed checkpoint ${seal.n} (${seal.ts}) closed it at line ${seal.line} (seq ${seal.seq})`, seq);
        }
        for (let cp = cps[ci]; cp !== undefined && cp.seq === seq; cp = cps[++ci]) {
          if (rec.hash !== cp.hash) {
            return fail(`hash differs from signed checkpoint ${cp.n} (${cp.ts}): the chain was rewritten ${lastMatched ? `after seq ${lastMatched.seq} (checkpoint ${lastMatched.n} still matches)` : 'from its start'} and its hashes recomputed`, seq);
          }
          if (cp.file !== basename(file) || cp.line !== lineNo) return fail(`signed checkpoint ${cp.n} places seq ${seq} at ${cp.file}:${cp.line}: lines were moved`, seq);
          lastMatched = cp;
        }
        if (useCheckpoints && seq > coveredTo) {
          if (!options.allowUncovered) {
            return fail(`not covered by a signed checkpoint (${newestCp ? `the newest, ${newestCp.n} of ${newestCp.ts}, ends at seq ${newestCp.seq}` : 'there is none'}): ` +
              'anyone who can write the file can append such a line; a running writer covers its records within its checkpoint interval, so verify again once it has (or accept the window with allowUncovered)', seq);
          }
          uncovered++;
        }
        prevHash = rec.hash;
        expectedSeq = seq + 1;
        lastRecord = `${basename(file)}:${lineNo}`;
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

  const missing = cps[ci];
  if (missing !== undefined) {
    return {
      ok: false, records, file: join(dir, missing.file), line: missing.line, seq: missing.seq, reason:
        `records missing from the end: signed checkpoint ${missing.n} (${missing.ts}) places seq ${missing.seq} here, but the files end at seq ${expectedSeq - 1}` +
        (lastRecord === undefined ? '' : ` (${lastRecord})`),
    };
  }
  if (!headSeen && head !== undefined) {
    return {
      ok: false, records, file: lastFile ?? '', line: lastLineNo, reason:
        `chain ends at seq ${expectedSeq - 1} but the recorded head is seq ${head.seq}: records are missing from the end`,
    };
  }
  return { ok: true, records, files: files.length, lastHash: prevHash, lastSeq: expectedSeq - 1, ...(useCheckpoints ? { checkpoints: ci, uncovered } : {}) };
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
