import { z } from 'zod';
import type { JobsOptions } from 'bullmq';
import { BreachwaveError, WAVE_ID_PATTERN, type ActionName, type WaveLane } from '@breachwave/domain';

/**
 * The job catalog: every queue, job name and payload schema in one place.
 *
 * Queue names become Redis keys (`<prefix>:<queue>:…`): renaming one strands every job already in
 * it. Add a new queue and drain the old one instead.
 */
export const QUEUES = {
  rotatePin: 'bw-rotate-pin',
  issueCode: 'bw-issue-code',
  notify: 'bw-notify',
} as const satisfies Record<string, string>;
export type QueueName = (typeof QUEUES)[keyof typeof QUEUES];

export const QUEUE_FOR_ACTION: Readonly<Record<ActionName, QueueName>> = {
  'rotate-pin': QUEUES.rotatePin,
  'issue-code': QUEUES.issueCode,
  notify: QUEUES.notify,
};

export const JOB_NAMES = {
  rotatePin: 'rotate-pin',
  issueCode: 'issue-code',
  notify: 'notify',
} as const;

const idString = z.string().regex(WAVE_ID_PATTERN);
const ordinal = z.number().int().min(0).max(2 ** 40);

/**
 * Every action job carries references only: BullMQ stores job data in clear and
 * bull-board shows it, so contact points and secrets stay in the encrypted account record.
 */
export const actionJobSchema = z.object({
  waveId: idString,
  accountId: idString,
  /**
   * Attempts the account already spent in the multi-account job it left (a retry split off a
   * batch): the worker counts them, so the account's attempt numbers and its bound on attempts
   * are those it would have had in a job of its own.
   */
  spent: z.number().int().min(1).max(1000).optional(),
  /**
   * The account's ordinal in its wave (its position among its shard's accounts in the wave's
   * spool): the ledger finds a finished account it has compacted by it, so a replayed job for
   * one is recognised as finished. Absent in jobs queued before ordinals existed.
   */
  o: ordinal.optional(),
}).strict();
export type ActionJob = z.infer<typeof actionJobSchema>;

/** Validates a job's data. @throws BreachwaveError BW_JOB_PAYLOAD_INVALID (no payload values in the message). */
export function parseActionJob(data: unknown): ActionJob {
  const r = actionJobSchema.safeParse(data);
  if (!r.success) throw payloadInvalid(r.error.issues);
  return r.data;
}

