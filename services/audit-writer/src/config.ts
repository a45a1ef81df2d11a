import { z } from 'zod';
import { BreachwaveError } from '@breachwave/domain';

/** Environment variables the audit writer reads (it needs no keys or provider credentials). */
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
}

/**
 * Parses the environment. Pure: reads only `env`.
 * @throws BreachwaveError BW_CONFIG_INVALID naming every bad variable (never its value).
 */
export function loadAuditWriterConfig(env: Readonly<Record<string, string | undefined>>): AuditWriterConfig {
  const parsed = auditWriterEnvSchema.safeParse(env);
  if (!parsed.success) {
    const detail = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new BreachwaveError('BW_CONFIG_INVALID', { detail });
  }
  const e = parsed.data;
  return Object.freeze({
    redisUrl: e.REDIS_URL,
    prefix: e.BW_PREFIX,
    auditDir: e.BW_AUDIT_DIR,
    logLevel: e.LOG_LEVEL,
    maxLinesPerFile: e.BW_AUDIT_MAX_LINES_PER_FILE,
    lingerMs: e.BW_AUDIT_LINGER_MS,
    leaseMs: e.BW_AUDIT_LEASE_MS,
  });
}
