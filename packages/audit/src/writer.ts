import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, openSync } from 'node:fs';
import { appendFile, open, truncate, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { pino, type Logger } from 'pino';
import { BreachwaveError } from '@breachwave/domain';
import { createLease, type RedisLease } from '@breachwave/redis';
import { CHAIN_FIELDS, GENESIS_HASH, chainAuditLine, compareStreamIds, hashAuditLine, isStreamId, type AuditLine } from './chain.js';
import { auditFileName, listAuditFiles, readFileTail } from './files.js';
import { AUDIT_FIELD, auditStreamKey } from './record.js';
import { auditHeadKey, auditWriterLeaseKey, readAuditHead } from './head.js';
import {
  CHECKPOINT_FILE, appendCheckpointSync, auditCheckpointKey, parseCheckpoint, readRedisCheckpoint, signCheckpoint,
  type Checkpoint, type CheckpointReason, type CheckpointSigner,
} from './checkpoint.js';
import { PRIVATE_FILE_MODE, ensurePrivateFileSync, makePrivateDir } from './private-files.js';

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

type StreamEntry = readonly [id: string, fields: readonly string[] | null];

interface OpenFile {
  readonly path: string;
  readonly dest: ReturnType<typeof pino.destination>;
  lines: number;
  error: Error | undefined;
}

const MALFORMED_TYPE = 'audit.malformed';
const SELF_ACTOR = 'audit-writer';
const OPTIONAL_STRINGS = ['wave', 'account', 'action', 'from', 'to'] as const;

/**
 * Creates the audit writer. Lines reach the file through a pino destination (sync, fsync'd per
 * batch) before their stream entries are XACKed and XDELed, so a crash at any point loses
 * nothing and, on restart, duplicates nothing.
 */
export function createAuditWriter(options: AuditWriterOptions): AuditWriter {
  return new StreamAuditWriter(options);
}

class StreamAuditWriter implements AuditWriter {
  private readonly redis: Redis;
  private readonly prefix: string;
  private readonly key: string;
  private readonly headKey: string;
  private readonly dir: string;
  private readonly log: Logger;
  private readonly group: string;
  private readonly consumer: string;
  private readonly batchSize: number;
  private readonly blockMs: number;
  private readonly lingerMs: number;
  private readonly maxLines: number;
  private readonly closeTimeoutMs: number;
  private readonly lease: RedisLease;
  private leaseHeld = false;
  private leaseTimer: NodeJS.Timeout | undefined;
  private readonly beforeAck: AuditWriterOptions['beforeAck'];
  private readonly now: () => Date;
  private readonly signer: CheckpointSigner | undefined;
  private readonly checkpointEvery: number;
  private readonly checkpointIntervalMs: number;
  private readonly checkpointPath: string;
  private readonly checkpointKey: string;
  /** Number of the newest checkpoint (0 before any). */
  private checkpointN = 0;
  /** `seq` the newest checkpoint covers. */
  private checkpointSeq = 0;
  /** A checkpoint made since the last Redis copy, to copy with the next ack. */
  private checkpointToCopy: Checkpoint | undefined;
  /** Fires a checkpoint `checkpointIntervalMs` after the first record not covered by one. */
  private checkpointTimer: NodeJS.Timeout | undefined;

  private seq = 0;
  private hash = GENESIS_HASH;
  private lastStreamId: string | undefined;
  /** Newest file name seen or created: new names never sort before it. */
  private newestName: string | undefined;
  private current: OpenFile | undefined;
  /** The blocking wait returns entries after this id: the newest id delivered to the group. */
  private waitAfterId = '0-0';

  private initialized: Promise<void> | undefined;
  private lock: Promise<unknown> = Promise.resolve();
  private loop: Promise<void> | undefined;
  private waiter: Redis | undefined;
  private readonly backoff = new AbortController();
  private closing = false;
  private filesClosed = false;
  private closed: Promise<void> | undefined;
  private failure: Error | undefined;
  private readonly stopped: Promise<void>;
  private resolveStopped!: () => void;
  private rejectStopped!: (err: Error) => void;

  constructor(o: AuditWriterOptions) {
    this.redis = o.redis;
    this.prefix = o.prefix;
    this.key = auditStreamKey(o.prefix);
    this.headKey = auditHeadKey(o.prefix);
    this.dir = o.dir;
    this.log = o.log;
    this.group = o.group ?? 'audit-writer';
    this.consumer = o.consumer ?? 'audit-writer';
    this.batchSize = positiveInt(o.batchSize ?? 500, 'batchSize');
    this.blockMs = positiveInt(o.blockMs ?? 5000, 'blockMs');
    this.lingerMs = nonNegativeInt(o.lingerMs ?? 20, 'lingerMs');
    this.maxLines = positiveInt(o.maxLinesPerFile ?? 1_000_000, 'maxLinesPerFile');
    this.closeTimeoutMs = o.closeTimeoutMs ?? 10_000;
    this.lease = createLease(o.redis, auditWriterLeaseKey(o.prefix), positiveInt(o.leaseMs ?? 15_000, 'leaseMs'));
    this.beforeAck = o.beforeAck;
    this.now = o.now ?? (() => new Date());
    this.signer = o.signer;
    this.checkpointEvery = positiveInt(o.checkpointEvery ?? 1000, 'checkpointEvery');
    this.checkpointIntervalMs = positiveInt(o.checkpointIntervalMs ?? 5000, 'checkpointIntervalMs');
    this.checkpointPath = join(o.dir, CHECKPOINT_FILE);
    this.checkpointKey = auditCheckpointKey(o.prefix);
    this.stopped = new Promise<void>((resolve, reject) => {
      this.resolveStopped = resolve;
      this.rejectStopped = reject;
    });
    // Observed through whenStopped(); without this an unobserved failure would crash the process.
    this.stopped.catch(() => {});
  }

  position(): AuditPosition {
    return { seq: this.seq, hash: this.hash, streamId: this.lastStreamId, file: this.current?.path, checkpointSeq: this.checkpointSeq };
  }

  whenStopped(): Promise<void> {
    return this.stopped;
  }

  async start(): Promise<void> {
    if (this.closing) throw new Error('audit writer is closed');
    await this.init(true);
    if (this.loop || this.closing) return;
    this.waiter = this.redis.duplicate({
      connectionName: 'breachwave-audit-writer-wait',
      maxRetriesPerRequest: null,
      enableOfflineQueue: true,
    });
    this.waiter.on('error', (err: Error) => this.log.debug({ err }, 'audit writer: wait connection error'));
    this.loop = this.runLoop();
  }

  async drainOnce(): Promise<number> {
    if (this.closing) throw new Error('audit writer is closed');
    await this.init(false);
    const { written } = await this.withLock(() => this.drainLocked());
    return written;
  }

  close(): Promise<void> {
    this.closed ??= this.shutdown();
    return this.closed;
  }

  private async shutdown(): Promise<void> {
    this.closing = true;
    this.backoff.abort();
    // Nothing is consumed on the wait connection, so cutting it mid-wait loses nothing.
    this.waiter?.disconnect();
    const settled = Promise.allSettled([this.loop, this.lock, this.initialized]);
    const timedOut = await Promise.race([settled.then(() => false), sleep(this.closeTimeoutMs, true, { ref: false })]);
    if (timedOut) {
      this.log.warn({ timeoutMs: this.closeTimeoutMs }, 'audit writer: batch still in flight at close; its entries stay pending and are reconciled on restart');
    }
    clearTimeout(this.checkpointTimer);
    // The closing file is sealed, so the whole chain is covered when the writer is down. Not after
    // a failure (the file may hold part of a batch, or another writer now owns the chain) nor with
    // a batch still in flight (its lines may be half written).
    if (!timedOut && !this.failure) await this.finalCheckpoint();
    this.filesClosed = true;
    await this.closeFile();
    await this.releaseLease();
    this.log.info({ seq: this.seq, streamId: this.lastStreamId }, 'audit writer closed');
    if (this.failure) this.rejectStopped(this.failure);
    else this.resolveStopped();
  }

  private withLock<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => {});
    return run;
  }

  private init(waitForLease: boolean): Promise<void> {
    // A failed set-up (e.g. Redis down) may be retried; it only reads state, so it is repeatable.
    this.initialized ??= this.doInit(waitForLease).catch((err: unknown) => {
      this.initialized = undefined;
      throw err;
    });
    return this.initialized;
  }

  private async doInit(waitForLease: boolean): Promise<void> {
    // Before the files are read: another writer could be appending to them until then.
    await this.acquireLease(waitForLease);
    await makePrivateDir(this.dir);
    await this.recoverChain();
    await this.ensureGroup();
    await this.checkHead();
    await this.recoverCheckpoints();
    await this.readLastDelivered();
    await this.claimOrphans();
    this.log.info(
      { dir: this.dir, stream: this.key, group: this.group, consumer: this.consumer, seq: this.seq, streamId: this.lastStreamId, checkpointSeq: this.checkpointSeq, keyId: this.signer?.keyId },
      'audit writer ready',
    );
    if (!this.signer) {
      this.log.warn({ dir: this.dir }, 'audit writer has NO signing key: its checkpoints are unsigned, so anyone who can write the audit files can rewrite them undetected; set BW_AUDIT_SIGNING_KEY');
    }
  }

  /**
   * Picks up the checkpoint numbering from the checkpoint file (or its Redis copy, if newer) and
   * refuses to run on files that end before the newest checkpoint: writing on would bury the loss.
   */
  private async recoverCheckpoints(): Promise<void> {
    let tail = await readFileTail(this.checkpointPath).catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    });
    if (tail && tail.torn.length > 0) {
      // A checkpoint cut short by a crash was never copied to Redis (that happens after its fsync).
      await truncate(this.checkpointPath, tail.tornOffset);
      await fsyncPath(this.checkpointPath);
      this.log.warn({ file: this.checkpointPath, bytes: tail.torn.length }, 'audit checkpoint file ended with a partial line (crash during write); cut off');
      tail = await readFileTail(this.checkpointPath);
    }
    const fromFile = tail?.lastLine === undefined ? undefined : parseCheckpoint(tail.lastLine);
    if (typeof fromFile === 'string') {
      throw new BreachwaveError('BW_AUDIT_CHAIN_BROKEN', { detail: `last line of ${this.checkpointPath}: ${fromFile}; run verify and repair before restarting` });
    }
    const fromRedis = await readRedisCheckpoint(this.redis, this.prefix);
    const newest = fromRedis && (!fromFile || fromRedis.n > fromFile.n) ? fromRedis : fromFile;
    if (!newest) return;
    if (newest.seq > this.seq || (newest.seq === this.seq && newest.hash !== this.hash)) {
      throw new BreachwaveError('BW_AUDIT_CHAIN_BROKEN', {
        detail: `audit files in ${this.dir} end at seq ${this.seq} but checkpoint ${newest.n} covers seq ${newest.seq} (${newest.file}:${newest.line}): ` +
          'files are missing, truncated or replaced; restore them before restarting',
      });
    }
    this.checkpointN = newest.n;
    // Records a crashed run wrote after its last checkpoint are covered by this run's first one.
    this.checkpointSeq = newest.seq;
  }

  private async acquireLease(wait: boolean): Promise<void> {
    if (this.leaseHeld) return;
    let announced = false;
    for (;;) {
      const attempt = await this.lease.tryAcquire();
      if (attempt.acquired) {
        if (attempt.tookOverFrom) this.log.warn({ key: this.lease.key, previous: attempt.tookOverFrom }, 'audit writer took over the lease of a writer on this host that is gone');
        break;
      }
      const { holder } = attempt;
      if (!wait) {
        throw new BreachwaveError('BW_AUDIT_WRITER_BUSY', {
          detail: `${this.lease.key} is held by ${holder ?? 'a writer that just released it'}; stop that writer or try again`,
        });
      }
      if (!announced) {
        this.log.info({ key: this.lease.key, holder }, 'audit writer standing by: another writer holds the lease');
        announced = true;
      }
      await sleep(Math.ceil(this.lease.ttlMs / 3), undefined, { signal: this.backoff.signal }).catch(() => {});
      if (this.closing) throw new Error('audit writer is closed');
    }
    this.leaseHeld = true;
    this.log.info({ key: this.lease.key, token: this.lease.token }, 'audit writer holds the lease');
    this.leaseTimer = setInterval(() => {
      // A writer already stopped on an error keeps its lease until close() releases it.
      if (this.failure) return;
      this.holdLease().catch((err: unknown) => {
        // A lost lease is this.failure, logged once when the loop stops; a Redis error is retried.
        if (err !== this.failure) this.log.warn({ err }, 'audit writer: renewing the lease failed; retrying');
      });
    }, Math.ceil(this.lease.ttlMs / 3));
    this.leaseTimer.unref();
  }

  /**
   * Renews the lease; when it is no longer ours, stops the writer for good (BW_AUDIT_WRITER_BUSY)
   * and throws. Redis errors propagate and leave the writer running: a lease that lapses while
   * Redis is unreachable is found lost at the next renewal that reaches it.
   */
  private async holdLease(): Promise<void> {
    if (this.failure) throw this.failure;
    if (await this.lease.renew()) return;
    this.failure = new BreachwaveError('BW_AUDIT_WRITER_BUSY', {
      detail: `lost the lease ${this.lease.key} (it expired, or another writer took it); stopped without writing further lines`,
    });
    this.leaseHeld = false;
    clearInterval(this.leaseTimer);
    // Wake the loop from its wait so that it stops now.
    this.backoff.abort();
    this.waiter?.disconnect();
    throw this.failure;
  }

  private async releaseLease(): Promise<void> {
    clearInterval(this.leaseTimer);
    if (!this.leaseHeld) return;
    this.leaseHeld = false;
    try {
      await this.lease.release();
    } catch (err) {
      this.log.warn({ err, key: this.lease.key }, 'audit writer: releasing the lease failed; it frees itself when it expires');
    }
  }

  /** Picks the chain up from the last line of the newest non-empty file. */
  private async recoverChain(): Promise<void> {
    const files = await listAuditFiles(this.dir);
    const newest = files.at(-1);
    if (newest !== undefined) this.newestName = basename(newest);
    for (let i = files.length - 1; i >= 0; i--) {
      const file = files[i] as string;
      let tail = await readFileTail(file);
      if (tail.torn.length > 0) {
        await this.repairTornTail(file, tail.torn, tail.tornOffset);
        tail = await readFileTail(file);
      }
      if (tail.lastLine === undefined) continue;
      const line = parseChainLine(tail.lastLine);
      if (typeof line === 'string') {
        throw new BreachwaveError('BW_AUDIT_CHAIN_BROKEN', { detail: `last line of ${file}: ${line}; run verify and repair before restarting` });
      }
      this.seq = line.seq;
      this.hash = line.hash;
      this.lastStreamId = line.streamId;
      this.log.info({ file, seq: line.seq, streamId: line.streamId }, 'audit chain recovered');
      return;
    }
  }

  /**
   * A line without its newline is a write cut short by a crash: its entry was never acked, so it
   * will be written again. A complete, valid record just gets its newline; anything else is set
   * aside next to the file (never silently dropped) and cut off.
   */
  private async repairTornTail(file: string, torn: Buffer, offset: number): Promise<void> {
    if (typeof parseChainLine(torn.toString('utf8')) !== 'string') {
      await appendFile(file, '\n');
      await fsyncPath(file);
      this.log.warn({ file }, 'audit file ended without a newline after a valid record; newline added');
      return;
    }
    const aside = `${file}.torn-${Date.now()}`;
    await writeFile(aside, torn, { flag: 'wx' });
    await fsyncPath(aside);
    await truncate(file, offset);
    await fsyncPath(file);
    this.log.warn({ file, bytes: torn.length, savedTo: aside }, 'audit file ended with a partial line (crash during write); moved aside, its entry will be rewritten');
  }

  private async ensureGroup(): Promise<void> {
    try {
      await this.redis.xgroup('CREATE', this.key, this.group, '0', 'MKSTREAM');
    } catch (err) {
      if (!(err instanceof Error) || !err.message.includes('BUSYGROUP')) throw err;
    }
  }

  private async checkHead(): Promise<void> {
    const head = await readAuditHead(this.redis, this.prefix);
    if (!head) return;
    const fix = 'restore them (or delete that key to start a new chain on purpose)';
    if (head.seq > this.seq) {
      throw new BreachwaveError('BW_AUDIT_CHAIN_BROKEN', {
        detail: `audit files in ${this.dir} end at seq ${this.seq} but the chain head recorded in Redis (${this.headKey}) is seq ${head.seq}: ` +
          `files are missing or truncated; ${fix}`,
      });
    }
    if (head.seq === this.seq && head.hash !== this.hash) {
      throw new BreachwaveError('BW_AUDIT_CHAIN_BROKEN', {
        detail: `the last record in ${this.dir} (seq ${this.seq}) is not the chain head recorded in Redis (${this.headKey}): ` +
          `these files belong to another chain or were replaced; ${fix}`,
      });
    }
  }

  private async readLastDelivered(): Promise<void> {
    const groups = await this.redis.xinfo('GROUPS', this.key);
    if (!Array.isArray(groups)) return;
    for (const g of groups) {
      if (!Array.isArray(g)) continue;
      const info = new Map<string, unknown>();
      for (let i = 0; i + 1 < g.length; i += 2) info.set(String(g[i]), g[i + 1]);
      const last = info.get('last-delivered-id');
      if (info.get('name') === this.group && isStreamId(last)) this.waitAfterId = last;
    }
  }

  /** Entries another consumer of the group read but never acked become ours, so none is stranded. */
  private async claimOrphans(): Promise<void> {
    let cursor = '0-0';
    let claimed = 0;
    do {
      const res = await this.redis.xautoclaim(this.key, this.group, this.consumer, 0, cursor, 'COUNT', this.batchSize, 'JUSTID');
      cursor = Array.isArray(res) && typeof res[0] === 'string' ? res[0] : '0-0';
      claimed += Array.isArray(res) && Array.isArray(res[1]) ? res[1].length : 0;
    } while (cursor !== '0-0');
    if (claimed > 0) this.log.info({ claimed }, 'audit writer: claimed entries pending on other consumers');
  }

  private async runLoop(): Promise<void> {
    let wokeAt: string | undefined;
    let failures = 0;
    while (!this.closing) {
      try {
        const { delivered } = await this.withLock(() => this.drainLocked());
        // The wake-up entry was delivered already (to a concurrent drainOnce): wait past it.
        if (delivered === 0 && wokeAt !== undefined && compareStreamIds(wokeAt, this.waitAfterId) > 0) this.waitAfterId = wokeAt;
        if (this.closing) break;
        wokeAt = await this.waitForEntries();
        failures = 0;
        // Caught up and woken by new entries: let more gather so they share one fsync and ack.
        if (wokeAt !== undefined && this.lingerMs > 0) await sleep(this.lingerMs, undefined, { signal: this.backoff.signal }).catch(() => {});
      } catch (err) {
        if (this.failure || this.closing) break;
        failures++;
        this.log.warn({ err, failures }, 'audit writer: reading the stream failed; retrying');
        if (err instanceof Error && err.message.includes('NOGROUP')) await this.ensureGroup().catch(() => {});
        await sleep(Math.min(100 * 2 ** failures, 5000), undefined, { signal: this.backoff.signal }).catch(() => {});
      }
    }
    if (this.failure) {
      this.log.error({ err: this.failure }, 'audit writer stopped on an error; its unwritten entries stay pending in the stream');
      this.rejectStopped(this.failure);
    }
  }

  /** Blocks (on its own connection, consuming nothing) until there are entries past `waitAfterId`. */
  private async waitForEntries(): Promise<string | undefined> {
    const waiter = this.waiter;
    if (!waiter) return undefined;
    const res = await waiter.call('XREAD', 'COUNT', '1', 'BLOCK', String(this.blockMs), 'STREAMS', this.key, this.waitAfterId);
    return parseStreamReply(res).at(-1)?.[0];
  }

  private async drainLocked(): Promise<{ written: number; delivered: number }> {
    if (this.failure) throw this.failure;
    let written = 0;
    let delivered = 0;
    // Pending first: entries read earlier (by a crashed run, or a batch whose ack failed).
    let cursor = '0-0';
    for (;;) {
      const entries = await this.readGroup(cursor);
      const last = entries.at(-1);
      if (last === undefined) break;
      written += await this.processBatch(entries);
      cursor = last[0];
    }
    while (!this.closing) {
      const entries = await this.readGroup('>');
      const last = entries.at(-1);
      if (last === undefined) break;
      delivered += entries.length;
      if (compareStreamIds(last[0], this.waitAfterId) > 0) this.waitAfterId = last[0];
      written += await this.processBatch(entries);
      if (entries.length < this.batchSize) break;
    }
    return { written, delivered };
  }

  private async readGroup(id: string): Promise<StreamEntry[]> {
    const res = await this.redis.call('XREADGROUP', 'GROUP', this.group, this.consumer, 'COUNT', String(this.batchSize), 'STREAMS', this.key, id);
    return parseStreamReply(res);
  }

  private async processBatch(entries: readonly StreamEntry[]): Promise<number> {
    const ids: string[] = [];
    const lines: AuditLine[] = [];
    let seq = this.seq;
    let hash = this.hash;
    let lastId = this.lastStreamId;
    let skipped = 0;
    for (const [id, fields] of entries) {
      ids.push(id);
      // Written before a crash, not acked: already in the file.
      if (lastId !== undefined && compareStreamIds(id, lastId) <= 0) {
        skipped++;
        continue;
      }
      const line = chainAuditLine(this.toRecord(id, fields), seq + 1, id, hash);
      lines.push(line);
      seq = line.seq;
      hash = line.hash;
      lastId = id;
    }
    if (skipped > 0) this.log.info({ skipped, upTo: this.lastStreamId }, 'audit writer: entries already in the file, acking them');
    if (lines.length > 0) {
      // Fence: no line goes to the file unless the lease is still ours right now.
      await this.holdLease();
      this.appendLines(lines);
      this.seq = seq;
      this.hash = hash;
      this.lastStreamId = lastId;
    }
    if (this.beforeAck) await this.beforeAck(ids);
    const tx = this.redis.multi().xack(this.key, this.group, ...ids).xdel(this.key, ...ids);
    if (lines.length > 0) tx.set(this.headKey, JSON.stringify({ seq, hash, streamId: lastId }));
    const cp = this.checkpointToCopy;
    if (cp) tx.set(this.checkpointKey, JSON.stringify(cp));
    const results = await tx.exec();
    const failed = results?.find(([err]) => err)?.[0];
    if (!results || failed) throw failed ?? new Error('audit ack transaction was discarded');
    if (cp && this.checkpointToCopy === cp) this.checkpointToCopy = undefined;
    this.log.debug({ lines: lines.length, skipped, seq }, 'audit batch written');
    return lines.length;
  }

  /** Builds the record for an entry; an unusable entry becomes an `audit.malformed` record, never a gap. */
  private toRecord(id: string, fields: readonly string[] | null): Record<string, unknown> {
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
    this.log.warn({ streamId: id, reason }, 'audit writer: malformed audit entry; recorded as audit.malformed');
    // The payload itself is not kept: it broke the contract, so it may also break the no-PII rule.
    const detail: Record<string, unknown> = { reason: reason ?? 'unknown' };
    if (raw !== undefined) {
      detail.bytes = Buffer.byteLength(raw);
      detail.sha256 = createHash('sha256').update(raw).digest('hex');
    }
    return { ts: this.now().toISOString(), type: MALFORMED_TYPE, actor: SELF_ACTOR, detail };
  }

  /** Writes and fsyncs the lines, rotating files as needed. Any failure here is fatal. */
  private appendLines(lines: readonly AuditLine[]): void {
    if (this.filesClosed) throw new Error('audit writer is closed');
    try {
      let chunk = '';
      let last: AuditLine | undefined;
      for (const line of lines) {
        if (!this.current || this.current.lines >= this.maxLines) {
          if (this.current && chunk) this.flushChunk(this.current, chunk);
          chunk = '';
          // Seal the full file before the next one opens: its end is then signed for good.
          if (this.current && last) this.checkpoint('rotation', last, this.current, true);
          this.rotate(line.seq);
        }
        chunk += `${JSON.stringify(line)}\n`;
        const file = this.current as OpenFile;
        file.lines++;
        last = line;
        if (line.seq - this.checkpointSeq >= this.checkpointEvery) {
          this.flushChunk(file, chunk);
          chunk = '';
          this.checkpoint('records', line, file, false);
        }
      }
      if (this.current && chunk) this.flushChunk(this.current, chunk);
      if (last && last.seq > this.checkpointSeq) this.armCheckpointTimer();
    } catch (err) {
      // The file may now hold part of the batch; only a restart (recovery from the file) is safe.
      this.failure = err instanceof Error ? err : new Error(String(err));
      throw this.failure;
    }
  }

  /**
   * Signs and appends a checkpoint of `line` (already durable in `file`); its Redis copy goes
   * with the next ack. Synchronous, between the synchronous file writes; a failure is fatal.
   */
  private checkpoint(reason: CheckpointReason, line: { readonly seq: number; readonly hash: string }, file: OpenFile, sealed: boolean): Checkpoint {
    const body = {
      v: 1 as const, n: this.checkpointN + 1, chain: this.prefix, seq: line.seq, hash: line.hash,
      file: basename(file.path), line: file.lines, sealed, reason, ts: this.now().toISOString(),
    };
    const cp: Checkpoint = this.signer ? signCheckpoint(body, this.signer) : body;
    const created = this.checkpointN === 0;
    appendCheckpointSync(this.checkpointPath, cp);
    if (created) fsyncDir(this.dir);
    this.checkpointN = cp.n;
    this.checkpointSeq = cp.seq;
    this.checkpointToCopy = cp;
    clearTimeout(this.checkpointTimer);
    this.checkpointTimer = undefined;
    this.log.debug({ n: cp.n, seq: cp.seq, file: cp.file, line: cp.line, reason }, 'audit checkpoint');
    return cp;
  }

  /** After the first record not covered by a checkpoint: one is made at most `checkpointIntervalMs` later. */
  private armCheckpointTimer(): void {
    if (this.checkpointTimer || this.closing) return;
    this.checkpointTimer = setTimeout(() => {
      this.checkpointTimer = undefined;
      this.withLock(() => this.intervalCheckpoint()).catch((err: unknown) => {
        if (err !== this.failure) this.log.warn({ err }, 'audit writer: interval checkpoint failed');
      });
    }, this.checkpointIntervalMs);
    this.checkpointTimer.unref();
  }

  private async intervalCheckpoint(): Promise<void> {
    if (this.failure || this.filesClosed || this.seq <= this.checkpointSeq || !this.current) return;
    // Fence, as for lines: a writer that lost its lease signs nothing more.
    await this.holdLease();
    let cp: Checkpoint;
    try {
      cp = this.checkpoint('interval', { seq: this.seq, hash: this.hash }, this.current, false);
    } catch (err) {
      this.failure = err instanceof Error ? err : new Error(String(err));
      throw this.failure;
    }
    await this.copyCheckpoint(cp);
  }

  /** At close: seals the open file, so that the whole chain is covered while the writer is down. */
  private async finalCheckpoint(): Promise<void> {
    const file = this.current;
    if (!file || file.lines === 0 || this.seq === 0) return;
    let cp: Checkpoint;
    try {
      cp = this.checkpoint('shutdown', { seq: this.seq, hash: this.hash }, file, true);
    } catch (err) {
      this.log.error({ err, file: this.checkpointPath }, 'audit writer: writing the closing checkpoint failed; the last records stay uncovered until the next run checkpoints them');
      return;
    }
    await this.copyCheckpoint(cp).catch((err: unknown) => this.log.warn({ err }, 'audit writer: copying the closing checkpoint to Redis failed'));
  }

  private async copyCheckpoint(cp: Checkpoint): Promise<void> {
    await this.redis.set(this.checkpointKey, JSON.stringify(cp));
    if (this.checkpointToCopy === cp) this.checkpointToCopy = undefined;
  }

  private flushChunk(file: OpenFile, chunk: string): void {
    // A sync destination writes the chunk through before write() returns; one fsync then makes
    // it durable. (Its flushSync() would fsync too, but swallows fsync errors: a failed fsync means
    // the lines may not be durable, so ours is the one that counts, and it is the only one.)
    file.dest.write(chunk);
    fsyncSync((file.dest as unknown as { readonly fd: number }).fd);
    if (file.error) throw file.error;
  }

  private rotate(firstSeq: number): void {
    const previous = this.current;
    if (previous) {
      this.current = undefined;
      void closeDestination(previous).catch((err: unknown) => this.log.warn({ err, file: previous.path }, 'audit writer: closing a rotated file failed'));
    }
    const name = auditFileName(firstSeq, this.now(), this.newestName);
    const path = join(this.dir, name);
    const dest = pino.destination({ dest: path, sync: true, append: true, mode: PRIVATE_FILE_MODE });
    // The mode above applies only when the file is created; a file that existed is tightened too.
    ensurePrivateFileSync((dest as unknown as { readonly fd: number }).fd);
    const file: OpenFile = { path, dest, lines: 0, error: undefined };
    dest.on('error', (err: Error) => {
      file.error = err;
    });
    fsyncDir(this.dir);
    this.newestName = name;
    this.current = file;
    this.log.info({ file: path, seq: firstSeq }, 'audit file opened');
  }

  private async closeFile(): Promise<void> {
    const file = this.current;
    this.current = undefined;
    if (!file) return;
    try {
      await closeDestination(file);
    } catch (err) {
      this.log.warn({ err, file: file.path }, 'audit writer: closing the audit file failed');
    }
  }
}