function payloadInvalid(issues: readonly z.ZodIssue[]): BreachwaveError {
  const fields = issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.code}`).join('; ');
  return new BreachwaveError('BW_JOB_PAYLOAD_INVALID', { detail: fields });
}

/** Most accounts one action job may carry (`BW_JOB_ACCOUNTS` is bounded by it). */
export const MAX_ACCOUNTS_PER_JOB = 100;

/** Accounts per first-action job the feeder adds by default (`BW_JOB_ACCOUNTS`); see docs/PERFORMANCE.md. */
export const DEFAULT_ACCOUNTS_PER_JOB = 20;

/**
 * First-action jobs a wave is cut into at least, per notifier slot, where it has the accounts:
 * `BW_FEED_MIN_JOBS` defaults to this × `BW_NOTIFY_CONCURRENCY` (see docs/PERFORMANCE.md).
 */
export const MIN_JOBS_PER_SLOT = 5;

/**
 * Accounts per first-action job for a wave of `accounts`: `perJob`, lowered (down to one) so the
 * wave makes at least `minJobs` jobs. A job's accounts run one after another, so a small wave in a
 * few large jobs would leave most worker slots idle while a slow provider answers; a large wave
 * keeps `perJob` and its saving.
 */
export function accountsPerJobFor(accounts: number, perJob: number, minJobs: number): number {
  return Math.max(1, Math.min(perJob, Math.floor(accounts / Math.max(1, minJobs))));
}

/**
 * A multi-account action job: the same references for up to {@link MAX_ACCOUNTS_PER_JOB} accounts
 * of one wave. The feeder adds these so BullMQ's per-job cost (an add, a move to active and one to
 * finished) is shared by the accounts; the worker runs each account on its own, and an account that
 * needs its own schedule (a retry, a deferral) leaves the batch as a one-account job.
 */
export const actionBatchSchema = z.object({
  waveId: idString,
  accountIds: z.array(idString).min(1).max(MAX_ACCOUNTS_PER_JOB),
  /** Each account's ordinal in its wave (see {@link actionJobSchema}'s `o`), in `accountIds`' order. */
  ordinals: z.array(ordinal).min(1).max(MAX_ACCOUNTS_PER_JOB).optional(),
}).strict().refine((b) => b.ordinals === undefined || b.ordinals.length === b.accountIds.length, { message: 'one ordinal per account', path: ['ordinals'] });
export type ActionBatch = z.infer<typeof actionBatchSchema>;

/** Whether a job's data is the multi-account shape (validated by {@link parseActionJobs}). */
export function isActionBatch(data: unknown): boolean {
  return typeof data === 'object' && data !== null && 'accountIds' in data;
}

/**
 * The accounts a job names, either shape.
 * @throws BreachwaveError BW_JOB_PAYLOAD_INVALID (no payload values in the message).
 */
export function parseActionJobs(data: unknown): ActionJob[] {
  if (!isActionBatch(data)) return [parseActionJob(data)];
  const r = actionBatchSchema.safeParse(data);
  if (!r.success) throw payloadInvalid(r.error.issues);
  const { waveId, ordinals } = r.data;
  return r.data.accountIds.map((accountId, i) => {
    const o = ordinals?.[i];
    return o === undefined ? { waveId, accountId } : { waveId, accountId, o };
  });
}

/**
 * Deterministic job id per (wave, account, action): a second add of the same job is a no-op while
 * the first is still kept. It is not the idempotency guard (finished jobs are removed); the ledger is.
 * BullMQ forbids ':' in custom ids.
 */
export function actionJobId(action: ActionName, job: ActionJob): string {
  return `${action}.${job.waveId}.${job.accountId}`;
}

/**
 * Deterministic id of a multi-account job: its first account and its size (never equal to a
 * one-account job's id). A replayed feed batch gets the same id while it holds the same accounts.
 */
export function actionBatchJobId(action: ActionName, batch: ActionBatch): string {
  return `${action}.${batch.waveId}.${batch.accountIds[0] ?? ''}.n${batch.accountIds.length}`;
}

/**
 * The job for one or more accounts of a wave (at most {@link MAX_ACCOUNTS_PER_JOB}): its data and
 * deterministic id, in the one-account shape for one account and the multi-account shape for more.
 */
export function actionJobFor(action: ActionName, waveId: string, accountIds: readonly string[], ordinals?: readonly (number | undefined)[]): { data: ActionJob | ActionBatch; jobId: string } {
  const [only, ...rest] = accountIds;
  if (only === undefined) throw new RangeError('a job names at least one account');
  if (rest.length === 0) {
    const o = ordinals?.[0];
    const data: ActionJob = o === undefined ? { waveId, accountId: only } : { waveId, accountId: only, o };
    return { data, jobId: actionJobId(action, data) };
  }
  // Ordinals go with the job only when every account has one (the schema wants one per account).
  const known = ordinals && ordinals.length === accountIds.length && ordinals.every((o) => o !== undefined) ? (ordinals as number[]) : undefined;
  const data: ActionBatch = known ? { waveId, accountIds: [...accountIds], ordinals: [...known] } : { waveId, accountIds: [...accountIds] };
  return { data, jobId: actionBatchJobId(action, data) };
}

/** Retention: finished jobs never pile up (each kept completed job costs ~1.35 KB of Redis). */
export const RETENTION = {
  removeOnComplete: { age: 3600, count: 1000 },
  removeOnFail: { age: 7 * 24 * 3600, count: 50_000 },
} as const;

/** Custom backoff strategy name registered by workers (`backoffStrategy` in worker settings). */
export const BACKOFF_STRATEGY = 'bw-jitter';

/**
 * The job options that put a job in its wave's lane. `urgent`: at the head of the waiting list
 * (LIFO), so it is taken before any normal job already waiting; `reminder`: prioritised (BullMQ
 * takes every unprioritised waiting job first); `normal` (the default): FIFO.
 */
export function laneJobOptions(lane: WaveLane | undefined): JobsOptions {
  if (lane === 'urgent') return { lifo: true };
  if (lane === 'reminder') return { priority: REMINDER_PRIORITY };
  return {};
}
/** BullMQ priority of reminder jobs (any value > 0 comes after unprioritised jobs). */
export const REMINDER_PRIORITY = 10;

/** Default options for action jobs. Attempts are bounded; the ledger classifies the final failure. */
export const DEFAULT_JOB_OPTIONS: JobsOptions = {
  attempts: 8,
  backoff: { type: BACKOFF_STRATEGY, delay: 1000 },
  ...RETENTION,
};

/**
 * Exponential backoff with full jitter: a random delay in [base·2^(n-1)/2, base·2^(n-1)], capped.
 * Jitter spreads retries after a provider outage so they do not arrive as one wave.
 */
export function backoffDelay(attemptsMade: number, baseMs = 1000, capMs = 5 * 60_000, random: () => number = Math.random): number {
  const exp = Math.min(capMs, baseMs * 2 ** Math.max(0, attemptsMade - 1));
  return Math.round(exp / 2 + random() * (exp / 2));
}

/** Multi-account job bookkeeping (spent attempts, split-off jobs, gathered next actions). */
export { attemptsOf, createNextActions, spentAttempts, spentLeaving, splitOffJob, type AccountRef } from './batch.js';
