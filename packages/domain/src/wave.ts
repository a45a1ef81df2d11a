import type { AffectedAccount, ChannelPolicy, DataCategory, Segment } from './account.js';
import type { NoticeVars } from './templates.js';

/** Side effects on one account, in the order they must happen. */
export const ACTIONS = ['rotate-pin', 'issue-code', 'notify'] as const;
export type ActionName = (typeof ACTIONS)[number];

/**
 * Per-action ledger states. `claimed` means a worker started the side effect; `cancelled` that
 * the wave was cancelled before it began (terminal, like done, failed and skipped).
 */
export const ACTION_STATES = ['pending', 'claimed', 'done', 'failed', 'skipped', 'cancelled'] as const;
export type ActionState = (typeof ACTION_STATES)[number];

/**
 * Which accounts an action applies to: the account's segment is one of `segments` (any when
 * absent) AND its exposed data includes one of `exposedAny` (no condition when absent).
 */
export interface ActionRule {
  readonly segments?: readonly Segment[];
  readonly exposedAny?: readonly DataCategory[];
}

/** Rules for the optional actions; `notify` applies to every accepted account. */
export type ActionRules = Readonly<Partial<Record<Exclude<ActionName, 'notify'>, ActionRule>>>;

/** The rules a wave uses for an action the operator turns on without saying more. */
export const DEFAULT_ACTION_RULES: Readonly<Record<Exclude<ActionName, 'notify'>, ActionRule>> = {
  // The seed: names, numbers and PINs of active prepaid customers were taken.
  'rotate-pin': { segments: ['prepaid-active'], exposedAny: ['pin'] },
  // Identity protection where the exposed data enables identity theft.
  'issue-code': { exposedAny: ['ssn', 'drivers-license'] },
};

/** Queue lanes, most urgent first. */
export const WAVE_LANES = ['urgent', 'normal', 'reminder'] as const;
export type WaveLane = (typeof WAVE_LANES)[number];

/** How a rotated PIN reaches the customer. */
export type PinDelivery = 'none' | 'sms-temporary';

/** Where enrollment codes come from. */
export type CodeSource = { readonly kind: 'generated' } | { readonly kind: 'pool'; readonly pool: string };

/** The operator-approved description of a wave. */
export interface WaveManifest {
  readonly waveId: string;
  readonly createdAt: string;
  readonly source: string;
  readonly brand: string;
  readonly helpUrl: string;
  /** Decides the optional actions per account (segment and exposed data); `{}` = notify only. */
  readonly rules: ActionRules;
  /** Default `none`. */
  readonly pinDelivery?: PinDelivery;
  /** Required when `issue-code` is on. */
  readonly codeSource?: CodeSource;
  /** Enrollment deadline (ISO date) printed in notices. */
  readonly enrollBy?: string;
  /**
   * Whether a notice whose first channel is suppressed (STOP, unsubscribe) may go through the
   * other channel. A legally required breach notice usually may; default true.
   */
  readonly suppressedFallback?: boolean;
  /**
   * TCPA quiet hours for SMS: when present, an SMS waits for the recipient's local window
   * (default 08:00–21:00, stricter state rules apply); `defaultZone` is used when neither the
   * account nor its area code says where the person is.
   */
  readonly quietHours?: { readonly defaultZone: string; readonly window?: { readonly start: string; readonly end: string } };
  /**
   * Operators other than the creator who must approve the wave, after a dry run, before it may be
   * started (the two-person rule). Absent or 0: the wave may be started as created.
   */
  readonly approvals?: number;
  /** The operator who created the wave (the one who cannot approve it). */
  readonly createdBy?: string;
  /**
   * The wave's lane in the queues: `urgent` jobs are taken before every other waiting job (a small
   * urgent wave is not held behind a large one's backlog), `reminder` jobs after them; default
   * `normal`.
   */
  readonly lane?: WaveLane;
  /** A name for people (the id is for machines), e.g. "Prepaid PIN exposure, first wave". */
  readonly name?: string;
  /** The regulatory clock the wave runs against. */
  readonly regulatory?: RegulatoryClock;
  /** A reminder wave: the wave whose people it reminds (its notices remind, they do not announce). */
  readonly reminderOf?: string;
  /**
   * One notice per contact point: accounts of the wave whose notice goes to the same phone or
   * email (a family plan's lines) get one message naming each account, masked, with each one's own
   * exposed data and remediation; every account keeps its own ledger entry. Default true; false
   * sends one notice per account.
   */
  readonly consolidate?: boolean;
  /**
   * Which channels the notices may use, and in which order, per segment (`channelsFor`); absent:
   * SMS first when the phone can receive it, then email.
   */
  readonly channels?: ChannelPolicy;
  /**
   * The pace (messages/s) to set for each sender (`twilio:…`, `smtp:host:port`, the ids `pace set`
   * takes) when the wave is first fed. Applied once: a `pace set` while the wave runs wins.
   */
  readonly pace?: Readonly<Record<string, number>>;
  /**
   * Operators who may approve the wave (identities as the audit names them, `operator:NAME`);
   * absent: any operator other than the creator. `approvals` of them are needed.
   */
  readonly approvers?: readonly string[];
  /** A support phone number the notices give beside the help URL. */
  readonly supportPhone?: string;
  /** The email notices' closing line, e.g. "The Acme Mobile security team". */
  readonly signOff?: string;
  /** The version of the manifest file the wave was created from; absent when it was created from flags. */
  readonly manifestVersion?: number;
  /**
   * The file's own headers for known columns (canonical name → header, e.g. `{ phone: "MSISDN" }`),
   * kept so that rows added later (`wave add`) are read the same way.
   */
  readonly columns?: Readonly<Record<string, string>>;
  /** Columns the file may carry that the pipeline does not read, skipped at ingest (and on `wave add`). */
  readonly ignoreColumns?: readonly string[];
}

