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
