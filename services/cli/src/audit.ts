import type { KeyObject } from 'node:crypto';
import { join } from 'node:path';
import { readFile, stat } from 'node:fs/promises';
import type { Command } from 'commander';
import { CHECKPOINT_FILE, auditShardDir, listAuditFiles, parsePublicKeys, readAuditHead, readRedisCheckpoint, shardPrefixes, verifyAuditTrail, type TrailOptions, type TrailResult } from '@breachwave/audit';
import { environment, loadCliConfig, loadConnectionConfig } from '@breachwave/config';
import { BreachwaveError } from '@breachwave/domain';
import { checkRedis, closeRedis, createRedis } from '@breachwave/redis';
import { GROUPS } from './groups.js';
import { collect } from './parse.js';

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
  /**
   * The audit directory of a deployment (`BW_AUDIT_DIR`): verify the chain of every shard
   * (`BW_SHARDS`) found there, each on its own, instead of the files given.
   */
  readonly dir?: string;
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
  if (opts.dir !== undefined) return verifyShards(opts.dir, opts, keys, io);
  if (files.length === 0) throw new BreachwaveError('BW_INPUT_INVALID', { detail: 'audit verify needs audit files, or --dir with the audit directory' });
  const { result, notes, redis } = await verifyChain(files, opts, keys, io, opts.redis ? loadConnectionConfig(io.env).prefix : undefined);
  const warnings = [...notes, ...(result.ok ? result.warnings : [])];
  if (opts.json) {
    io.stdout.write(`${JSON.stringify({ ...result, ...(result.ok ? {} : { notes }) })}\n`);
  } else {
    for (const w of warnings) io.stderr.write(`warning: ${w}\n`);
    io.stdout.write(`${describe(result, redis)}\n`);
  }
  return result.ok ? 0 : 1;
}

/** One chain's verification, against Redis (the chain's `prefix`) when given one. */
async function verifyChain(files: readonly string[], opts: AuditVerifyOptions, keys: Map<string, KeyObject>, io: AuditVerifyIo, prefix: string | undefined):
  Promise<{ result: TrailResult; notes: string[]; redis: TrailOptions['redis'] }> {
  const notes: string[] = [];
  let redis: TrailOptions['redis'];
  if (prefix !== undefined) {
    const c = loadConnectionConfig(io.env);
    const client = createRedis({ url: c.redisUrl, tls: c.redisTls, role: 'producer', name: 'breachwave-cli-audit', extra: { maxRetriesPerRequest: 0, connectTimeout: 2000, retryStrategy: () => null } });
    try {
      await checkRedis(client, c.redisUrl);
      // Read before the files: the writer updates Redis only after the lines and checkpoints are on disk.
      const [checkpoint, head] = await Promise.all([readRedisCheckpoint(client, prefix), readAuditHead(client, prefix)]);
      redis = { prefix, ...(checkpoint ? { checkpoint } : {}), ...(head ? { head } : {}) };
      if (!checkpoint) notes.push(`Redis (prefix ${prefix}) holds no checkpoint`);
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
  return { result, notes, redis };
}

function describe(result: TrailResult, redis: TrailOptions['redis']): string {
  return result.ok
    ? `audit trail OK: ${result.records} records in ${result.files} file(s), ${result.checkpoints ?? 0} checkpoint(s) matched` +
      `${result.keyIds.length ? ` (key ${result.keyIds.join(', ')})` : ''}${redis?.checkpoint ? ', Redis copy matched' : ''}, last hash ${result.lastHash}`
    : `audit trail BROKEN at ${result.file}:${result.line}${result.seq !== undefined ? ` (seq ${result.seq})` : ''}: ${result.reason}`;
}

/**
 * Every shard's chain under an audit directory (`BW_SHARDS` of them: the directory itself for
 * shard 0, `shard-<s>` for the others), each verified on its own and reported by shard. A shard
 * whose directory is gone fails, as a cut tail does: its writer creates it at start.
 */
async function verifyShards(dir: string, opts: AuditVerifyOptions, keys: Map<string, KeyObject>, io: AuditVerifyIo): Promise<number> {
  const c = loadConnectionConfig(io.env);
  const prefixes = shardPrefixes(c.prefix, c.shards);
  const reports: Record<string, unknown>[] = [];
  let ok = true;
  for (const [shard, prefix] of prefixes.entries()) {
    const shardDir = auditShardDir(dir, shard);
    const present = await stat(shardDir).then((st) => st.isDirectory(), () => false);
    if (!present) {
      ok = false;
      reports.push({ shard, ok: false, dir: shardDir, reason: 'chain directory missing' });
      if (!opts.json) io.stdout.write(`shard ${shard}: audit trail BROKEN: ${shardDir} is missing\n`);
      continue;
    }
    const { result, notes, redis } = await verifyChain(await listAuditFiles(shardDir), { ...opts, checkpoints: join(shardDir, CHECKPOINT_FILE) }, keys, io, opts.redis ? prefix : undefined);
    ok &&= result.ok;
    reports.push({ shard, dir: shardDir, ...result, ...(result.ok ? {} : { notes }) });
    if (!opts.json) {
      for (const w of [...notes, ...(result.ok ? result.warnings : [])]) io.stderr.write(`warning: shard ${shard}: ${w}\n`);
      io.stdout.write(`shard ${shard}: ${describe(result, redis)}\n`);
    }
  }
  if (opts.json) io.stdout.write(`${JSON.stringify({ ok, shards: reports })}\n`);
  return ok ? 0 : 1;
}

/** The commander action of `audit verify`. */
export async function auditVerify(files: string[], opts: AuditVerifyOptions): Promise<void> {
  const code = await runAuditVerify(files, opts, { env: environment(), stdout: process.stdout, stderr: process.stderr });
  if (code !== 0) process.exitCode = code;
}

/** `breachwave audit verify`. */
export function registerAuditCommands(program: Command): void {
  program.command('audit')
    .description(GROUPS.audit)
    .command('verify')
    .description('verify audit JSONL files as evidence: the hash chain, and the signed checkpoints beside it (audit.checkpoints), which catch a cut tail, an appended line and a recomputed chain; names the file and line where it breaks and exits 1. Public keys also from BW_AUDIT_PUBLIC_KEYS (id:base64,…)')
    .argument('[files...]', 'audit files, e.g. .breachwave/audit/*.jsonl')
    .option('--dir <dir>', 'instead of files: the audit directory (BW_AUDIT_DIR); verifies the chain of each of the BW_SHARDS shards in it (shard 0 in the directory, shard s in shard-<s>/) on its own, with its own checkpoints, and reports each')
    .option('--public-key <file>', 'Ed25519 public key (PEM), or a key ring of id:PEM blocks; repeatable: keep old keys to verify files signed before a rotation', collect)
    .option('--checkpoints <file>', 'checkpoint file (default: audit.checkpoints beside the audit files)')
    .option('--redis', 'also compare with the newest checkpoint and chain head kept in Redis (REDIS_URL, BW_PREFIX), when reachable: catches checkpoints cut from the checkpoint file')
    .option('--allow-unsigned', 'accept unsigned checkpoints (a writer run without BW_AUDIT_SIGNING_KEY); they prove nothing against anyone who can write the files')
    .option('--allow-uncovered', 'accept records after the newest checkpoint (a running writer signs them within BW_AUDIT_CHECKPOINT_MS)')
    .option('--json', 'print the result as JSON')
    .action(auditVerify);
}
