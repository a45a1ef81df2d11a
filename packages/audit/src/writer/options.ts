import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { CheckpointSigner } from '../checkpoint.js';

/** Options for {@link createAuditWriter}. */
export interface AuditWriterOptions {
  /**
   * Client for reads, acks and the head key (not closed by the writer). Use a `worker`-role
   * client: a Redis blip should pause the writer, not fail it. The writer duplicates it once for
   * its blocking wait.
   */
  readonly redis: Redis;
  /** Key prefix; the stream is `${prefix}:audit`. */
  readonly prefix: string;
  /** Directory of the JSONL audit files (created if missing). */
  readonly dir: string;
  readonly log: Logger;
  /** Consumer group, default `audit-writer`. */
  readonly group?: string;
  /**
   * Consumer name, default `audit-writer`. Keep it stable across restarts; on start the writer
   * also claims entries left pending by any other consumer of the group.
   */
  readonly consumer?: string;
  /** Entries per XREADGROUP, default 500. */
  readonly batchSize?: number;
  /** How long one blocking wait for new entries lasts, default 5000 ms. */
  readonly blockMs?: number;
  /**
   * How long to let entries gather after a wake-up before reading them, when the writer had
   * caught up (default 20 ms; 0 reads at once). Each batch costs a read, an fsync and an ack
   * whatever its size: during a wave, entries trickle in a few at a time, and without the pause
   * every few lines would pay all three. The lines reach the file at most this much later.
   */
  readonly lingerMs?: number;
  /** Lines per file before rotating to a new one, default 1,000,000. */
  readonly maxLinesPerFile?: number;
  /** How long `close()` waits for an in-flight batch (e.g. while Redis is down), default 10,000 ms. */
  readonly closeTimeoutMs?: number;
  /**
   * The writer's lease on the chain (`${prefix}:audit:writer`), default 15,000 ms: taken before
   * the chain is read from the files, renewed every third of it and before every batch is
   * written, released on close. A writer that finds it held stands by (`start`) or refuses
   * (`drainOnce` without `start`); one that loses it (stalled past it, then another took over)
   * stops without writing another line. A crashed writer's lease frees itself after this long
   * (one that ran on this host is taken over at once).
   */
  readonly leaseMs?: number;
  /**
   * Test hook: called with the entry ids of a batch after its lines are durably written and
   * before they are acknowledged. Throwing simulates a crash between write and ack.
   */
  readonly beforeAck?: (ids: readonly string[]) => void | Promise<void>;
  /** Clock for file names and malformed-entry records (tests). */
  readonly now?: () => Date;
  /**
   * Ed25519 key that signs the checkpoints (see {@link CheckpointSigner}). Without it the writer
   * still writes checkpoints, unsigned, and warns at start: verification then fails unless told
   * to accept unsigned ones, because anyone who can write the files can make an unsigned one.
   */
  readonly signer?: CheckpointSigner;
  /**
   * A checkpoint is made once this many records are not yet covered by one, default 1,000.
   * With {@link checkpointIntervalMs} this bounds the records an attacker who can write the files
   * could remove from the end without verification noticing.
   */
  readonly checkpointEvery?: number;
  /** A checkpoint is made at most this long after the first record it covers was written, default 5,000 ms. */
  readonly checkpointIntervalMs?: number;
}

/** Where the chain stands: the last line written (seq 0 and the genesis hash before any). */
export interface AuditPosition {
  readonly seq: number;
  readonly hash: string;
  readonly streamId: string | undefined;
  /** File the next line goes to, if one is open. */
  readonly file: string | undefined;
  /** `seq` covered by the newest checkpoint (0 before any). */
  readonly checkpointSeq: number;
}

/**
 * Moves audit records from the Redis stream into hash-chained JSONL files. One writer per chain
 * (two on the same stream would fork it): a lease in Redis makes any other writer on the same
 * prefix stand by or refuse.
 */
export interface AuditWriter {
  /**
   * Takes the writer lease, waiting (standing by, logged once) while another writer holds it;
   * creates the consumer group (MKSTREAM, from `0`) if missing, recovers the chain from the
   * newest file in `dir`, then reads continuously in the background until {@link close}.
   * @throws BreachwaveError BW_AUDIT_CHAIN_BROKEN when the newest file's last line is not a valid
   * chain record, or the files end before the chain head recorded in Redis or before the newest
   * checkpoint (files lost, cut or replaced).
   */
  start(): Promise<void>;
  /**
   * Writes everything readable right now without blocking: first this consumer's pending
   * entries, then new ones. Resolves to the number of lines written. Serialized with the
   * background reader, so it is safe to call while started (tests, CLI flush); without
   * `start()` it performs the same set-up once, but no background reading.
   * @throws BreachwaveError BW_AUDIT_WRITER_BUSY when, not started, it finds another writer's lease.
   */
  drainOnce(): Promise<number>;
  /**
   * Stops reading, finishes the batch in flight (written and acked), closes the file. Does not
   * close the Redis client given in the options. Idempotent.
   */
  close(): Promise<void>;
  /**
   * Resolves when the writer has closed; rejects if it stopped because writing a file failed or
   * its lease was lost (BW_AUDIT_WRITER_BUSY).
   */
  whenStopped(): Promise<void>;
  /** The chain's current end. */
  position(): AuditPosition;
}

/** `n` when it is a positive safe integer; a RangeError naming the option otherwise. */
export function positiveInt(n: number, name: string): number {
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`${name} must be a positive integer, got ${n}`);
  return n;
}

/** `n` when it is a non-negative safe integer; a RangeError naming the option otherwise. */
export function nonNegativeInt(n: number, name: string): number {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${name} must be a non-negative integer, got ${n}`);
  return n;
}
