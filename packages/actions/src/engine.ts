import { BreachwaveError, toBreachwaveError, type ActionName } from '@breachwave/domain';
import { parseActionJob } from '@breachwave/jobs';
import type { ActionEntry, Ledger, PatchValue, TransitionResult } from '@breachwave/ledger';
import { childOnDemand, type Logger } from '@breachwave/logging';
import { errorFate } from './fate.js';
import { PermanentActionError, type ActionJobView } from './worker.js';

/**
 * The step engine: what every action (rotate-pin, issue-code, notify, reminders) does around its
 * own work, written once.
 *
 * 1. open: read the job's account reference (a malformed payload fails for good) and make the
 *    attempt's logger;
 * 2. claim: pending|claimed → claimed in the ledger, reading the account's sealed record in the
 *    same script when asked, under the attempt's token when the step fences its side effect; a
 *    missing entry fails for good, a finished one is answered `rejected`;
 * 3. the step runs and records its own outcome (it alone knows what it did);
 * 4. a step that must wait (quiet hours, pace, a paused wave) goes back to pending and its job
 *    waits, spending no attempt ({@link deferStep});
 * 5. a failed try is decided by {@link errorFate} and recorded by {@link settleFailure}:
 *    throttled → back to pending with `thr` counted, the job waits without spending an attempt;
 *    transient → back to pending, retried with backoff; ambiguous, for a step that reconciles →
 *    back to pending with `amb` counted, the next attempt asks before it acts again; permanent or
 *    the last attempt → the step's own dead letter, and the job is not retried.
 *
 * Every record after the claim may be guarded by the attempt's token: when a later attempt took
 * the claim over, the record does not apply and the attempt answers `superseded`.
 */

/** What the engine and the ledger's records know of one attempt at one account's action. */
export interface OpenedStep {
  readonly waveId: string;
  readonly accountId: string;
  readonly action: ActionName;
  readonly log: Logger;
  /** The common part of every ledger transition the attempt makes. */
  readonly base: { readonly waveId: string; readonly accountId: string; readonly action: ActionName; readonly actor: string; readonly ordinal?: number };
}

/** Reads the job's account and makes the attempt's logger (bound on first use: most steps log nothing at info). */
export function openStep(job: ActionJobView, action: ActionName, deps: { readonly log: Logger; readonly actor: string },
  options: { readonly bindAction?: boolean } = {}): OpenedStep {
  let ref;
  try {
    ref = parseActionJob(job.data);
  } catch (err) {
    throw new PermanentActionError(toBreachwaveError(err, 'BW_JOB_PAYLOAD_INVALID'));
  }
  const { waveId, accountId, o } = ref;
  const log = childOnDemand(deps.log, { wave: waveId, account: accountId, ...(options.bindAction === false ? {} : { action }), job: job.id, attempt: job.attemptsMade + 1 });
  // The ordinal rides on every transition: a replayed job for a compacted account is found finished.
  return { waveId, accountId, action, log, base: { waveId, accountId, action, actor: deps.actor, ...(o !== undefined ? { ordinal: o } : {}) } };
}

/**
 * Claims the step (pending|claimed → claimed), audited as `<action>.claimed` with the attempt
 * number. `outcome` `rejected` (finished before) and `held` (another account's attempt holds it)
 * are the caller's to answer; a missing ledger entry fails for good.
 */
export async function claimStep(ledger: Pick<Ledger, 'transition'>, step: OpenedStep, job: ActionJobView, options: {
  /** Fields set by the claim: the attempt's token (`ct`) for a step that fences its side effect. */
  readonly patch?: Readonly<Record<string, PatchValue>>;
  readonly withAccount?: boolean;
  /** A field whose presence makes the claim answer `held` instead of claiming. */
  readonly unlessHeld?: string;
} = {}): Promise<TransitionResult> {
  const claim = await ledger.transition({ ...step.base, from: ['pending', 'claimed'], to: 'claimed', event: `${step.action}.claimed`,
    ...(options.patch ? { patch: options.patch } : {}), detail: { attempt: job.attemptsMade + 1 },
    ...(options.withAccount ? { withAccount: true } : {}), ...(options.unlessHeld ? { unlessHeld: options.unlessHeld } : {}) });
  if (claim.outcome === 'missing' || claim.outcome === 'no-action') {
    throw new PermanentActionError(new BreachwaveError('BW_ACCOUNT_NOT_FOUND', { detail: `no ${step.action} ledger entry` }));
  }
  return claim;
}

