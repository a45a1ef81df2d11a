import { ACTIONS, BreachwaveError, toBreachwaveError, type ActionName, type ErrorCode } from '@breachwave/domain';
import { backoffDelay, parseActionJob } from '@breachwave/jobs';
import { DEAD_LETTER_RETENTION_SECONDS, type AccountRecord, type ActionEntry, type Ledger, type LedgerEntry, type PatchValue } from '@breachwave/ledger';
import { childOnDemand, type Logger } from '@breachwave/logging';
import { errorFate } from './fate.js';
import { PermanentActionError, type ActionJobView, type ActionQueues } from './worker.js';

/** The account's actions in execution order (rotate → code → notify). */
export function orderedActions(entry: LedgerEntry): ActionName[] {
  return ACTIONS.filter((a) => entry[a] !== undefined);
}

/** The action after `action` in the account's plan, if any. */
export function nextAction(entry: LedgerEntry, action: ActionName): ActionName | undefined {
  const order = orderedActions(entry);
  return order[order.indexOf(action) + 1];
}

/** Actions before `action` that are not done yet (the order invariant). */
export function unmetPrerequisites(entry: LedgerEntry, action: ActionName): { action: ActionName; state: ActionEntry['s'] }[] {
  const order = orderedActions(entry);
  return order.slice(0, order.indexOf(action)).filter((a) => entry[a]?.s !== 'done').map((a) => ({ action: a, state: entry[a]?.s ?? 'pending' }));
}

/**
 * Queues the account's next action after `after` finished, if it is still pending: through the
 * job's `queueNext` when it has one (a multi-account job gathers its accounts' next actions into
 * one job), else as a one-account job.
 */
export async function advance(deps: { ledger: Ledger; queues: ActionQueues }, step: {
  readonly waveId: string;
  readonly accountId: string;
  /** The action that finished. */
  readonly after: ActionName;
  /** The account's entry, when the caller has it from the transition it just made: no second read then. */
  readonly known?: LedgerEntry | undefined;
  readonly job: Pick<ActionJobView, 'queueNext'>;
}): Promise<ActionName | undefined> {
  const { waveId, accountId, after, job } = step;
  const entry = step.known ?? (await deps.ledger.get(waveId, accountId));
  if (!entry) return undefined;
  const next = nextAction(entry, after);
  if (next && entry[next]?.s === 'pending') {
    if (job.queueNext) job.queueNext(next, { waveId, accountId });
    else await deps.queues.add(next, { waveId, accountId });
  }
  return next;
}

/**
 * After an action failed for good, the actions that depended on it must not run (no notice may
 * promise a PIN reset that did not happen): each later pending action becomes `skipped` with the
 * cause, in the ledger and the audit.
 */
export async function skipDependents(ledger: Ledger, waveId: string, accountId: string, failed: ActionName, cause: ErrorCode, actor: string): Promise<void> {
  const entry = await ledger.get(waveId, accountId);
  if (!entry) return;
  const order = orderedActions(entry);
  for (const later of order.slice(order.indexOf(failed) + 1)) {
    await ledger.transition({ waveId, accountId, action: later, actor, from: ['pending'], to: 'skipped',
      patch: { err: `DEPENDENCY_FAILED:${failed}` }, event: `${later}.skipped`, detail: { because: failed, code: cause } });
  }
}

export interface StepResult {
  /** Fields to record on the action's ledger entry (no secrets). */
  readonly patch?: Readonly<Record<string, PatchValue>>;
  /** Audit detail (no secrets). */
  readonly detail?: Readonly<Record<string, unknown>>;
  readonly counters?: Readonly<Record<string, number>>;
}

export interface RunStepDeps {
  readonly ledger: Ledger;
  readonly queues: ActionQueues;
  readonly log: Logger;
  readonly actor: string;
  /** Throttled answers tolerated per step before they start spending attempts. Default 50 (`DEFAULT_MAX_THROTTLES`). */
  readonly maxThrottles?: number;
}

/** What a step is given. */
export interface StepContext {
  readonly waveId: string;
  readonly accountId: string;
  readonly entry: ActionEntry;
  /** A previous attempt claimed the step and recorded no outcome (it died mid-step). */
  readonly reclaimed: boolean;
  readonly log: Logger;
  /** The account's sealed record, when runStep was asked for it (`withAccount`). */
  readonly account?: AccountRecord;
  /**
   * Whether runStep will fail the action for good if the step throws `err` (rather than retry it
   * or wait out a throttle): a step that must clean up only when nothing will come after (a held
   * PIN) asks this instead of guessing.
   */
  failsForGood(err: unknown): boolean;
}

export type StepOutcome = { readonly status: 'done'; readonly next?: ActionName } | { readonly status: 'already-finished'; readonly state: string };

