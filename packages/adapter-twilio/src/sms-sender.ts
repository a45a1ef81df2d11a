import { BreachwaveError, type SendResult, type SmsMessage, type SmsSender } from '@breachwave/domain';
import { mapTwilioError } from './errors.js';

/** Parameters the sender passes to `messages.create` (a subset of the SDK's create options). */
export interface TwilioCreateMessageParams {
  readonly to: string;
  readonly body: string;
  readonly from?: string;
  readonly messagingServiceSid?: string;
  readonly statusCallback?: string;
  readonly validityPeriod?: number;
  readonly smartEncoded?: boolean;
}

/** Filters the reconcile helper passes to `messages.list`. */
export interface TwilioListMessagesParams {
  readonly to?: string;
  readonly dateSentAfter?: Date;
  readonly pageSize?: number;
  readonly limit?: number;
}

/** The fields of a Twilio message resource this package reads. */
export interface TwilioMessageSummary {
  readonly sid: string;
  readonly status: string;
  readonly to?: string;
  readonly body?: string;
  readonly dateCreated?: Date | null;
  readonly dateSent?: Date | null;
}

/**
 * The narrow slice of the Twilio SDK the adapter calls. A real `twilio.Twilio` client satisfies
 * it; so can a hand-written fake, without reaching into SDK internals.
 */
export interface TwilioMessagingClient {
  readonly messages: {
    (sid: string): { fetch(): Promise<TwilioMessageSummary> };
    create(params: TwilioCreateMessageParams): Promise<TwilioMessageSummary>;
    list(params: TwilioListMessagesParams): Promise<TwilioMessageSummary[]>;
  };
}

export interface TwilioSmsSenderOptions {
  readonly client: TwilioMessagingClient;
  /** Sender number (E.164) or alphanumeric sender id. One of `from` / `messagingServiceSid` is required. */
  readonly from?: string;
  /** `MG…` sid of a Messaging Service that picks the sender. */
  readonly messagingServiceSid?: string;
  /** URL Twilio POSTs delivery status to. */
  readonly statusCallback?: string;
  /**
   * When set, the message's `reference` is appended to `statusCallback` as this query parameter,
   * so a callback can be tied to the attempt even when the send itself ended ambiguously.
   */
  readonly statusCallbackReferenceParam?: string;
  /** Seconds Twilio may keep the message queued before giving up (1–36000); a message's own value wins. */
  readonly validityPeriodSeconds?: number;
  /** Let Twilio replace Unicode look-alikes (smart quotes, dashes) with GSM-7 characters. Default true. */
  readonly smartEncoded?: boolean;
}

/**
 * An {@link SmsSender} on Twilio Programmable Messaging. `send` resolves to the message sid and
 * Twilio's status at acceptance (`queued`, or `accepted` with a Messaging Service) and throws only
 * {@link BreachwaveError}s (see `mapTwilioError`).
 * @throws BreachwaveError `BW_CONFIG_INVALID` when neither `from` nor `messagingServiceSid` is set.
 */