/** How {@link settleFailure} treats one step's failures. */
export interface FailurePolicy {
  /** The claiming attempt's token, when its records are guarded (a later attempt's claim makes them not apply). */
  readonly guard?: string;
  /** The action's entry as the claim found it: its throttles (`thr`) and ambiguous outcomes (`amb`) so far. */
  readonly prior: ActionEntry | undefined;
  /** Throttled answers tolerated before they spend attempts. Default {@link DEFAULT_MAX_THROTTLES}. */
  readonly maxThrottles?: number | undefined;
  /**
   * Ambiguous failures (the request went out, no answer came) are recorded as such (`amb`
   * counted, `<action>.ambiguous`) for a step whose next attempt reconciles before acting again.
   * Without it they are retried like transient ones.
   */
  readonly reconciles?: boolean;
  /** Added to the audit detail of the failure's record: where the step failed (a channel). */
  readonly where?: Readonly<Record<string, unknown>>;
  /** How long a throttled job waits (ms), given its throttles so far, this one included. */
  throttleDelayMs(throttles: number): number;
  /** Records the step's dead letter; false when a later attempt had taken the claim over (nothing recorded). */
  fail(error: BreachwaveError): Promise<boolean>;
  /** Runs before a retry or a throttle wait is recorded (a consolidated notice releases its other accounts). */
  beforeRetry?(error: BreachwaveError): Promise<void>;
}

/**
 * Decides and records what becomes of a step after a failed try, then acts on it: throws
 * {@link PermanentActionError} after the dead letter, defers the job for a throttle (no attempt
 * spent), or rethrows the error for BullMQ's retry with backoff. Answers `superseded` only when
 * a later attempt holds the claim: then nothing was recorded.
 */
export async function settleFailure(ledger: Pick<Ledger, 'transition'>, step: OpenedStep, job: ActionJobView, raw: unknown,
  policy: FailurePolicy): Promise<'superseded'> {
  if (raw instanceof PermanentActionError) throw raw;
  const error = toBreachwaveError(raw, 'BW_INTERNAL');
  const { action, log } = step;
  if (!(raw instanceof BreachwaveError)) log.error({ err: raw }, `unexpected error in ${action}`);
  const throttles = policy.prior?.thr ?? 0;
  const fate = errorFate(error, job, throttles, policy.maxThrottles);
  if (fate === 'fail') {
    if (!(await policy.fail(error))) return 'superseded';
    throw new PermanentActionError(error);
  }
  await policy.beforeRetry?.(error);
  const at = { ...step.base, ...(policy.guard !== undefined ? { guard: policy.guard } : {}), from: ['claimed'] as const, to: 'pending' as const };
  const where = policy.where ?? {};
  if (fate === 'wait') {
    // Nothing was processed (HTTP 429, SMTP 421): the job waits, longer with each throttle, without failing.
    const waiting = await ledger.transition({ ...at, patch: { err: error.code, thr: throttles + 1 },
      event: `${action}.throttled`, detail: { code: error.code, ...where }, counters: { [`${action}:throttled`]: 1 } });
    if (waiting.outcome === 'superseded') return 'superseded';
    log.debug({ errorCode: error.code, throttles: throttles + 1 }, `${action} throttled; waiting`);
    return job.defer(policy.throttleDelayMs(throttles + 1));
  }
  let retry: TransitionResult;
  if (error.kind === 'ambiguous' && policy.reconciles) {
    // The side effect may have happened: the next attempt reconciles with the provider first.
    retry = await ledger.transition({ ...at, patch: { err: error.code, amb: (policy.prior?.amb ?? 0) + 1 },
      event: `${action}.ambiguous`, detail: { code: error.code, ...where }, counters: { [`${action}:ambiguous`]: 1 } });
  } else {
    retry = await ledger.transition({ ...at, patch: { err: error.code },
      event: `${action}.retry`, detail: { code: error.code, kind: error.kind, providerCode: error.providerCode ?? null, ...where } });
  }
  if (retry.outcome === 'superseded') return 'superseded';
  log.warn({ errorCode: error.code, kind: error.kind }, `${action} attempt failed; will retry`);
  throw error;
}

/**
 * Puts a claimed step back to pending (`<action>.deferred`, counted) and its job in the delayed
 * set for `delayMs`, spending no attempt. Answers `superseded`, recording nothing, when a later
 * attempt holds the claim.
 */
export async function deferStep(ledger: Pick<Ledger, 'transition'>, step: OpenedStep, job: ActionJobView,
  wait: { readonly delayMs: number; readonly reason: string; readonly guard?: string }): Promise<'superseded'> {
  const deferred = await ledger.transition({ ...step.base, ...(wait.guard !== undefined ? { guard: wait.guard } : {}), from: ['claimed'], to: 'pending',
    event: `${step.action}.deferred`, detail: { reason: wait.reason, delayMs: wait.delayMs }, counters: { [`${step.action}:deferred`]: 1 } });
  if (deferred.outcome === 'superseded') return 'superseded';
  return job.defer(wait.delayMs);
}
