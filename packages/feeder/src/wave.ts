import { randomBytes } from 'node:crypto';
import { BreachwaveError } from '@breachwave/domain';
import { rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { ROW_WARNINGS, newWaveId, type ActionRules, type CodeSource, type PinDelivery, type RowWarning, type WaveManifest } from '@breachwave/domain';
import { keys, type Ledger } from '@breachwave/ledger';
import type { Redis } from 'ioredis';
import type { Logger } from '@breachwave/logging';
import type { Envelope } from '@breachwave/secrets';
import { ingestFile, type IngestProgress, type IngestResult } from './ingest.js';

/** Options for {@link createWave}. */
export interface CreateWaveOptions {
  readonly ledger: Pick<Ledger, 'createWave'>;
  /** The affected-account file (CSV or JSONL, see `ingestFile`). */
  readonly file: string;
  readonly brand: string;
  readonly helpUrl: string;
  /** Which optional actions apply to which accounts; default `{}` (notify only). */
  readonly rules?: ActionRules;
  /** How a rotated PIN reaches the customer; default `none`. */
  readonly pinDelivery?: PinDelivery;
  /** Where enrollment codes come from (required when `issue-code` has a rule). */
  readonly codeSource?: CodeSource;
  /** Enrollment deadline (ISO date) printed in notices. */
  readonly enrollBy?: string;
  /** TCPA quiet hours for SMS (off when absent). */
  readonly quietHours?: WaveManifest['quietHours'];
  /** Spools go to `<dataDir>/waves/<waveId>/`. */
  readonly dataDir: string;
  readonly envelope: Envelope;
  readonly log: Logger;
  readonly onProgress?: (progress: IngestProgress) => void;
  /** Recorded in the manifest; default the file's base name. */
  readonly source?: string;
  readonly now?: () => Date;
}

/** Ingest counters as stored on the wave hash (`warnings` as one field per kind, see {@link WARNING_FIELD_PREFIX}). */
export interface WaveStats {
  readonly rows: number;
  readonly accepted: number;
  readonly rejected: number;
  readonly duplicates: number;
  readonly dropped_columns: number;
  /** Accepted rows with at least one warning. */
  readonly warned: number;
  /** Accepted rows by warning kind; kinds not seen are absent. */
  readonly warnings: Readonly<Partial<Record<RowWarning, number>>>;
}

/** Wave hash fields `warning:<kind>` hold the accepted rows with that warning. */
export const WARNING_FIELD_PREFIX = 'warning:';

/** The stats as flat numeric fields, the way the ledger stores (and audits) them. */
function storedStats(stats: WaveStats): Record<string, number> {
  const { warnings, ...flat } = stats;
  const out: Record<string, number> = { ...flat };
  for (const [kind, n] of Object.entries(warnings)) out[`${WARNING_FIELD_PREFIX}${kind}`] = n;
  return out;
}

/** Rows accepted with warnings, as {@link readWaveWarnings} returns them. */
export interface WaveWarnings {
  readonly warned: number;
  readonly warnings: Readonly<Partial<Record<RowWarning, number>>>;
}

/**
 * Reads a wave's warning counters from its hash. The ledger's `getWave` hands back only the
 * counters it knows (rows, accepted, …); these are written beside them by {@link createWave}.
 * A wave created before warnings existed reads as none.
 */
export async function readWaveWarnings(redis: Pick<Redis, 'hmget'>, prefix: string, waveId: string): Promise<WaveWarnings> {
  const values = await redis.hmget(keys(prefix).wave(waveId), 'warned', ...ROW_WARNINGS.map((w) => `${WARNING_FIELD_PREFIX}${w}`));
  const warnings: Partial<Record<RowWarning, number>> = {};
  ROW_WARNINGS.forEach((w, i) => {
    const n = Number(values[i + 1] ?? 0);
    if (n > 0) warnings[w] = n;
  });
  return { warned: Number(values[0] ?? 0), warnings };
}

/** Result of {@link createWave}. */
export interface CreatedWave {
  readonly waveId: string;
  readonly manifest: WaveManifest;
  readonly stats: WaveStats;
  readonly droppedColumns: readonly string[];
  readonly paths: { readonly spool: string; readonly rejects: string };
  /** Same as `paths.spool`. */
  readonly spoolPath: string;
  /** Same as `paths.rejects`: the rejects report for the operator (`REJECTS_HEADER`). */
  readonly rejectsPath: string;
  readonly ingest: IngestResult;
}

/**
 * Creates a wave from a file: a new wave id, the file ingested into `<dataDir>/waves/<waveId>/`,
 * and the wave (manifest, ingest stats, spool paths) recorded in the ledger with status
 * `created`. Nothing is queued: feeding is a separate step (`createFeeder().feed`).
 * @throws BreachwaveError from the ingest (bad file) or the ledger; the spool directory is removed.
 */
export async function createWave(options: CreateWaveOptions): Promise<CreatedWave> {
  const now = (options.now ?? (() => new Date()))();
  const waveId = newWaveId(now, randomBytes(3).toString('hex'));
  const spoolDir = join(options.dataDir, 'waves', waveId);
  const log = options.log.child({ waveId });
  const manifest: WaveManifest = {
    waveId,
    createdAt: now.toISOString(),
    source: options.source ?? basename(options.file),
    brand: options.brand,
    helpUrl: options.helpUrl,
    rules: options.rules ?? {},
    ...(options.pinDelivery ? { pinDelivery: options.pinDelivery } : {}),
    ...(options.codeSource ? { codeSource: options.codeSource } : {}),
    ...(options.enrollBy ? { enrollBy: options.enrollBy } : {}),
    ...(options.quietHours ? { quietHours: options.quietHours } : {}),
  };
  if (manifest.rules['issue-code'] && !manifest.codeSource) {
    throw new BreachwaveError('BW_INPUT_INVALID', { detail: 'issue-code needs a code source (a vendor pool or generated codes)' });
  }
  try {
    const ingest = await ingestFile({
      file: options.file, waveId, envelope: options.envelope, log, spoolDir,
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
    const stats: WaveStats = {
      rows: ingest.rows,
      accepted: ingest.accepted,
      rejected: ingest.rejected,
      duplicates: ingest.duplicates,
      dropped_columns: ingest.droppedColumns.length,
      warned: ingest.warned,
      warnings: ingest.warnings,
    };
    const paths = { spool: ingest.spoolPath, rejects: ingest.rejectsPath };
    await options.ledger.createWave(manifest, storedStats(stats), paths);
    log.info({ ...stats }, 'wave created');
    return { waveId, manifest, stats, droppedColumns: ingest.droppedColumns, paths, spoolPath: paths.spool, rejectsPath: paths.rejects, ingest };
  } catch (err) {
    await rm(spoolDir, { recursive: true, force: true });
    throw err;
  }
}
