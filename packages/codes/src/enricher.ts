import { BreachwaveError, type NoticeEnricher } from '@breachwave/domain';
import { personKey, type CodeStore } from './store.js';

/** Dependencies of {@link codeNoticeEnricher}: a store created with the code keys. */
export interface CodeEnricherDeps {
  readonly store: CodeStore;
}

/**
 * Puts the account's enrollment code and its enroll-by date into its notice, right before
 * rendering: the only place a code exists in clear outside Redis's sealed copy. Accounts whose
 * plan has no issue-code get nothing. An account whose code cannot be found fails its notice
 * (BW_CODE_NOT_ASSIGNED, permanent): a notice never goes out without the code it owes.
 */
export function codeNoticeEnricher(deps: CodeEnricherDeps): NoticeEnricher {
  return {
    async enrich({ waveId, accountId, entry }) {
      const issued = entry['issue-code'];
      if (!issued) return {};
      if (issued.s !== 'done') throw new BreachwaveError('BW_CODE_NOT_ASSIGNED', { detail: `issue-code is ${issued.s}` });
      const found = await deps.store.reveal(personKey(issued.sc === 'w' ? 'wave' : 'person', waveId, accountId));
      if (!found) throw new BreachwaveError('BW_CODE_NOT_ASSIGNED', { detail: 'no assignment for this account' });
      return { enrollmentCode: found.code, enrollBy: found.assignment.enrollBy };
    },
  };
}
