import { DelayedError, Queue, UnrecoverableError, Worker, type ConnectionOptions, type Job, type JobsOptions } from 'bullmq';
import { toBreachwaveError, type ActionName, type BreachwaveError } from '@breachwave/domain';
import {
  DEFAULT_JOB_OPTIONS, QUEUE_FOR_ACTION, actionJobFor, actionJobId, attemptsOf, backoffDelay, createNextActions, isActionBatch, laneJobOptions, parseActionJobs, spentAttempts, spentLeaving, splitOffJob,
  type ActionJob,
} from '@breachwave/jobs';
import { manifestCache, shardOf, shardPrefix, type Ledger } from '@breachwave/ledger';
import type { Logger } from '@breachwave/logging';
import { cancelAccount, waveGate, type WaveGateState } from './gate.js';

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
  /**
   * Set for an account of a multi-account job: the account's next action is handed here and
   * added, with the batch's other accounts' next actions, as one job when the batch ends. Absent,
   * the next action is added at once as a one-account job.
   */
  readonly queueNext?: (action: ActionName, job: ActionJob) => void;
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
  /**
   * Called when BullMQ fails a job for good without the processor deciding it (its lock lost, an
   * unexpected exception on the last attempt): the job's accounts are left to the recovery sweep,
   * which this may hurry.
   */
  readonly onLost?: (job: { readonly id?: string | undefined; readonly reason: string }) => void;
  /**
   * The ledger, for the wave gate: a job of a paused wave waits (the whole job, no attempt spent)
   * and one of a cancelled wave cancels its accounts that nothing was done to yet before it runs.
   * Absent: no gate.
   */
  readonly ledger?: Pick<Ledger, 'waveState' | 'transition' | 'get' | 'getWave'>;
  /** Who the gate's cancellations are audited as. Default the action's worker. */
  readonly actor?: string;
  /** How long a job of a paused wave waits before it looks again (ms). Default {@link PAUSE_RECHECK_MS}. */
  readonly pauseRecheckMs?: number;
  /** How long the gate keeps a wave's state before reading it again (ms): a pause or cancel reaches this worker within it. Default 1000. */
  readonly gateTtlMs?: number;
}

/** How long a job of a paused wave waits before it looks again (ms), plus up to a fifth of it at random. */
export const PAUSE_RECHECK_MS = 10_000;

/** What a multi-account job did, kept as its BullMQ return value (counts only). */
export interface BatchSummary {
  readonly accounts: number;
  /** The processor finished the account (done, skipped, or found it finished already). */
  readonly finished: number;
  /** Failed for good; the ledger holds the account as a dead letter. */
  readonly failed: number;
  /** Left the batch as a one-account job: a retry with backoff, or a deferral. */
  readonly split: number;
  /** Of `finished`, found finished already (the job is a replay: a stalled or re-added one). */
  readonly replayed: number;
}

/**
 * Whether a processor's result says the account was finished before this run (`already-finished`,
 * as `runStep` and the notice processor answer). The worker says so once per job; processors
 * say it per account at debug.
 */
function foundFinished(result: unknown): boolean {
  return typeof result === 'object' && result !== null && (result as { status?: unknown }).status === 'already-finished';
}

/** Thrown by a batch account's `defer` once its one-account job is added. */
class SplitOff extends Error {}

/**
 * One BullMQ worker for one action queue. Constructing it does no I/O (`autorun: false`);
 * `start()` begins consuming; `close()` stops taking jobs, waits for running ones, idempotent.
 *
 * A multi-account job (`{ waveId, accountIds }`, from the feeder) runs its accounts one after
 * another, each through the same processor as a one-account job, so a job still holds one send
 * in flight and `concurrency` keeps its meaning. The batch shares BullMQ's per-job cost and
 * nothing else: every account keeps its own ledger state, audit records and attempts. An account
 * that must wait (the processor defers it) or be retried (it threw a retryable error) leaves the
 * batch as a one-account job; the batch's finished accounts go on to their next action as one
 * job: the jobs catalog's batch bookkeeping holds those rules (`splitOffJob`, `spentLeaving`,
 * `attemptsOf`, `createNextActions`). One that failed for good is already a dead letter in the
 * ledger. The batch job itself is
 * retried only if those adds fail (Redis unreachable); the ledger then makes the accounts already
 * finished a no-op.
 */
