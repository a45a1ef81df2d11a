import { isBreachwaveError, type NoticeEnricher, type NoticeVars } from '@breachwave/domain';
import type { AuditInput } from '@breachwave/ledger';
import type { Logger } from '@breachwave/logging';
import type { PinHold } from './hold.js';

/** Dependencies of {@link pinNoticeEnricher}. */
export interface PinNoticeEnricherDeps {
  readonly hold: PinHold;
  /** Audit sink (the ledger's `audit`): records that a held PIN was missing. (A wipe's record is written by `hold.wipe`.) */
  readonly audit: (input: AuditInput) => Promise<void>;
  readonly log: Logger;
  /** Audit actor. Default `notifier`. */
  readonly actor?: string;
}

/**
 * The notifier's view of a PIN rotation. For an account whose `rotate-pin` is done:
 * - the notice says the PIN was reset (`pinReset`);
 * - it also carries the temporary PIN only when the rotation held one for SMS delivery
 *   (`dl: sms-temporary`) *and* this notice goes by SMS — an email notice for such an account
 *   gets the no-PIN wording; a held PIN that expired also falls back to it (audited);
 * - once the send is recorded, or the notice ends without one, the held PIN is wiped.
 *
 * The PIN opened here lives only in memory for the one send.
 */
export function pinNoticeEnricher(deps: PinNoticeEnricherDeps): NoticeEnricher {
  const actor = deps.actor ?? 'notifier';
  return {
    async enrich({ waveId, accountId, entry, channel }): Promise<Partial<NoticeVars>> {
      const rotation = entry['rotate-pin'];
      if (rotation?.s !== 'done') return {};
      if (rotation.dl !== 'sms-temporary' || channel !== 'sms') return { pinReset: true };
      let temporaryPin: string | undefined;
      let reason = 'gone';
      try {
        temporaryPin = await deps.hold.open(waveId, accountId);
      } catch (err) {
        // Sealed under a hold key no longer configured: the reset wording is still true.
        if (!isBreachwaveError(err) || err.code !== 'BW_ENVELOPE_INVALID') throw err;
        reason = err.code;
      }
      if (temporaryPin === undefined) {
        await deps.audit({ type: 'pin.temporary.missing', actor, wave: waveId, account: accountId, action: 'notify', detail: { reason, fallback: 'pin-reset-wording' } });
        deps.log.warn({ wave: waveId, account: accountId, reason }, 'held temporary PIN cannot be used (expired?); sending the reset wording');
        return { pinReset: true };
      }
      return { pinReset: true, temporaryPin };
    },
    // The wipe and its audit record go in one script (`hold.wipe` with a record).
    async afterSent({ waveId, accountId }): Promise<void> {
      await deps.hold.wipe(waveId, accountId, { type: 'pin.temporary.wiped', actor, wave: waveId, account: accountId, action: 'notify' });
    },
    // A notice that will never be sent must not leave a temporary PIN waiting for its TTL.
    async afterFinished({ waveId, accountId, state }): Promise<void> {
      await deps.hold.wipe(waveId, accountId, { type: 'pin.temporary.wiped', actor, wave: waveId, account: accountId, action: 'notify', detail: { notice: state } });
    },
  };
}
