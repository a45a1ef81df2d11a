import { UnrecoverableError, Worker, type ConnectionOptions, type Job } from 'bullmq';
import { QUEUES, backoffDelay } from '@breachwave/jobs';
import type { Logger } from '@breachwave/logging';
import { PermanentNoticeError, type NoticeOutcome, type createNoticeProcessor } from './processor.js';

export interface NotifyWorkerDeps {
  readonly connection: ConnectionOptions;
  readonly prefix: string;
  readonly processor: ReturnType<typeof createNoticeProcessor>;
  readonly log: Logger;
  /** Default 50. */
  readonly concurrency?: number;
  /** Lock duration (ms) after which a dead worker's job is re-run. BullMQ default 30,000. */
  readonly lockDuration?: number;
  /** How often stalled jobs are looked for (ms). BullMQ default 30,000. */
  readonly stalledInterval?: number;
}

/**
 * The notify queue's BullMQ worker. Constructing it does no I/O; `start()` begins consuming;
 * `close()` stops taking jobs, waits for the running ones, and is idempotent.
 */
export function createNotifyWorker(deps: NotifyWorkerDeps) {
  let worker: Worker | undefined;
  let closing: Promise<void> | undefined;

  const run = async (job: Job): Promise<NoticeOutcome> => {
    try {
      return await deps.processor({ id: job.id, data: job.data, attemptsMade: job.attemptsMade, attempts: job.opts.attempts ?? 1 });
    } catch (err) {
      if (err instanceof PermanentNoticeError) throw new UnrecoverableError(err.message);
      throw err;
    }
  };

  return {
    /** Starts consuming. Resolves once the worker is connected. */
    async start(): Promise<void> {
      if (worker) return;
      worker = new Worker(QUEUES.notify, run, {
        connection: deps.connection,
        prefix: deps.prefix,
        autorun: false,
        concurrency: deps.concurrency ?? 50,
        ...(deps.lockDuration ? { lockDuration: deps.lockDuration } : {}),
        ...(deps.stalledInterval ? { stalledInterval: deps.stalledInterval } : {}),
        settings: { backoffStrategy: (attemptsMade: number) => backoffDelay(attemptsMade) },
      });
      worker.on('error', (err) => deps.log.error({ err }, 'notify worker error'));
      worker.on('failed', (job, err) => {
        if (job && (err instanceof UnrecoverableError || job.attemptsMade >= (job.opts.attempts ?? 1))) {
          deps.log.warn({ job: job.id, reason: err.message }, 'notice job failed for good');
        }
      });
      void worker.run().catch((err: unknown) => deps.log.error({ err }, 'notify worker stopped'));
      await worker.waitUntilReady();
    },
    /** Stops taking jobs and waits for running ones. Idempotent. */
    async close(): Promise<void> {
      closing ??= worker ? worker.close() : Promise.resolve();
      await closing;
    },
  };
}
export type NotifyWorker = ReturnType<typeof createNotifyWorker>;
