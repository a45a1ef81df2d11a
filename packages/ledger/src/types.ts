import type { Redis } from 'ioredis';
import type { ActionName, ActionState, Channel, DataCategory, Locale, Segment, WaveManifest } from '@breachwave/domain';

/** One action's ledger state for one account. Short field names: a wave holds millions. */
export interface ActionEntry {
  /** State. */
  s: ActionState;
  /** Claims so far (attempts that reached the side effect). */
  n: number;
  /** Channel used (notify). */
  ch?: Channel;
  /** Provider id of the recorded send (notify). */
  pid?: string;
  /** Error code of the last failure. */
  err?: string;
  /** Ambiguous outcomes seen (request sent, no answer). */
  amb?: number;
  /** Channel a re-drive must use (after a permanent "undelivered" status callback). */
  via?: string;
  /** Throttled answers seen (nothing processed; deferred without spending an attempt). */
  thr?: number;
  /** ISO time of the last transition (stored as epoch ms, read back as ISO). */
  at?: string;
  /** ISO time of the first claim (stored as epoch ms, read back as ISO). */
  c0?: string;
  /** Token of the attempt that holds the claim (set by the claim, checked by fences and guards). */
  ct?: string;
  /** Epoch ms at which the claiming attempt was about to send (its fence passed). */
  sa?: number;
  /** Epoch ms until which a later attempt waits for an earlier one's send to settle. */
  hu?: number;
  [extra: string]: unknown;
}
export type LedgerEntry = Partial<Record<ActionName, ActionEntry>>;

export type PatchValue = string | number | boolean;

export interface TransitionRequest {
  readonly waveId: string;
  readonly accountId: string;
  /**
   * The account's ordinal in its wave (`compact.ts`), when the caller knows it (a job carries
   * it): an account already compacted is then found as finished (`rejected` with its state)
   * instead of `missing`.
   */
  readonly ordinal?: number | undefined;
  readonly action: ActionName;
  /** States the action may be in for the transition to apply; `'*'` for any. */
  readonly from: readonly ActionState[] | '*';
  readonly to: ActionState;
  /** Fields to set on the action entry; `false` removes a field. */
  readonly patch?: Readonly<Record<string, PatchValue>>;
  /** Audit record type, e.g. `notify.done`. */
  readonly event: string;
  readonly actor: string;
  /** Audit detail: ids, codes, counts — never PII or secrets. */
  readonly detail?: Readonly<Record<string, unknown>>;
  /** Extra counters to bump in the same script, e.g. `{ 'notify:sent:sms': 1 }`. */
  readonly counters?: Readonly<Record<string, number>>;
  /**
   * When the transition applies, also release the account's record in the same script: `0`
   * deletes it now, N > 0 expires it in N seconds (what {@link Ledger.releaseAccount} does, minus
   * its round trip).
   */
  readonly releaseAccount?: number;
  /**
   * Also read the account's record in the same script and return it as `account` (what
   * {@link Ledger.getAccount} does, minus its round trip), whatever the outcome.
   */
  readonly withAccount?: boolean;
  /**
   * Apply only while this claim token holds the entry (its `ct`); otherwise the outcome is
   * `superseded`: a later attempt took the claim over, and what this one would record is its to
   * decide.
   */
  readonly guard?: string;
  /**
   * A field that, set on the action's entry while it is `claimed`, refuses the transition with
   * the outcome `held`: another account's attempt holds this one (a consolidated notice's lead
   * holds its group's other accounts, marking them `gl`).
   */
  readonly unlessHeld?: string;
}

export interface TransitionResult {
  readonly outcome: 'ok' | 'rejected' | 'missing' | 'no-action' | 'superseded' | 'held';
  readonly previous: ActionState | undefined;
  readonly entry: ActionEntry | undefined;
  /** The account's whole ledger entry after the transition (before it, when rejected). */
  readonly all: LedgerEntry | undefined;
  /** The account's record, when asked for with `withAccount` and it exists. */
  readonly account?: AccountRecord;
}

/** One account's answer to {@link Ledger.claimGroup}. */
export interface GroupClaim {
  readonly accountId: string;
  /** `ok` when claimed now; else why not: `waiting`, `busy`, `solo`, `missing`, `no-action`, or the state found. */
  readonly status: string;
  readonly entry: ActionEntry | undefined;
  readonly all: LedgerEntry | undefined;
  readonly account?: AccountRecord;
}

/** The minimised account record resting in Redis while the account is in flight. */
export interface AccountRecord {
  readonly segment: Segment;
  readonly locale: Locale;
  readonly timeZone?: string;
  readonly exposed: readonly DataCategory[];
  readonly hasPhone: boolean;
  readonly phoneIsMobile: boolean;
  readonly hasEmail: boolean;
  /** `{ name?, phone?, email? }` sealed with AAD `<wave>:<account>`. */
  readonly contact: string;
  /** Source file line, for reports. */
  readonly line: number;
  /**
   * The accounts of the wave whose notice goes to the same contact point as this one's, this one
   * included, in the order the ingest found them (at most `MAX_GROUP_ACCOUNTS`): they get one
   * consolidated notice. Absent for an account notified alone.
   */
  readonly group?: readonly string[];
}

/** One account for {@link Ledger.initAccounts}: its plan, and its ordinal in the wave (`compact.ts`) when the caller walks the spool. */
export interface InitItem {
  readonly accountId: string;
  readonly actions: readonly ActionName[];
  readonly ordinal?: number | undefined;
}

/** Default time a dead-lettered account's encrypted contact record is kept for a re-drive. */
export const DEAD_LETTER_RETENTION_SECONDS = 7 * 24 * 3600;

/** A wave's status: see the lifecycle in `lifecycle.ts`. `paused` is a flag beside it, not a status. */
export type WaveStatus = 'created' | 'approved' | 'feeding' | 'fed' | 'completed' | 'cancelled';

/** When a wave entered a status: the first and the last time (ISO), e.g. fed again after `wave add`. */
export interface WaveStatusTimes {
  readonly first: string;
  readonly last: string;
}

export interface WaveInfo {
  readonly waveId: string;
  readonly status: WaveStatus;
  /** Paused by an operator: nothing new is fed or started until it is resumed. */
  readonly paused?: boolean;
  readonly manifest: WaveManifest;
  readonly stats: Readonly<Record<string, number>>;
  readonly paths: Readonly<Record<string, string>>;
  /**
   * When the wave entered each status through {@link Ledger.setWaveStatus} (feeding, fed,
   * completed…). Empty for a wave whose status changes were made before these times were kept:
   * its audit trail's `wave.<status>` records still say when.
   */
  readonly times: Readonly<Partial<Record<WaveStatus, WaveStatusTimes>>>;
}

export interface LedgerDeps {
  readonly redis: Redis;
  readonly prefix: string;
  readonly now?: () => Date;
  /**
   * How many shards the deployment's accounts are spread over (`BW_SHARDS`, default 1): an
   * account's entry, counters, sealed record and audit records go to its shard's keys
   * (`shards.ts`); wave records and operator events stay under `prefix`. With 1 every key is
   * what it always was.
   */
  readonly shards?: number;
}
