import { configError, describeProblem, type BreachwaveConfig } from '@breachwave/config';
import { BreachwaveError, createPinPolicy, type PinStore } from '@breachwave/domain';
import { runActionService, type ActionJobView, type RunningActionService, type StepOutcome } from '@breachwave/actions';
import { createBssPinStore } from '@breachwave/adapter-bss';
import type { Logger } from '@breachwave/logging';
import { createServiceMetrics, metricsSettingsOf } from '@breachwave/metrics';
import { createMirroredPinStore, createPinHold, createPinRotationProcessor, createVaultPinStore, createVerifierKeyring } from '@breachwave/pin';
import { createEnvelope, parseKey } from '@breachwave/secrets';

/** A `rotate-pin` processor as the worker runs it. */
export type RotationProcessor = (job: ActionJobView) => Promise<StepOutcome>;

/** Seams for composition roots (the fault-injection hooks of `main.ts`, in-process tests). */
export interface PinRotatorOverrides {
  /** Replaces the configured store (`BW_PIN_STORE`). */
  readonly store?: PinStore;
  /** Wraps the store the processor calls. */
  readonly wrapStore?: (store: PinStore) => PinStore;
  /** Wraps the processor the worker calls (runs before the job's ack). */
  readonly wrapProcessor?: (processor: RotationProcessor) => RotationProcessor;
  readonly lockDuration?: number;
  readonly stalledInterval?: number;
}

/** Stops taking jobs, lets running ones finish, closes connections: each even when one before it fails. Idempotent. */
export type RunningPinRotator = RunningActionService;

/**
 * Composition root of the pin-rotator: config → Redis (checked), ledger, envelopes, the verifier
 * keyring and vault, the configured PIN store (the vault, or the carrier BSS mirrored into the
 * vault so verification keeps working), and the `rotate-pin` BullMQ worker. Holds no rules.
 * @throws BreachwaveError BW_CONFIG_INVALID without `BW_PIN_VERIFIER_KEY`; BW_REDIS_* when Redis is unfit.
 */
export async function runPinRotator(config: BreachwaveConfig, log: Logger, overrides: PinRotatorOverrides = {}): Promise<RunningPinRotator> {
  if (config.pin.verifierKeys.length === 0) {
    throw configError([`${describeProblem('BW_PIN_VERIFIER_KEY', undefined)}; the pin-rotator cannot store a PIN without it`]);
  }
  const keyring = createVerifierKeyring(config.pin.verifierKeys.map((k) => parseKey(k.id, k.base64)));
  const policy = createPinPolicy({ length: config.pin.length });
  return runActionService({
    name: 'pin-rotator',
    action: 'rotate-pin',
    settings: config,
    concurrency: config.pin.concurrency,
    lockDuration: overrides.lockDuration,
    stalledInterval: overrides.stalledInterval,
    server: createServiceMetrics(metricsSettingsOf(config), { service: 'pin-rotator', log }),
    build: ({ redis, ledger, queues }) => {
      const envelope = createEnvelope(config.envelopeKeys.map((k) => parseKey(k.id, k.base64)));
      const hold = createPinHold({
        redis, prefix: config.prefix, shards: config.shards, ttlSeconds: config.pin.tempTtlSeconds,
        envelope: createEnvelope([parseKey(config.pin.holdKey.id, config.pin.holdKey.base64)]),
      });
      const vault = createVaultPinStore({ redis, prefix: config.prefix, keyring });
      let store: PinStore = overrides.store ?? vault;
      if (!overrides.store && config.pin.store === 'bss') {
        const bss = config.pin.bss;
        if (!bss) throw new BreachwaveError('BW_CONFIG_INVALID', { detail: 'BW_PIN_STORE=bss needs BW_BSS_URL' });
        store = createMirroredPinStore(createBssPinStore({ url: bss.url, timeoutMs: bss.timeoutMs, ...(bss.token ? { token: bss.token } : {}) }), vault);
      }
      if (overrides.wrapStore) store = overrides.wrapStore(store);
      let processor: RotationProcessor = createPinRotationProcessor({
        ledger, queues, log, envelope, hold, store, policy, previous: (accountId) => vault.previousMatcher(accountId),
      });
      if (overrides.wrapProcessor) processor = overrides.wrapProcessor(processor);
      return { processor, started: { store: config.pin.store, concurrency: config.pin.concurrency, pinLength: policy.length, verifierKeyId: keyring.currentId } };
    },
  }, log);
}