export function createTwilioSmsSender(options: TwilioSmsSenderOptions): SmsSender {
  const { client, from, messagingServiceSid, statusCallback, statusCallbackReferenceParam, validityPeriodSeconds } =
    options;
  const smartEncoded = options.smartEncoded ?? true;
  if (!from && !messagingServiceSid) {
    throw new BreachwaveError('BW_CONFIG_INVALID', { detail: 'Twilio sender needs `from` or `messagingServiceSid`' });
  }
  if (
    validityPeriodSeconds !== undefined &&
    (!Number.isInteger(validityPeriodSeconds) || validityPeriodSeconds < 1 || validityPeriodSeconds > 36000)
  ) {
    throw new BreachwaveError('BW_CONFIG_INVALID', { detail: 'validityPeriodSeconds must be an integer in 1..36000' });
  }
  if (statusCallbackReferenceParam !== undefined && statusCallback === undefined) {
    throw new BreachwaveError('BW_CONFIG_INVALID', { detail: 'statusCallbackReferenceParam needs statusCallback' });
  }

  const validity = (message: SmsMessage): number | undefined => {
    const v = message.validityPeriodSeconds ?? validityPeriodSeconds;
    return v === undefined ? undefined : Math.max(1, Math.min(36000, Math.round(v)));
  };

  return {
    async findSent(message: SmsMessage, since: Date): Promise<SendResult | undefined> {
      const sid = await reconcileTwilioSend(client, { to: message.to, sentAfter: since, body: message.body });
      return sid ? { providerId: sid, status: 'reconciled' } : undefined;
    },
    async send(message: SmsMessage): Promise<SendResult> {
      const params: TwilioCreateMessageParams = {
        to: message.to,
        body: message.body,
        ...(from ? { from } : {}),
        ...(messagingServiceSid ? { messagingServiceSid } : {}),
        ...(statusCallback ? { statusCallback: callbackUrl(statusCallback, statusCallbackReferenceParam, message) } : {}),
        ...(validity(message) !== undefined ? { validityPeriod: validity(message) } : {}),
        smartEncoded,
      };
      let pending: Promise<TwilioMessageSummary>;
      try {
        pending = client.messages.create(params);
      } catch {
        // The SDK validates parameters synchronously: nothing was sent.
        throw new BreachwaveError('BW_SMS_REJECTED', { detail: 'the SDK refused the request parameters' });
      }
      try {
        const created = await pending;
        return { providerId: created.sid, status: created.status };
      } catch (err) {
        throw mapTwilioError(err);
      }
    },
  };
}

function callbackUrl(base: string, param: string | undefined, message: SmsMessage): string {
  if (param === undefined) return base;
  const url = new URL(base);
  url.searchParams.set(param, message.reference);
  return url.toString();
}

export interface ReconcileTwilioSendOptions {
  /** E.164 recipient of the ambiguous attempt. */
  readonly to: string;
  /** A moment no later than the ambiguous attempt started. */
  readonly sentAfter: Date;
  /** When given, only a message with exactly this body counts (tells apart two notices to one number). */
  readonly body?: string;
  /** Clock-skew allowance between this host and Twilio, in ms. Default 2000. */
  readonly toleranceMs?: number;
  /** Page size of the lookup (default 100); every page is followed, up to 500 messages. */
  readonly pageSize?: number;
}

/**
 * Looks for a message Twilio created for an attempt whose outcome was ambiguous: lists messages to
 * `to` with `dateSentAfter` (the start of `sentAfter`'s UTC day, since Twilio filters `DateSent`
 * by day) and keeps those created at or after `sentAfter` (less `toleranceMs`, compared at
 * Twilio's one-second resolution) and, if given, with the same body.
 *
 * @returns the sid of the most recent such message, or `undefined` when there is none.
 * @throws BreachwaveError (SMS codes) when the lookup itself fails.
 */
export async function reconcileTwilioSend(
  client: TwilioMessagingClient,
  options: ReconcileTwilioSendOptions,
): Promise<string | undefined> {
  const tolerance = options.toleranceMs ?? 2000;
  const earliest = Math.floor((options.sentAfter.getTime() - tolerance) / 1000) * 1000;
  const dayStart = new Date(earliest);
  dayStart.setUTCHours(0, 0, 0, 0);
  let found: TwilioMessageSummary[];
  try {
    found = await client.messages.list({
      to: options.to,
      dateSentAfter: dayStart,
      pageSize: options.pageSize ?? 100,
      limit: 500,
    });
  } catch (err) {
    throw mapTwilioError(err);
  }
  const match = found
    .filter((m) => (m.to === undefined || m.to === options.to) && (options.body === undefined || m.body === options.body))
    .filter((m) => {
      const at = m.dateCreated ?? m.dateSent;
      return at instanceof Date && at.getTime() >= earliest;
    })
    .sort((a, b) => timeOf(b) - timeOf(a));
  return match[0]?.sid;
}

function timeOf(m: TwilioMessageSummary): number {
  return (m.dateCreated ?? m.dateSent)?.getTime() ?? 0;
}
