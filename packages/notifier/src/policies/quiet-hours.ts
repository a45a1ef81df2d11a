import { planSend, type QuietHoursOverrides } from '@breachwave/quiet-hours';
import type { DeliveryPolicy } from '../contract.js';

/**
 * TCPA quiet hours for SMS: a message waits until the recipient's local window opens (zone from
 * the account, else the area code, else the wave's default) — deferred, never dropped. Applies to
 * waves whose manifest turns quiet hours on. Email is not held.
 */
export function quietHoursPolicy(options: { readonly now?: () => Date } = {}): DeliveryPolicy {
  const now = options.now ?? (() => new Date());
  return {
    name: 'quiet-hours',
    async beforeSend(ctx) {
      const q = ctx.manifest.quietHours;
      if (!q || ctx.channel !== 'sms') return undefined;
      const overrides: QuietHoursOverrides | undefined = q.window ? { default: q.window } : undefined;
      const plan = planSend({
        now: now(),
        ...(ctx.account.timeZone ? { timeZone: ctx.account.timeZone } : {}),
        phoneE164: ctx.to,
        waveDefaultZone: q.defaultZone,
        ...(overrides ? { overrides } : {}),
      });
      if (plan.delayMs <= 0) return undefined;
      return { kind: 'defer', delayMs: plan.delayMs, reason: `quiet hours in ${plan.zone}${plan.state ? ` (${plan.state})` : ''} until ${plan.sendAt.toISOString()}` };
    },
  };
}
