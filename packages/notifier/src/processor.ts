import {
  BreachwaveError, chooseChannel, firstNameOf, renderNotice, toBreachwaveError,
  type Channel, type EmailSender, type Locale, type NoticeVars, type Segment, type SendResult, type SmsSender, type WaveManifest,
} from '@breachwave/domain';
import { parseActionJob } from '@breachwave/jobs';
import type { Ledger } from '@breachwave/ledger';
import type { Envelope } from '@breachwave/secrets';
import type { Logger } from '@breachwave/logging';
import { PermanentActionError, unmetPrerequisites, type ActionJobView } from '@breachwave/actions';
import { DEAD_LETTER_RETENTION_SECONDS, type AccountRecord, type LedgerEntry } from '@breachwave/ledger';

export type NoticeJob = ActionJobView;

/**
 * Adds what earlier actions produced to a notice (a rotated PIN, an enrollment code). Runs right
 * before rendering; whatever it returns lives only in memory for this one send.
 */
export interface NoticeEnricher {
  enrich(ctx: { waveId: string; accountId: string; entry: LedgerEntry; account: AccountRecord; channel: Channel }): Promise<Partial<NoticeVars>>;
  /** Called once the send is recorded (e.g. wipe a held temporary PIN). */
  afterSent?(ctx: { waveId: string; accountId: string }): Promise<void>;
}

export type NoticeOutcome =
  | { readonly status: 'sent'; readonly channel: Channel; readonly providerId: string }
  | { readonly status: 'already-finished'; readonly state: string };

/** Decrypted contact points; lives only in memory for the length of one send. */
interface Contact {
  readonly name?: string;
  readonly phone?: string;
  readonly email?: string;
}

export interface NoticeProcessorDeps {
  readonly ledger: Ledger;
  readonly envelope: Envelope;
  readonly sms?: SmsSender;
  readonly email?: EmailSender;
  readonly log: Logger;
  /** Actor name in audit records. Default `notifier`. */
  readonly actor?: string;
  /** Seconds an account's contact record is kept after its notice was sent. Default 0. */
  readonly contactRetentionSeconds?: number;
  /**
   * Seconds a dead-lettered account's (encrypted) contact record is kept so `dlq retry` can
   * re-drive it. Default 7 days.
   */
  readonly deadLetterRetentionSeconds?: number;
  readonly enrichers?: readonly NoticeEnricher[];
}

/**
 * Processes one notice job: claim in the ledger, render, send through the channel port, record.
 *
 * Exactly-once rules: a notice whose send was recorded (`done`) is never sent again; a job that
 * finds its claim still `claimed` (the previous attempt died or got no answer after sending) is
 * counted as a re-claim and sends again — the one case where a duplicate is possible, and it is
 * counted (`notify:reclaimed`, `notify:ambiguous`).
 */
