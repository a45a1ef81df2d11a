import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { rename, stat, unlink } from 'node:fs/promises';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { extname, join } from 'node:path';
import { ACCOUNT_COLUMNS, BreachwaveError, NO_CONTACT, REQUIRED_COLUMNS, ROW_WARNINGS, SEGMENTS, parseAccountRow, type ChannelPolicy, type RawRow, type RowProblem, type RowWarning } from '@breachwave/domain';
import type { AccountRecord } from '@breachwave/ledger';
import type { Logger } from '@breachwave/logging';
import type { Envelope } from '@breachwave/secrets';
import { CsvRecords, reportCell, type CsvRecord } from './csv.js';
import { fieldPath, normaliseColumn, planColumns, unknownColumnProblem, type ColumnMapping } from './columns.js';
import { DuplicateFinder, dropDuplicates, mergeRejects } from './dedupe.js';
import { ContactKeys, contactKey, regroupSpool, type RegroupResult } from './group.js';
import { makePrivateDir, openPrivateFileSync } from './private-files.js';
import { readSpool } from './spool.js';
import { TOO_LONG, splitLines } from './lines.js';

/** Input formats {@link ingestFile} reads. */
export type InputFormat = 'csv' | 'jsonl';

/** Progress of an ingest, reported at most about ten times a second. */
export interface IngestProgress {
  readonly bytes: number;
  readonly totalBytes: number;
  readonly rows: number;
}

/** Options for {@link ingestFile}. */
export interface IngestOptions {
  readonly file: string;
  readonly waveId: string;
  /** Seals each account's contact points with AAD `<waveId>:<accountId>`. */
  readonly envelope: Envelope;
  readonly log: Logger;
  /** Created if missing; receives `accounts.jsonl` and `rejects.csv`. */
  readonly spoolDir: string;
  readonly onProgress?: (progress: IngestProgress) => void;
  /** Overrides detection by extension / first byte. */
  readonly format?: InputFormat;
  /** Longer lines, and longer records spanning lines, are rejected without being held in memory. Default 256 KiB. */
  readonly maxLineBytes?: number;
  /**
   * The spool of the wave the file adds to (one {@link SpoolEntry} a line): a row with an account id
   * already in it is rejected as a duplicate.
   */
  readonly existingSpool?: string;
  /** The file's own headers for known columns (`{ phone: 'MSISDN' }`): a mapped header is read as its column. */
  readonly columns?: ColumnMapping;
  /** Columns (or JSONL keys) the file may carry that the pipeline does not read, skipped without complaint. */
  readonly ignoreColumns?: readonly string[];
  /**
   * Groups the accepted accounts whose notice goes to the same contact point (`regroupSpool`): the
   * spool holds each group's accounts together, each record naming its group. Default false.
   */
  readonly consolidate?: boolean;
  /** The wave's channel policy: consolidating, accounts are grouped by the contact point of their first channel under it. */
  readonly channels?: ChannelPolicy;
  /**
   * Bytes of (id, line) pairs sorted in memory before they are written out as a sorted run next
   * to the spool, when duplicates are looked for (and of contact keys, consolidating). Memory
   * spent on them stays at about this whatever the file's size. Default 16 MiB.
   */
  readonly sortRunBytes?: number;
  /**
   * Account ids (the wave's and the file's) looked up in an in-memory index (~36 bytes an id) before
   * duplicate detection moves to an external sort on disk; 0 sorts on disk from the start. Either
   * way finds the same duplicates and writes the same spool and report. Default 1,000,000.
   */
  readonly memoryIds?: number;
}

