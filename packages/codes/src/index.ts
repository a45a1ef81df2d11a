/**
 * Identity-protection enrollment codes: vendor pools and generated codes, one code per person,
 * allocated exactly once by Lua, sealed at rest, masked everywhere but the notice.
 */
export { codeKeys, type CodeKeys } from './keys.js';
export { epochDay, isoDay, parseEnrollBy } from './dates.js';
export {
  createCodeStore, createCodeCrypto, codeCryptoFromConfig, codeHash, codeAad, personKey, accountOfPersonKey, POOL_NAME_PATTERN,
  type CodeStore, type CodeStoreDeps, type CodeCrypto, type CodeScope, type Assignment, type AllocationResult, type AllocationRequest,
  type PeekResult, type PoolStatus, type CodeStatus,
} from './store.js';
export {
  importPool, importRedemptions, MAX_LISTED_PROBLEMS,
  type PoolImportOptions, type PoolImportReport, type RedemptionImportOptions, type RedemptionReport, type LineProblem,
} from './import.js';
export { reminderAccountIds, reminderTargets, type ReminderOptions, type ReminderTarget } from './reminders.js';
export {
  createIssueCodeStep, createCodeProcessor, createCodeIssuerWorker,
  type CodeIssuerDeps, type CodeIssuerWorkerDeps, type CodeIssuerWorker, type AllocationEvent,
} from './issuer.js';
export { codeNoticeEnricher, type CodeEnricherDeps } from './enricher.js';
