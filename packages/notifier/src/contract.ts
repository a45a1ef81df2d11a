/**
 * The notifier's contract with its users: the job it takes, the delivery policies it runs around
 * each send, the outcomes it answers, its dependencies and their defaults.
 */
import type { BreachwaveError, Channel, ErrorCode, SendResult, WaveManifest, EmailSender, SmsSender, NoticeEnricher } from '@breachwave/domain';
import type { Envelope } from '@breachwave/secrets';
import type { Logger } from '@breachwave/logging';
import type { ActionJobView, WaveGateState } from '@breachwave/actions';
import type { AccountRecord, Ledger } from '@breachwave/ledger';

export type NoticeJob = ActionJobView;

/** The enricher port lives with the other ports in the domain; re-exported for the notifier's users. */
export type { NoticeEnricher } from '@breachwave/domain';

/** What a delivery policy sees before and after one send. The contact point lives only here, in memory. */
export interface SendContext {
  readonly waveId: string;
  readonly accountId: string;
  readonly channel: Channel;
  /** E.164 number or email address. */
  readonly to: string;
  readonly account: AccountRecord;
  readonly manifest: WaveManifest;
  readonly log: Logger;
  /**
   * Aborted when the wave is paused or cancelled while a policy waits (for a pace slot): a policy
   * that waits gives up and defers, so a pause holds notices waiting for a slot at once rather
   * than one slot at a time.
   */
  readonly signal?: AbortSignal;
}

/** Never on this channel (suppressed contact): another channel may be tried. */
export type BlockDecision = { readonly kind: 'block'; readonly code: ErrorCode; readonly reason: string };

export type PolicyDecision =
  /** Not now: the job waits `delayMs` (no attempt spent) and tries again. Quiet hours, pace. */
  | { readonly kind: 'defer'; readonly delayMs: number; readonly reason: string }
  | BlockDecision;

/**
 * A rule applied around every send: quiet hours, pacing, suppression. Policies run in order; the
 * first decision wins.
 */
export interface DeliveryPolicy {
  readonly name: string;
  beforeSend?(ctx: SendContext): Promise<PolicyDecision | undefined>;
  /**
   * A check made as late as it can be: after every `beforeSend` (a pace slot's wait included)
   * and the wave gate, started in the same tick as the attempt's fence, so its Redis read shares
   * the fence's round trip. A contact point it blocks (a STOP recorded at any moment before this)
   * is not messaged. Also asked before a `beforeSend` deferral takes effect, so a blocked channel
   * falls back at once instead of after the wait.
   */
  atSend?(ctx: SendContext): Promise<BlockDecision | undefined>;
  /** The provider's answer: adjust pace on throttling, suppress on opt-out, index sends for callbacks. */
  afterSend?(ctx: SendContext, outcome: { readonly ok: true; readonly result: SendResult } | { readonly ok: false; readonly error: BreachwaveError }): Promise<void>;
}

export type NoticeOutcome =
  | { readonly status: 'sent'; readonly channel: Channel; readonly providerId: string; readonly reconciled?: boolean }
  | { readonly status: 'already-finished'; readonly state: string }
  | { readonly status: 'skipped'; readonly code: ErrorCode }
  /** A later attempt took the claim over (this one's job stalled while it ran): it sent nothing. */
  | { readonly status: 'superseded' }
  /** The wave was cancelled before anything was done to this account: nothing sent. */
  | { readonly status: 'cancelled' };