/** What an ingest found. `rows === accepted + rejected`; duplicates are counted inside `rejected`. */
export interface IngestResult {
  readonly format: InputFormat;
  /** Data rows: records, however many lines each spans (blank lines and the CSV header are not rows). */
  readonly rows: number;
  readonly accepted: number;
  readonly rejected: number;
  readonly duplicates: number;
  /** Accepted rows that had at least one warning (a field dropped or a first value used). */
  readonly warned: number;
  /** Accepted rows by warning (`RowWarning`); a row with two warnings counts under both. Kinds not seen are absent. */
  readonly warnings: Readonly<Partial<Record<RowWarning, number>>>;
  /** Forbidden columns (normalised names) that were present and dropped. */
  readonly droppedColumns: string[];
  /** Declared-ignored columns (normalised names) that were present and skipped. */
  readonly ignoredColumns: string[];
  readonly spoolPath: string;
  readonly rejectsPath: string;
  /** With `consolidate`: consolidated notices (groups of two or more accounts on one contact point) and the accounts in them. */
  readonly groups?: RegroupResult;
}

/** One line of the spool file: an accepted account, its contact points sealed. */
export interface SpoolEntry {
  /** First physical line of the record in the source file. */
  readonly line: number;
  readonly accountId: string;
  readonly record: AccountRecord;
}

/** Name of the accepted-accounts file in a spool directory ({@link SpoolEntry} per line). */
export const SPOOL_FILE = 'accounts.jsonl';
/** Name of the rejected-rows report in a spool directory (header {@link REJECTS_HEADER}). */
export const REJECTS_FILE = 'rejects.csv';
/**
 * Columns of the rejects report, one row per rejected record: the record's first line, the
 * fields at fault (`;`-separated), why (`; `-separated, in the same order), and the row's
 * account_id when it was a valid id. Never a contact point or any other value from the row.
 * New columns are only ever appended.
 */
export const REJECTS_HEADER = 'line,field,reason,account_id';

const SEGMENT_VALUES: ReadonlySet<string> = new Set(SEGMENTS);
const PROGRESS_INTERVAL_MS = 100;
const FLUSH_BYTES = 64 * 1024;
/** Distinct unknown JSONL keys reported; past this, the error says there were more. */
const MAX_UNKNOWN_REPORTED = 100;
/** The rejects report's reason for a duplicate of the row on `firstLine` (0: an account already in the wave). */
function duplicateReason(firstLine: number): string {
  return firstLine === 0 ? 'duplicate account_id (already in the wave)' : `duplicate account_id (first seen on line ${firstLine})`;
}

/** A row's warnings as bits (bit i: `ROW_WARNINGS[i]`), carried with it until duplicates are known. */
const WARNING_BIT: Readonly<Record<RowWarning, number>> = Object.fromEntries(ROW_WARNINGS.map((w, i) => [w, 1 << i])) as Record<RowWarning, number>;

export { normaliseColumn };

/**
 * Several problems as one error detail: a first line saying how many, then one line each (the
 * CLI prints each of those on its own line under the error's code). One problem stays one line.
 */
export function problemLines(problems: readonly string[], what = 'the file'): string {
  if (problems.length === 1) return problems[0] ?? '';
  return `${what} has ${problems.length} problems:\n${problems.join('\n')}`;
}

function inputError(detail: string, cause?: unknown): BreachwaveError {
  return new BreachwaveError('BW_INPUT_INVALID', { detail, ...(cause ? { cause } : {}) });
}

function fileError(file: string, err: unknown): BreachwaveError {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  const what = code === 'ENOENT' ? 'file not found' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : `cannot read (${code ?? 'error'})`;
  return new BreachwaveError('BW_INPUT_FILE', { detail: `${what}: ${file}`, cause: err });
}

function detectFormat(file: string): InputFormat | undefined {
  const ext = extname(file).toLowerCase();
  if (ext === '.csv') return 'csv';
  if (ext === '.jsonl' || ext === '.ndjson') return 'jsonl';
  return undefined;
}

/** A buffered, back-pressure-respecting text sink. */
class Sink {
  private readonly stream: WriteStream;
  private buffer = '';
  private error: Error | undefined;

  constructor(readonly path: string) {
    this.stream = createWriteStream(path, { fd: openPrivateFileSync(path) });
    this.stream.on('error', (err) => {
      this.error ??= err;
    });
  }

