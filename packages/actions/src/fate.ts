import type { BreachwaveError } from '@breachwave/domain';

/** Throttled answers tolerated per action before they start spending attempts. */
export const DEFAULT_MAX_THROTTLES = 50;

/**
 * What becomes of an action after a failed try:
 * - `wait`: the provider or store asked us to slow down (429 / 20429 / 421). Nothing was
 *   processed, so it is always safe to try again, and it must not eat the attempts kept for real
 *   failures: the job goes back to pending and waits, until `maxThrottles` throttles are spent;
 * - `fail`: permanent or invalid input, or the last attempt: the action fails for good;
 * - `retry`: back to pending, retried with backoff, one attempt spent.
 * The one rule for every action worker (notifier, pin-rotator, code-issuer).
 */
export function errorFate(error: BreachwaveError, job: { readonly attemptsMade: number; readonly attempts: number }, throttles: number,
  maxThrottles = DEFAULT_MAX_THROTTLES): 'wait' | 'retry' | 'fail' {
  if (error.kind === 'throttled' && throttles < maxThrottles) return 'wait';
  if (error.kind === 'permanent' || error.kind === 'invalid-input' || job.attemptsMade + 1 >= job.attempts) return 'fail';
  return 'retry';
}
