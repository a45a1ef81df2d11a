import type { Channel, DataCategory, Locale, Segment } from './account.js';
import type { NoticeVars } from './templates.js';
import type { ActionName, ActionState } from './wave.js';

/**
 * Channel ports: one interface per channel, one method each. Adapter packages implement them for a
 * vendor (Twilio, SMTP via nodemailer) and map every vendor failure to a {@link BreachwaveError}.
 */
export interface SmsMessage {
  /** E.164 recipient. */
  readonly to: string;
  readonly body: string;
  /** Correlates provider callbacks with the ledger; never contains PII. */
  readonly reference: string;
  /** Seconds the provider may hold the message before giving up (set from the pace). */
  readonly validityPeriodSeconds?: number;
}

export interface EmailMessage {
  readonly to: string;
  readonly subject: string;
  readonly text: string;
  readonly html?: string;
  readonly reference: string;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface SendResult {
  /** The provider's id for the message (Twilio `SM…` sid, SMTP Message-ID). */
  readonly providerId: string;
  /** The provider's status at acceptance (e.g. `queued`, `accepted`). */
  readonly status: string;
}

export interface SmsSender {
  /** @throws BreachwaveError with an SMS code; never a raw vendor error. */
  send(message: SmsMessage): Promise<SendResult>;
  /**
   * Reconciles an ambiguous outcome (no answer after the request was sent): the provider's record
   * of this message to this recipient accepted since `since`, or `undefined` when it has none.
   * Absent when the provider offers no lookup.
   */
  findSent?(message: SmsMessage, since: Date): Promise<SendResult | undefined>;
}

export interface EmailSender {
  /** @throws BreachwaveError with an email code; never a raw vendor error. */
  send(message: EmailMessage): Promise<SendResult>;
}

/**
 * One action's ledger entry as a notice enricher reads it: its state and the fields the action
 * recorded (the ledger's entry has the same shape; no secrets are ever stored there).
 */
export interface ActionEntryView {
  readonly s: ActionState;
  readonly [field: string]: unknown;
}

/** An account's ledger entry as an enricher reads it: one {@link ActionEntryView} per planned action. */
export type AccountEntryView = Partial<Record<ActionName, ActionEntryView>>;

/** The parts of an account's stored record an enricher may read (never its sealed contact). */
export interface NoticeAccountView {
  readonly segment: Segment;
  readonly locale: Locale;
  readonly timeZone?: string;
  readonly exposed: readonly DataCategory[];
}

/**
 * Notice enricher port: adds what earlier actions produced to a notice (a rotated PIN, an
 * enrollment code). Runs right before rendering; whatever it returns lives only in memory for this
 * one send. A notice's enrichers run concurrently (none may depend on another); their results
 * merge in their order.
 */
export interface NoticeEnricher {
  enrich(ctx: { waveId: string; accountId: string; entry: AccountEntryView; account: NoticeAccountView; channel: Channel }): Promise<Partial<NoticeVars>>;
  /** Called once the send is recorded (e.g. wipe a held temporary PIN). */
  afterSent?(ctx: { waveId: string; accountId: string }): Promise<void>;
  /** Called when the notice ends without a send (failed for good, or skipped). */
  afterFinished?(ctx: { waveId: string; accountId: string; state: 'failed' | 'skipped' }): Promise<void>;
}
