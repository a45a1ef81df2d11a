import { truncate } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { BreachwaveError } from '@breachwave/domain';
import {
  CHECKPOINT_FILE, appendCheckpointSync, auditCheckpointKey, parseCheckpoint, readRedisCheckpoint, signCheckpoint,
  type Checkpoint, type CheckpointReason, type CheckpointSigner,
} from '../checkpoint.js';
import { readFileTail } from '../files.js';
import { fsyncDir, fsyncPath } from './file-sink.js';

/** What {@link Checkpointer} needs: where checkpoints go, how they are signed, how often. */
export interface CheckpointerOptions {
  readonly redis: Redis;
  readonly prefix: string;
  /** Directory of the audit files; the checkpoint file lives there too. */
  readonly dir: string;
  readonly log: Logger;
  readonly now: () => Date;
  readonly signer: CheckpointSigner | undefined;
  /** A checkpoint is due once this many records are not covered by one. */
  readonly every: number;
  /** A checkpoint is made at most this long after the first record not covered by one. */
  readonly intervalMs: number;
}

/**
 * The writer's signed checkpoints: numbering picked up from the checkpoint file (or its Redis
 * copy), each one appended and fsync'd to the checkpoint file, its Redis copy set with the next
 * ack or at once, and a timer for records that wait too long for one.
 */
export class Checkpointer {
  /** The checkpoint file. */
  readonly path: string;
  /** Key of the newest checkpoint's Redis copy. */
  readonly key: string;
  /** Number of the newest checkpoint (0 before any). */
  private n = 0;
  /** `seq` the newest checkpoint covers. */
  private coveredSeq = 0;
  /** A checkpoint made since the last Redis copy, to copy with the next ack. */
  private toCopy: Checkpoint | undefined;
  /** Fires a checkpoint `intervalMs` after the first record not covered by one. */
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly o: CheckpointerOptions) {
    this.path = join(o.dir, CHECKPOINT_FILE);
    this.key = auditCheckpointKey(o.prefix);
  }

  /** `seq` covered by the newest checkpoint (0 before any). */
  get seq(): number {
    return this.coveredSeq;
  }

  /** True when the record with `seq` leaves enough records uncovered to make a checkpoint. */
  due(seq: number): boolean {
    return seq - this.coveredSeq >= this.o.every;
  }

  /**
   * Picks up the checkpoint numbering from the checkpoint file (or its Redis copy, if newer) and
   * refuses to run on files that end before the newest checkpoint (`seq`, `hash`: the chain's
   * end in the files): writing on would bury the loss.
   * @throws BreachwaveError BW_AUDIT_CHAIN_BROKEN when the checkpoint file's last line is not a
   * checkpoint, or the files end before the newest checkpoint.
   */
  async recover(seq: number, hash: string): Promise<void> {
    const { log, dir } = this.o;
    let tail = await readFileTail(this.path).catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    });
    if (tail && tail.torn.length > 0) {
      // A checkpoint cut short by a crash was never copied to Redis (that happens after its fsync).
      await truncate(this.path, tail.tornOffset);
      await fsyncPath(this.path);
      log.warn({ file: this.path, bytes: tail.torn.length }, 'audit checkpoint file ended with a partial line (crash during write); cut off');
      tail = await readFileTail(this.path);
    }
    const fromFile = tail?.lastLine === undefined ? undefined : parseCheckpoint(tail.lastLine);
    if (typeof fromFile === 'string') {
      throw new BreachwaveError('BW_AUDIT_CHAIN_BROKEN', { detail: `last line of ${this.path}: ${fromFile}; run verify and repair before restarting` });
    }
    const fromRedis = await readRedisCheckpoint(this.o.redis, this.o.prefix);
    const newest = fromRedis && (!fromFile || fromRedis.n > fromFile.n) ? fromRedis : fromFile;
    if (!newest) return;
    if (newest.seq > seq || (newest.seq === seq && newest.hash !== hash)) {
      throw new BreachwaveError('BW_AUDIT_CHAIN_BROKEN', {
        detail: `audit files in ${dir} end at seq ${seq} but checkpoint ${newest.n} covers seq ${newest.seq} (${newest.file}:${newest.line}): ` +
          'files are missing, truncated or replaced; restore them before restarting',
      });
    }
    this.n = newest.n;
    // Records a crashed run wrote after its last checkpoint are covered by this run's first one.
    this.coveredSeq = newest.seq;
  }

  /**
   * Signs and appends a checkpoint of `line` (already durable as line `file.lines` of `file`); its
   * Redis copy goes with the next ack ({@link pendingCopy}). Synchronous, so that it fits between
   * the synchronous file writes; a failure is the caller's to treat as fatal.
   */
  make(reason: CheckpointReason, line: { readonly seq: number; readonly hash: string }, file: { readonly path: string; readonly lines: number }, sealed: boolean): Checkpoint {
    const body = {
      v: 1 as const, n: this.n + 1, chain: this.o.prefix, seq: line.seq, hash: line.hash,
      file: basename(file.path), line: file.lines, sealed, reason, ts: this.o.now().toISOString(),
    };
    const cp: Checkpoint = this.o.signer ? signCheckpoint(body, this.o.signer) : body;
    const created = this.n === 0;
    appendCheckpointSync(this.path, cp);
    if (created) fsyncDir(this.o.dir);
    this.n = cp.n;
    this.coveredSeq = cp.seq;
    this.toCopy = cp;
    this.cancelTimer();
    this.o.log.debug({ n: cp.n, seq: cp.seq, file: cp.file, line: cp.line, reason }, 'audit checkpoint');
    return cp;
  }

  /** The checkpoint whose Redis copy is still to be set (with the next ack), if any. */
  pendingCopy(): Checkpoint | undefined {
    return this.toCopy;
  }

  /** Records that `cp`'s Redis copy was set (by an ack or by {@link copy}). */
  copied(cp: Checkpoint): void {
    if (this.toCopy === cp) this.toCopy = undefined;
  }

  /** Sets `cp`'s Redis copy now. */
  async copy(cp: Checkpoint): Promise<void> {
    await this.o.redis.set(this.key, JSON.stringify(cp));
    this.copied(cp);
  }

  /** Unless armed already, calls `onDue` `intervalMs` from now (or sooner a checkpoint cancels it). */
  armTimer(onDue: () => void): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      onDue();
    }, this.o.intervalMs);
    this.timer.unref();
  }

  cancelTimer(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
