import { randomBytes } from 'node:crypto';
import { BreachwaveError } from '@breachwave/domain';
import { rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { newWaveId, type ActionRules, type CodeSource, type PinDelivery, type WaveManifest } from '@breachwave/domain';
import type { Ledger } from '@breachwave/ledger';
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

/** Ingest counters as stored on the wave hash. */
export interface WaveStats {
  readonly rows: number;
  readonly accepted: number;
  readonly rejected: number;
  readonly duplicates: number;
  readonly dropped_columns: number;
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
  /** Same as `paths.rejects`: the `line,field,reason` report for the operator. */
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
    };
    const paths = { spool: ingest.spoolPath, rejects: ingest.rejectsPath };
    await options.ledger.createWave(manifest, { ...stats }, paths);
    log.info({ ...stats }, 'wave created');
    return { waveId, manifest, stats, droppedColumns: ingest.droppedColumns, paths, spoolPath: paths.spool, rejectsPath: paths.rejects, ingest };
  } catch (err) {
    await rm(spoolDir, { recursive: true, force: true });
    throw err;
  }
}
