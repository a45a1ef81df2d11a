/**
 * The carrier BSS as a PIN store: an HTTP adapter with an idempotency key per rotation and every
 * outcome mapped to the error catalog. The test double lives at `@breachwave/adapter-bss/testing`.
 */
export { createBssPinStore, IDEMPOTENCY_HEADER, KEY_REUSED, REPLAYED_HEADER, type BssPinStoreOptions } from './bss-pin-store.js';
export { mapBssStatus, mapBssTransportError } from './errors.js';
