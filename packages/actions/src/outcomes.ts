import { ERROR_CATALOG, type ActionName, type ErrorCode, type ErrorKind } from '@breachwave/domain';
import type { Ledger, PatchValue } from '@breachwave/ledger';

/**
 * What the ledger records of one account's action when an attempt settles: a terminal state
 * (`done`, `failed`, `skipped`, `cancelled`) or one of the ways it goes back to pending (`retry`
 * with backoff, `throttled`, `ambiguous`, `deferred`). Claims, releases and fences are not
 * outcomes.
 */
export const ACTION_OUTCOMES = ['done', 'failed', 'skipped', 'cancelled', 'retry', 'throttled', 'ambiguous', 'deferred'] as const;
export type ActionOutcome = (typeof ACTION_OUTCOMES)[number];

const TERMINAL: ReadonlySet<string> = new Set(['done', 'failed', 'skipped', 'cancelled']);
/** The `<action>.<event>` suffixes of a move back to pending that count as an outcome. */
const BACK_TO_PENDING: ReadonlySet<string> = new Set(['retry', 'throttled', 'ambiguous', 'deferred']);
const KINDS: ReadonlySet<string> = new Set<ErrorKind>(['permanent', 'transient', 'throttled', 'ambiguous', 'invalid-input', 'config']);

/** One account's settled action, labelled only from fixed sets: never an id, a contact point or free text. */
export interface SettledOutcome {
  readonly action: ActionName;
  readonly outcome: ActionOutcome;
  /** The error catalog's kind of the cause (the kind the adapter reported, when it overrode the catalog's), or `none`. */
  readonly class: ErrorKind | 'none';
  /** The catalog code of the cause, or `none` (a success, a deferral, or a cause that is not a catalog code). */
  readonly code: ErrorCode | 'none';
}

const isCode = (v: unknown): v is ErrorCode => typeof v === 'string' && Object.hasOwn(ERROR_CATALOG, v);

/**
 * The outcome a ledger write records for one account, or undefined when the write is not one
 * (a claim, a release). The cause is the entry's `err` when it is a catalog code, else the audit
 * detail's `code` (an action skipped because the one it depends on failed names that failure).
 */
export function outcomeOf(write: {
  readonly action: ActionName;
  readonly to: string;
  readonly event: string;
  readonly patch?: Readonly<Record<string, PatchValue>> | undefined;
  readonly detail?: Readonly<Record<string, unknown>> | undefined;
}): SettledOutcome | undefined {
  const suffix = write.event.slice(write.event.lastIndexOf('.') + 1);
  let outcome: ActionOutcome;
  if (TERMINAL.has(write.to)) outcome = write.to as ActionOutcome;
  else if (write.to === 'pending' && BACK_TO_PENDING.has(suffix)) outcome = suffix as ActionOutcome;
  else return undefined;
  if (outcome === 'done') return { action: write.action, outcome, class: 'none', code: 'none' };
  const err = write.patch?.err;
  const code = isCode(err) ? err : isCode(write.detail?.code) ? write.detail.code : undefined;
  if (!code) return { action: write.action, outcome, class: 'none', code: 'none' };
  const kind = write.detail?.kind;
  return { action: write.action, outcome, class: typeof kind === 'string' && KINDS.has(kind) ? (kind as ErrorKind) : ERROR_CATALOG[code].kind, code };
}

/**
 * The same ledger, reporting every outcome it records to `report`: once per account, and only
 * when the write applied (a refused, superseded or held transition records nothing, and reports
 * nothing), so the counts a process keeps add up, over every process, to the ledger's own. Every
 * settle path of the action workers (the step engine, the notice processor, a consolidated
 * notice's group, the wave gate's cancellations, the recovery sweep's dead letters) writes
 * through `transition` or `settleGroup`: this is the one place that sees them all.
 */
export function reportingOutcomes<L extends Pick<Ledger, 'transition' | 'settleGroup'>>(ledger: L, report: (outcome: SettledOutcome) => void): L {
  const say = (o: SettledOutcome | undefined): void => {
    if (!o) return;
    try {
      report(o);
    } catch {
      // A metric must never turn a recorded outcome into a failed attempt.
    }
  };
  const transition: Ledger['transition'] = async (req) => {
    const result = await ledger.transition(req);
    if (result.outcome === 'ok') say(outcomeOf(req));
    return result;
  };
  const settleGroup: Ledger['settleGroup'] = async (req) => {
    const result = await ledger.settleGroup(req);
    if (result.outcome === 'ok') {
      const skipped = new Set(result.skipped);
      for (const a of req.accounts) {
        if (!skipped.has(a.accountId)) say(outcomeOf({ action: req.action, to: req.to, event: req.event, patch: a.patch, detail: a.detail }));
      }
    }
    return result;
  };
  // Methods that call one another through `this` find them on the copy.
  return { ...ledger, transition, settleGroup };
}
