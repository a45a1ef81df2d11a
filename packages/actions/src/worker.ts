import { DelayedError, Queue, UnrecoverableError, Worker, type ConnectionOptions, type Job, type JobsOptions } from 'bullmq';
import type { ActionName, BreachwaveError } from '@breachwave/domain';
import { DEFAULT_JOB_OPTIONS, QUEUE_FOR_ACTION, actionJobId, backoffDelay, type ActionJob } from '@breachwave/jobs';
import type { Logger } from '@breachwave/logging';

/** What a processor sees of its BullMQ job: enough to decide, nothing to reach into. */
export interface ActionJobView {
  readonly id?: string | undefined;
  readonly data: unknown;
  /** Attempts already made before this one. */
  readonly attemptsMade: number;
  /** Attempts allowed in all. */
  readonly attempts: number;
  /**
   * Puts the job back for `delayMs` without spending an attempt (quiet hours, provider
   * throttling, an exhausted code pool): the job waits in BullMQ's delayed set, nothing is lost.
   * Always throws; let it propagate.
   */
  defer(delayMs: number): Promise<never>;
}

/** Thrown by a processor for an outcome that must not be retried (BullMQ UnrecoverableError). */
export class PermanentActionError extends Error {
  override readonly name = 'PermanentActionError';
  constructor(readonly error: BreachwaveError) {
    super(`${error.code}: ${error.message}`);
  }
}

export interface ActionWorkerDeps<R> {
  readonly action: ActionName;
  readonly connection: ConnectionOptions;
  readonly prefix: string;
  readonly processor: (job: ActionJobView) => Promise<R>;
  readonly log: Logger;
  /** Default 50. */
  readonly concurrency?: number;
  /** Lock duration (ms) after which a dead worker's job is re-run. BullMQ default 30,000. */
  readonly lockDuration?: number;
  /** How often stalled jobs are looked for (ms). BullMQ default 30,000. */
  readonly stalledInterval?: number;
}

/**
 * One BullMQ worker for one action queue. Constructing it does no I/O (`autorun: false`);
 * `start()` begins consuming; `close()` stops taking jobs, waits for running ones, idempotent.
 */
export function createActionWorker<R>(deps: ActionWorkerDeps<R>) {
  let worker: Worker | undefined;
  let closing: Promise<void> | undefined;
  const run = async (job: Job, token?: string): Promise<R> => {
    const defer = async (delayMs: number): Promise<never> => {
      await job.moveToDelayed(Date.now() + Math.max(0, Math.round(delayMs)), token);
      throw new DelayedError();
    };
    try {
      return await deps.processor({ id: job.id, data: job.data, attemptsMade: job.attemptsMade, attempts: job.opts.attempts ?? 1, defer });
    } catch (err) {
      if (err instanceof PermanentActionError) throw new UnrecoverableError(err.message);
      throw err;
    }
  };
  return {
    async start(): Promise<void> {
      if (worker) return;
      worker = new Worker(QUEUE_FOR_ACTION[deps.action], run, {
        connection: deps.connection,
        prefix: deps.prefix,
        autorun: false,
        concurrency: deps.concurrency ?? 50,
        ...(deps.lockDuration ? { lockDuration: deps.lockDuration } : {}),
        ...(deps.stalledInterval ? { stalledInterval: deps.stalledInterval } : {}),
        settings: { backoffStrategy: (attemptsMade: number) => backoffDelay(attemptsMade) },
      });
      worker.on('error', (err) => deps.log.error({ err }, `${deps.action} worker error`));
      worker.on('failed', (job, err) => {
        if (job && (err instanceof UnrecoverableError || job.attemptsMade >= (job.opts.attempts ?? 1))) {
          deps.log.warn({ job: job.id, reason: err.message }, `${deps.action} job failed for good`);
        }
      });
      void worker.run().catch((err: unknown) => deps.log.error({ err }, `${deps.action} worker stopped`));
      await worker.waitUntilReady();
    },
    async close(): Promise<void> {
      closing ??= worker ? worker.close() : Promise.resolve();
      await closing;
    },
  };
}
export type ActionWorker = ReturnType<typeof createActionWorker>;

/** Producers for every action queue, created on first use. */
export function createActionQueues(deps: { readonly connection: ConnectionOptions; readonly prefix: string }) {
  const queues = new Map<ActionName, Queue>();
  const queueFor = (action: ActionName): Queue => {
    let q = queues.get(action);
    if (!q) {
      q = new Queue(QUEUE_FOR_ACTION[action], { connection: deps.connection, prefix: deps.prefix });
      queues.set(action, q);
    }
    return q;
  };
  return {
    queueFor,
    /** Adds an action job with its deterministic id and the catalog's default options. */
    async add(action: ActionName, job: ActionJob, opts: JobsOptions = {}): Promise<void> {
      await queueFor(action).add(action, job, { ...DEFAULT_JOB_OPTIONS, ...opts, jobId: actionJobId(action, job) });
    },
    async close(): Promise<void> {
      await Promise.all([...queues.values()].map((q) => q.close()));
      queues.clear();
    },
  };
}
export type ActionQueues = ReturnType<typeof createActionQueues>;