export function createActionWorker<R>(deps: ActionWorkerDeps<R>) {
  let worker: Worker | undefined;
  let closing: Promise<void> | undefined;
  // Producers for split-off accounts and a batch's next actions, made on first use.
  const producers = createActionQueues({ connection: deps.connection, prefix: deps.prefix, ...(deps.ledger ? { ledger: deps.ledger } : {}) });
  /** One account out of a batch into a job of its own, carrying the attempts it spent there (`splitOffJob`). */
  const splitOff = (ref: ActionJob, o: { delay: number; attempts: number; spent: number }): Promise<void> => {
    const { data, opts } = splitOffJob(ref, o);
    return producers.add(deps.action, data, opts);
  };

  /** One line per replayed job (a stalled or re-added one), however many of its accounts were finished before. */
  const sayReplayed = (job: Job, waveId: string | undefined, replayed: number, accounts: number): void => {
    if (replayed > 0) deps.log.info({ job: job.id, wave: waveId, replayed, accounts }, `${deps.action} job replayed: accounts finished before were left as they were`);
  };

  const runOne = async (job: Job, token?: string): Promise<R> => {
    const defer = async (delayMs: number): Promise<never> => {
      await job.moveToDelayed(Date.now() + Math.max(0, Math.round(delayMs)), token);
      throw new DelayedError();
    };
    // An account split off a batch counts the attempts it spent there (`spent`).
    const counted = attemptsOf({ data: job.data, attemptsMade: job.attemptsMade, attempts: job.opts.attempts ?? 1 });
    try {
      const result = await deps.processor({ id: job.id, data: job.data, ...counted, defer });
      // Read, not parsed: a log line must not turn a finished job into a failed one.
      if (foundFinished(result)) sayReplayed(job, (job.data as Partial<ActionJob> | null)?.waveId, 1, 1);
      return result;
    } catch (err) {
      if (err instanceof PermanentActionError) throw new UnrecoverableError(err.message);
      throw err;
    }
  };

  const runBatch = async (job: Job): Promise<BatchSummary> => {
    let refs: ActionJob[];
    try {
      refs = parseActionJobs(job.data);
    } catch (err) {
      throw new UnrecoverableError(new PermanentActionError(toBreachwaveError(err, 'BW_JOB_PAYLOAD_INVALID')).message);
    }
    const attempts = job.opts.attempts ?? 1;
    let finished = 0;
    let failed = 0;
    let split = 0;
    let replayed = 0;
    const nextActions = createNextActions();
    for (const ref of refs) {
      // A pause or cancel that came while the batch ran reaches its next account: a paused wave's
      // accounts wait as jobs of their own; a cancelled wave's untouched ones end cancelled.
      if ((await gateAccount(ref.waveId, ref.accountId)) === 'paused') {
        await splitOff(ref, { delay: pauseWait(), attempts, spent: spentLeaving('wait', job.attemptsMade) });
        split++;
        continue;
      }
      const defer = async (delayMs: number): Promise<never> => {
        // A deferral spends no attempt: the account keeps the ones the batch had left.
        await splitOff(ref, { delay: delayMs, attempts, spent: spentLeaving('wait', job.attemptsMade) });
        throw new SplitOff();
      };
      try {
        const result = await deps.processor({ id: job.id, data: ref, attemptsMade: job.attemptsMade, attempts, defer, queueNext: nextActions.queueNext });
        finished++;
        if (foundFinished(result)) replayed++;
      } catch (err) {
        if (err instanceof SplitOff) {
          split++;
        } else if (err instanceof PermanentActionError) {
          failed++;
          deps.log.warn({ job: job.id, wave: ref.waveId, account: ref.accountId, reason: err.message }, `${deps.action} failed for good`);
        } else {
          // The processor put the account back to pending (or left it claimed, to be reconciled):
          // it retries on its own, with this attempt spent.
          await splitOff(ref, { delay: backoffDelay(job.attemptsMade + 1), attempts, spent: spentLeaving('retry', job.attemptsMade) });
          split++;
        }
      }
    }
    // The accounts' next actions, as one job per action. Should this fail, the batch is retried:
    // its finished accounts find themselves done in the ledger and queue their next action again.
    const waveId = refs[0]?.waveId ?? '';
    for (const [action, accountIds, ordinals] of nextActions.jobs()) await producers.addAccounts(action, waveId, accountIds, ordinals);
    sayReplayed(job, waveId, replayed, refs.length);
    return { accounts: refs.length, finished, failed, split, replayed };
  };

  const gateOf = deps.ledger ? waveGate(deps.ledger, deps.gateTtlMs ?? 1000) : undefined;
  const pauseWait = (): number => {
    const wait = deps.pauseRecheckMs ?? PAUSE_RECHECK_MS;
    return wait + Math.floor(Math.random() * wait * 0.2);
  };
  /** The gate for one account: `paused`, or `run` (after cancelling it if its wave was cancelled and nothing was done to it). */
  const gateAccount = async (waveId: string, accountId: string): Promise<'run' | 'paused'> => {
    if (!gateOf || !deps.ledger) return 'run';
    let state: WaveGateState;
    try {
      state = await gateOf(waveId);
    } catch {
      // An unknown wave: the processor says so.
      return 'run';
    }
    if (state.status === 'cancelled') {
      await cancelAccount(deps.ledger, waveId, accountId, deps.actor ?? deps.action);
      return 'run';
    }
    return state.paused ? 'paused' : 'run';
  };
  /**
   * The wave gate, before the job runs: a paused wave's job goes back to the delayed set whole,
   * spending no attempt. A cancelled wave's accounts that nothing was done to end cancelled as
   * the job reaches them (`gateAccount`), and the job runs on, so those under way finish.
   */
  const gate = async (job: Job, token?: string): Promise<void> => {
    const data = job.data as Partial<ActionJob> | null;
    if (!gateOf || typeof data?.waveId !== 'string') return;
    let paused: boolean;
    if (isActionBatch(job.data)) {
      // Each account is gated as the batch reaches it; a batch paused before it began waits as one.
      const state = await gateOf(data.waveId).catch(() => undefined);
      paused = state?.paused === true && state.status !== 'cancelled';
    } else {
      paused = typeof data.accountId === 'string' && (await gateAccount(data.waveId, data.accountId)) === 'paused';
    }
    if (paused) {
      await job.moveToDelayed(Date.now() + pauseWait(), token);
      throw new DelayedError();
    }
  };
  const run = async (job: Job, token?: string): Promise<R | BatchSummary> => {
    await gate(job, token);
    return isActionBatch(job.data) ? runBatch(job) : runOne(job, token);
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
        // A job split off a batch backs off from the attempts it spent there too.
        settings: { backoffStrategy: (attemptsMade: number, _type?: string, _err?: Error, job?: { data: unknown }) => backoffDelay(attemptsMade + spentAttempts(job?.data)) },
      });
      worker.on('error', (err) => deps.log.error({ err }, `${deps.action} worker error`));
      worker.on('failed', (job, err) => {
        if (!job) return;
        if (err instanceof UnrecoverableError) {
          // The processor decided: the ledger already holds the account as a dead letter.
          deps.log.warn({ job: job.id, reason: err.message }, `${deps.action} job failed for good`);
        } else if (job.attemptsMade >= (job.opts.attempts ?? 1)) {
          // BullMQ ended it (lock lost, attempts spent on an error the processor did not classify):
          // its accounts may still be open in the ledger, and the recovery sweep re-drives them.
          deps.log.warn({ job: job.id, reason: err.message }, `${deps.action} job lost; its open accounts are left to recovery`);
          deps.onLost?.({ id: job.id, reason: err.message });
        }
      });
      void worker.run().catch((err: unknown) => deps.log.error({ err }, `${deps.action} worker stopped`));
      await worker.waitUntilReady();
    },
    /** True while the BullMQ worker runs (started, not closing): what a worker's heartbeat reports. */
    isRunning(): boolean {
      return worker !== undefined && closing === undefined && worker.isRunning();
    },
    async close(): Promise<void> {
      closing ??= (async () => {
        if (worker) await worker.close();
        await producers.close();
      })();
      await closing;
    },
  };
}
export type ActionWorker = ReturnType<typeof createActionWorker>;

