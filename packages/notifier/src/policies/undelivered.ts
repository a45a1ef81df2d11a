import { actionJobId } from '@breachwave/jobs';
import { ordinalOf, type Ledger } from '@breachwave/ledger';
import type { ActionQueues } from '@breachwave/actions';

/**
 * The fallback after a permanent "undelivered"/"failed" status callback for an SMS notice (e.g.
 * 30003 unreachable, 30005 unknown, 30006 landline): the notice goes back to pending with
 * `via: email` and is queued again, so the person is told by email. Once per notice: a notice
 * already re-driven, or one without a sealed contact record left, is not re-driven.
 */
export function createUndeliveredFallback(deps: { readonly ledger: Ledger; readonly queues: ActionQueues; readonly actor?: string }) {
  const actor = deps.actor ?? 'ops-api';
  return async (ctx: { waveId: string; accountId: string; code?: string | undefined }): Promise<'redriven' | 'not-applicable'> => {
    const entry = await deps.ledger.get(ctx.waveId, ctx.accountId);
    const notify = entry?.notify;
    if (!notify || notify.s !== 'done' || notify.ch !== 'sms' || notify.via) return 'not-applicable';
    const account = await deps.ledger.getAccount(ctx.waveId, ctx.accountId);
    if (!account?.hasEmail) return 'not-applicable';
    const r = await deps.ledger.transition({ waveId: ctx.waveId, accountId: ctx.accountId, action: 'notify', actor, from: ['done'], to: 'pending',
      patch: { via: 'email', fb: 'sms-undelivered', fbErr: ctx.code ?? 'undelivered' }, event: 'notify.fallback-redrive',
      detail: { from: 'sms', to: 'email', code: ctx.code ?? null }, counters: { 'notify:fallback:sms-undelivered': 1 } });
    if (r.outcome !== 'ok') return 'not-applicable';
    const o = ordinalOf(r.all);
    const job = o === undefined ? { waveId: ctx.waveId, accountId: ctx.accountId } : { waveId: ctx.waveId, accountId: ctx.accountId, o };
    await deps.queues.queueOf('notify', job.waveId, job.accountId).remove(actionJobId('notify', job));
    await deps.queues.add('notify', job);
    return 'redriven';
  };
}
