import type { Redis } from 'ioredis';
import { BreachwaveError, type Channel } from '@breachwave/domain';
import { createPacer } from './pacer.js';

/** The highest pace an operator may set, in messages per second: above any provider's account limit, so a typo of extra digits is caught. */
export const MAX_PACE = 10_000;

/**
 * An operator's pace for a sender, checked: a finite number of messages per second, above 0 and
 * at most {@link MAX_PACE}. A pace of 0 would stop a sender with nothing saying why; pausing a
 * wave is the way to stop it.
 * @throws BreachwaveError BW_INPUT_INVALID
 */
export function checkPace(rate: number): number {
  if (typeof rate !== 'number' || !Number.isFinite(rate) || rate <= 0 || rate > MAX_PACE) {
    throw new BreachwaveError('BW_INPUT_INVALID', { detail: `the pace must be a number of messages per second, 0 < rate ≤ ${MAX_PACE} (pause the wave to stop sending)` });
  }
  return rate;
}

/** The audit trail a pace change is written to (a `@breachwave/ledger` ledger). */
export interface PaceAudit {
  audit(record: { readonly type: string; readonly actor: string; readonly detail?: Readonly<Record<string, unknown>> }): Promise<unknown>;
}

export interface SenderPaceDeps {
  readonly redis: Redis;
  readonly prefix: string;
}

/** A sender's stored pace (`null`: none stored, the notifiers' configured default applies). What `pace show` and `GET /v1/senders/:id/pace` answer. */
export async function showSenderPace(deps: SenderPaceDeps, sender: string): Promise<{ sender: string; rate: number | null }> {
  const pacer = createPacer({ redis: deps.redis, prefix: deps.prefix, sender });
  try {
    return { sender, rate: (await pacer.getRate()) ?? null };
  } finally {
    pacer.close();
  }
}

/**
 * Sets a sender's pace, shared by every notifier (they follow within a fraction of a second), and
 * audits it as `operator.pace.set` with the previous pace. What `pace set` and
 * `PUT /v1/senders/:id/pace` do.
 * @throws BreachwaveError BW_INPUT_INVALID for a pace {@link checkPace} refuses (nothing is changed)
 */
export async function setSenderPace(deps: SenderPaceDeps & { readonly ledger: PaceAudit }, sender: string, rate: number, actor: string): Promise<{ sender: string; from: number | null; rate: number }> {
  checkPace(rate);
  const pacer = createPacer({ redis: deps.redis, prefix: deps.prefix, sender });
  try {
    const before = (await pacer.getRate()) ?? null;
    await pacer.setRate(rate);
    await deps.ledger.audit({ type: 'operator.pace.set', actor, detail: { sender, from: before, to: rate } });
    return { sender, from: before, rate };
  } finally {
    pacer.close();
  }
}

/**
 * The pace key of each channel's sender, from what the notifier sends with: the ids `pace set`
 * takes and a manifest's `pace` names. The notifier paces by these; the dry run reads their pace.
 */
export function senderIds(o: { readonly twilioFrom?: string | undefined; readonly twilioMessagingServiceSid?: string | undefined; readonly smtpHost: string; readonly smtpPort: number }): Record<Channel, string> {
  return {
    sms: `twilio:${o.twilioMessagingServiceSid ?? o.twilioFrom ?? 'default'}`,
    email: `smtp:${o.smtpHost}:${o.smtpPort}`,
  };
}
