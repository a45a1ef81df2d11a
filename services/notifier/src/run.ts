import { readFileSync } from 'node:fs';
import type { BreachwaveConfig } from '@breachwave/config';
import type { EmailSender, SmsSender } from '@breachwave/domain';
import { createLedger } from '@breachwave/ledger';
import type { Logger } from '@breachwave/logging';
import { createNoticeProcessor, pacingPolicy, quietHoursPolicy, senderIds, suppressionPolicy, type DeliveryPolicy, type NoticeEnricher } from '@breachwave/notifier';
import { createPacer, validityPeriodSeconds } from '@breachwave/pacing';
import type { Channel } from '@breachwave/domain';
import { REFERENCE_PARAM, createSuppressionList, createUnsubscribeLinker, statusCallbackUrl, unsubscribeKey } from '@breachwave/suppression';
import { createActionQueues, createActionWorker, createShardWorkers, recoveryLoopFor, waveGate } from '@breachwave/actions';
import { createPinHold, pinNoticeEnricher } from '@breachwave/pin';
import { codeCryptoFromConfig, codeNoticeEnricher, createCodeStore } from '@breachwave/codes';
import { checkHmacKey, checkRedis, checkShards, closeRedis, createRedis, queueConnection, type Redis } from '@breachwave/redis';
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

export interface RunningNotifier {
  close(): Promise<void>;
}

/**
 * Composition root of the notifier: wires config, Redis, ledger, envelope, the vendor adapters and
 * the BullMQ worker. Holds no business rules.
 */
export async function runNotifier(config: BreachwaveConfig, log: Logger, overrides: NotifierOverrides = {}): Promise<RunningNotifier> {
  const redis = createRedis({ url: config.redisUrl, tls: config.redisTls, role: 'producer', name: 'breachwave-notifier-ledger', autoPipelining: true });
  const hmacKey = Buffer.from(config.hmacKey, 'base64');
  try {
    await checkRedis(redis, config.redisUrl);
    await checkShards(redis, config.prefix, config.shards);
    await checkHmacKey(redis, config.prefix, hmacKey);
  } catch (err) {
    await closeRedis(redis);
    throw err;
  }
  const ledger = createLedger({ redis, prefix: config.prefix, shards: config.shards });
  const envelope = createEnvelope(config.envelopeKeys.map((k) => parseKey(k.id, k.base64)));

  const suppression = createSuppressionList({ redis, prefix: config.prefix, hmacKey });
  const publicUrl = config.ops.publicUrl;
  // Status callbacks reach the ops-api; the notice reference in the URL ties each to its notice.
  const statusCallback = config.twilio?.statusCallback ?? (publicUrl ? statusCallbackUrl(publicUrl) : undefined);

  let sms = overrides.sms;
  let twilioClient: ReturnType<typeof createTwilioClient> | undefined;
  if (!sms && config.twilio) {
    const t = config.twilio;
    twilioClient = createTwilioClient({
      accountSid: t.accountSid, authToken: t.authToken, timeoutMs: t.timeoutMs,
      ...(t.baseUrl ? { baseUrl: t.baseUrl } : {}),
      ...(t.caBundleFile ? { caBundleFile: t.caBundleFile } : {}),
      ...(t.httpProxy ? { httpProxy: t.httpProxy } : {}),
    });
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
  const smtp = overrides.email
    ? undefined
    : createSmtpEmailSender({
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
  const email = overrides.email ?? smtp;
  // Provider latency is measured around the senders the processor is given.
  const metrics = createServiceMetrics(metricsSettingsOf(config), { service: 'notifier', log });

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
  const bull = queueConnection(config.redisUrl, 'breachwave-notifier-queues', config.redisTls);
  const connection = bull.connection;
  const queues = createActionQueues({ connection, prefix: config.prefix, shards: config.shards, ledger });
  const recovery = recoveryLoopFor({ ledger, queues, redis, prefix: config.prefix, log, actor: 'notifier' }, config.workers);
  const worker = createShardWorkers(config.prefix, config.shards, (prefix) => createActionWorker({
    action: 'notify',
    connection,
    prefix,
    processor,
    log,
    concurrency: config.notifier.concurrency,
    lockDuration: overrides.lockDuration ?? config.workers.lockDurationMs,
    stalledInterval: overrides.stalledInterval ?? config.workers.stalledIntervalMs,
    onLost: () => recovery.kick(),
    ledger,
    actor: 'notifier',
  }));
  // Listening first: a port already taken stops the start before any job is taken.
  await metrics.start(() => worker.isRunning());
  await worker.start();
  recovery.start();
  log.info({ concurrency: config.notifier.concurrency, sms: Boolean(sms), email: Boolean(email) }, 'notifier started');

  let closed: Promise<void> | undefined;
  return {
    close: () => {
      closed ??= (async () => {
        await metrics.close();
        await recovery.close();
        await worker.close();
        await queues.close();
        await bull.close();
        const pace = pacing.stats();
        pacing.close();
        await smtp?.close();
        if (twilioClient) closeTwilioClient(twilioClient);
        await closeRedis(redis);
        log.info({ pace }, 'notifier stopped');
      })();
      return closed;
    },
  };
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