function positiveInt(n: number, name: string): number {
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`${name} must be a positive integer, got ${n}`);
  return n;
}

function nonNegativeInt(n: number, name: string): number {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${name} must be a non-negative integer, got ${n}`);
  return n;
}

/** Parses an XREAD/XREADGROUP reply for one stream into entries. */
function parseStreamReply(res: unknown): StreamEntry[] {
  if (!Array.isArray(res)) return [];
  const stream: unknown = res[0];
  if (!Array.isArray(stream) || !Array.isArray(stream[1])) return [];
  const out: StreamEntry[] = [];
  for (const e of stream[1] as unknown[]) {
    if (!Array.isArray(e) || typeof e[0] !== 'string') continue;
    const fields: unknown = e[1];
    out.push([e[0], Array.isArray(fields) ? fields.map(String) : null]);
  }
  return out;
}

function fieldValue(fields: readonly string[] | null, name: string): string | undefined {
  if (!fields) return undefined;
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

/** The record parsed from an entry, or why it breaks the stream contract. */
function checkRecord(raw: string): Record<string, unknown> | string {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return 'record is not JSON';
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return 'record is not a JSON object';
  const r = v as Record<string, unknown>;
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

/** A line as chain state, or why it is not a valid chain record. */
function parseChainLine(text: string): AuditLine | string {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return 'not JSON';
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return 'not a JSON object';
  const r = v as Record<string, unknown>;
  if (!Number.isSafeInteger(r.seq) || (r.seq as number) < 1) return 'seq missing or invalid';
  if (typeof r.prev !== 'string' || typeof r.hash !== 'string') return 'prev or hash missing';
  if (!isStreamId(r.streamId)) return 'streamId missing or invalid';
  if (hashAuditLine(r as { prev: string }) !== r.hash) return 'hash mismatch';
  return r as unknown as AuditLine;
}

function closeDestination(file: OpenFile): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    file.dest.once('close', () => resolve());
    file.dest.once('error', reject);
    file.dest.end();
  });
}

async function fsyncPath(path: string): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Makes a new file's directory entry durable too. */
function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Directories cannot be fsync'd on every platform (Windows); the file's own fsync still holds.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
