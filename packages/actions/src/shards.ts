import { shardPrefixes } from '@breachwave/ledger';
import type { ActionWorker } from './worker.js';

/**
 * The workers of one action over every shard of the deployment: one BullMQ worker per shard
 * queue (`make` is given the shard's prefix), started, watched and closed as one. Each consumes
 * its shard's queue with the concurrency it was made with, so a process takes up to that many
 * jobs per shard. With one shard this is the one worker `make` returns, nothing wrapped.
 */
export function createShardWorkers(prefix: string, shards: number, make: (shardPrefix: string) => ActionWorker): ActionWorker {
  if (shards <= 1) return make(prefix);
  const workers = shardPrefixes(prefix, shards).map(make);
  let closing: Promise<void> | undefined;
  return {
    async start(): Promise<void> {
      await Promise.all(workers.map((w) => w.start()));
    },
    isRunning(): boolean {
      return closing === undefined && workers.every((w) => w.isRunning());
    },
    async close(): Promise<void> {
      closing ??= Promise.all(workers.map((w) => w.close())).then(() => undefined);
      await closing;
    },
  };
}
