import { z } from 'zod';
import { createCheckpointSigner, type CheckpointSigner } from '@breachwave/audit';
import { BreachwaveError } from '@breachwave/domain';

/** Environment variables the audit writer reads (its only key is the checkpoint signing key). */
export const auditWriterEnvSchema = z.object({
  REDIS_URL: z.string().url().default('redis://127.0.0.1:6379'),
  BW_PREFIX: z.string().regex(/^[A-Za-z0-9_-]+$/).default('bw'),
  BW_AUDIT_DIR: z.string().min(1).default('.breachwave/audit'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  /** Lines per audit file before rotating. */
  BW_AUDIT_MAX_LINES_PER_FILE: z.coerce.number().int().min(1).default(1_000_000),
  /** Milliseconds new audit entries may gather before they are written together (0: at once). */
  BW_AUDIT_LINGER_MS: z.coerce.number().int().min(0).max(1000).default(20),
  /** Milliseconds the writer's lease lasts without renewal (a crashed writer's frees itself after this). */
  BW_AUDIT_LEASE_MS: z.coerce.number().int().min(1000).max(600_000).default(15_000),
  /** Ed25519 private key (PKCS#8 PEM, or base64 of its DER) that signs the chain's checkpoints. */
  BW_AUDIT_SIGNING_KEY: z.string().min(1).optional(),
  /** Key id written into each checkpoint; default derived from the public key. */
  BW_AUDIT_SIGNING_KEY_ID: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/).optional(),
  /** A checkpoint at least every this many records … */
  BW_AUDIT_CHECKPOINT_RECORDS: z.coerce.number().int().min(1).max(1_000_000).default(1000),
  /** … and at most this many milliseconds after the first record it covers. */
  BW_AUDIT_CHECKPOINT_MS: z.coerce.number().int().min(100).max(3_600_000).default(5000),
  /** `production` (here or in NODE_ENV): the writer refuses to start without a signing key. */
  BW_ENV: z.string().optional(),
  NODE_ENV: z.string().optional(),
});

/** The audit writer's configuration, parsed once in `main` and passed down frozen. */
export interface AuditWriterConfig {
  readonly redisUrl: string;
  readonly prefix: string;
  readonly auditDir: string;
  readonly logLevel: z.infer<typeof auditWriterEnvSchema>['LOG_LEVEL'];
  readonly maxLinesPerFile: number;
  readonly lingerMs: number;
  readonly leaseMs: number;
  /** Signs the checkpoints; undefined outside production when no key is set (checkpoints unsigned). */
  readonly signer: CheckpointSigner | undefined;
  readonly checkpointEvery: number;
  readonly checkpointIntervalMs: number;
}

/**
 * Parses the environment. Pure: reads only `env`. The signing key is parsed here, so a bad one
 * stops the writer at start rather than at its first checkpoint. In production (`BW_ENV` or
 * `NODE_ENV` = `production`) the key is required: unsigned checkpoints prove nothing against
 * anyone who can write the audit files, which is the threat they exist for.
 * @throws BreachwaveError BW_CONFIG_INVALID naming every bad variable (never its value).
 */
export function loadAuditWriterConfig(env: Readonly<Record<string, string | undefined>>): AuditWriterConfig {
  const parsed = auditWriterEnvSchema.safeParse(env);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new BreachwaveError('BW_CONFIG_INVALID', { detail });
  }
  const e = parsed.data;
  const production = e.BW_ENV === 'production' || e.NODE_ENV === 'production';
  if (production && e.BW_AUDIT_SIGNING_KEY === undefined) {
    throw new BreachwaveError('BW_CONFIG_INVALID', { detail: 'BW_AUDIT_SIGNING_KEY: required in production (BW_ENV or NODE_ENV is production): an Ed25519 PKCS#8 private key that signs the audit checkpoints' });
  }
  let signer: CheckpointSigner | undefined;
  if (e.BW_AUDIT_SIGNING_KEY !== undefined) {
    try {
      signer = createCheckpointSigner(e.BW_AUDIT_SIGNING_KEY, e.BW_AUDIT_SIGNING_KEY_ID);
    } catch (err) {
      // createCheckpointSigner never quotes the key; its detail names only what is wrong with it.
      const detail = err instanceof BreachwaveError ? err.detail : undefined;
      throw new BreachwaveError('BW_CONFIG_INVALID', { detail: `BW_AUDIT_SIGNING_KEY: ${detail ?? 'unreadable'}` });
    }
  }
  return Object.freeze({
    redisUrl: e.REDIS_URL,
    prefix: e.BW_PREFIX,
    auditDir: e.BW_AUDIT_DIR,
    logLevel: e.LOG_LEVEL,
    maxLinesPerFile: e.BW_AUDIT_MAX_LINES_PER_FILE,
    lingerMs: e.BW_AUDIT_LINGER_MS,
    leaseMs: e.BW_AUDIT_LEASE_MS,
    signer,
    checkpointEvery: e.BW_AUDIT_CHECKPOINT_RECORDS,
    checkpointIntervalMs: e.BW_AUDIT_CHECKPOINT_MS,
  });
}
