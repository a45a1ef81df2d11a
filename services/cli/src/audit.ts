import type { KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { parsePublicKeys, readAuditHead, readRedisCheckpoint, verifyAuditTrail, type TrailOptions } from '@breachwave/audit';
import { environment, loadCliConfig, loadConnectionConfig } from '@breachwave/config';
import { BreachwaveError } from '@breachwave/domain';
import { checkRedis, closeRedis, createRedis } from '@breachwave/redis';

/** Options of `audit verify`. */
export interface AuditVerifyOptions {
  readonly json?: boolean;
  /** PEM files or key-ring files (`id:PEM` blocks, `id:base64` entries); repeatable. */
  readonly publicKey?: readonly string[];
  /** The checkpoint file, default `audit.checkpoints` beside the audit files. */
  readonly checkpoints?: string;
  readonly allowUnsigned?: boolean;
  readonly allowUncovered?: boolean;
  /** Compare with the newest checkpoint and the chain head kept in Redis (REDIS_URL, BW_PREFIX). */
  readonly redis?: boolean;
}

/** Where `audit verify` reads and writes; the process's own by default. */
export interface AuditVerifyIo {
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly stdout: { write(s: string): unknown };
  readonly stderr: { write(s: string): unknown };
}

/**
 * `breachwave audit verify`: the chain and its signed checkpoints. Returns the exit code: 0 when
 * everything checks out, 1 when the trail is broken (the file and line are printed).
 * @throws BreachwaveError BW_CONFIG_INVALID for an unreadable public key, BW_INPUT_FILE for an unreadable file.
 */
export async function runAuditVerify(files: readonly string[], opts: AuditVerifyOptions, io: AuditVerifyIo): Promise<number> {
  const keys = new Map<string, KeyObject>();
  const { auditPublicKeys } = loadCliConfig(io.env);
  if (auditPublicKeys) parsePublicKeys(auditPublicKeys, keys);
  for (const file of opts.publicKey ?? []) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new BreachwaveError('BW_INPUT_FILE', { detail: `cannot read public key file ${file}: ${(err as Error).message}`, cause: err });
    }
    parsePublicKeys(text, keys);
  }
  const notes: string[] = [];
  let redis: TrailOptions['redis'];
  if (opts.redis) {
    const c = loadConnectionConfig(io.env);
    const client = createRedis({ url: c.redisUrl, tls: c.redisTls, role: 'producer', name: 'breachwave-cli-audit', extra: { maxRetriesPerRequest: 0, connectTimeout: 2000, retryStrategy: () => null } });
    try {
      await checkRedis(client, c.redisUrl);
      // Read before the files: the writer updates Redis only after the lines and checkpoints are on disk.
      const [checkpoint, head] = await Promise.all([readRedisCheckpoint(client, c.prefix), readAuditHead(client, c.prefix)]);
      redis = { prefix: c.prefix, ...(checkpoint ? { checkpoint } : {}), ...(head ? { head } : {}) };
      if (!checkpoint) notes.push(`Redis (prefix ${c.prefix}) holds no checkpoint`);
    } catch (err) {
      notes.push(`Redis not reachable (${err instanceof Error ? err.message : String(err)}): verified against the files only`);
    } finally {
      await closeRedis(client).catch(() => client.disconnect());
    }
  }
  const result = await verifyAuditTrail(files, {
    publicKeys: keys,
    ...(opts.checkpoints ? { checkpointFile: opts.checkpoints } : {}),
    ...(opts.allowUnsigned ? { allowUnsigned: true } : {}),
    ...(opts.allowUncovered ? { allowUncovered: true } : {}),
    ...(redis ? { redis } : {}),
  });
  const warnings = [...notes, ...(result.ok ? result.warnings : [])];
  if (opts.json) {
    io.stdout.write(`${JSON.stringify({ ...result, ...(result.ok ? {} : { notes }) })}\n`);
  } else {
    for (const w of warnings) io.stderr.write(`warning: ${w}\n`);
    if (result.ok) {
      io.stdout.write(`audit trail OK: ${result.records} records in ${result.files} file(s), ${result.checkpoints ?? 0} checkpoint(s) matched` +
        `${result.keyIds.length ? ` (key ${result.keyIds.join(', ')})` : ''}${redis?.checkpoint ? ', Redis copy matched' : ''}, last hash ${result.lastHash}\n`);
    } else {
      io.stdout.write(`audit trail BROKEN at ${result.file}:${result.line}${result.seq !== undefined ? ` (seq ${result.seq})` : ''}: ${result.reason}\n`);
    }
  }
  return result.ok ? 0 : 1;
}

/** The commander action of `audit verify`. */
export async function auditVerify(files: string[], opts: AuditVerifyOptions): Promise<void> {
  const code = await runAuditVerify(files, opts, { env: environment(), stdout: process.stdout, stderr: process.stderr });
  if (code !== 0) process.exitCode = code;
}
