import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { Redis } from 'ioredis';
import { createLease } from '@breachwave/redis';
import { GENESIS_HASH, chainAuditLine, compareStreamIds, type AuditLine } from './chain.js';
import { auditStreamKey } from './record.js';
import { auditHeadKey, auditWriterLeaseKey } from './head.js';
import type { Checkpoint, CheckpointSigner } from './checkpoint.js';
import { makePrivateDir } from './private-files.js';
import { Checkpointer } from './writer/checkpointer.js';
import { StreamConsumer, type StreamEntry } from './writer/consumer.js';
import { AuditFileSink, type OpenFile } from './writer/file-sink.js';
import { WriterLease } from './writer/lease.js';
import { nonNegativeInt, positiveInt, type AuditPosition, type AuditWriter, type AuditWriterOptions } from './writer/options.js';
import { entryRecord } from './writer/records.js';
import { checkHead, recoverChain } from './writer/recovery.js';

export type { AuditPosition, AuditWriter, AuditWriterOptions } from './writer/options.js';

/**
 * Creates the audit writer. Lines reach the file through a pino destination (sync, fsync'd per
 * batch) before their stream entries are XACKed and XDELed, so a crash at any point loses
 * nothing and, on restart, duplicates nothing.
 */
export function createAuditWriter(options: AuditWriterOptions): AuditWriter {
  return new StreamAuditWriter(options);
}

/**
 * The writer's lifecycle and its batches: set-up (lease, recovery, checks), the background loop,
 * and each batch from stream entries to durable, chained, checkpointed lines and then the ack.
 * The parts live in `./writer/`: the lease, chain recovery, the stream consumer, the files,
 * record validation and the checkpoints.
 */
class StreamAuditWriter implements AuditWriter {
  private readonly redis: Redis;
  private readonly prefix: string;
  private readonly headKey: string;
  private readonly dir: string;
  private readonly log: Logger;
  private readonly group: string;
  private readonly consumerName: string;
  private readonly lingerMs: number;
  private readonly maxLines: number;
  private readonly closeTimeoutMs: number;
  private readonly beforeAck: AuditWriterOptions['beforeAck'];
  private readonly now: () => Date;
  private readonly signer: CheckpointSigner | undefined;
  private readonly lease: WriterLease;
  private readonly stream: StreamConsumer;
  private readonly files: AuditFileSink;
  private readonly checkpoints: Checkpointer;

  private seq = 0;
  private hash = GENESIS_HASH;
  private lastStreamId: string | undefined;

