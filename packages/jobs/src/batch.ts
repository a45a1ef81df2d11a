import type { ActionName } from '@breachwave/domain';

/**
 * Multi-account job bookkeeping: how the accounts of one job (`{ waveId, accountIds }`) keep the
 * attempts, backoff and next actions a job of their own would have had. The rules:
 *
 * - each account runs with the batch job's attempts (made so far, allowed in all);
 * - an account that must wait (a deferral, a paused wave) leaves the batch as a one-account job
 *   delayed by its wait, spending no attempt: it carries the batch's attempts made (`spent`);
 * - an account that must be retried leaves with this attempt spent too (`spent` = made + 1),
 *   delayed by that attempt's backoff;
 * - a split-off job is allowed the attempts it had left (at least one) and sees its attempts
 *   with `spent` added back, so its attempt numbers, its bound and its backoff are those of a job
 *   of its own;
 * - the finished accounts' next actions are gathered and added as one job per action when the
 *   batch ends.
 */

/** One account of a wave, as a job names it. */
export interface AccountRef {
  readonly waveId: string;
  readonly accountId: string;
  /** Its ordinal in the wave, when known (see the action job's `o`). */
  readonly o?: number | undefined;
}

/**
 * Attempts a one-account job's account already spent in the multi-account job it left (`spent`,
 * 0 for any other job). Read without validation: the backoff strategy sees raw job data.
 */
export function spentAttempts(data: unknown): number {
  const spent = typeof data === 'object' && data !== null ? (data as { spent?: unknown }).spent : undefined;
  return typeof spent === 'number' && Number.isInteger(spent) && spent > 0 ? spent : 0;
}

/** A job's attempts as its processor sees them: those its account spent in the batch it left added back. */
export function attemptsOf(job: { readonly data: unknown; readonly attemptsMade: number; readonly attempts: number }): { attemptsMade: number; attempts: number } {
  const spent = spentAttempts(job.data);
  return { attemptsMade: job.attemptsMade + spent, attempts: job.attempts + spent };
}

/** Attempts an account leaving a batch has spent: a wait spends none of its own, a retry spends this one. */
export function spentLeaving(reason: 'wait' | 'retry', batchAttemptsMade: number): number {
  return reason === 'retry' ? batchAttemptsMade + 1 : batchAttemptsMade;
}

/** The one-account job an account leaves a batch as: its data (with `spent`) and its delay and attempts. */
export function splitOffJob(ref: AccountRef, o: { readonly delay: number; readonly attempts: number; readonly spent: number }): {
  data: { waveId: string; accountId: string; spent?: number; o?: number };
  opts: { delay: number; attempts: number };
} {
  return {
    data: { waveId: ref.waveId, accountId: ref.accountId, ...(o.spent > 0 ? { spent: o.spent } : {}), ...(ref.o !== undefined ? { o: ref.o } : {}) },
    opts: { delay: Math.max(0, Math.round(o.delay)), attempts: Math.max(1, o.attempts - o.spent) },
  };
}

/** The next actions of a batch's finished accounts, gathered per action in the order they came. */
export function createNextActions() {
  const next = new Map<ActionName, { ids: string[]; ordinals: (number | undefined)[] }>();
  return {
    queueNext(action: ActionName, ref: AccountRef): void {
      const list = next.get(action) ?? { ids: [], ordinals: [] };
      list.ids.push(ref.accountId);
      list.ordinals.push(ref.o);
      next.set(action, list);
    },
    /** Each action with the accounts to add it for, as one job, and their ordinals (undefined where unknown). */
    jobs(): [ActionName, string[], (number | undefined)[]][] {
      return [...next].map(([action, { ids, ordinals }]) => [action, ids, ordinals]);
    },
  };
}
