import { readFileSync } from 'node:fs';
import type { BreachwaveConfig } from '@breachwave/config';
import type { EmailSender, SmsSender } from '@breachwave/domain';
import type { Logger } from '@breachwave/logging';
import { createNoticeProcessor, pacingPolicy, quietHoursPolicy, senderIds, suppressionPolicy, type DeliveryPolicy, type NoticeEnricher } from '@breachwave/notifier';
import { createPacer, validityPeriodSeconds } from '@breachwave/pacing';
import type { Channel } from '@breachwave/domain';
import { REFERENCE_PARAM, createSuppressionList, createUnsubscribeLinker, statusCallbackUrl, unsubscribeKey } from '@breachwave/suppression';
import { runActionService, waveGate, type RunningActionService } from '@breachwave/actions';
import { createPinHold, pinNoticeEnricher } from '@breachwave/pin';
import { codeCryptoFromConfig, codeNoticeEnricher, createCodeStore } from '@breachwave/codes';
import type { Redis } from '@breachwave/redis';
import { createEnvelope, parseKey } from '@breachwave/secrets';
import { closeTwilioClient, createTwilioClient, createTwilioSmsSender } from '@breachwave/adapter-twilio';
import { createSmtpEmailSender } from '@breachwave/adapter-smtp';
import { createServiceMetrics, metricsSettingsOf } from '@breachwave/metrics';

/** Twilio holds a message ≤ 10 h; delivery callbacks trail it. Two days covers late ones. */
const FALLBACK_WINDOW_SECONDS = 2 * 86_400;

export interface NotifierOverrides {
  /** Replace the configured senders. */
  readonly sms?: SmsSender;
  readonly email?: EmailSender;
  readonly lockDuration?: number;
  readonly stalledInterval?: number;
  /** Policies applied before the built-in ones (suppression). */
  readonly policies?: readonly DeliveryPolicy[];
  /** Replace the default enrichers (PIN, enrollment code). */
  readonly enrichers?: readonly NoticeEnricher[];
}

/** Stops taking jobs, lets running ones finish, closes connections and senders: each even when one before it fails. Idempotent. */
export type RunningNotifier = RunningActionService;

/**
 * Composition root of the notifier: wires config, Redis, ledger, envelope, the vendor adapters and
 * the BullMQ worker. Holds no business rules.
 */