export interface NoticeProcessorDeps {
  readonly ledger: Ledger;
  readonly envelope: Envelope;
  readonly sms?: SmsSender;
  readonly email?: EmailSender;
  readonly log: Logger;
  /** Actor name in audit records. Default `notifier`. */
  readonly actor?: string;
  /** Seconds an account's contact record is kept after its notice was sent. Default 0. */
  readonly contactRetentionSeconds?: number;
  /**
   * Seconds a dead-lettered account's (encrypted) contact record is kept so `dlq retry` can
   * re-drive it. Default 7 days.
   */
  readonly deadLetterRetentionSeconds?: number;
  readonly enrichers?: readonly NoticeEnricher[];
  readonly policies?: readonly DeliveryPolicy[];
  /** Extra headers for email (e.g. RFC 8058 one-click unsubscribe), per message. */
  readonly emailHeaders?: (ctx: { waveId: string; accountId: string; to: string }) => Readonly<Record<string, string>>;
  /**
   * Seconds the sealed contact record of an account notified by SMS, which also has an email
   * address, is kept so a permanent "undelivered" status callback can still fall back to email.
   * Default 0 (no callbacks configured).
   */
  readonly fallbackWindowSeconds?: number;
  /** Throttled answers tolerated per notice before they start spending attempts. Default `DEFAULT_MAX_THROTTLES` (50). */
  readonly maxThrottles?: number;
  /**
   * How long (ms) the writes that follow an accepted send — the ledger's `done`, the policies'
   * bookkeeping, the held PIN's wipe — are retried while Redis cannot be reached, with backoff,
   * before the notice is given up to reconciliation. A send the provider accepted is never sent
   * again because Redis blinked. Default 120,000 (a Redis restart with its AOF reload).
   */
  readonly recordRetryMs?: number;
  /**
   * The longest a send can take once under way, in ms: the providers' own timeouts. An attempt
   * that takes over a claim whose previous attempt was about to send waits this long after that
   * moment (and at least {@link SETTLE_MS}) for it to record its outcome, so a job that stalled
   * while its send was in flight — a Redis restart longer than the lock — is not sent twice.
   * Default 30,000.
   */
  readonly sendTimeoutMs?: number;
  /**
   * The wave gate (status and pause flag, cached): read again right before the send, after the
   * pace slot, so a pause stops notices that were waiting for a slot (they go back to pending and
   * wait `pauseRecheckMs`), and a cancel ends those of accounts nothing else was done to.
   */
  readonly gate?: (waveId: string) => Promise<WaveGateState>;
  /** How long a notice of a paused wave waits before it looks again (ms). Default {@link PAUSE_RECHECK_MS}. */
  readonly pauseRecheckMs?: number;
  /**
   * How long (ms) the lead of a consolidated notice waits, at most, for the other accounts of its
   * group whose earlier actions (PIN rotation, code) are still under way, from the first time it
   * found one: past it, the notice goes to the accounts that are ready and the late ones are
   * notified on their own once ready. Default {@link DEFAULT_GROUP_WAIT_MS}.
   */
  readonly groupWaitMs?: number;
  /** How long (ms) a consolidated notice's lead or one of its other accounts waits before it looks again; the others' waits double up to a minute. Default 2000. */
  readonly groupPollMs?: number;
  readonly random?: () => number;
}

/** Default of {@link NoticeProcessorDeps.groupWaitMs}: ten minutes. */
export const DEFAULT_GROUP_WAIT_MS = 10 * 60_000;
/** Default of {@link NoticeProcessorDeps.recordRetryMs}. */
export const DEFAULT_RECORD_RETRY_MS = 120_000;
/** Default of {@link NoticeProcessorDeps.sendTimeoutMs}. */
export const DEFAULT_SEND_TIMEOUT_MS = 30_000;
/** The longest pause between two tries of a write after an accepted send (`persist`). */
export const PERSIST_MAX_PAUSE_MS = 5000;
/**
 * How long an attempt that took over a claim waits, at least, for the previous attempt to record
 * a send it made: one `persist` pause and a second, from the moment the take-over is seen.
 */
export const SETTLE_MS = PERSIST_MAX_PAUSE_MS + 1000;

/**
 * Permanent SMS failures that are about the number, not the message: the person may still be
 * reached by email. Never a transient error (that would double-notify once it clears).
 */
const FALLBACK_FROM_SMS: ReadonlySet<ErrorCode> = new Set(['BW_SMS_INVALID_NUMBER', 'BW_SMS_NOT_MOBILE', 'BW_SMS_OPTED_OUT']);
const FALLBACK_FROM_EMAIL: ReadonlySet<ErrorCode> = new Set(['BW_EMAIL_REJECTED']);

/** Errors after which a fresh send is not attempted but a fallback channel may be. */
export function fallbackAllowed(channel: Channel, code: ErrorCode): boolean {
  return channel === 'sms' ? FALLBACK_FROM_SMS.has(code) : FALLBACK_FROM_EMAIL.has(code);
}