  write(text: string): void {
    this.buffer += text;
  }

  /** Hands the buffer to the stream when it is big enough (or `force`), waiting for `drain`. */
  async flush(force = false): Promise<void> {
    if (this.error) throw this.error;
    if (this.buffer.length === 0 || (!force && this.buffer.length < FLUSH_BYTES)) return;
    const ok = this.stream.write(this.buffer);
    this.buffer = '';
    if (!ok) await once(this.stream, 'drain');
  }

  async close(): Promise<void> {
    await this.flush(true);
    this.stream.end();
    await finished(this.stream);
  }

  async discard(): Promise<void> {
    this.stream.destroy();
    await unlink(this.path).catch(() => {});
  }
}

/**
 * Streams an affected-account file into a spool of accepted, minimised accounts (contact points
 * sealed) and a report of rejected rows, in bounded memory whatever the file's size.
 *
 * Input: CSV with a header row and RFC 4180 quoting (a quoted field may hold commas, `""` and
 * line breaks, so a record may span lines: see `CsvRecords`); or JSONL, one JSON object per line.
 * The format comes from the extension (`.csv`, `.jsonl`, `.ndjson`), else from the first byte
 * (`{` means JSONL). Rows are records, not lines: each is counted once and reported by the number
 * of its first physical line. Lines are split on `\n` as bytes and each is decoded on its own,
 * strictly, so a record that is not UTF-8 is rejected ("not valid UTF-8") without touching its
 * neighbours. A leading BOM and `\r\n` line endings are accepted; blank lines between records are
 * skipped and are not rows. A line or multi-line record longer than `maxLineBytes` is rejected
 * without being held in memory.
 *
 * Columns: names are normalised ({@link normaliseColumn}); a header named in `columns` is read
 * as the column it is mapped to; forbidden columns (`FORBIDDEN_COLUMNS`) are dropped before a row
 * is validated, with one warning naming the column (never a value); columns in `ignoreColumns`
 * are skipped. Any other column stops the ingest (BW_INPUT_INVALID, one line per such column,
 * with a suggestion when it resembles a known one): a column skipped silently would cost every
 * account what it holds. For CSV that is decided by the header, before anything is written; a
 * JSONL file is read to the end so every unknown key is named at once. Rows are validated with
 * `parseAccountRow`: a row the pipeline cannot notify correctly is rejected with every problem it
 * has; one that can still be reached is accepted, its warnings counted by kind (`warned`,
 * `warnings`). A later row repeating an accepted account_id is rejected as a duplicate.
 *
 * Output, in `spoolDir`: `accounts.jsonl` ({@link SpoolEntry} per line) and `rejects.csv`
 * ({@link REJECTS_HEADER}, never a contact point or other value from the row).
 *
 * @throws BreachwaveError BW_INPUT_FILE when the file cannot be read; BW_INPUT_INVALID when it is
 *   empty, its header lacks a required column, it has a column the pipeline does not know, or
 *   the mapping is wrong (one line per problem). No spool is left behind on any of them.
 */