  private initialized: Promise<void> | undefined;
  private lock: Promise<unknown> = Promise.resolve();
  private loop: Promise<void> | undefined;
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
    this.headKey = auditHeadKey(o.prefix);
    this.dir = o.dir;
    this.log = o.log;
    this.group = o.group ?? 'audit-writer';
    this.consumerName = o.consumer ?? 'audit-writer';
    this.stream = new StreamConsumer({
      redis: o.redis,
      key: auditStreamKey(o.prefix),
      group: this.group,
      consumer: this.consumerName,
      batchSize: positiveInt(o.batchSize ?? 500, 'batchSize'),
      blockMs: positiveInt(o.blockMs ?? 5000, 'blockMs'),
      log: o.log,
    });
    this.lingerMs = nonNegativeInt(o.lingerMs ?? 20, 'lingerMs');
    this.maxLines = positiveInt(o.maxLinesPerFile ?? 1_000_000, 'maxLinesPerFile');
    this.closeTimeoutMs = o.closeTimeoutMs ?? 10_000;
    this.lease = new WriterLease({
      lease: createLease(o.redis, auditWriterLeaseKey(o.prefix), positiveInt(o.leaseMs ?? 15_000, 'leaseMs')),
      log: o.log,
      signal: this.backoff.signal,
      isClosing: () => this.closing,
      failure: () => this.failure,
      onLost: (err) => {
        this.failure = err;
        // Wake the loop from its wait so that it stops now.
        this.backoff.abort();
        this.stream.disconnectWaitConnection();
      },
    });
    this.beforeAck = o.beforeAck;
    this.now = o.now ?? (() => new Date());
    this.signer = o.signer;
    this.files = new AuditFileSink(o.dir, this.now, o.log);
    this.checkpoints = new Checkpointer({
      redis: o.redis,
      prefix: o.prefix,
      dir: o.dir,
      log: o.log,
      now: this.now,
      signer: o.signer,
      every: positiveInt(o.checkpointEvery ?? 1000, 'checkpointEvery'),
      intervalMs: positiveInt(o.checkpointIntervalMs ?? 5000, 'checkpointIntervalMs'),
    });
    this.stopped = new Promise<void>((resolve, reject) => {
      this.resolveStopped = resolve;
      this.rejectStopped = reject;
    });
    // Observed through whenStopped(); without this an unobserved failure would crash the process.
    this.stopped.catch(() => {});
  }

  position(): AuditPosition {
    return { seq: this.seq, hash: this.hash, streamId: this.lastStreamId, file: this.files.current?.path, checkpointSeq: this.checkpoints.seq };
  }

  whenStopped(): Promise<void> {
    return this.stopped;
  }

  async start(): Promise<void> {
    if (this.closing) throw new Error('audit writer is closed');
    await this.init(true);
    if (this.loop || this.closing) return;
    this.stream.openWaitConnection();
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
    this.stream.disconnectWaitConnection();
    const settled = Promise.allSettled([this.loop, this.lock, this.initialized]);
    const timedOut = await Promise.race([settled.then(() => false), sleep(this.closeTimeoutMs, true, { ref: false })]);
    if (timedOut) {
      this.log.warn({ timeoutMs: this.closeTimeoutMs }, 'audit writer: batch still in flight at close; its entries stay pending and are reconciled on restart');
    }
    this.checkpoints.cancelTimer();
    // The closing file is sealed, so the whole chain is covered when the writer is down. Not after
    // a failure (the file may hold part of a batch, or another writer now owns the chain) nor with
    // a batch still in flight (its lines may be half written).
    if (!timedOut && !this.failure) await this.finalCheckpoint();
    this.filesClosed = true;
    await this.files.close();
    await this.lease.release();
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
    await this.lease.acquire(waitForLease);
    await makePrivateDir(this.dir);
    const found = await recoverChain(this.dir, this.log);
    if (found.newestName !== undefined) this.files.newestName = found.newestName;
    if (found.end) {
      this.seq = found.end.seq;
      this.hash = found.end.hash;
      this.lastStreamId = found.end.streamId;
    }
    await this.stream.ensureGroup();
    await checkHead(this.redis, this.prefix, this.dir, this.seq, this.hash);
    await this.checkpoints.recover(this.seq, this.hash);
    // Records a crashed writer wrote after its last checkpoint: this writer chains on from them
    // anyway, so it covers them now (sealing that file: new records go to a new one) instead of
    // leaving them open to a silent cut until its own first records arrive.
    if (found.end && found.endAt && this.seq > this.checkpoints.seq) {
      await this.lease.hold();
      const cp = this.checkpoints.make('recovery', { seq: this.seq, hash: this.hash }, found.endAt, true);
      await this.checkpoints.copy(cp);
      this.log.info({ seq: this.seq, file: found.endAt.path, checkpoint: cp.n }, 'audit records left uncovered by the previous writer are covered now');
    }
    await this.stream.readLastDelivered();
    await this.stream.claimOrphans();
    this.log.info(
      {
        dir: this.dir, stream: auditStreamKey(this.prefix), group: this.group, consumer: this.consumerName,
        seq: this.seq, streamId: this.lastStreamId, checkpointSeq: this.checkpoints.seq, keyId: this.signer?.keyId,
      },
      'audit writer ready',
    );
    if (!this.signer) {
      this.log.warn({ dir: this.dir }, 'audit writer has NO signing key: its checkpoints are unsigned, so anyone who can write the audit files can rewrite them undetected; set BW_AUDIT_SIGNING_KEY');
    }
  }

  private async runLoop(): Promise<void> {
    let wokeAt: string | undefined;
    let failures = 0;
    while (!this.closing) {
      try {
        const { delivered } = await this.withLock(() => this.drainLocked());
        // The wake-up entry was delivered already (to a concurrent drainOnce): wait past it.
        if (delivered === 0 && wokeAt !== undefined) this.stream.waitPast(wokeAt);
        if (this.closing) break;
        wokeAt = await this.stream.waitForEntries();
        failures = 0;
        // Caught up and woken by new entries: let more gather so they share one fsync and ack.
        if (wokeAt !== undefined && this.lingerMs > 0) await sleep(this.lingerMs, undefined, { signal: this.backoff.signal }).catch(() => {});
      } catch (err) {
        if (this.failure || this.closing) break;
        failures++;
        this.log.warn({ err, failures }, 'audit writer: reading the stream failed; retrying');
        if (err instanceof Error && err.message.includes('NOGROUP')) await this.stream.ensureGroup().catch(() => {});
        await sleep(Math.min(100 * 2 ** failures, 5000), undefined, { signal: this.backoff.signal }).catch(() => {});
      }
    }
    if (this.failure) {
      this.log.error({ err: this.failure }, 'audit writer stopped on an error; its unwritten entries stay pending in the stream');
      this.rejectStopped(this.failure);
    }
  }

  private async drainLocked(): Promise<{ written: number; delivered: number }> {
    if (this.failure) throw this.failure;
    return this.stream.drain((entries) => this.processBatch(entries), () => this.closing);
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
      const line = chainAuditLine(entryRecord(id, fields, this.now, this.log), seq + 1, id, hash);
      lines.push(line);
      seq = line.seq;
      hash = line.hash;
      lastId = id;
    }
    if (skipped > 0) this.log.info({ skipped, upTo: this.lastStreamId }, 'audit writer: entries already in the file, acking them');
    if (lines.length > 0) {
      // Fence: no line goes to the file unless the lease is still ours right now.
      await this.lease.hold();
      this.appendLines(lines);
      this.seq = seq;
      this.hash = hash;
      this.lastStreamId = lastId;
    }
    if (this.beforeAck) await this.beforeAck(ids);
    const sets: Array<readonly [string, string]> = [];
    if (lines.length > 0) sets.push([this.headKey, JSON.stringify({ seq, hash, streamId: lastId })]);
    const cp = this.checkpoints.pendingCopy();
    if (cp) sets.push([this.checkpoints.key, JSON.stringify(cp)]);
    await this.stream.ack(ids, sets);
    if (cp) this.checkpoints.copied(cp);
    this.log.debug({ lines: lines.length, skipped, seq }, 'audit batch written');
    return lines.length;
  }

  /** Writes and fsyncs the lines, rotating files and checkpointing as needed. Any failure here is fatal. */
  private appendLines(lines: readonly AuditLine[]): void {
    if (this.filesClosed) throw new Error('audit writer is closed');
    try {
      let chunk = '';
      let last: AuditLine | undefined;
      for (const line of lines) {
        const open = this.files.current;
        if (!open || open.lines >= this.maxLines) {
          if (open && chunk) this.files.flush(open, chunk);
          chunk = '';
          // Seal the full file before the next one opens: its end is then signed for good.
          if (open && last) this.checkpoints.make('rotation', last, open, true);
          this.files.rotate(line.seq);
        }
        chunk += `${JSON.stringify(line)}\n`;
        const file = this.files.current as OpenFile;
        file.lines++;
        last = line;
        if (this.checkpoints.due(line.seq)) {
          this.files.flush(file, chunk);
          chunk = '';
          this.checkpoints.make('records', line, file, false);
        }
      }
      if (this.files.current && chunk) this.files.flush(this.files.current, chunk);
      if (last && last.seq > this.checkpoints.seq) this.armCheckpointTimer();
    } catch (err) {
      // The file may now hold part of the batch; only a restart (recovery from the file) is safe.
      this.failure = err instanceof Error ? err : new Error(String(err));
      throw this.failure;
    }
  }

  /** After the first record not covered by a checkpoint: one is made at most `checkpointIntervalMs` later. */
  private armCheckpointTimer(): void {
    if (this.closing) return;
    this.checkpoints.armTimer(() => {
      this.withLock(() => this.intervalCheckpoint()).catch((err: unknown) => {
        if (err !== this.failure) this.log.warn({ err }, 'audit writer: interval checkpoint failed');
      });
    });
  }

  private async intervalCheckpoint(): Promise<void> {
    if (this.failure || this.filesClosed || this.seq <= this.checkpoints.seq || !this.files.current) return;
    // Fence, as for lines: a writer that lost its lease signs nothing more.
    await this.lease.hold();
    let cp: Checkpoint;
    try {
      cp = this.checkpoints.make('interval', { seq: this.seq, hash: this.hash }, this.files.current, false);
    } catch (err) {
      this.failure = err instanceof Error ? err : new Error(String(err));
      throw this.failure;
    }
    await this.checkpoints.copy(cp);
  }

  /** At close: seals the open file, so that the whole chain is covered while the writer is down. */
  private async finalCheckpoint(): Promise<void> {
    const file = this.files.current;
    if (!file || file.lines === 0 || this.seq === 0) return;
    let cp: Checkpoint;
    try {
      cp = this.checkpoints.make('shutdown', { seq: this.seq, hash: this.hash }, file, true);
    } catch (err) {
      this.log.error({ err, file: this.checkpoints.path }, 'audit writer: writing the closing checkpoint failed; the last records stay uncovered until the next run checkpoints them');
      return;
    }
    await this.checkpoints.copy(cp).catch((err: unknown) => this.log.warn({ err }, 'audit writer: copying the closing checkpoint to Redis failed'));
  }
}
