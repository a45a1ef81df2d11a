import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import { ACCOUNT_COLUMNS, type Segment } from '@breachwave/domain';
import { createPrng, type Prng } from './prng.js';

export { createPrng, type Prng } from './prng.js';

/**
 * Synthetic affected-account files for tests, demos and benchmarks. Every value is made up:
 * names come from short lists, phones are US fictional `555-01xx` numbers, emails use the
 * reserved `example.com`/`example.net` domains, and the forbidden `ssn`/`dob` columns hold
 * `SYN-SSN-…`/`SYN-DOB-…` markers that look like no real identifier.
 */

/** Options for {@link generateAccounts} and {@link writeAccountsFile}. */
export interface GenerateOptions {
  /** Data rows to produce (the CSV header is not counted). */
  readonly rows: number;
  /** PRNG seed; the same seed and options give byte-identical output. Default 1. */
  readonly seed?: number;
  /** Share of rows that must be rejected (bad segment, phone, email, id, field count, no contact). Default 0.02. */
  readonly malformedRate?: number;
  /** Share of rows that repeat an earlier valid account_id. Default 0.01. */
  readonly duplicateRate?: number;
  /** Default `csv`. */
  readonly format?: 'csv' | 'jsonl';
  /** Adds the forbidden `ssn` and `dob` columns the feeder must drop. Default true. */
  readonly includeForbiddenColumns?: boolean;
}

/** What a generated row is meant to be once ingested. */
export type RowKind = 'valid' | 'malformed' | 'duplicate';

/** Counts of each {@link RowKind}; `valid + malformed + duplicates` is the number of data rows. */
export interface ExpectedCounts {
  valid: number;
  malformed: number;
  duplicates: number;
}

/** Result of {@link writeAccountsFile}. */
export interface WrittenFile {
  readonly path: string;
  /** Data rows written (header excluded). */
  readonly rows: number;
  readonly expected: ExpectedCounts;
}

/** One generated line (no line terminator) and what it is meant to be; `kind` is undefined for the header. */
export interface GeneratedLine {
  readonly text: string;
  readonly kind: RowKind | undefined;
}

/** The kinds of malformed rows the generator produces, in the order it cycles through them. */
export const MALFORMED_KINDS = [
  'unknown-segment', 'invalid-phone', 'invalid-email', 'missing-account-id', 'wrong-column-count', 'no-contact',
] as const;
/** One of {@link MALFORMED_KINDS}. */
export type MalformedKind = (typeof MALFORMED_KINDS)[number];

/** Columns of generated files, forbidden ones placed mid-row so the feeder has to map by name. */
export function synthColumns(includeForbidden = true): readonly string[] {
  const [id, segment, name, phone, email, ...rest] = ACCOUNT_COLUMNS;
  return includeForbidden ? [id, segment, name, 'ssn', phone, email, 'dob', ...rest] : [...ACCOUNT_COLUMNS];
}

const FIRST = ['Maria', 'James', 'Ana', 'Robert', 'José', 'Linda', 'Wei', 'Fatima', 'David', 'Sofía', 'Kevin', 'Aisha', 'Luis', 'Emily', 'Tran', 'Noah'];
const LAST = ['Garcia', 'Smith', 'Núñez', 'Johnson', 'Nguyen', 'Brown', 'Peña', 'Williams', 'Kim', 'Okafor', 'Miller', 'Lopez', "O'Brien", 'Davis', 'Patel', 'Chen'];
/** Area codes for which every `555-01xx` number passes libphonenumber validation (checked in tests). */
export const AREA_CODES = ['202', '212', '213', '305', '312', '415', '503', '512', '602', '617', '702', '713', '808', '907'];
const ZONES = ['America/New_York', 'America/Chicago', 'America/Denver', 'America/Phoenix', 'America/Los_Angeles', 'America/Anchorage', 'Pacific/Honolulu'];
const SEGMENT_WEIGHTS: readonly (readonly [Segment, number])[] = [
  ['prepaid-active', 0.3], ['postpaid-current', 0.35], ['former', 0.25], ['prospective', 0.1],
];
const EXPOSED: Readonly<Record<Segment, string>> = {
  'prepaid-active': 'name;phone;pin',
  'postpaid-current': 'name;dob;ssn;drivers-license',
  former: 'name;dob;ssn;drivers-license',
  prospective: 'name;email;address',
};

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

