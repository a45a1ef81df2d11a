import { dirname, join } from 'node:path';
import {
  CHECKPOINT_FILE, auditCheckpointKey, checkCheckpointSignature, readCheckpointFile,
  type Checkpoint, type PublicKeyRing, type SignatureCheck,
} from './checkpoint.js';
import type { AuditHead } from './head.js';
import { verifyAuditFiles, type VerifyFailure, type VerifyOk } from './verify.js';

/** Options for {@link verifyAuditTrail}. */
export interface TrailOptions {
  /** Checkpoint file; default {@link CHECKPOINT_FILE} beside the first audit file. */
  readonly checkpointFile?: string;
  /** Public keys by key id; old keys stay here so that files signed before a rotation still verify. */
  readonly publicKeys: PublicKeyRing;
  /**
   * Accept unsigned checkpoints (a writer run without a signing key). Default false: anyone who
   * can write the files can make one, so they prove nothing against such a person.
   */
  readonly allowUnsigned?: boolean;
  /** Accept records after the newest checkpoint (see `VerifyOptions.allowUncovered`). Default false. */
  readonly allowUncovered?: boolean;
  /**
   * What Redis holds, read before the files (the writer updates Redis only after the files): the
   * newest checkpoint and the chain head. Checkpoints cut from the end of the checkpoint file, and
   * the records they covered, are then found missing; with the head, even records cut from the
   * end after the newest checkpoint are.
   */
  readonly redis?: { readonly prefix: string; readonly checkpoint?: Checkpoint; readonly head?: AuditHead };
}

/** A verified trail: {@link VerifyOk} plus what the checkpoints were. */
export interface TrailOk extends VerifyOk {
  /** The checkpoint file read. */
  readonly checkpointFile: string;
  /** Key ids that signed the checkpoints. */
  readonly keyIds: readonly string[];
  /** Unsigned checkpoints accepted with `allowUnsigned`. */
  readonly unsigned: number;
  /** Things the reader should know that do not fail verification (unsigned checkpoints, an uncovered window). */
  readonly warnings: readonly string[];
}

/** Outcome of {@link verifyAuditTrail}. */
export type TrailResult = TrailOk | VerifyFailure;

/**
 * Verifies audit files as evidence: the hash chain, and the signed checkpoints beside it (each
 * signature checked against `publicKeys`, numbered without gaps from 1), and, when given, the
 * copies kept in Redis. Names the file and line of the first problem: a bad or unsigned
 * checkpoint names its line in the checkpoint file; anything else the audit file and line.
 * @throws BreachwaveError BW_INPUT_FILE when a file cannot be read.
 */
export async function verifyAuditTrail(paths: readonly string[], options: TrailOptions): Promise<TrailResult> {
  const first = [...paths].sort()[0];
  const checkpointFile = options.checkpointFile ?? join(first === undefined ? '.' : dirname(first), CHECKPOINT_FILE);
  const entries = await readCheckpointFile(checkpointFile);
  const checkpoints: Checkpoint[] = [];
  const keyIds = new Set<string>();
  let unsigned = 0;
  const warnings: string[] = [];
  const fail = (file: string, line: number, reason: string): VerifyFailure => ({ ok: false, records: 0, file, line, reason });

  const signatureProblem = (cp: Checkpoint, check: SignatureCheck): string | undefined => {
    switch (check) {
      case 'valid':
        keyIds.add(cp.keyId ?? '');
        return undefined;
      case 'unsigned':
        if (options.allowUnsigned) {
          unsigned++;
          return undefined;
        }
        return `checkpoint ${cp.n} is unsigned (its writer had no signing key), so anyone who can write the files could have made it; accept it only knowingly (allow unsigned)`;
      case 'unknown-key':
        return `checkpoint ${cp.n} is signed with key id ${cp.keyId ?? ''}, and no public key given has that id`;
      case 'bad-signature':
        return `checkpoint ${cp.n}: bad signature (key id ${cp.keyId ?? ''}): forged, or altered after signing`;
    }
  };

  for (const { line, checkpoint: cp } of entries) {
    if (typeof cp === 'string') return fail(checkpointFile, line, `not a checkpoint: ${cp}`);
    const expected = (checkpoints.at(-1)?.n ?? 0) + 1;
    if (cp.n !== expected) return fail(checkpointFile, line, `checkpoint ${expected}${cp.n > expected + 1 ? `–${cp.n - 1}` : ''} missing: found checkpoint ${cp.n}`);
    const prev = checkpoints.at(-1);
    if (prev && cp.chain !== prev.chain) return fail(checkpointFile, line, `checkpoint ${cp.n} belongs to chain ${cp.chain}, the ones before to ${prev.chain}`);
    if (prev && cp.seq < prev.seq) return fail(checkpointFile, line, `checkpoint ${cp.n} covers seq ${cp.seq}, before checkpoint ${prev.n} (seq ${prev.seq})`);
    const problem = signatureProblem(cp, checkCheckpointSignature(cp, options.publicKeys));
    if (problem) return fail(checkpointFile, line, problem);
    checkpoints.push(cp);
  }

  let behind: { readonly newest: Checkpoint } | undefined;
  const fromRedis = options.redis?.checkpoint;
  if (options.redis && fromRedis) {
    const where = `redis ${auditCheckpointKey(options.redis.prefix)}`;
    if (fromRedis.chain !== options.redis.prefix) return fail(where, 0, `checkpoint in Redis belongs to chain ${fromRedis.chain}, not ${options.redis.prefix}`);
    const problem = signatureProblem(fromRedis, checkCheckpointSignature(fromRedis, options.publicKeys));
    if (problem) return fail(where, 0, problem);
    const inFile = checkpoints.find((c) => c.n === fromRedis.n);
    if (inFile && (inFile.sig !== fromRedis.sig || inFile.seq !== fromRedis.seq || inFile.hash !== fromRedis.hash)) {
      return fail(checkpointFile, entries[checkpoints.indexOf(inFile)]?.line ?? 0, `checkpoint ${inFile.n} differs from its copy in Redis`);
    }
    if (!inFile && fromRedis.n > (checkpoints.at(-1)?.n ?? 0)) {
      behind = { newest: fromRedis };
      checkpoints.push(fromRedis);
    }
  }
  const chain = checkpoints[0]?.chain;
  if (options.redis && chain !== undefined && chain !== options.redis.prefix) {
    return fail(checkpointFile, 1, `checkpoints belong to chain ${chain}, not ${options.redis.prefix}`);
  }

  const result = await verifyAuditFiles(paths, {
    checkpoints,
    dir: dirname(checkpointFile),
    ...(options.allowUncovered ? { allowUncovered: true } : {}),
    ...(options.redis?.head ? { head: options.redis.head } : {}),
  });
  if (!result.ok) return result;
  if (behind) {
    const n = checkpoints.length - 1;
    return fail(checkpointFile, entries.length + 1, `checkpoints ${n + 1}${behind.newest.n > n + 1 ? `–${behind.newest.n}` : ''} are missing from the end of the checkpoint file (Redis holds checkpoint ${behind.newest.n})`);
  }
  if (unsigned > 0) warnings.push(`${unsigned} unsigned checkpoint(s) accepted: they prove nothing against anyone who can write the files`);
  if ((result.uncovered ?? 0) > 0) warnings.push(`${result.uncovered} record(s) after the newest checkpoint accepted: not yet covered by a signature`);
  return { ...result, checkpointFile, keyIds: [...keyIds].sort(), unsigned, warnings };
}