export async function ingestFile(options: IngestOptions): Promise<IngestResult> {
  const { file, waveId, envelope, log } = options;
  const { plan, problems: planProblems } = planColumns(options.columns, options.ignoreColumns);
  if (planProblems.length > 0) throw inputError(problemLines(planProblems.map((p) => `${fieldPath(p.path)}: ${p.message}`)));
  const maxLineBytes = options.maxLineBytes ?? 256 * 1024;
  let totalBytes: number;
  try {
    const st = await stat(file);
    if (!st.isFile()) throw Object.assign(new Error('not a regular file'), { code: st.isDirectory() ? 'EISDIR' : 'ENOTFILE' });
    totalBytes = st.size;
  } catch (err) {
    throw fileError(file, err);
  }
  if (totalBytes === 0) throw inputError('file is empty');

  let format: InputFormat | undefined = options.format ?? detectFormat(file);
  const spoolPath = join(options.spoolDir, SPOOL_FILE);
  // Every row that passes validation goes to a candidate spool, and every other rejected row to a
  // first report, as the file is read. A repeated id is rejected as it is read while the ids fit
  // in memory; past that, repeated ids are found once the file is read (see `DuplicateFinder`),
  // and only then are the spool and the report written out without them (each just renamed when
  // there are none). Consolidating, the candidate lines are
  // `<contact key>\t<entry>`, regrouped at the end.
  const consolidate = options.consolidate === true;
  const firstSpoolPath = `${spoolPath}.ingest`;
  const dedupedSpoolPath = `${spoolPath}.deduped`;
  // Lives for this ingest only: the contact keys cannot be recomputed from anything stored.
  const groupKey = consolidate ? randomBytes(32) : undefined;
  const rejectsPath = join(options.spoolDir, REJECTS_FILE);
  const firstRejectsPath = `${rejectsPath}.ingest`;
  let spool: Sink | undefined;
  let rejects: Sink | undefined;

  // Kept columns by position (CSV); `undefined` entries are dropped or ignored columns.
  let columns: (string | undefined)[] | undefined;
  const dropped: string[] = [];
  const ignoredSeen: string[] = [];
  const warnedColumns = new Set<string>();
  // JSONL keys: what each raw key is read as, so a key costs one lookup per row.
  const keyColumns = new Map<string, string | null>();
  // Unknown JSONL keys, normalised, with the raw key and the first line each was seen on.
  const unknownKeys = new Map<string, { raw: string; line: number }>();
  let moreUnknownKeys = false;
  // Columns seen in JSONL objects, so a suggestion never names one the file already has.
  const keysPresent = new Set<string>();
  // Account ids seen: in memory up to `memoryIds`, then (account_id, line) of every candidate sorted
  // outside memory once the file is read, so memory stays bounded whatever the number of rows (an
  // in-memory index of ids costs ~36 bytes a row, 2 GB at 54M rows). Exact — ids are compared as
  // strings, so no account is ever taken for another's duplicate.
  const dupes = new DuplicateFinder(options.spoolDir, {
    ...(options.sortRunBytes ? { runBytes: options.sortRunBytes } : {}),
    ...(options.memoryIds !== undefined ? { memoryIds: options.memoryIds } : {}),
  });
  let contacts: ContactKeys | undefined;
  let candidates = 0;
  let rows = 0;
  let accepted = 0;
  let rejected = 0;
  let duplicates = 0;
  let warned = 0;
  const warnings: Partial<Record<RowWarning, number>> = {};
  let lineNo = 0;
  let lastProgress = 0;
  let groups: RegroupResult | undefined;

  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  const lenientDecoder = new TextDecoder('utf-8', { ignoreBOM: true });

  const noteForbidden = (column: string): void => {
    if (warnedColumns.has(column)) return;
    warnedColumns.add(column);
    dropped.push(column);
    log.warn({ column }, 'dropping a forbidden column: its values are never read or stored');
  };
  const noteIgnored = (column: string): void => {
    if (warnedColumns.has(column)) return;
    warnedColumns.add(column);
    ignoredSeen.push(column);
    log.info({ column: column.slice(0, 64) }, 'skipping a column declared ignored');
  };
  /** What a JSONL key is read as: its column, or null when it is dropped, ignored or unknown (noted). */
  const keyColumn = (key: string, line: number): string | null => {
    const cached = keyColumns.get(key);
    if (cached !== undefined) return cached;
    const name = normaliseColumn(key);
    const r = plan.resolve(name);
    let column: string | null = null;
    if (r.kind === 'known') {
      column = r.column;
      keysPresent.add(r.column);
    } else if (r.kind === 'forbidden') noteForbidden(name);
    else if (r.kind === 'ignored') noteIgnored(name);
    else if (!unknownKeys.has(name)) {
      if (unknownKeys.size < MAX_UNKNOWN_REPORTED) unknownKeys.set(name, { raw: key, line });
      else moreUnknownKeys = true;
    }
    // Bounded like the unknown keys: a file of random keys must not grow the cache without end.
    if (keyColumns.size < 10_000) keyColumns.set(key, column);
    return column;
  };

  const open = async (): Promise<void> => {
    await makePrivateDir(options.spoolDir);
    spool = new Sink(firstSpoolPath);
    rejects = new Sink(firstRejectsPath);
    rejects.write(`${REJECTS_HEADER}\n`);
  };

  const reject = (line: number, field: string, reason: string, accountId = ''): void => {
    rows++;
    rejected++;
    rejects?.write(`${line},${reportCell(field)},${reportCell(reason)},${reportCell(accountId)}\n`);
  };
  const rejectAll = (line: number, problems: readonly RowProblem[], accountId = ''): void => {
    if (problems.length === 1) {
      const p = problems[0] as RowProblem;
      reject(line, p.field, p.reason, accountId);
      return;
    }
    reject(line, problems.map((p) => p.field).join(';'), problems.map((p) => p.reason).join('; '), accountId);
  };

  const readHeader = (fields: readonly string[]): void => {
    const names = fields.map(normaliseColumn);
    const resolved = names.map((n) => plan.resolve(n));
    const present = new Set(resolved.flatMap((r) => (r.kind === 'known' ? [r.column] : [])));
    const missing = REQUIRED_COLUMNS.filter((c) => !present.has(c));
    // A file without a header has data on line 1: never echo that back.
    const looksLikeData = fields.some((f) => f.includes('@') || (f.match(/\d/g)?.length ?? 0) >= 7 || SEGMENT_VALUES.has(f.trim().toLowerCase()));
    if (missing.length > 0 && looksLikeData) {
      throw inputError(`missing required column${missing.length > 1 ? 's' : ''} ${missing.join(', ')} (the first line looks like data, not a header); the header needs ${REQUIRED_COLUMNS.join(', ')}`);
    }
    const problems: string[] = [];
    if (missing.length > 0) {
      const found = `columns found: ${names.slice(0, 30).map((n) => (n === '' ? '(blank)' : n.slice(0, 40))).join(', ')}${names.length > 30 ? ', …' : ''}`;
      problems.push(`missing required column${missing.length > 1 ? 's' : ''} ${missing.join(', ')} (${found}); the header needs ${REQUIRED_COLUMNS.join(', ')} and may have ${ACCOUNT_COLUMNS.filter((c) => !(REQUIRED_COLUMNS as readonly string[]).includes(c)).join(', ')}`);
    }
    const seen = new Map<string, string>();
    const unknownNames = new Set<string>();
    columns = names.map((name, i) => {
      const r = resolved[i] ?? { kind: 'unknown' };
      const raw = fields[i] ?? '';
      const key = r.kind === 'known' ? r.column : name;
      if (r.kind === 'known' || r.kind === 'forbidden') {
        const first = seen.get(key);
        if (first !== undefined) {
          problems.push(`column ${key} appears more than once${first !== raw.trim() ? ` (as "${first.slice(0, 64)}" and "${raw.trim().slice(0, 64)}")` : ''}`);
        }
        seen.set(key, raw.trim());
      }
      if (r.kind === 'known') return r.column;
      if (r.kind === 'forbidden') noteForbidden(name);
      else if (r.kind === 'ignored') noteIgnored(name);
      else if (!unknownNames.has(name)) {
        unknownNames.add(name);
        problems.push(unknownColumnProblem(`column "${raw.trim().slice(0, 64)}"`, raw, present));
      }
      return undefined;
    });
    // A mapped header the file lacks is a typo in the mapping, unless the file has the column under its own name.
    for (const [header, column] of plan.mapped) {
      if (!names.includes(header) && !present.has(column)) problems.push(`columns.${column}: the file has no column "${header}" (columns found: ${names.slice(0, 30).map((n) => n.slice(0, 40)).join(', ')})`);
    }
    if (problems.length > 0) throw inputError(problemLines(problems));
  };

  const csvRow = (line: number, fields: readonly string[]): RawRow | undefined => {
    const cols = columns ?? [];
    if (fields.length !== cols.length) {
      // No account_id in this report line: in a row of the wrong width the id's position may
      // hold another column's value, a phone number say.
      reject(line, '', `wrong number of fields (expected ${cols.length}, found ${fields.length})`);
      return undefined;
    }
    const row: Record<string, string> = {};
    for (let i = 0; i < cols.length; i++) {
      const name = cols[i];
      if (name !== undefined) row[name] = fields[i] as string;
    }
    return row;
  };

  /** The row of a JSONL line, and its fields that are not strings (they are left out of the row), or undefined when rejected. */
  const jsonRow = (line: number, text: string): { row: RawRow; bad: RowProblem[] } | undefined => {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      // The parser's message quotes the input: never pass it on.
      reject(line, '', 'not valid JSON');
      return undefined;
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      reject(line, '', 'not a JSON object');
      return undefined;
    }
    const row: Record<string, string> = {};
    const bad: RowProblem[] = [];
    for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
      const name = keyColumn(key, line);
      if (name === null) continue;
      if (v === null || v === undefined) continue;
      if (typeof v === 'string') row[name] = v;
      else if (typeof v === 'number' || typeof v === 'boolean') row[name] = String(v);
      else if (Array.isArray(v) && v.every((x) => typeof x === 'string')) row[name] = v.join(';');
      else bad.push({ field: name, reason: 'must be a string' });
    }
    return { row, bad };
  };

  /** Validates a row and spools or rejects it; `bad` are problems found before (JSON values of the wrong type). */
  const dataRow = (line: number, raw: RawRow, bad: readonly RowProblem[] = []): void => {
    const result = parseAccountRow(raw);
    if (bad.length > 0) {
      // Every problem in one line: the wrong-typed fields, then what validation found in the rest
      // (less what follows from those fields being left out).
      const badFields = new Set(bad.map((p) => p.field));
      const contactLeftOut = badFields.has('phone') || badFields.has('email');
      const more = result.ok ? [] : result.problems.filter((p) => !badFields.has(p.field) && !(contactLeftOut && p.reason === NO_CONTACT));
      rejectAll(line, [...bad, ...more], result.ok ? result.account.accountId : result.accountId);
      return;
    }
    if (!result.ok) {
      rejectAll(line, result.problems, result.accountId);
      return;
    }
    const a = result.account;
    let tag = 0;
    for (const w of result.warnings) tag |= WARNING_BIT[w];
    const first = dupes.candidate(a.accountId, line, candidates, tag);
    if (first !== undefined) {
      duplicates++;
      reject(line, 'account_id', duplicateReason(first), a.accountId);
      return;
    }
    candidates++;
    // Counted as accepted until every duplicate is known; one found later has its warnings taken back then.
    if (result.warnings.length > 0) {
      warned++;
      for (const w of result.warnings) warnings[w] = (warnings[w] ?? 0) + 1;
    }
    // The contact object and the spool entry ({@link SpoolEntry}, its record an AccountRecord) are
    // written out as JSON text field by field — the same text JSON.stringify gives for the
    // objects, without building them: per-row garbage was a fifth of ingest CPU (measured by profiling).
    let contactJson = '';
    if (a.name !== undefined) contactJson += `,"name":${JSON.stringify(a.name)}`;
    if (a.phone !== undefined) contactJson += `,"phone":${JSON.stringify(a.phone)}`;
    if (a.email !== undefined) contactJson += `,"email":${JSON.stringify(a.email)}`;
    const contact = envelope.seal(`{${contactJson.slice(1)}}`, `${waveId}:${a.accountId}`);
    if (groupKey) spool?.write(`${contactKey(groupKey, a, options.channels) ?? ''}\t`);
    spool?.write(
      `{"line":${line},"accountId":${JSON.stringify(a.accountId)},"record":{"segment":${JSON.stringify(a.segment)},"locale":${JSON.stringify(a.locale)}` +
        `${a.timeZone ? `,"timeZone":${JSON.stringify(a.timeZone)}` : ''},"exposed":${JSON.stringify(a.exposed)},"hasPhone":${a.phone !== undefined}` +
        `,"phoneIsMobile":${a.phoneIsMobile ?? false},"hasEmail":${a.email !== undefined},"contact":${JSON.stringify(contact)},"line":${line}}}\n`,
    );
    rows++;
    accepted++;
  };

  // Records the CSV assembler completed since it was last drained (one line can complete several
  // when a stray quote's record is abandoned and the lines after it are read again).
  const ready: CsvRecord[] = [];
  const records = new CsvRecords(maxLineBytes, (r) => ready.push(r));
  const takeRecords = async (): Promise<void> => {
    for (const r of ready) {
      if (!spool) {
        // The header is the first record, handed on alone: the assembler learns its field count
        // before it completes another record.
        if (!r.ok) throw inputError(`the header line cannot be parsed: ${r.reason}`);
        if (r.badUtf8) throw inputError(`line ${r.line} (the header) is not valid UTF-8`);
        readHeader(r.fields);
        records.expectFields(columns?.length ?? 0);
        await open();
        continue;
      }
      if (!r.ok) reject(r.line, '', r.reason);
      else if (r.badUtf8) reject(r.line, '', 'not valid UTF-8');
      else {
        const raw = csvRow(r.line, r.fields);
        if (raw) dataRow(r.line, raw);
      }
    }
    ready.length = 0;
  };

  try {
    if (options.existingSpool) {
      // Read first, so that a row repeating the wave is known as it comes (the runs of a move to disk go in the spool directory).
      await makePrivateDir(options.spoolDir);
      for await (const entry of readSpool(options.existingSpool)) dupes.existing(entry.accountId);
    }
    let bytes = 0;
    try {
      for await (const batch of splitLines(createReadStream(file, { highWaterMark: 64 * 1024 }), maxLineBytes)) {
        bytes = batch.bytes;
        for (const buf of batch.lines) {
          lineNo++;
          if (buf === TOO_LONG) {
            if (format === undefined) throw inputError(`line ${lineNo} is longer than ${maxLineBytes} bytes`);
            if (format === 'csv') {
              records.push({ line: lineNo, text: undefined, crlf: false, bytes: 0, badUtf8: false });
              if (ready.length > 0) await takeRecords();
              continue;
            }
            if (!spool) await open();
            reject(lineNo, '', `line longer than ${maxLineBytes} bytes`);
            continue;
          }
          let text: string;
          let badUtf8 = false;
          try {
            text = decoder.decode(buf);
          } catch {
            // Decoded leniently all the same: quotes and commas are ASCII bytes, never part of a
            // multi-byte sequence, so the record's bounds are still found and only it is rejected.
            badUtf8 = true;
            text = lenientDecoder.decode(buf);
          }
          if (lineNo === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
          const crlf = text.charCodeAt(text.length - 1) === 13;
          if (crlf) text = text.slice(0, -1);
          if (format === undefined) {
            if (text.trim() === '') continue;
            if (badUtf8) throw inputError(`line ${lineNo} (the header) is not valid UTF-8`);
            format = text.trimStart().startsWith('{') ? 'jsonl' : 'csv';
          }
          if (format === 'csv') {
            records.push({ line: lineNo, text, crlf, bytes: buf.length, badUtf8 });
            if (ready.length > 0) await takeRecords();
            continue;
          }
          if (text.trim() === '') continue;
          if (!spool) await open();
          if (badUtf8) reject(lineNo, '', 'not valid UTF-8');
          else {
            const json = jsonRow(lineNo, text);
            if (json) dataRow(lineNo, json.row, json.bad);
          }
        }
        await spool?.flush();
        await rejects?.flush();
        const now = Date.now();
        if (options.onProgress && now - lastProgress >= PROGRESS_INTERVAL_MS) {
          lastProgress = now;
          options.onProgress({ bytes, totalBytes, rows });
        }
      }
      records.end();
      await takeRecords();
    } catch (err) {
      if (err instanceof BreachwaveError) throw err;
      if ((err as NodeJS.ErrnoException | undefined)?.syscall) throw fileError(file, err);
      throw err;
    }
    if (!spool || !rejects) throw inputError('file is empty');
    if (unknownKeys.size > 0) {
      const lines = [...unknownKeys.values()].map(({ raw, line }) => unknownColumnProblem(`key "${raw.trim().slice(0, 64)}" (first on line ${line})`, raw, keysPresent));
      if (moreUnknownKeys) lines.push(`and more unknown keys past the first ${MAX_UNKNOWN_REPORTED}`);
      throw inputError(problemLines(lines));
    }
    await spool.close();
    await rejects.close();

    const found = await dupes.resolve();
    if (found > 0) {
      const reader = dupes.duplicates();
      try {
        for (let d = reader.take(); d; d = reader.take()) {
          duplicates++;
          rejected++;
          accepted--;
          if (d.tag === 0) continue;
          warned--;
          for (const w of ROW_WARNINGS) {
            if ((d.tag & WARNING_BIT[w]) === 0) continue;
            const n = (warnings[w] ?? 0) - 1;
            if (n > 0) warnings[w] = n;
            else delete warnings[w];
          }
        }
      } finally {
        reader.close();
      }
      await mergeRejects(firstRejectsPath, rejectsPath, dupes.duplicates(), (d) => `${d.line},account_id,${reportCell(duplicateReason(d.firstLine))},${reportCell(d.accountId)}\n`);
      await unlink(firstRejectsPath);
    } else {
      await rename(firstRejectsPath, rejectsPath);
    }
    if (consolidate) {
      const keys = (contacts = new ContactKeys(options.spoolDir, options.sortRunBytes));
      const from = found > 0 ? dedupedSpoolPath : firstSpoolPath;
      await dropDuplicates(firstSpoolPath, found > 0 ? dedupedSpoolPath : undefined, dupes.duplicates(), (line, ordinal) => {
        const tab = line.indexOf('\t');
        if (tab > 0) keys.add(line.slice(0, tab), ordinal);
      });
      await keys.resolve();
      groups = await regroupSpool({ from, to: spoolPath, shared: keys.sharedOrdinals(), ...(options.sortRunBytes ? { runBytes: options.sortRunBytes } : {}) });
      await unlink(firstSpoolPath);
      if (found > 0) await unlink(dedupedSpoolPath);
    } else if (found > 0) {
      await dropDuplicates(firstSpoolPath, spoolPath, dupes.duplicates());
      await unlink(firstSpoolPath);
    } else {
      await rename(firstSpoolPath, spoolPath);
    }
    options.onProgress?.({ bytes, totalBytes, rows });
  } catch (err) {
    await spool?.discard();
    await rejects?.discard();
    if (spool) await Promise.all([spoolPath, dedupedSpoolPath, rejectsPath].map((p) => unlink(p).catch(() => {})));
    throw err;
  } finally {
    dupes.dispose();
    contacts?.dispose();
  }

  const result: IngestResult = { format: format ?? 'csv', rows, accepted, rejected, duplicates, warned, warnings, droppedColumns: dropped, ignoredColumns: ignoredSeen, spoolPath, rejectsPath, ...(groups ? { groups } : {}) };
  if (rows === 0) log.warn({ waveId, format }, 'the file has no data rows: nothing to notify');
  log.info({ waveId, format, rows, accepted, rejected, duplicates, warned, warnings, droppedColumns: dropped, ...(groups ? { consolidated: groups } : {}) }, 'ingest finished');
  return result;
}
