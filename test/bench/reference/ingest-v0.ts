/**
 * REFERENCE — a frozen copy of `packages/feeder/src/ingest.ts` as it was before the issue-6
 * optimisations (duplicate check in a V8 Map of detached strings; rows parsed by the v0 domain
 * parser; contact points sealed by the v0 envelope). The benchmark runs it beside the current
 * feeder in the same run so each optimisation is measured against it. Not used by breachwave.
 */
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, stat, unlink } from 'node:fs/promises';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { extname, join } from 'node:path';
import { ACCOUNT_COLUMNS, BreachwaveError, FORBIDDEN_COLUMNS, REQUIRED_COLUMNS, SEGMENTS, type RawRow } from '@breachwave/domain';
import { TOO_LONG, csvField, parseCsvLine, splitLines, type IngestOptions, type IngestResult, type InputFormat, type SpoolEntry } from '@breachwave/feeder';
import type { AccountRecord } from '@breachwave/ledger';
import { parseAccountRowV0 as parseAccountRow } from './account-v0.js';

const SPOOL_FILE = 'accounts.jsonl';
const REJECTS_FILE = 'rejects.csv';

const KEPT: ReadonlySet<string> = new Set(ACCOUNT_COLUMNS);
const SEGMENT_VALUES: ReadonlySet<string> = new Set(SEGMENTS);
const PROGRESS_INTERVAL_MS = 100;
const FLUSH_BYTES = 64 * 1024;
/** Distinct unknown JSONL keys warned about; past this, the rest are ignored quietly. */
const MAX_UNKNOWN_WARNINGS = 100;

/** Header normalisation: trimmed, lower-cased, runs of spaces or dashes become `_`. */
function normaliseColumn(name: string): string {
  return name.trim().toLowerCase().replace(/[\s-]+/g, '_');
}

/**
 * An own copy of a short string: a substring of a line can keep the whole line alive in V8,
 * which for a million de-dupe keys would hold every line of the file.
 */
