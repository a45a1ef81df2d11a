import type { BreachwaveConfig } from '@breachwave/config';
import { runActionService, type RunningActionService } from '@breachwave/actions';
import { codeCryptoFromConfig, createCodeProcessor, createCodeStore, type AllocationEvent } from '@breachwave/codes';
import type { Logger } from '@breachwave/logging';
import { createServiceMetrics, metricsSettingsOf } from '@breachwave/metrics';

/** What a caller may replace or observe; everything else comes from the configuration. */
export interface CodeIssuerOverrides {
  readonly lockDuration?: number;
  readonly stalledInterval?: number;
  readonly concurrency?: number;
  /** Observation point after each stored allocation, before the ledger records it. */
  readonly onAllocated?: (event: AllocationEvent) => void;
}

/** Stops taking jobs, lets running ones finish, closes connections: each even when one before it fails. Idempotent. */
export type RunningCodeIssuer = RunningActionService;

/**
 * Composition root of the code-issuer: wires config, Redis, ledger, the code store (sealing and
 * index keys) and the issue-code worker. Holds no business rules.
 */
export async function runCodeIssuer(config: BreachwaveConfig, log: Logger, overrides: CodeIssuerOverrides = {}): Promise<RunningCodeIssuer> {
  const concurrency = overrides.concurrency ?? config.codes.concurrency;
  return runActionService({
    name: 'code-issuer',
    action: 'issue-code',
    settings: config,
    hmacKey: Buffer.from(config.hmacKey, 'base64'),
    concurrency,
    lockDuration: overrides.lockDuration,
    stalledInterval: overrides.stalledInterval,
    server: createServiceMetrics(metricsSettingsOf(config), { service: 'code-issuer', log }),
    build: ({ redis, ledger, queues }) => ({
      processor: createCodeProcessor({
        ledger, queues, log, retryMs: config.codes.retryMs,
        store: createCodeStore({ redis, prefix: config.prefix, crypto: codeCryptoFromConfig(config), lowWatermark: config.codes.lowWatermark }),
        ...(overrides.onAllocated ? { onAllocated: overrides.onAllocated } : {}),
      }),
      started: { concurrency, lowWatermark: config.codes.lowWatermark, retryMs: config.codes.retryMs },
    }),
  }, log);
}
