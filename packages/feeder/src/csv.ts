/** A parsed CSV record, or why the text is not one (the reason never quotes the text). */
export type CsvLine =
  | { readonly ok: true; readonly fields: string[] }
  | { readonly ok: false; readonly reason: string; readonly unterminated?: true };

/** Why a record whose quoted field never closes is rejected. */
export const UNTERMINATED = 'unterminated quoted field';

/**
 * Parses text as one RFC 4180 record: fields separated by `,`; a field may be enclosed in `"`
 * with `""` for a literal quote, and may then contain commas and line breaks. A quote inside an
 * unquoted field is an error as the RFC requires. A quoted field still open at the end of the
 * text is reported with `unterminated: true`: the record may go on on the next line.
 */
export function parseCsvLine(line: string): CsvLine {
  if (!line.includes('"')) return { ok: true, fields: line.split(',') };
  const fields: string[] = [];
  const n = line.length;
  let i = 0;
  for (;;) {
    if (line.charCodeAt(i) === 34) {
      let value = '';
      i++;
      for (;;) {
        const q = line.indexOf('"', i);
        if (q < 0) return { ok: false, reason: UNTERMINATED, unterminated: true };
        value += line.slice(i, q);
        if (line.charCodeAt(q + 1) === 34) {
          value += '"';
          i = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      if (i < n && line.charCodeAt(i) !== 44) return { ok: false, reason: 'unexpected text after a closing quote' };
      fields.push(value);
    } else {
      const comma = line.indexOf(',', i);
      const end = comma < 0 ? n : comma;
      const value = line.slice(i, end);
      if (value.includes('"')) return { ok: false, reason: 'quote inside an unquoted field' };
      fields.push(value);
      i = end;
    }
    if (i >= n) return { ok: true, fields };
    i++; // past the comma; a trailing comma yields one more, empty, field
  }
}

/** Quotes a value for CSV output when it needs it. */
export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/**
 * Cells a spreadsheet would read as a formula (or, after a tab or carriage return it strips, as
 * one): the characters OWASP's CSV injection guidance lists.
 */
const FORMULA_START = /^[=+\-@\t\r]/;

/**
 * A cell of a CSV report people open in a spreadsheet: a leading `'` before `=`, `+`, `-`, `@`, a
 * tab or a carriage return (shown as text, never evaluated), then quoted as {@link csvField}
 * quotes. An account id may begin with `-`, and a file's column names and ids are the sender's:
 * every cell is checked.
 */
export function reportCell(value: string): string {
  return csvField(FORMULA_START.test(value) ? `'${value}` : value);
}

/** One physical line handed to a {@link CsvRecords}. */
export interface PhysicalLine {
  /** 1-based line number in the file. */
  readonly line: number;
  /** The line without its terminator (`\n`, or `\r\n` when `crlf`); `undefined` for a line over the byte limit, already discarded. */
  readonly text: string | undefined;
  readonly crlf: boolean;
  /** Length of the line in bytes, a `\r` before its `\n` included. */
  readonly bytes: number;
  /** The bytes were not UTF-8; `text` is a lenient decoding, good enough to find quotes and commas. */
  readonly badUtf8: boolean;
}

/** What a {@link CsvRecords} hands on: a record and the first physical line it starts on, or a reject. */
export type CsvRecord =
  | { readonly ok: true; readonly line: number; readonly fields: string[]; readonly badUtf8: boolean }
  | { readonly ok: false; readonly line: number; readonly reason: string };

/**
 * Assembles RFC 4180 records from physical lines: a quoted field may hold line breaks, so a
 * record may span lines; each record is handed on with the number of its first line.
 *
 * A line without an open quoted field is parsed on its own (the common case, with a fast path
 * for lines without quotes). A line that leaves a quoted field open starts a pending record,
 * joined with the following lines (their line breaks kept) until the field closes.
 *
 * A stray quote must not swallow the people on the lines after it. So a multi-line record is
 * taken only if it parses and either has the header's field count or its second line is not a
 * full record on its own (a well-quoted record a field short or long: the ingest rejects it for
 * its width). Otherwise its first line is rejected as an unterminated quoted field and the lines
 * after it are read again as records of their own. Memory is bounded: a pending record is abandoned the same way once it passes `maxRecordBytes`,
 * and quote-free lines added to it are not re-parsed (they cannot close the field).
 *
 * Blank lines between records are skipped (they are not records); inside a quoted field they
 * are part of it.
 */
export class CsvRecords {
  private pending: PhysicalLine[] = [];
  private pendingBytes = 0;
  private queue: PhysicalLine[] = [];
  private expected: number | undefined;

  /**
   * @param maxRecordBytes a record longer than this is never held whole
   * @param emit receives each record or reject, in file order
   */
  constructor(
    private readonly maxRecordBytes: number,
    private readonly emit: (record: CsvRecord) => void,
  ) {}

  /** The number of fields a record must have (the header's); it tells a stray quote from a field with line breaks. */
  expectFields(count: number): void {
    this.expected = count;
  }

  /** Adds the next physical line; records it completes are emitted before this returns. */
  push(line: PhysicalLine): void {
    // Nothing waiting to be read again (the usual case): no queue to go through.
    if (this.queue.length === 0) this.step(line);
    else this.queue.push(line);
    if (this.queue.length > 0) this.drain();
  }

  /** End of input: a record still open is abandoned (its first line rejected, the rest read again). */
  end(): void {
    while (this.pending.length > 0) {
      this.abandon(UNTERMINATED);
      this.drain();
    }
  }

  private drain(): void {
    while (this.queue.length > 0) {
      const batch = this.queue;
      this.queue = [];
      for (let i = 0; i < batch.length; i++) {
        this.step(batch[i] as PhysicalLine);
        if (this.queue.length > 0) {
          // An abandoned record put its lines back: they come before the rest of this batch.
          this.queue = this.queue.concat(batch.slice(i + 1));
          break;
        }
      }
    }
  }

  private step(line: PhysicalLine): void {
    if (this.pending.length > 0) {
      if (line.text === undefined) {
        // A line over the limit cannot be part of a record within it: the open field never closes in time.
        this.abandon(`${UNTERMINATED} (no closing quote within ${this.maxRecordBytes} bytes)`);
        this.queue.push(line); // after the abandoned record's other lines, read again first
        return;
      }
      this.pending.push(line);
      this.pendingBytes += line.bytes + 1; // the line and its `\n` (`bytes` counts a `\r`)
      if (this.pendingBytes > this.maxRecordBytes) {
        this.abandon(`${UNTERMINATED} (no closing quote within ${this.maxRecordBytes} bytes)`);
        return;
      }
      if (!line.text.includes('"')) return; // still inside the open quoted field
      this.tryClose();
      return;
    }
    if (line.text === undefined) {
      this.emit({ ok: false, line: line.line, reason: `line longer than ${this.maxRecordBytes} bytes` });
      return;
    }
    if (line.text.trim() === '') return;
    const parsed = parseCsvLine(line.text);
    if (parsed.ok) this.emit({ ok: true, line: line.line, fields: parsed.fields, badUtf8: line.badUtf8 });
    else if (parsed.unterminated) {
      this.pending = [line];
      this.pendingBytes = line.bytes;
    } else this.emit({ ok: false, line: line.line, reason: parsed.reason });
  }

  private tryClose(): void {
    let text = '';
    let badUtf8 = false;
    for (let i = 0; i < this.pending.length; i++) {
      const l = this.pending[i] as PhysicalLine;
      if (i > 0) text += (this.pending[i - 1] as PhysicalLine).crlf ? '\r\n' : '\n';
      text += l.text ?? '';
      badUtf8 ||= l.badUtf8;
    }
    const parsed = parseCsvLine(text);
    if (!parsed.ok && parsed.unterminated) return;
    if (parsed.ok && (this.expected === undefined || parsed.fields.length === this.expected || !this.secondLineIsRecord())) {
      const first = this.pending[0] as PhysicalLine;
      this.pending = [];
      this.pendingBytes = 0;
      this.emit({ ok: true, line: first.line, fields: parsed.fields, badUtf8 });
      return;
    }
    this.abandon(UNTERMINATED);
  }

  /**
   * Whether the pending record's second line is, on its own, a record with the expected number of
   * fields: then the open quote on the first line is more likely a stray one than a field that
   * runs on. (A well-formed record's continuation line holds its field's closing quote, so on its
   * own it seldom parses at all.)
   */
  private secondLineIsRecord(): boolean {
    const text = this.pending[1]?.text;
    if (text === undefined) return false;
    const alone = parseCsvLine(text);
    return alone.ok && alone.fields.length === this.expected;
  }

  /** Rejects the pending record's first line and queues the lines after it to be read again. */
  private abandon(reason: string): void {
    const [first, ...rest] = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    if (!first) return;
    this.emit({ ok: false, line: first.line, reason });
    this.queue = rest.concat(this.queue);
  }
}