export function createNoticeProcessor(deps: NoticeProcessorDeps) {
  const actor = deps.actor ?? 'notifier';
  const manifests = new Map<string, WaveManifest>();

  const manifestOf = async (waveId: string): Promise<WaveManifest> => {
    let m = manifests.get(waveId);
    if (!m) {
      m = (await deps.ledger.getWave(waveId)).manifest;
      if (manifests.size > 100) manifests.clear();
      manifests.set(waveId, m);
    }
    return m;
  };

  const send = async (channel: Channel, contact: Contact, manifest: WaveManifest, account: { segment: Segment; locale: Locale }, reference: string, extra: Partial<NoticeVars>): Promise<SendResult> => {
    const vars: NoticeVars = {
      ...extra,
      brand: manifest.brand,
      helpUrl: manifest.helpUrl,
      segment: account.segment,
      ...(contact.name ? { firstName: firstNameOf(contact.name) } : {}),
    };
    if (channel === 'sms') {
      if (!deps.sms || !contact.phone) throw new BreachwaveError('BW_NO_CHANNEL', { detail: 'no SMS sender configured' });
      const n = renderNotice('sms', account.locale, vars);
      if (n.channel !== 'sms') throw new Error('unreachable');
      return deps.sms.send({ to: contact.phone, body: n.body, reference });
    }
    if (!deps.email || !contact.email) throw new BreachwaveError('BW_NO_CHANNEL', { detail: 'no email sender configured' });
    const n = renderNotice('email', account.locale, vars);
    if (n.channel !== 'email') throw new Error('unreachable');
    return deps.email.send({ to: contact.email, subject: n.subject, text: n.text, html: n.html, reference });
  };

  return async function processNotice(job: NoticeJob): Promise<NoticeOutcome> {
    let ref;
    try {
      ref = parseActionJob(job.data);
    } catch (err) {
      throw new PermanentActionError(toBreachwaveError(err, 'BW_JOB_PAYLOAD_INVALID'));
    }
    const { waveId, accountId } = ref;
    const log = deps.log.child({ wave: waveId, account: accountId, job: job.id, attempt: job.attemptsMade + 1 });
    const base = { waveId, accountId, action: 'notify' as const, actor };

    const claim = await deps.ledger.transition({ ...base, from: ['pending', 'claimed'], to: 'claimed', event: 'notify.claimed',
      detail: { attempt: job.attemptsMade + 1 } });
    if (claim.outcome === 'missing' || claim.outcome === 'no-action') {
      throw new PermanentActionError(new BreachwaveError('BW_ACCOUNT_NOT_FOUND', { detail: 'no ledger entry for this notice' }));
    }
    if (claim.outcome === 'rejected') {
      log.info({ state: claim.previous }, 'notice already finished; nothing to send');
      return { status: 'already-finished', state: claim.previous ?? 'unknown' };
    }
    if (claim.previous === 'claimed') {
      // The previous attempt claimed and never recorded an outcome: it died mid-send or got no
      // answer. Count it so operators can reconcile possible duplicates.
      await deps.ledger.audit({ type: 'notify.reclaimed', actor, wave: waveId, account: accountId, action: 'notify' });
      log.warn('re-claiming a notice whose previous attempt recorded no outcome');
    }

    const isLastAttempt = job.attemptsMade + 1 >= job.attempts;
    const fail = async (error: BreachwaveError): Promise<never> => {
      await deps.ledger.transition({ ...base, from: ['claimed'], to: 'failed', patch: { err: error.code },
        event: 'notify.failed', detail: { code: error.code, kind: error.kind, providerCode: error.providerCode ?? null }, counters: { [`notify:error:${error.code}`]: 1 } });
      await deps.ledger.releaseAccount(waveId, accountId, deps.deadLetterRetentionSeconds ?? DEAD_LETTER_RETENTION_SECONDS);
      log.warn({ errorCode: error.code, kind: error.kind }, 'notice failed for good');
      throw new PermanentActionError(error);
    };

    let channel: Channel | undefined;
    try {
      const account = await deps.ledger.getAccount(waveId, accountId);
      if (!account) throw new BreachwaveError('BW_ACCOUNT_NOT_FOUND', { detail: 'account record missing' });
      const contact = deps.envelope.openJson<Contact>(account.contact, `${waveId}:${accountId}`);
      channel = chooseChannel({ phone: contact.phone, phoneIsMobile: account.phoneIsMobile, email: contact.email }) ?? undefined;
      if (!channel) throw new BreachwaveError('BW_NO_CHANNEL');
      const entry = claim.all ?? {};
      const unmet = unmetPrerequisites(entry, 'notify');
      if (unmet.length > 0) {
        // Order invariant: no notice before the actions it reports on. The chain only queues a
        // notice after them, so this is a bug or a manual re-drive: fail loudly, send nothing.
        throw new BreachwaveError('BW_ORDER_VIOLATION', { detail: unmet.map((u) => `${u.action} is ${u.state}`).join(', ') });
      }
      let extra: Partial<NoticeVars> = {};
      for (const e of deps.enrichers ?? []) extra = { ...extra, ...(await e.enrich({ waveId, accountId, entry, account, channel })) };
      const manifest = await manifestOf(waveId);
      const result = await send(channel, contact, manifest, account, `${waveId}.${accountId}`, extra);
      await deps.ledger.transition({ ...base, from: ['claimed'], to: 'done', patch: { ch: channel, pid: result.providerId, err: false },
        event: 'notify.done', detail: { channel, providerId: result.providerId, status: result.status }, counters: { [`notify:sent:${channel}`]: 1 } });
      await deps.ledger.releaseAccount(waveId, accountId, deps.contactRetentionSeconds ?? 0);
      for (const e of deps.enrichers ?? []) await e.afterSent?.({ waveId, accountId });
      log.info({ channel, providerId: result.providerId }, 'notice sent');
      return { status: 'sent', channel, providerId: result.providerId };
    } catch (raw) {
      const error = toBreachwaveError(raw, 'BW_SMS_NETWORK');
      if (!(raw instanceof BreachwaveError)) log.error({ err: raw }, 'unexpected error while sending a notice');
      if (error.kind === 'permanent' || error.kind === 'invalid-input') return fail(error);
      if (isLastAttempt) return fail(error);
      if (error.kind === 'ambiguous') {
        // The send may have happened: mark it, so the next attempt knows it re-sends after an
        // ambiguous outcome (issue: reconcile with the provider before resending).
        await deps.ledger.transition({ ...base, from: ['claimed'], to: 'pending', patch: { err: error.code, amb: (claim.entry?.amb ?? 0) + 1 },
          event: 'notify.ambiguous', detail: { code: error.code, channel: channel ?? null }, counters: { 'notify:ambiguous': 1 } });
      } else {
        await deps.ledger.transition({ ...base, from: ['claimed'], to: 'pending', patch: { err: error.code },
          event: 'notify.retry', detail: { code: error.code, kind: error.kind, providerCode: error.providerCode ?? null } });
      }
      log.warn({ errorCode: error.code, kind: error.kind }, 'notice attempt failed; will retry');
      throw error;
    }
  };
}
