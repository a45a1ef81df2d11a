export { suppressionKeys, type SuppressionKeys } from './keys.js';
export { HELP_KEYWORDS, OPT_IN_KEYWORDS, OPT_OUT_KEYWORDS, intentFromOptOutType, parseKeyword, type KeywordIntent } from './keywords.js';
export {
  SELF_SERVICE_REASONS, SUPPRESSION_REASONS, contactHashKey, createSuppressionList, normaliseContact,
  type SuppressOutcome, type SuppressionContext, type SuppressionList, type SuppressionListDeps, type SuppressionReason, type UnsuppressResult,
} from './list.js';
export {
  UNSUBSCRIBE_PATH, signUnsubscribeToken, unsubscribeHeaders, unsubscribeKey, unsubscribeUrl, verifyUnsubscribeToken, type UnsubscribeClaims,
} from './tokens.js';
export { applyUnsubscribe, createUnsubscribeLinker, type UnsubscribeLink, type UnsubscribeLinkerDeps } from './unsubscribe.js';
export { applyInboundSms, type InboundResult, type InboundSms } from './inbound.js';
export { twilioSignature, validateTwilioSignature, type WebhookParams } from './twilio-signature.js';
export {
  DELIVERY_RANK, DELIVERY_STATES, TERMINAL_RANK, isTerminalDeliveryState, nextDeliveryState, parseTwilioMessageStatus,
  type DeliveryState, type DeliveryStep,
} from './delivery-state.js';
export {
  DEFAULT_SEND_INDEX_TTL_SECONDS, REFERENCE_PARAM, STATUS_CALLBACK_PATH, createDeliveryTracker, lookupSendIndex, parseNoticeReference,
  parseStatusCallback, recordSendIndex, statusCallbackUrl,
  type DeliveryOutcome, type DeliveryOutcomeKind, type DeliveryTracker, type DeliveryTrackerDeps, type NoticeRef,
  type PermanentUndeliveredContext, type StatusCallback,
} from './delivery.js';