function detach(s: string): string {
  return Buffer.from(s, 'latin1').toString('latin1');
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
    this.stream = createWriteStream(path);
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
 * Input: CSV with a header row, RFC 4180 quoting, one record per physical line (a quoted field
 * may hold commas but not line breaks); or JSONL, one JSON object per line. The format comes
 * from the extension (`.csv`, `.jsonl`, `.ndjson`), else from the first byte (`{` means JSONL).
 * Lines are split on `\n` as bytes and each is decoded on its own, strictly, so a line that is
 * not UTF-8 is rejected ("not valid UTF-8") without touching its neighbours. A leading BOM and
 * `\r` line endings are accepted; blank lines are skipped and are not rows.
 *
 * Columns: names are normalised ({@link normaliseColumn}); forbidden columns
 * (`FORBIDDEN_COLUMNS`) are dropped before a row is validated, and unknown columns are ignored,
 * each with one warning naming the column (never a value). Rows are validated with
 * `parseAccountRow`; a later row repeating an accepted account_id is rejected as a duplicate.
 *
 * Output, in `spoolDir`: `accounts.jsonl` ({@link SpoolEntry} per line) and `rejects.csv`
 * (`line,field,reason`, never a value from the row).
 *
 * @throws BreachwaveError BW_INPUT_FILE when the file cannot be read; BW_INPUT_INVALID when it is
 *   empty or its header lacks a required column. No spool is left behind on either.
 */
/** The result as it was then, before accepted rows carried warnings. */
export type IngestResultV0 = Omit<IngestResult, 'warned' | 'warnings' | 'ignoredColumns'>;

export async function ingestFileV0(options: IngestOptions): Promise<IngestResultV0> {
  const { file, waveId, envelope, log } = options;
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
  const rejectsPath = join(options.spoolDir, REJECTS_FILE);
  let spool: Sink | undefined;
  let rejects: Sink | undefined;

  // Kept columns by position (CSV); `undefined` entries are dropped or ignored columns.
  let columns: (string | undefined)[] | undefined;
  const dropped: string[] = [];
  const warned = new Set<string>();
  let unknownWarnings = 0;
  // account_id -> line it was accepted on. A Map of short detached strings costs about 60 MB of
  // heap per million accepted rows (measured: ~61 bytes per 13-character id with a small-int value).
  const firstSeen = new Map<string, number>();
  let rows = 0;
  let accepted = 0;
  let rejected = 0;
  let duplicates = 0;
  let lineNo = 0;
  let lastProgress = 0;

  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

  const noteForbidden = (column: string): void => {
    if (warned.has(column)) return;
    warned.add(column);
    dropped.push(column);
    log.warn({ column }, 'dropping a forbidden column: its values are never read or stored');
  };
  const noteUnknown = (column: string): void => {
    if (warned.has(column) || unknownWarnings >= MAX_UNKNOWN_WARNINGS) return;
    warned.add(column);
    unknownWarnings++;
    log.warn({ column: column.slice(0, 64) }, 'ignoring an unknown column');
  };

  const open = async (): Promise<void> => {
    await mkdir(options.spoolDir, { recursive: true });
    spool = new Sink(spoolPath);
    rejects = new Sink(rejectsPath);
    rejects.write('line,field,reason\n');
  };

  const reject = (line: number, field: string, reason: string): void => {
    rows++;
    rejected++;
    rejects?.write(`${line},${csvField(field)},${csvField(reason)}\n`);
  };

  const readHeader = (text: string): void => {
    const parsed = parseCsvLine(text);
    if (!parsed.ok) throw inputError(`the header line cannot be parsed: ${parsed.reason}`);
    const names = parsed.fields.map(normaliseColumn);
    const missing = REQUIRED_COLUMNS.filter((c) => !names.includes(c));
    if (missing.length > 0) {
      // A file without a header has data on line 1: never echo that back.
      const looksLikeData = parsed.fields.some((f) => f.includes('@') || (f.match(/\d/g)?.length ?? 0) >= 7 || SEGMENT_VALUES.has(f.trim().toLowerCase()));
      const found = looksLikeData
        ? 'the first line looks like data, not a header'
        : `columns found: ${names.slice(0, 30).map((n) => (n === '' ? '(blank)' : n.slice(0, 40))).join(', ')}${names.length > 30 ? ', …' : ''}`;
      throw inputError(`missing required column${missing.length > 1 ? 's' : ''} ${missing.join(', ')} (${found}); the header needs ${REQUIRED_COLUMNS.join(', ')} and may have ${ACCOUNT_COLUMNS.filter((c) => !(REQUIRED_COLUMNS as readonly string[]).includes(c)).join(', ')}`);
    }
    const seen = new Set<string>();
    columns = names.map((name) => {
      if (seen.has(name) && (KEPT.has(name) || FORBIDDEN_COLUMNS.has(name))) throw inputError(`column ${name} appears more than once`);
      seen.add(name);
      if (FORBIDDEN_COLUMNS.has(name)) {
        noteForbidden(name);
        return undefined;
      }
      if (!KEPT.has(name)) {
        noteUnknown(name);
        return undefined;
      }
      return name;
    });
  };

  const csvRow = (line: number, text: string): RawRow | undefined => {
    const parsed = parseCsvLine(text);
    if (!parsed.ok) {
      reject(line, '', parsed.reason);
      return undefined;
    }
    const cols = columns ?? [];
    if (parsed.fields.length !== cols.length) {
      reject(line, '', `wrong number of fields (expected ${cols.length}, found ${parsed.fields.length})`);
      return undefined;
    }
    const row: Record<string, string> = {};
    for (let i = 0; i < cols.length; i++) {
      const name = cols[i];
      if (name !== undefined) row[name] = parsed.fields[i] as string;
    }
    return row;
  };

  const jsonRow = (line: number, text: string): RawRow | undefined => {
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
    for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
      const name = normaliseColumn(key);
      if (FORBIDDEN_COLUMNS.has(name)) {
        noteForbidden(name);
        continue;
      }
      if (!KEPT.has(name)) {
        noteUnknown(name);
        continue;
      }
      if (v === null || v === undefined) continue;
      if (typeof v === 'string') row[name] = v;
      else if (typeof v === 'number' || typeof v === 'boolean') row[name] = String(v);
      else if (Array.isArray(v) && v.every((x) => typeof x === 'string')) row[name] = v.join(';');
      else {
        reject(line, name, 'must be a string');
        return undefined;
      }
    }
    return row;
  };

  const dataRow = (line: number, text: string): void => {
    const raw = format === 'csv' ? csvRow(line, text) : jsonRow(line, text);
    if (!raw) return;
    const result = parseAccountRow(raw);
    if (!result.ok) {
      reject(line, result.field ?? '', result.reason);
      return;
    }
    const a = result.account;
    const first = firstSeen.get(a.accountId);
    if (first !== undefined) {
      duplicates++;
      reject(line, 'account_id', `duplicate account_id (first seen on line ${first})`);
      return;
    }
    firstSeen.set(detach(a.accountId), line);
    const contact = envelope.sealJson(
      { ...(a.name ? { name: a.name } : {}), ...(a.phone ? { phone: a.phone } : {}), ...(a.email ? { email: a.email } : {}) },
      `${waveId}:${a.accountId}`,
    );
    const record: AccountRecord = {
      segment: a.segment,
      locale: a.locale,
      ...(a.timeZone ? { timeZone: a.timeZone } : {}),
      exposed: a.exposed,
      hasPhone: a.phone !== undefined,
      phoneIsMobile: a.phoneIsMobile ?? false,
      hasEmail: a.email !== undefined,
      contact,
      line,
    };
    const entry: SpoolEntry = { line, accountId: a.accountId, record };
    spool?.write(`${JSON.stringify(entry)}\n`);
    rows++;
    accepted++;
  };

  try {
    let bytes = 0;
    try {
      for await (const batch of splitLines(createReadStream(file, { highWaterMark: 64 * 1024 }), maxLineBytes)) {
        bytes = batch.bytes;
        for (const buf of batch.lines) {
          lineNo++;
          const isHeader = format !== 'jsonl' && columns === undefined;
          if (buf === TOO_LONG) {
            if (isHeader) throw inputError(`line ${lineNo} is longer than ${maxLineBytes} bytes`);
            reject(lineNo, '', `line longer than ${maxLineBytes} bytes`);
            continue;
          }
          let text: string;
          try {
            text = decoder.decode(buf);
          } catch {
            if (isHeader) throw inputError(`line ${lineNo} (the header) is not valid UTF-8`);
            reject(lineNo, '', 'not valid UTF-8');
            continue;
          }
          if (lineNo === 1 && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
          if (text.charCodeAt(text.length - 1) === 13) text = text.slice(0, -1);
          if (text.trim() === '') continue;
          if (format === undefined) format = text.trimStart().startsWith('{') ? 'jsonl' : 'csv';
          if (!spool) {
            if (format === 'csv') {
              readHeader(text);
              await open();
              continue;
            }
            await open();
          }
          dataRow(lineNo, text);
        }
        await spool?.flush();
        await rejects?.flush();
        const now = Date.now();
        if (options.onProgress && now - lastProgress >= PROGRESS_INTERVAL_MS) {
          lastProgress = now;
          options.onProgress({ bytes, totalBytes, rows });
        }
      }
    } catch (err) {
      if (err instanceof BreachwaveError) throw err;
      if ((err as NodeJS.ErrnoException | undefined)?.syscall) throw fileError(file, err);
      throw err;
    }
    if (!spool || !rejects) throw inputError('file is empty');
    await spool.close();
    await rejects.close();
    options.onProgress?.({ bytes, totalBytes, rows });
  } catch (err) {
    await spool?.discard();
    await rejects?.discard();
    throw err;
  }

  const result: IngestResultV0 = { format: format ?? 'csv', rows, accepted, rejected, duplicates, droppedColumns: dropped, spoolPath, rejectsPath };
  if (rows === 0) log.warn({ waveId, format }, 'the file has no data rows: nothing to notify');
  log.info({ waveId, format, rows, accepted, rejected, duplicates, droppedColumns: dropped }, 'ingest finished');
  return result;
}
