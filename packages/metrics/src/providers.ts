import { Counter, Histogram, type Registry } from 'prom-client';
import { BreachwaveError, type Channel, type EmailSender, type SmsSender } from '@breachwave/domain';

/**
 * Provider request latency: SMS through Twilio takes 0.1–1 s, an SMTP relay from a few ms to
 * seconds, and a timeout is counted at the adapter's limit (tens of seconds).
 */
const BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** Wraps the notifier's senders so that every provider call is timed and counted. */
export interface ProviderMetrics {
  sms(sender: SmsSender): SmsSender;
  email(sender: EmailSender): EmailSender;
}

/**
 * `breachwave_provider_request_seconds{channel,outcome}` (outcome `ok` or the error's kind:
 * permanent, transient, throttled, ambiguous, …) and `breachwave_provider_sends_total{channel}`,
 * counted in this process. Only the channel and the error kind become labels: never a
 * recipient, a message or a provider id.
 */
export function registerProviderMetrics(registry: Registry): ProviderMetrics {
  const latency = new Histogram({
    name: 'breachwave_provider_request_seconds',
    help: 'Time of each provider request (Twilio, SMTP) by channel and outcome (ok, or the error kind: permanent, transient, throttled, ambiguous, config, invalid-input).',
    labelNames: ['channel', 'outcome'],
    buckets: BUCKETS,
    registers: [registry],
  });
  const sends = new Counter({ name: 'breachwave_provider_sends_total', help: 'Notices a provider accepted from this process, by channel.', labelNames: ['channel'], registers: [registry] });
  for (const channel of ['sms', 'email'] as const) sends.inc({ channel }, 0);

  const timed = async <T>(channel: Channel, call: () => Promise<T>, counts: boolean): Promise<T> => {
    const end = latency.startTimer({ channel });
    try {
      const result = await call();
      end({ outcome: 'ok' });
      if (counts) sends.inc({ channel });
      return result;
    } catch (err) {
      end({ outcome: err instanceof BreachwaveError ? err.kind : 'unknown' });
      throw err;
    }
  };

  return {
    sms(sender) {
      const findSent = sender.findSent?.bind(sender);
      return {
        send: (message) => timed('sms', () => sender.send(message), true),
        // Reconciliation lookups are provider requests too, but not sends.
        ...(findSent ? { findSent: (message, since) => timed('sms', () => findSent(message, since), false) } : {}),
      } satisfies SmsSender;
    },
    email(sender) {
      return { send: (message) => timed('email', () => sender.send(message), true) } satisfies EmailSender;
    },
  };
}
