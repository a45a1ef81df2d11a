import type { Ledger } from '@breachwave/ledger';
import type { Logger } from '@breachwave/logging';
import { createRecovery, type WaveRecoveryReport } from './recovery.js';
import { createActionQueues } from './worker.js';

export interface RecoverWaveDeps {
  readonly ledger: Ledger;
  readonly connection: Parameters<typeof createActionQueues>[0]['connection'];
  readonly prefix: string;
  /** `BW_SHARDS`; default 1. */
  readonly shards?: number;
  readonly log: Logger;
  /** Who asked, for the audit records of what is re-driven. */
  readonly actor: string;
  /** The workers' thresholds (`BreachwaveConfig['workers']`), so an operator's scan judges an account orphaned exactly when the workers' own would. */
  readonly workers: { readonly staleMs: number; readonly maxRecoveries: number; readonly pinNoticeLimitMs: number; readonly compactAfterMs: number };
}

/**
 * One recovery scan of one wave, as an operator asks for it (`breachwave wave recover`,
 * `POST /v1/waves/:id/recover`): the accounts no live job will finish are re-driven, or with
 * `dryRun` only counted. Opens queues for the scan and closes them.
 * @throws BreachwaveError BW_WAVE_NOT_FOUND
 */
export async function recoverWave(deps: RecoverWaveDeps, waveId: string, options: { readonly dryRun?: boolean } = {}): Promise<WaveRecoveryReport> {
  const queues = createActionQueues({ connection: deps.connection, prefix: deps.prefix, shards: deps.shards ?? 1, ledger: deps.ledger });
  try {
    await deps.ledger.getWave(waveId);
    const recovery = createRecovery({
      ledger: deps.ledger, queues, log: deps.log, actor: deps.actor,
      staleMs: deps.workers.staleMs, maxRecoveries: deps.workers.maxRecoveries, pinNoticeLimitMs: deps.workers.pinNoticeLimitMs,
      compactAfterMs: deps.workers.compactAfterMs,
    });
    return await recovery.scanWave(waveId, { dryRun: options.dryRun === true });
  } finally {
    await queues.close();
  }
}
