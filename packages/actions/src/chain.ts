import { ACTIONS, toBreachwaveError, type ActionName, type ErrorCode } from '@breachwave/domain';
import { backoffDelay } from '@breachwave/jobs';
import { DEAD_LETTER_RETENTION_SECONDS, ordinalOf, type AccountRecord, type ActionEntry, type Ledger, type LedgerEntry, type PatchValue } from '@breachwave/ledger';
import type { Logger } from '@breachwave/logging';
import { claimStep, openStep, settleFailure, type FailurePolicy } from './engine.js';
import { errorFate } from './fate.js';
import type { ActionJobView, ActionQueues } from './worker.js';

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
    const o = ordinalOf(entry);
    const ref = o === undefined ? { waveId, accountId } : { waveId, accountId, o };
    if (job.queueNext) job.queueNext(next, ref);
    else await deps.queues.add(next, ref);
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
  const opened = openStep(job, action, deps);
  const { waveId, accountId, log, base } = opened;
  // `withAccount`: the step needs the sealed account record; the claim reads it in the same script.
  const claim = await claimStep(deps.ledger, opened, job, options.withAccount ? { withAccount: true } : {});
  if (claim.outcome === 'rejected') {
    // Finished before (a duplicate or replayed job): make sure the chain moved on, do nothing else.
    if (claim.previous === 'done') await advance(deps, { waveId, accountId, after: action, job });
    return { status: 'already-finished', state: claim.previous ?? 'unknown' };
  }
  const policy: FailurePolicy = {
    prior: claim.entry,
    maxThrottles: deps.maxThrottles,
    throttleDelayMs: (throttles) => backoffDelay(throttles, 1000, 60_000),
    fail: async (error) => {
      await deps.ledger.transition({ ...base, from: ['claimed'], to: 'failed', patch: { err: error.code }, event: `${action}.failed`,
        detail: { code: error.code, kind: error.kind }, counters: { [`${action}:error:${error.code}`]: 1 } });
      await skipDependents(deps.ledger, waveId, accountId, action, error.code, deps.actor);
      // Nothing will send to this account now; keep its sealed contact only for a re-drive.
      await deps.ledger.releaseAccount(waveId, accountId, DEAD_LETTER_RETENTION_SECONDS);
      log.warn({ errorCode: error.code, kind: error.kind }, `${action} failed for good; dependents skipped`);
      return true;
    },
  };
  const throttles = claim.entry?.thr ?? 0;
  try {
    const result = await step({ waveId, accountId, entry: claim.entry ?? { s: 'claimed', n: 1 }, reclaimed: claim.previous === 'claimed', log,
      ...(claim.account ? { account: claim.account } : {}),
      failsForGood: (err) => errorFate(toBreachwaveError(err, 'BW_INTERNAL'), job, throttles, deps.maxThrottles) === 'fail' });
    const done = await deps.ledger.transition({ ...base, from: ['claimed'], to: 'done', patch: { ...result.patch, err: false }, event: `${action}.done`,
      ...(result.detail ? { detail: result.detail } : {}), ...(result.counters ? { counters: result.counters } : {}) });
    const next = await advance(deps, { waveId, accountId, after: action, known: done.all, job });
    return next ? { status: 'done', next } : { status: 'done' };
  } catch (raw) {
    // Its records are not guarded by a token: only a guarded record can be superseded.
    await settleFailure(deps.ledger, opened, job, raw, policy);
    throw new Error(`${action}: an unguarded failure record was answered superseded`);
  }
}
