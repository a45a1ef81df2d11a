import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { duplicateRedis } from '@breachwave/redis';
import { compareStreamIds, isStreamId } from '../chain.js';

/** One stream entry: its id and its field/value list (null when deleted before it was read). */
export type StreamEntry = readonly [id: string, fields: readonly string[] | null];

/** Where the audit stream is read from, and how much at a time. */
export interface StreamConsumerOptions {
  readonly redis: Redis;
  /** The stream's key. */
  readonly key: string;
  readonly group: string;
  readonly consumer: string;
  /** Entries per read. */
  readonly batchSize: number;
  /** How long one blocking wait lasts, in ms. */
  readonly blockMs: number;
  readonly log: Logger;
}

/**
 * The audit writer's side of the stream's consumer group: reads pending entries first, then new
 * ones; waits for entries on a connection of its own that consumes nothing; acknowledges and
 * deletes what was written.
 */
export class StreamConsumer {
  /** The blocking wait returns entries after this id: the newest id delivered to the group. */
  private waitAfterId = '0-0';
  private waiter: Redis | undefined;

  constructor(private readonly o: StreamConsumerOptions) {}

  /** Creates the consumer group (MKSTREAM, from `0`) unless it exists. */
  async ensureGroup(): Promise<void> {
    try {
      await this.o.redis.xgroup('CREATE', this.o.key, this.o.group, '0', 'MKSTREAM');
    } catch (err) {
      if (!(err instanceof Error) || !err.message.includes('BUSYGROUP')) throw err;
    }
  }

  /** Starts waiting after the newest id the group has delivered. */
  async readLastDelivered(): Promise<void> {
    const groups = await this.o.redis.xinfo('GROUPS', this.o.key);
    if (!Array.isArray(groups)) return;
    for (const g of groups) {
      if (!Array.isArray(g)) continue;
      const info = new Map<string, unknown>();
      for (let i = 0; i + 1 < g.length; i += 2) info.set(String(g[i]), g[i + 1]);
      const last = info.get('last-delivered-id');
      if (info.get('name') === this.o.group && isStreamId(last)) this.waitAfterId = last;
    }
  }

  /** Entries another consumer of the group read but never acked become ours, so none is stranded. */
  async claimOrphans(): Promise<void> {
    const { redis, key, group, consumer, batchSize } = this.o;
    let cursor = '0-0';
    let claimed = 0;
    do {
      const res = await redis.xautoclaim(key, group, consumer, 0, cursor, 'COUNT', batchSize, 'JUSTID');
      cursor = Array.isArray(res) && typeof res[0] === 'string' ? res[0] : '0-0';
      claimed += Array.isArray(res) && Array.isArray(res[1]) ? res[1].length : 0;
    } while (cursor !== '0-0');
    if (claimed > 0) this.o.log.info({ claimed }, 'audit writer: claimed entries pending on other consumers');
  }

  /**
   * Hands everything readable right now to `process`, batch by batch: first this consumer's
   * pending entries (read earlier by a crashed run, or a batch whose ack failed), then new ones
   * until a short batch or `closing()`. `process` resolves to the lines it wrote.
   */
  async drain(process: (entries: readonly StreamEntry[]) => Promise<number>, closing: () => boolean): Promise<{ written: number; delivered: number }> {
    let written = 0;
    let delivered = 0;
    let cursor = '0-0';
    for (;;) {
      const entries = await this.read(cursor);
      const last = entries.at(-1);
      if (last === undefined) break;
      written += await process(entries);
      cursor = last[0];
    }
    while (!closing()) {
      const entries = await this.read('>');
      const last = entries.at(-1);
      if (last === undefined) break;
      delivered += entries.length;
      if (compareStreamIds(last[0], this.waitAfterId) > 0) this.waitAfterId = last[0];
      written += await process(entries);
      if (entries.length < this.o.batchSize) break;
    }
    return { written, delivered };
  }

  private async read(id: string): Promise<StreamEntry[]> {
    const { redis, group, consumer, batchSize, key } = this.o;
    const res = await redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', String(batchSize), 'STREAMS', key, id);
    return parseStreamReply(res);
  }

  /** Opens the connection {@link waitForEntries} blocks on. */
  openWaitConnection(): void {
    this.waiter = duplicateRedis(this.o.redis, {
      connectionName: 'breachwave-audit-writer-wait',
      maxRetriesPerRequest: null,
      enableOfflineQueue: true,
    });
    this.waiter.on('error', (err: Error) => this.o.log.debug({ err }, 'audit writer: wait connection error'));
  }

  /** Cuts the wait connection, ending a wait in progress. Nothing is consumed on it, so nothing is lost. */
  disconnectWaitConnection(): void {
    this.waiter?.disconnect();
  }

  /**
   * Blocks (on its own connection, consuming nothing) until there are entries past the newest one
   * delivered; resolves to the id of the entry that woke it, undefined after a timeout.
   */
  async waitForEntries(): Promise<string | undefined> {
    const waiter = this.waiter;
    if (!waiter) return undefined;
    const res = await waiter.call('XREAD', 'COUNT', '1', 'BLOCK', String(this.o.blockMs), 'STREAMS', this.o.key, this.waitAfterId);
    return parseStreamReply(res).at(-1)?.[0];
  }

  /**
   * After a wake-up whose entry was delivered already (to a concurrent drain), the next wait
   * starts past it.
   */
  waitPast(id: string): void {
    if (compareStreamIds(id, this.waitAfterId) > 0) this.waitAfterId = id;
  }

  /**
   * Acknowledges and deletes `ids`, setting `sets` (key, value) in the same transaction.
   * @throws the first command's error, or an Error when the transaction was discarded.
   */
  async ack(ids: readonly string[], sets: ReadonlyArray<readonly [key: string, value: string]>): Promise<void> {
    const { redis, key, group } = this.o;
    const tx = redis.multi().xack(key, group, ...ids).xdel(key, ...ids);
    for (const [k, v] of sets) tx.set(k, v);
    const results = await tx.exec();
    const failed = results?.find(([err]) => err)?.[0];
    if (!results || failed) throw failed ?? new Error('audit ack transaction was discarded');
  }
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
