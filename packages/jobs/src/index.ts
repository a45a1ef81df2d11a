import { z } from 'zod';
import type { JobsOptions } from 'bullmq';
import { BreachwaveError, WAVE_ID_PATTERN, type ActionName } from '@breachwave/domain';

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

/**
 * Every action job carries references only (GUIDE §4 rule 4): BullMQ stores job data in clear and
 * bull-board shows it, so contact points and secrets stay in the encrypted account record.
 */
export const actionJobSchema = z.object({
  waveId: idString,
  accountId: idString,
}).strict();
export type ActionJob = z.infer<typeof actionJobSchema>;

/** Validates a job's data. @throws BreachwaveError BW_JOB_PAYLOAD_INVALID (no payload values in the message). */
export function parseActionJob(data: unknown): ActionJob {
  const r = actionJobSchema.safeParse(data);
  if (!r.success) {
    const fields = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.code}`).join('; ');
    throw new BreachwaveError('BW_JOB_PAYLOAD_INVALID', { detail: fields });
  }
  return r.data;
}

/**
 * Deterministic job id per (wave, account, action): a second add of the same job is a no-op while
 * the first is still kept. It is not the idempotency guard (finished jobs are removed); the ledger is.
 * BullMQ forbids ':' in custom ids.
 */
export function actionJobId(action: ActionName, job: ActionJob): string {
  return `${action}.${job.waveId}.${job.accountId}`;
}

/** Retention: finished jobs never pile up (each kept completed job costs ~1.35 KB of Redis). */
export const RETENTION = {
  removeOnComplete: { age: 3600, count: 1000 },
  removeOnFail: { age: 7 * 24 * 3600, count: 50_000 },
} as const;

/** Custom backoff strategy name registered by workers (`backoffStrategy` in worker settings). */
export const BACKOFF_STRATEGY = 'bw-jitter';

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
