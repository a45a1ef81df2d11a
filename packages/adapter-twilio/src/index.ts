export { closeTwilioClient, createTwilioClient, type TwilioClientOptions } from './client.js';
export { mapTwilioError, mapTwilioErrorCode } from './errors.js';
export {
  createTwilioSmsSender,
  reconcileTwilioSend,
  type ReconcileTwilioSendOptions,
  type TwilioCreateMessageParams,
  type TwilioListMessagesParams,
  type TwilioMessageSummary,
  type TwilioMessagingClient,
  type TwilioSmsSenderOptions,
} from './sms-sender.js';
export { TwilioHttpClient, type TwilioHttpClientOptions } from './http-client.js';