function segmentOf(prng: Prng): Segment {
  let r = prng.next();
  for (const [segment, weight] of SEGMENT_WEIGHTS) {
    if (r < weight) return segment;
    r -= weight;
  }
  return 'postpaid-current';
}

/** A fictional number in one of the formats people type. */
function phoneOf(prng: Prng): string {
  const area = prng.pick(AREA_CODES);
  const line = `01${pad(prng.int(100), 2)}`;
  switch (prng.int(6)) {
    case 0: return `(${area}) 555-${line}`;
    case 1: return `${area}-555-${line}`;
    case 2: return `${area}.555.${line}`;
    case 3: return `+1 ${area} 555 ${line}`;
    case 4: return `1-${area}-555-${line}`;
    default: return `${area}555${line}`;
  }
}

function asciiFold(s: string): string {
  return s.normalize('NFD').replace(/[\u0300-\u036f]/g, '').replace(/[^A-Za-z]/g, '');
}

function emailOf(prng: Prng, first: string, last: string, n: number): string {
  const local = `${asciiFold(first)}.${asciiFold(last)}.${n}`;
  const domain = prng.chance(0.7) ? 'example.com' : 'example.net';
  switch (prng.int(4)) {
    case 0: return `${local.toLowerCase()}@${domain}`;
    case 1: return `${local}@${domain}`;
    case 2: return `${local}@${domain.toUpperCase()}`;
    default: return `${local.toUpperCase()}@${domain}`;
  }
}

function nameOf(prng: Prng, first: string, last: string): string {
  const r = prng.next();
  if (r < 0.1) return `${last}, ${first}`; // needs CSV quoting
  if (r < 0.12) return `${first} "${prng.pick(['PJ', 'Bo', 'Lu'])}" ${last}`; // embedded quotes
  if (r < 0.14) return `  ${first}   ${last} `; // whitespace the parser collapses
  return `${first} ${last}`;
}

type Fields = Record<string, string>;

/** A row that parses cleanly, for account `accountId`. */
function validFields(prng: Prng, accountId: string, n: number): Fields {
  const segment = segmentOf(prng);
  const first = prng.pick(FIRST);
  const last = prng.pick(LAST);
  const contact = prng.next();
  // 80% both, 12% phone only, 8% email only.
  const hasPhone = contact < 0.92;
  const hasEmail = contact < 0.8 || contact >= 0.92;
  const locale = prng.next();
  return {
    account_id: accountId,
    segment: prng.chance(0.05) ? segment.toUpperCase() : segment,
    name: nameOf(prng, first, last),
    ssn: `SYN-SSN-${pad(n, 8)}`,
    phone: hasPhone ? phoneOf(prng) : '',
    email: hasEmail ? emailOf(prng, first, last, n) : '',
    dob: `SYN-DOB-${pad(n, 8)}`,
    time_zone: prng.chance(0.85) ? prng.pick(ZONES) : '',
    locale: locale < 0.15 ? 'es' : locale < 0.2 ? 'es-US' : locale < 0.9 ? 'en' : '',
    exposed: EXPOSED[segment],
  };
}