export async function runNotifier(config: BreachwaveConfig, log: Logger, overrides: NotifierOverrides = {}): Promise<RunningNotifier> {
  const hmacKey = Buffer.from(config.hmacKey, 'base64');
  // Provider latency is measured around the senders the processor is given.
  const metrics = createServiceMetrics(metricsSettingsOf(config), { service: 'notifier', log });
  return runActionService({
    name: 'notifier',
    action: 'notify',
    settings: config,
    redisName: 'breachwave-notifier-ledger',
    hmacKey,
    concurrency: config.notifier.concurrency,
    lockDuration: overrides.lockDuration,
    stalledInterval: overrides.stalledInterval,
    server: metrics,
    build: async ({ redis, ledger, own }) => {
      const envelope = createEnvelope(config.envelopeKeys.map((k) => parseKey(k.id, k.base64)));
      const suppression = createSuppressionList({ redis, prefix: config.prefix, hmacKey });
      const publicUrl = config.ops.publicUrl;
      // Status callbacks reach the ops-api; the notice reference in the URL ties each to its notice.
      const statusCallback = config.twilio?.statusCallback ?? (publicUrl ? statusCallbackUrl(publicUrl) : undefined);

      let sms = overrides.sms;
      if (!sms && config.twilio) {
        const t = config.twilio;
        const twilioClient = createTwilioClient({
          accountSid: t.accountSid, authToken: t.authToken, timeoutMs: t.timeoutMs,
          ...(t.baseUrl ? { baseUrl: t.baseUrl } : {}),
          ...(t.caBundleFile ? { caBundleFile: t.caBundleFile } : {}),
          ...(t.httpProxy ? { httpProxy: t.httpProxy } : {}),
        });
        own({ name: 'twilio client', close: () => closeTwilioClient(twilioClient) });
        sms = createTwilioSmsSender({
          client: twilioClient,
          ...(t.from ? { from: t.from } : {}),
          ...(t.messagingServiceSid ? { messagingServiceSid: t.messagingServiceSid } : {}),
          ...(statusCallback ? { statusCallback, statusCallbackReferenceParam: REFERENCE_PARAM } : {}),
          // Nothing may expire silently in Twilio's queue: with at most a feed window of notices
          // waiting, the pace bounds how long the last one can wait.
          ...(config.notifier.smsRate ? { validityPeriodSeconds: validityPeriodSeconds({ backlog: config.feed.window, rate: config.notifier.smsRate }) } : {}),
        });
      }
      if (!sms) log.warn('no SMS provider configured (TWILIO_*): accounts that need SMS will fail with BW_NO_CHANNEL');
      let email = overrides.email;
      if (!email) {
        const smtp = createSmtpEmailSender({
          host: config.smtp.host,
          port: config.smtp.port,
          secure: config.smtp.secure,
          from: config.smtp.from,
          pool: true,
          maxConnections: config.smtp.maxConnections,
          connectionTimeoutMs: config.smtp.timeoutMs,
          socketTimeoutMs: config.smtp.timeoutMs,
          ...(config.smtp.user && config.smtp.pass ? { auth: { user: config.smtp.user, pass: config.smtp.pass } } : {}),
          ...(config.smtp.dkim
            ? { dkim: { domainName: config.smtp.dkim.domain, keySelector: config.smtp.dkim.selector, privateKey: readFileSync(config.smtp.dkim.keyFile, 'utf8') } }
            : {}),
        });
        own({ name: 'smtp pool', close: () => smtp.close() });
        email = smtp;
      }

      // Enrichers: what earlier actions give the notice. The held temporary PIN is opened with the
      // same hold key the pin-rotator sealed it with.
      const enrichers: NoticeEnricher[] = overrides.enrichers ? [...overrides.enrichers] : [
        pinNoticeEnricher({
          hold: createPinHold({ redis, prefix: config.prefix, shards: config.shards, ttlSeconds: config.pin.tempTtlSeconds, envelope: createEnvelope([parseKey(config.pin.holdKey.id, config.pin.holdKey.base64)]) }),
          audit: (r) => ledger.audit(r),
          log,
        }),
        codeNoticeEnricher({ store: createCodeStore({ redis, prefix: config.prefix, crypto: codeCryptoFromConfig(config) }) }),
      ];
      // RFC 8058 one-click unsubscribe needs a public HTTPS endpoint (the ops-api).
      const unsubscribeLink = publicUrl
        ? createUnsubscribeLinker({
            publicUrl,
            key: unsubscribeKey(hmacKey, config.ops.unsubscribeKey ? Buffer.from(config.ops.unsubscribeKey, 'base64') : undefined),
            list: suppression,
            ttlSeconds: config.ops.unsubscribeTtlSeconds,
          })
        : undefined;
      if (!unsubscribeLink) log.warn('BW_PUBLIC_URL is not set: email notices go without List-Unsubscribe, SMS without status callbacks');
      const senders = senderIds({ twilioFrom: config.twilio?.from, twilioMessagingServiceSid: config.twilio?.messagingServiceSid, smtpHost: config.smtp.host, smtpPort: config.smtp.port });
      const pacing = pacingPolicy({ redis, prefix: config.prefix, senders });
      // The pace each sender kept is read as its pacer closes, for the stop line.
      let pace: ReturnType<typeof pacing.stats> | undefined;
      own({ name: 'pacing', close: () => {
        pace = pacing.stats();
        pacing.close();
      } });
      await applyInitialRates(redis, config.prefix, senders, config.notifier, log);
      const processor = createNoticeProcessor({
        ledger, envelope, log, contactRetentionSeconds: config.notifier.contactRetentionSeconds,
        enrichers,
        // Suppression first (a blocked channel falls back before anything waits), then quiet hours,
        // then the pace slot, taken right before the send.
        policies: [suppressionPolicy(suppression), quietHoursPolicy(), pacing, ...(overrides.policies ?? [])],
        ...(unsubscribeLink ? { emailHeaders: ({ waveId, accountId, to }: { waveId: string; accountId: string; to: string }) => unsubscribeLink({ waveId, accountId, channel: 'email', contact: to }).headers } : {}),
        // Keep the sealed contact long enough for a late "undelivered" callback to fall back to email.
        fallbackWindowSeconds: statusCallback ? FALLBACK_WINDOW_SECONDS : 0,
        // A notice taken over from a stalled attempt waits out the longest a send can take.
        sendTimeoutMs: Math.max(config.twilio?.timeoutMs ?? 0, config.smtp.timeoutMs),
        // A pause or cancel also reaches notices already waiting for a pace slot.
        gate: waveGate(ledger),
        ...(sms ? { sms: metrics.providers.sms(sms) } : {}), ...(email ? { email: metrics.providers.email(email) } : {}),
      });
      return {
        processor,
        started: { concurrency: config.notifier.concurrency, sms: Boolean(sms), email: Boolean(email) },
        stopped: () => ({ pace }),
      };
    },
  }, log);
}

/** Sets each sender's configured pace unless one is already stored (an operator's live change wins over a restart). */
async function applyInitialRates(redis: Redis, prefix: string, senders: Record<Channel, string>, rates: { smsRate?: number; emailRate?: number }, log: Logger): Promise<void> {
  for (const [channel, rate] of [['sms', rates.smsRate], ['email', rates.emailRate]] as const) {
    if (!rate) continue;
    const pacer = createPacer({ redis, prefix, sender: senders[channel] });
    try {
      if ((await pacer.getRate()) === undefined) {
        await pacer.setRate(rate);
        log.info({ sender: senders[channel], rate }, 'sender pace set');
      }
    } finally {
      pacer.close();
    }
  }
}