/**
 * When the breach was determined and by when the people it concerns must be told (e.g. the FCC's
 * customer notice within 30 days, or a stricter state deadline): status, watch and reports show the
 * time left, and a projected finish past the deadline is a warning.
 */
export interface RegulatoryClock {
  /** ISO time the breach was determined (the clock's start). */
  readonly determinedAt: string;
  /** ISO time by which every notice must be out: the earliest of `rules` when there are several. */
  readonly deadline: string;
  /** The rule the deadline comes from, for people (e.g. "FCC 47 CFR 64.2011: 30 days"): the one that sets it. */
  readonly rule?: string;
  /**
   * Every deadline rule the wave is under (FCC, each state's), each with its own deadline; the
   * earliest is `deadline`. Absent when the wave has a single deadline.
   */
  readonly rules?: readonly RegulatoryRule[];
}

/** One deadline rule: its name and its deadline, counted in days or hours from the determination (or a fixed time). */
export interface RegulatoryRule {
  readonly rule: string;
  /** ISO time. */
  readonly deadline: string;
  readonly days?: number;
  readonly hours?: number;
}

/**
 * The deadline a set of rules gives: the earliest, and the rule that sets it (the first listed
 * on a tie).
 */
export function effectiveDeadline(rules: readonly RegulatoryRule[]): RegulatoryRule | undefined {
  let best: RegulatoryRule | undefined;
  for (const r of rules) if (!best || Date.parse(r.deadline) < Date.parse(best.deadline)) best = r;
  return best;
}

/**
 * The wave-wide values of its notices: the carrier's name, the help URL, the support phone and
 * sign-off when the wave gives them, and whether the notices are reminders. Everything else a
 * notice says comes from the account.
 */
export function noticeBase(manifest: Pick<WaveManifest, 'brand' | 'helpUrl' | 'supportPhone' | 'signOff' | 'reminderOf'>): Pick<NoticeVars, 'brand' | 'helpUrl' | 'supportPhone' | 'signOff' | 'reminder'> {
  return {
    brand: manifest.brand,
    helpUrl: manifest.helpUrl,
    ...(manifest.supportPhone ? { supportPhone: manifest.supportPhone } : {}),
    ...(manifest.signOff ? { signOff: manifest.signOff } : {}),
    ...(manifest.reminderOf ? { reminder: true } : {}),
  };
}

/** True when the account matches the rule. */
export function ruleMatches(rule: ActionRule, account: Pick<AffectedAccount, 'segment' | 'exposed'>): boolean {
  if (rule.segments && !rule.segments.includes(account.segment)) return false;
  if (rule.exposedAny && !rule.exposedAny.some((c) => account.exposed.includes(c))) return false;
  return true;
}

/** The ordered actions for one account under a manifest. */
export function planActions(account: Pick<AffectedAccount, 'segment' | 'exposed'>, manifest: Pick<WaveManifest, 'rules'>): ActionName[] {
  const wanted = new Set<ActionName>();
  for (const [action, rule] of Object.entries(manifest.rules) as [Exclude<ActionName, 'notify'>, ActionRule][]) {
    if (ruleMatches(rule, account)) wanted.add(action);
  }
  wanted.add('notify');
  return ACTIONS.filter((a) => wanted.has(a));
}

/** A wave id: sortable by creation time, safe in Redis keys and BullMQ job ids. */
export function newWaveId(now: Date, random: string): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `w${stamp}-${random}`;
}
export const WAVE_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
