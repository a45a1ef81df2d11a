import { intentFromOptOutType, parseKeyword, type KeywordIntent } from './keywords.js';
import { SELF_SERVICE_REASONS, type SuppressionList, type SuppressOutcome, type UnsuppressResult } from './list.js';

/** The parts of an inbound Twilio SMS webhook that matter here. */
export interface InboundSms {
  /** The sender (E.164); hashed, never stored in clear. */
  readonly from: string;
  readonly body: string;
  /** Twilio's `OptOutType` (Advanced Opt-Out), which wins over our own keyword parsing. */
  readonly optOutType?: string;
}

export type InboundResult =
  | { readonly intent: undefined }
  | { readonly intent: 'help' }
  | { readonly intent: 'opt-out'; readonly outcome: SuppressOutcome }
  | { readonly intent: 'opt-in'; readonly result: UnsuppressResult };

/**
 * Applies an inbound SMS to the suppression list: an opt-out keyword suppresses the sender
 * (`stop-keyword`), an opt-in keyword lifts the sender's own STOP and any 21610 block (not an
 * operator's suppression). Anything else changes nothing.
 */
export async function applyInboundSms(list: SuppressionList, sms: InboundSms, ctx: { actor?: string } = {}): Promise<InboundResult> {
  const intent: KeywordIntent | undefined = intentFromOptOutType(sms.optOutType) ?? parseKeyword(sms.body);
  const context = { source: 'inbound-sms', ...(ctx.actor ? { actor: ctx.actor } : {}) };
  switch (intent) {
    case 'opt-out':
      return { intent, outcome: await list.suppress('sms', sms.from, 'stop-keyword', context) };
    case 'opt-in':
      return { intent, result: await list.unsuppress('sms', sms.from, { ...context, reasons: SELF_SERVICE_REASONS }) };
    case 'help':
      return { intent };
    case undefined:
      return { intent: undefined };
  }
}
