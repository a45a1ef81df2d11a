/**
 * Prepaid PIN rotation: the Redis verifier vault (a `PinStore`), the held-PIN envelope that keeps
 * retries on one PIN, the `rotate-pin` processor, the notifier enricher for temporary PINs, and
 * throttled verification for care agents and the IVR (service, per-client rate limit,
 * framework-free HTTP handler) and the operator's unlock.
 * The PIN policy and the `PinStore` port live in `@breachwave/domain`; the BSS adapter in
 * `@breachwave/adapter-bss`.
 */
export { pinKeys, type PinKeys } from './keys.js';
export { createVerifierKeyring, type VerifierKeyring } from './verifier.js';
export { createVaultPinStore, createMirroredPinStore, type VaultPinStore, type VaultPinStoreDeps, type VaultRecord } from './vault.js';
export { createPinHold, type PinHold, type PinHoldDeps, type HeldPin } from './hold.js';
export { createPinRotationProcessor, type PinRotationDeps, type RotationPatch } from './rotation.js';
export { pinNoticeEnricher, type PinNoticeEnricherDeps } from './enricher.js';
export {
  createPinVerificationService, unlockPinVerification, MAX_FAILURES_CEILING, PIN_THROTTLE_DEFAULTS,
  type PinUnlockDeps, type PinVerificationDeps, type PinVerificationService, type VerifyOutcome, type VerifyRequest, type VerifyResult,
} from './verify.js';
export { createClientRateLimiter, type ClientRateLimiter, type ClientRateLimiterDeps, type RateClient, type RateDecision } from './rate-limit.js';
export {
  answerPinUnlock, answerPinVerification, createPinVerificationHandler, PIN_UNLOCK_PATH, PIN_VERIFY_PATH,
  type PinVerificationAnswer, type PinVerificationHandlerDeps,
} from './http.js';
