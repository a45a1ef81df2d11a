import { createCheckpointSigner, type CheckpointSigner } from '@breachwave/audit';
import { configError, describeProblem, loadAuditWriterSettings, type AuditWriterSettings } from '@breachwave/config';
import { BreachwaveError } from '@breachwave/domain';

/** The audit writer's configuration, parsed once in `main` and passed down frozen. */
export interface AuditWriterConfig extends Omit<AuditWriterSettings, 'signingKey' | 'signingKeyId'> {
  /** Signs the checkpoints; undefined outside production when no key is set (checkpoints unsigned). */
  readonly signer: CheckpointSigner | undefined;
}

/**
 * Parses the environment (the audit writer's section of `@breachwave/config`) and builds the
 * checkpoint signer. Pure: reads only `env`. The signing key is parsed here, so a bad one stops
 * the writer at start rather than at its first checkpoint.
 * @throws BreachwaveError BW_CONFIG_INVALID naming every bad variable (never a secret's value).
 */
export function loadAuditWriterConfig(env: Readonly<Record<string, string | undefined>>): AuditWriterConfig {
  const { signingKey, signingKeyId, ...settings } = loadAuditWriterSettings(env);
  let signer: CheckpointSigner | undefined;
  if (signingKey !== undefined) {
    try {
      signer = createCheckpointSigner(signingKey, signingKeyId);
    } catch (err) {
      // createCheckpointSigner never quotes the key; its detail names only what is wrong with it.
      const detail = err instanceof BreachwaveError ? err.detail : undefined;
      throw configError([describeProblem('BW_AUDIT_SIGNING_KEY', signingKey, detail ?? 'unreadable')]);
    }
  }
  return Object.freeze({ ...settings, signer });
}
