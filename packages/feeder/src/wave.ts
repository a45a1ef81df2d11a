import { createHmac, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, rename, rm, stat, truncate, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { BreachwaveError } from '@breachwave/domain';
import { ROW_WARNINGS, newWaveId, type ActionRules, type CodeSource, type PinDelivery, type RowWarning, type WaveManifest } from '@breachwave/domain';
import { AUDIT_FIELD, auditRecordJson, keys, type Ledger } from '@breachwave/ledger';
import type { Redis } from 'ioredis';
import type { Logger } from '@breachwave/logging';
import { createLease } from '@breachwave/redis';
import type { Envelope } from '@breachwave/secrets';
import type { ColumnMapping } from './columns.js';
import { CONTACTS_FILE, writeContactPoints } from './contact-points.js';
import { ingestFile, type IngestProgress, type IngestResult } from './ingest.js';

/** Options for {@link createWave}. */
export interface CreateWaveOptions {
  readonly ledger: Pick<Ledger, 'createWave' | 'sourceWave' | 'recordSource' | 'audit'>;
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
  /** Operators other than the creator (`actor`) who must approve the wave before it is fed; default 0. */
  readonly approvals?: number;
  readonly name?: string;
  readonly regulatory?: WaveManifest['regulatory'];
  /** The wave's queue lane (default normal). */
  readonly lane?: WaveManifest['lane'];
  /** The manifest file's version, recorded in the stored manifest when the wave comes from one. */
  readonly manifestVersion?: number;
  /** The file's own headers for known columns (see `ingestFile`); stored so `wave add` reads the same way. */
  readonly columns?: ColumnMapping;
  /** Columns the file may carry that the pipeline does not read (see `ingestFile`); stored like `columns`. */
  readonly ignoreColumns?: readonly string[];
  /**
   * One notice per contact point (accounts sharing a phone or email get one message naming each);
   * default true. Recorded in the manifest.
   */
  readonly consolidate?: boolean;
  /** Which channels the notices may use, in which order, per segment (absent: SMS, then email). Recorded in the manifest. */
  readonly channels?: WaveManifest['channels'];
  /** Messages/s per sender id, set when the wave is first fed. */
  readonly pace?: WaveManifest['pace'];
  /** The operators who may approve (`operator:NAME`); absent: any but the creator. */
  readonly approvers?: WaveManifest['approvers'];
  /** A support phone the notices give beside the help URL. */
  readonly supportPhone?: string;
  /** The email notices' closing line. */
  readonly signOff?: string;
  /** Spools go to `<dataDir>/waves/<waveId>/`. */
  readonly dataDir: string;
  readonly envelope: Envelope;
  readonly log: Logger;
  readonly onProgress?: (progress: IngestProgress) => void;
  /** Recorded in the manifest; default the file's base name. */
  readonly source?: string;
  /**
   * The deployment's HMAC key, for the source file's fingerprint and the wave's contact-point file.
   * Given, a file whose bytes were already made into a wave is refused (the same export created
   * twice would notify everyone again, rotate every PIN again and re-send every code) unless
   * `allowSameFile`, which is audited; and the keyed hashes of each account's phone and email are
   * written beside the spool (`CONTACTS_FILE`), for the dry run to find the phones and emails
   * earlier waves already notified under other account ids.
   */
  readonly fingerprintKey?: Buffer;
  readonly allowSameFile?: boolean;
  /** Who creates the wave, for the audit record of an allowed re-use. Default `operator`. */
  readonly actor?: string;
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
  /** `contacts`: the contact-point file, written when the wave was created with the HMAC key. */
  readonly paths: { readonly spool: string; readonly rejects: string; readonly contacts?: string };
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
    ...(options.approvals ? { approvals: options.approvals } : {}),
    ...(options.name ? { name: options.name } : {}),
    ...(options.lane && options.lane !== 'normal' ? { lane: options.lane } : {}),
    ...(options.regulatory ? { regulatory: options.regulatory } : {}),
    ...(options.actor ? { createdBy: options.actor } : {}),
    ...(options.manifestVersion !== undefined ? { manifestVersion: options.manifestVersion } : {}),
    ...(options.columns && Object.keys(options.columns).length > 0 ? { columns: stringRecord(options.columns) } : {}),
    ...(options.ignoreColumns && options.ignoreColumns.length > 0 ? { ignoreColumns: [...options.ignoreColumns] } : {}),
    consolidate: options.consolidate ?? true,
    ...(options.channels ? { channels: options.channels } : {}),
    ...(options.pace && Object.keys(options.pace).length > 0 ? { pace: options.pace } : {}),
    ...(options.approvers ? { approvers: [...options.approvers] } : {}),
    ...(options.supportPhone ? { supportPhone: options.supportPhone } : {}),
    ...(options.signOff ? { signOff: options.signOff } : {}),
  };
  if (manifest.rules['issue-code'] && !manifest.codeSource) {
    throw new BreachwaveError('BW_INPUT_INVALID', { detail: 'issue-code needs a code source (a vendor pool or generated codes)' });
  }
  if (manifest.approvers) {
    // The creator never approves their own wave: the named approvers other than them must be enough.
    const eligible = manifest.approvers.filter((a) => a !== manifest.createdBy);
    if (eligible.length < Math.max(1, manifest.approvals ?? 0)) {
      throw new BreachwaveError('BW_INPUT_INVALID', { detail: `approvers: the wave needs ${Math.max(1, manifest.approvals ?? 0)} approval(s) but names ${eligible.length} operator(s) other than its creator (${manifest.createdBy ?? 'unknown'})` });
    }
  }
  const fingerprint = options.fingerprintKey ? await fileFingerprint(options.file, options.fingerprintKey) : undefined;
  const earlier = fingerprint ? await options.ledger.sourceWave(fingerprint) : undefined;
  if (earlier && !options.allowSameFile) {
    throw new BreachwaveError('BW_SOURCE_REUSED', { detail: `this file was already made into wave ${earlier}; creating another wave from it would notify everyone in it again (to do so on purpose: --allow-same-file, audited)` });
  }
  try {
    const ingest = await ingestFile({
      file: options.file, waveId, envelope: options.envelope, log, spoolDir, consolidate: manifest.consolidate !== false,
      ...(manifest.channels ? { channels: manifest.channels } : {}),
      ...(manifest.columns ? { columns: manifest.columns } : {}),
      ...(manifest.ignoreColumns ? { ignoreColumns: manifest.ignoreColumns } : {}),
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
    const contacts = options.fingerprintKey ? join(spoolDir, CONTACTS_FILE) : undefined;
    if (contacts && options.fingerprintKey) {
      await writeContactPoints({ spoolPath: ingest.spoolPath, path: contacts, waveId, key: options.fingerprintKey, envelope: options.envelope });
    }
    const paths = { spool: ingest.spoolPath, rejects: ingest.rejectsPath, ...(contacts ? { contacts } : {}) };
    await options.ledger.createWave(manifest, storedStats(stats), paths);
    if (fingerprint) {
      await options.ledger.recordSource(fingerprint, waveId);
      if (earlier) await options.ledger.audit({ type: 'wave.source.reused', actor: options.actor ?? 'operator', wave: waveId, detail: { earlierWave: earlier } });
    }
    log.info({ ...stats }, 'wave created');
    return { waveId, manifest, stats, droppedColumns: ingest.droppedColumns, paths, spoolPath: paths.spool, rejectsPath: paths.rejects, ingest };
  } catch (err) {
    await rm(spoolDir, { recursive: true, force: true });
    throw err;
  }
}

/** Options for {@link addToWave}. */
export interface AddToWaveOptions {
  /** The deployment's Redis client (a fail-fast `producer` one is fine) and key prefix. */
  readonly redis: Redis;
  readonly prefix: string;
  readonly ledger: Pick<Ledger, 'getWave'>;
  readonly waveId: string;
  /** The affected-account file with the rows to add (CSV or JSONL, see `ingestFile`). */
  readonly file: string;
  readonly envelope: Envelope;
  readonly log: Logger;
  readonly onProgress?: (progress: IngestProgress) => void;
  /** Audit actor. Default `operator`. */
  readonly actor?: string;
  /**
   * The deployment's HMAC key: the wave's contact-point file (when it has one) is rewritten with
   * the added accounts. Without it such a file is removed (and the wave no longer matched by
   * contact point) rather than left without them.
   */
  readonly contactKey?: Buffer;
  /** TTL of the wave's feed lease while the rows are added. Default 30,000 ms. */
  readonly leaseMs?: number;
  readonly now?: () => Date;
}

/** Result of {@link addToWave}: what this file added, and the wave's counters after it. */
export interface AddedToWave {
  readonly waveId: string;
  readonly ingest: IngestResult;
  /** This file's rejects report. */
  readonly rejectsPath: string;
  readonly stats: WaveStats;
  /** The wave's status after the add (`fed` becomes `feeding`: `wave start` feeds the new accounts). */
  readonly status: string;
}

/**
 * Adds the rows of another file to a wave that is not completed or cancelled — the fixed rows of
 * a rejects report, say — so an operator re-submits them instead of cutting lines out by number.
 *
 * The file is ingested like the wave's own (`ingestFile`, its own rejects report in
 * `<wave dir>/add-<time>/`); a row whose account_id is already in the wave is rejected as a
 * duplicate. The accepted accounts are appended to the wave's spool (written beside it and
 * renamed over it, so a reader never sees half a file), and the wave's counters, its status
 * (`fed` goes back to `feeding`) and a `wave.accounts-added` audit record are written in one
 * transaction. `wave start` then feeds the new accounts from the wave's checkpoint.
 *
 * The wave's feed lease is held throughout, so no feeder reads the spool while it changes.
 *
 * @throws BreachwaveError BW_WAVE_NOT_FOUND; BW_INPUT_INVALID when the wave is completed or
 *   cancelled or has no spool; BW_WAVE_BUSY when the wave is being fed (or the lease was lost);
 *   anything `ingestFile` throws; Redis's error when it refuses the counters (they and the spool
 *   are then put back). The wave is unchanged on every one — but for a reply lost after the spool
 *   was swapped, where the new accounts stay in the spool (logged) and `wave status` tells whether
 *   the counters were written.
 */
export async function addToWave(options: AddToWaveOptions): Promise<AddedToWave> {
  const { redis, prefix, waveId, log: parentLog } = options;
  const log = parentLog.child({ waveId });
  const k = keys(prefix);
  const wave = await options.ledger.getWave(waveId);
  if (wave.status === 'completed' || wave.status === 'cancelled') {
    throw new BreachwaveError('BW_INPUT_INVALID', { detail: `wave ${waveId} is ${wave.status}: accounts can only be added to a wave not yet completed` });
  }
  const spoolPath = wave.paths.spool;
  if (!spoolPath) throw new BreachwaveError('BW_INPUT_INVALID', { detail: `wave ${waveId} has no spool` });

  const leaseMs = options.leaseMs ?? 30_000;
  const lease = createLease(redis, k.feeder(waveId), leaseMs);
  const attempt = await lease.tryAcquire();
  if (!attempt.acquired) {
    throw new BreachwaveError('BW_WAVE_BUSY', { detail: `wave ${waveId} is being fed by ${attempt.holder ?? 'another process'}; add the accounts once it stops` });
  }
  const now = (options.now ?? (() => new Date()))();
  const addDir = join(dirname(spoolPath), `add-${now.toISOString().replace(/[-:.]/g, '')}-${randomBytes(2).toString('hex')}`);
  const tmpSpool = `${spoolPath}.add.tmp`;
  const contactsPath = wave.paths.contacts || undefined;
  const tmpContacts = contactsPath ? `${contactsPath}.add` : undefined;
  let renewing: Promise<boolean> | undefined;
  // A long ingest outlasts the lease's TTL: renewed in the background, checked before the spool changes.
  const timer = setInterval(() => {
    renewing = lease.renew().catch(() => false);
  }, Math.max(1, Math.floor(leaseMs / 3)));
  try {
    const ingest = await ingestFile({
      file: options.file, waveId, envelope: options.envelope, log, spoolDir: addDir, existingSpool: spoolPath,
      // Grouped within the added rows: the wave's own rows may already be notified.
      consolidate: wave.manifest.consolidate === true,
      ...(wave.manifest.channels ? { channels: wave.manifest.channels } : {}),
      // Read the way the wave's own file was: a carrier's later export has the same headers.
      ...(wave.manifest.columns ? { columns: wave.manifest.columns } : {}),
      ...(wave.manifest.ignoreColumns ? { ignoreColumns: wave.manifest.ignoreColumns } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });

    const spoolSize = (await stat(spoolPath)).size;
    await pipeline(concatFiles([spoolPath, ingest.spoolPath]), createWriteStream(tmpSpool));
    const fd = await open(tmpSpool, 'r');
    await fd.sync().finally(() => fd.close());
    if (tmpContacts && options.contactKey) {
      await writeContactPoints({ spoolPath: tmpSpool, path: tmpContacts, waveId, key: options.contactKey, envelope: options.envelope });
    }
    clearInterval(timer);
    await renewing;
    // The fence: the spool is swapped only while this process still holds the wave.
    if (!(await lease.renew())) throw new BreachwaveError('BW_WAVE_BUSY', { detail: `wave ${waveId}: the feed lease was lost while adding accounts; nothing was added` });
    await rename(tmpSpool, spoolPath);
    // The contact-point file follows the spool (its lines after the old spool's are the added
    // accounts', so were the counters refused below, the old accounts still line up with it).
    if (contactsPath && tmpContacts && options.contactKey) await rename(tmpContacts, contactsPath);
    else if (contactsPath) await unlink(contactsPath).catch(() => {});

    const [current, before] = await Promise.all([options.ledger.getWave(waveId), readWaveWarnings(redis, prefix, waveId)]);
    const warnings: Partial<Record<RowWarning, number>> = { ...before.warnings };
    for (const [kind, n] of Object.entries(ingest.warnings) as [RowWarning, number][]) warnings[kind] = (warnings[kind] ?? 0) + n;
    const stats: WaveStats = {
      rows: (current.stats.rows ?? 0) + ingest.rows,
      accepted: (current.stats.accepted ?? 0) + ingest.accepted,
      rejected: (current.stats.rejected ?? 0) + ingest.rejected,
      duplicates: (current.stats.duplicates ?? 0) + ingest.duplicates,
      dropped_columns: Math.max(current.stats.dropped_columns ?? 0, ingest.droppedColumns.length),
      warned: before.warned + ingest.warned,
      warnings,
    };
    const status = current.status === 'fed' && ingest.accepted > 0 ? 'feeding' : current.status;
    const detail = {
      source: basename(options.file), rows: ingest.rows, accepted: ingest.accepted, rejected: ingest.rejected, duplicates: ingest.duplicates,
      warned: ingest.warned, ...(status !== current.status ? { statusBefore: current.status } : {}),
    };
    const fields: Record<string, string | number> = { ...storedStats(stats), status };
    let replies: [Error | null, unknown][] | null;
    try {
      const tx = redis.multi().hset(k.wave(waveId), fields);
      if (contactsPath && !options.contactKey) tx.hdel(k.wave(waveId), 'path:contacts');
      replies = await tx
        .xadd(k.audit, '*', AUDIT_FIELD, auditRecordJson({ type: 'wave.accounts-added', actor: options.actor ?? 'operator', wave: waveId, detail }, now))
        .exec();
    } catch (err) {
      // The transaction may or may not have run (the reply was lost): the spool keeps the new
      // accounts, which is the side that loses nobody; the operator checks `wave status`.
      log.error({ err }, 'accounts appended to the spool, but whether the wave counters and audit record were written is unknown');
      throw err;
    }
    const failed = replies ? replies.find(([err]) => err)?.[0] : new Error('the transaction was discarded');
    if (failed) {
      // Redis ran the transaction and refused part of it (MULTI does not roll back): the counters
      // go back to what they were and the spool is cut back to its old length, so the wave is as
      // it was and the same file can simply be added again.
      const previous: Record<string, string | number> = { ...storedStats(restored(current.stats, before)), status: current.status };
      await redis.hset(k.wave(waveId), previous);
      await truncate(spoolPath, spoolSize);
      throw failed;
    }
    await unlink(ingest.spoolPath);
    log.info({ ...detail, status }, 'accounts added to the wave');
    return { waveId, ingest, rejectsPath: ingest.rejectsPath, stats, status };
  } catch (err) {
    await unlink(tmpSpool).catch(() => {});
    if (tmpContacts) await unlink(tmpContacts).catch(() => {});
    await rm(addDir, { recursive: true, force: true });
    throw err;
  } finally {
    clearInterval(timer);
    await lease.release().catch((err: unknown) => log.warn({ err }, 'could not release the feed lease; it expires on its own'));
  }
}

/** The counters as they were before an add, every kind of warning included (absent ones as 0). */
function restored(stats: Readonly<Record<string, number>>, before: WaveWarnings): WaveStats {
  const warnings: Partial<Record<RowWarning, number>> = {};
  for (const w of ROW_WARNINGS) warnings[w] = before.warnings[w] ?? 0;
  return {
    rows: stats.rows ?? 0, accepted: stats.accepted ?? 0, rejected: stats.rejected ?? 0, duplicates: stats.duplicates ?? 0,
    dropped_columns: stats.dropped_columns ?? 0, warned: before.warned, warnings,
  };
}

/** A mapping without its absent entries, as it is stored. */
function stringRecord(mapping: ColumnMapping): Record<string, string> {
  return Object.fromEntries(Object.entries(mapping).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

/** The bytes of each file in turn. */
async function* concatFiles(paths: readonly string[]): AsyncGenerator<Buffer> {
  for (const p of paths) {
    for await (const chunk of createReadStream(p)) yield chunk as Buffer;
  }
}

/**
 * HMAC-SHA256 of a file's bytes under `key`: the same export gives the same fingerprint, and the
 * fingerprint (kept in Redis) says nothing about the file to anyone without the key.
 */
export async function fileFingerprint(file: string, key: Buffer): Promise<string> {
  const mac = createHmac('sha256', key);
  try {
    for await (const chunk of createReadStream(file)) mac.update(chunk as Buffer);
  } catch (cause) {
    throw new BreachwaveError('BW_INPUT_FILE', { detail: 'the file cannot be read', cause });
  }
  return mac.digest('hex');
}
