import type { createSuppressionList } from '@breachwave/suppression';
import type { DeliveryPolicy } from '../contract.js';

type SuppressionList = Pick<ReturnType<typeof createSuppressionList>, 'isSuppressed' | 'suppress'>;

/**
 * The suppression list, checked right before every send (one Redis read, in the same round trip
 * as the notice's fence: a STOP recorded while the notice waited for its pace slot still stops
 * it), and fed by the provider's own answers: Twilio 21610 (the number replied STOP to this
 * sender) and a permanent mailbox rejection (550 5.1.1-style hard bounce).
 */
export function suppressionPolicy(list: SuppressionList): DeliveryPolicy {
  return {
    name: 'suppression',
    async atSend(ctx) {
      if (!(await list.isSuppressed(ctx.channel, ctx.to))) return undefined;
      return { kind: 'block', code: 'BW_SUPPRESSED', reason: `${ctx.channel} contact point is suppressed` };
    },
    async afterSend(ctx, outcome) {
      if (outcome.ok) return;
      const meta = { waveId: ctx.waveId, accountId: ctx.accountId, source: 'notifier' };
      if (outcome.error.code === 'BW_SMS_OPTED_OUT' && ctx.channel === 'sms') {
        await list.suppress('sms', ctx.to, '21610', meta);
      } else if (outcome.error.code === 'BW_EMAIL_REJECTED' && ctx.channel === 'email' && /^55[03]|5\.1\.[0-2]/.test(outcome.error.providerCode ?? '')) {
        await list.suppress('email', ctx.to, 'hard-bounce', meta);
      }
    },
  };
}