function csvField(v: string): string {
  return /[",\r\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

/** Streams of rows are bounded: duplicates are drawn from the last {@link RECENT} valid ids only. */
const RECENT = 1024;

/**
 * The generator behind {@link generateAccounts}: yields the header (CSV only) and then `rows`
 * data lines with what each is meant to be. Synchronous and O(1) memory in `rows`.
 */
export function* generateLines(options: GenerateOptions): Generator<GeneratedLine> {
  const prng = createPrng(options.seed ?? 1);
  const malformedRate = options.malformedRate ?? 0.02;
  const duplicateRate = options.duplicateRate ?? 0.01;
  const format = options.format ?? 'csv';
  const columns = synthColumns(options.includeForbiddenColumns ?? true);
  const recent: string[] = [];
  let seq = 0;
  let malformedSeq = 0;

  const render = (fields: Fields, dropLast = false): string => {
    const cols = dropLast ? columns.slice(0, -1) : columns;
    if (format === 'csv') return cols.map((c) => csvField(fields[c] ?? '')).join(',');
    return JSON.stringify(Object.fromEntries(cols.map((c) => [c, fields[c] ?? ''])));
  };

  if (format === 'csv') yield { text: columns.join(','), kind: undefined };
  for (let i = 0; i < options.rows; i++) {
    const r = prng.next();
    if (r < malformedRate) {
      seq++;
      const fields = validFields(prng, `ACCT-${pad(seq, 8)}`, seq);
      const kind = MALFORMED_KINDS[malformedSeq++ % MALFORMED_KINDS.length] as MalformedKind;
      switch (kind) {
        case 'unknown-segment': fields.segment = prng.pick(['platinum', 'business', 'vip']); break;
        // The other contact point is cleared: a bad one beside a working one is only a warning.
        case 'invalid-phone': fields.phone = `(${prng.pick(AREA_CODES)}) 555-01`; fields.email = ''; break;
        case 'invalid-email': fields.email = emailOf(prng, 'Pat', 'Doe', seq).replace('@', '.at.'); fields.phone = ''; break;
        case 'missing-account-id': fields.account_id = ''; break;
        case 'no-contact': fields.phone = ''; fields.email = ''; break;
        case 'wrong-column-count': {
          // Drawn in both formats so a seed gives the same rows as CSV and as JSONL.
          const truncate = prng.chance(0.5);
          if (format === 'csv') {
            yield { text: render(fields, true), kind: 'malformed' };
          } else {
            const json = render(fields);
            // JSONL has no column count: the equivalent is a line that is not a JSON object.
            yield { text: truncate ? json.slice(0, Math.floor(json.length / 2)) : JSON.stringify(Object.values(fields)), kind: 'malformed' };
          }
          continue;
        }
      }
      yield { text: render(fields), kind: 'malformed' };
    } else if (r < malformedRate + duplicateRate && recent.length > 0) {
      seq++;
      yield { text: render(validFields(prng, prng.pick(recent), seq)), kind: 'duplicate' };
    } else {
      seq++;
      const accountId = `ACCT-${pad(seq, 8)}`;
      if (recent.length < RECENT) recent.push(accountId);
      else recent[prng.int(RECENT)] = accountId;
      yield { text: render(validFields(prng, accountId, seq)), kind: 'valid' };
    }
  }
}

/**
 * Synthetic affected-account lines, header first for CSV, without line terminators.
 * Deterministic for a seed; holds O(1) memory however many rows are asked for.
 */
export async function* generateAccounts(options: GenerateOptions): AsyncGenerator<string> {
  for (const line of generateLines(options)) yield line.text;
}

/** Options for {@link writeAccountsFile}: generation options plus the line ending. */
export interface WriteOptions extends GenerateOptions {
  /** Default `\n`. */
  readonly lineEnding?: '\n' | '\r\n';
}

/**
 * Writes a synthetic file (streaming, respecting back-pressure: bounded memory for millions of
 * rows) and returns what an ingest of it should find.
 */
export async function writeAccountsFile(path: string, options: WriteOptions): Promise<WrittenFile> {
  const eol = options.lineEnding ?? '\n';
  const out = createWriteStream(path);
  const expected: ExpectedCounts = { valid: 0, malformed: 0, duplicates: 0 };
  let rows = 0;
  let buffer = '';
  try {
    for (const line of generateLines(options)) {
      if (line.kind === 'valid') expected.valid++;
      else if (line.kind === 'malformed') expected.malformed++;
      else if (line.kind === 'duplicate') expected.duplicates++;
      if (line.kind) rows++;
      buffer += line.text + eol;
      // One write per ~64 KB rather than per line: far fewer stream calls.
      if (buffer.length >= 65_536) {
        const ok = out.write(buffer);
        buffer = '';
        if (!ok) await once(out, 'drain');
      }
    }
    if (buffer) out.write(buffer);
    out.end();
    await once(out, 'finish');
  } catch (err) {
    out.destroy();
    throw err;
  }
  return { path, rows, expected };
}