/** Producers for every action queue (of every shard), created on first use. */
export function createActionQueues(deps: {
  readonly connection: ConnectionOptions;
  readonly prefix: string;
  /** Shards of the deployment's accounts (`BW_SHARDS`, default 1): a job goes to its accounts' shard's queue. */
  readonly shards?: number;
  /** With the ledger, every job is added in its wave's lane (the manifest's `lane`, cached). */
  readonly ledger?: Pick<Ledger, 'getWave'>;
}) {
  const manifestOf = deps.ledger ? manifestCache(deps.ledger) : undefined;
  const laneOf = async (waveId: string): Promise<JobsOptions> => {
    if (!manifestOf) return {};
    try {
      return laneJobOptions((await manifestOf(waveId)).lane);
    } catch {
      // An unknown wave: its jobs fail on their own with the reason.
      return {};
    }
  };
  const shards = Math.max(1, deps.shards ?? 1);
  const queues = new Map<string, Queue>();
  const queueFor = (action: ActionName, shard = 0): Queue => {
    let q = queues.get(`${action}#${shard}`);
    if (!q) {
      q = new Queue(QUEUE_FOR_ACTION[action], { connection: deps.connection, prefix: shardPrefix(deps.prefix, shard) });
      queues.set(`${action}#${shard}`, q);
    }
    return q;
  };
  return {
    /** The action's queue of one shard (shard 0: the deployment's own). */
    queueFor,
    /** The action's queue of every shard, shard 0 first. */
    shardQueues: (action: ActionName): Queue[] => Array.from({ length: shards }, (_, s) => queueFor(action, s)),
    /** The action's queue of the shard this account of this wave is in. */
    queueOf: (action: ActionName, waveId: string, accountId: string): Queue => queueFor(action, shardOf(waveId, accountId, shards)),
    /** Adds an action job with its deterministic id (unless `opts` names one), the catalog's default options and its wave's lane. */
    async add(action: ActionName, job: ActionJob, opts: JobsOptions = {}): Promise<void> {
      await queueFor(action, shardOf(job.waveId, job.accountId, shards)).add(action, job, { ...DEFAULT_JOB_OPTIONS, jobId: actionJobId(action, job), ...(await laneOf(job.waveId)), ...opts });
    },
    /** Adds one job for the accounts of a wave (`actionJobFor`: its shape and id), with the catalog's default options and the wave's lane. */
    async addAccounts(action: ActionName, waveId: string, accountIds: readonly string[], ordinals?: readonly (number | undefined)[]): Promise<void> {
      if (shards === 1) {
        const { data, jobId } = actionJobFor(action, waveId, accountIds, ordinals);
        await queueFor(action).add(action, data, { ...DEFAULT_JOB_OPTIONS, jobId, ...(await laneOf(waveId)) });
        return;
      }
      // One job per shard the accounts are in: a job's accounts share their shard's queue.
      const byShard = new Map<number, { ids: string[]; ords: (number | undefined)[] }>();
      accountIds.forEach((a, i) => {
        const s = shardOf(waveId, a, shards);
        const list = byShard.get(s) ?? { ids: [], ords: [] };
        list.ids.push(a);
        list.ords.push(ordinals?.[i]);
        byShard.set(s, list);
      });
      const opts = await laneOf(waveId);
      for (const [s, { ids, ords }] of byShard) {
        const { data, jobId } = actionJobFor(action, waveId, ids, ords);
        await queueFor(action, s).add(action, data, { ...DEFAULT_JOB_OPTIONS, jobId, ...opts });
      }
    },
    async close(): Promise<void> {
      await Promise.all([...queues.values()].map((q) => q.close()));
      queues.clear();
    },
  };
}
export type ActionQueues = ReturnType<typeof createActionQueues>;