/**
 * Runs one non-notify action step with the ledger's exactly-once rules: claim (pending|claimed →
 * claimed), run `step` — which must itself be idempotent for a re-claim (e.g. a deterministic
 * rotation id) — record done, and queue the next action. With `withAccount`, the step is given
 * the account's sealed record, read by the claim itself (one round trip, not two). Transient
 * failures go back to pending and retry with backoff; throttled ones go back to pending and wait
 * without spending an attempt (up to `maxThrottles`); permanent ones (or the last attempt) fail
 * the action and skip its dependents.
 */
export async function runStep(deps: RunStepDeps, action: ActionName, job: ActionJobView,
  step: (ctx: StepContext) => Promise<StepResult>,
  options: { readonly withAccount?: boolean } = {}): Promise<StepOutcome> {
  let ref;
  try {
    ref = parseActionJob(job.data);
  } catch (err) {
    throw new PermanentActionError(toBreachwaveError(err, 'BW_JOB_PAYLOAD_INVALID'));
  }
  const { waveId, accountId } = ref;
  // Made on first use: most steps log nothing at info.
  const log = childOnDemand(deps.log, { wave: waveId, account: accountId, action, job: job.id, attempt: job.attemptsMade + 1 });
  const base = { waveId, accountId, action, actor: deps.actor };
  // `withAccount`: the step needs the sealed account record; the claim reads it in the same script.
  const claim = await deps.ledger.transition({ ...base, from: ['pending', 'claimed'], to: 'claimed', event: `${action}.claimed`, detail: { attempt: job.attemptsMade + 1 },
    ...(options.withAccount ? { withAccount: true } : {}) });
  if (claim.outcome === 'missing' || claim.outcome === 'no-action') {
    throw new PermanentActionError(new BreachwaveError('BW_ACCOUNT_NOT_FOUND', { detail: `no ${action} ledger entry` }));
  }
  if (claim.outcome === 'rejected') {
    // Finished before (a duplicate or replayed job): make sure the chain moved on, do nothing else.
    if (claim.previous === 'done') await advance(deps, { waveId, accountId, after: action, job });
    return { status: 'already-finished', state: claim.previous ?? 'unknown' };
  }
  const throttles = claim.entry?.thr ?? 0;
  const fate = (error: BreachwaveError) => errorFate(error, job, throttles, deps.maxThrottles);
  const asError = (raw: unknown): BreachwaveError => toBreachwaveError(raw, 'BW_INTERNAL');
  try {
    const result = await step({ waveId, accountId, entry: claim.entry ?? { s: 'claimed', n: 1 }, reclaimed: claim.previous === 'claimed', log,
      ...(claim.account ? { account: claim.account } : {}), failsForGood: (err) => fate(asError(err)) === 'fail' });
    const done = await deps.ledger.transition({ ...base, from: ['claimed'], to: 'done', patch: { ...result.patch, err: false }, event: `${action}.done`,
      ...(result.detail ? { detail: result.detail } : {}), ...(result.counters ? { counters: result.counters } : {}) });
    const next = await advance(deps, { waveId, accountId, after: action, known: done.all, job });
    return next ? { status: 'done', next } : { status: 'done' };
  } catch (raw) {
    if (raw instanceof PermanentActionError) throw raw;
    const error = asError(raw);
    if (!(raw instanceof BreachwaveError)) log.error({ err: raw }, `unexpected error in ${action}`);
    const next = fate(error);
    if (next === 'wait') {
      // Nothing was applied (HTTP 429): the job waits, longer with each throttle, without failing.
      await deps.ledger.transition({ ...base, from: ['claimed'], to: 'pending', patch: { err: error.code, thr: throttles + 1 },
        event: `${action}.throttled`, detail: { code: error.code }, counters: { [`${action}:throttled`]: 1 } });
      log.debug({ errorCode: error.code, throttles: throttles + 1 }, `${action} throttled; waiting`);
      return job.defer(backoffDelay(throttles + 1, 1000, 60_000));
    }
    if (next === 'fail') {
      await deps.ledger.transition({ ...base, from: ['claimed'], to: 'failed', patch: { err: error.code }, event: `${action}.failed`,
        detail: { code: error.code, kind: error.kind }, counters: { [`${action}:error:${error.code}`]: 1 } });
      await skipDependents(deps.ledger, waveId, accountId, action, error.code, deps.actor);
      // Nothing will send to this account now; keep its sealed contact only for a re-drive.
      await deps.ledger.releaseAccount(waveId, accountId, DEAD_LETTER_RETENTION_SECONDS);
      log.warn({ errorCode: error.code, kind: error.kind }, `${action} failed for good; dependents skipped`);
      throw new PermanentActionError(error);
    }
    await deps.ledger.transition({ ...base, from: ['claimed'], to: 'pending', patch: { err: error.code }, event: `${action}.retry`, detail: { code: error.code, kind: error.kind } });
    log.warn({ errorCode: error.code, kind: error.kind }, `${action} attempt failed; will retry`);
    throw error;
  }
}
