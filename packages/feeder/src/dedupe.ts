import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { finished } from 'node:stream/promises';
import { ExternalSorter, keyHash, type SortedReader } from './external-sort.js';
import { IdIndex } from './id-index.js';
import { openPrivateFileSync } from './private-files.js';
import { TOO_LONG, splitLines } from './lines.js';

/** A rejected duplicate: where it is in the candidate spool, its line, and the line of the account kept. */
export interface Duplicate {
  /** Its place (0-based) among the candidates, in the order they were added. */
  readonly ordinal: number;
  readonly accountId: string;
  /** Its first line in the file. */
  readonly line: number;
  /** The line of the first occurrence it repeats, or 0 when the id was already in the wave. */
  readonly firstLine: number;
  /** What the candidate carried along (the ingest: its warnings, as bits). */
  readonly tag: number;
}

/** Line 0 never occurs in a file: it marks an id already in the wave, so that it sorts before every line. */
const IN_WAVE = 0;
/** Ids held in memory before the finder moves to sorted runs on disk: ~36 MB of index at most. */
export const MEMORY_IDS = 1_000_000;

/** Options of a {@link DuplicateFinder}. */
export interface DuplicateFinderOptions {
  /** Bytes of records sorted in memory before a run is written out (the on-disk mode). */
  readonly runBytes?: number;
  /** Ids kept in an in-memory index before moving to the external sort; 0 sorts on disk from the start. Default {@link MEMORY_IDS}. */
  readonly memoryIds?: number;
}

/**
 * Finds repeated account ids among an ingest's accepted rows, exactly (ids are compared as
 * strings, never by hash alone), in memory bounded whatever the number of rows:
 * - while the ids seen fit in `memoryIds`, in an off-heap index ({@link IdIndex}): a repeated id
 *   is known the moment its row is read (`candidate` returns the line it repeats), so the row is
 *   rejected there and never spooled, and nothing is written to disk;
 * - past that, every id kept so far and every later candidate `(id, line)` goes into an external
 *   sort (runs written next to the spool), whose merge brings each id's rows together in line
 *   order once the file is read (`resolve`). The first line wins; every later row with the id is a
 *   duplicate pointing at it, read in ordinal order with `duplicates()`.
 * Ids already in the wave (`existing`) count as seen before any line, so a row repeating one is a
 * duplicate of the wave instead (line 0).
 */
export class DuplicateFinder {
  private memory: IdIndex | undefined;
  private ids: ExternalSorter | undefined;
  private dups: ExternalSorter | undefined;
  private readonly dir: string;
  private readonly runBytes: number | undefined;
  private readonly memoryIds: number;

  constructor(dir: string, options: DuplicateFinderOptions = {}) {
    this.dir = dir;
    this.runBytes = options.runBytes;
    this.memoryIds = options.memoryIds ?? MEMORY_IDS;
    if (this.memoryIds > 0) this.memory = new IdIndex(Math.min(this.memoryIds, 1 << 16));
    else this.spill();
  }

  /** Whether the ids have moved to the external sort (duplicates are then found by `resolve`). */
  get onDisk(): boolean {
    return this.memory === undefined;
  }

  /** Moves to the external sort, with every id the index holds as a first occurrence. */
  private spill(): void {
    const ids = new ExternalSorter({ dir: this.dir, name: '.ids', ...(this.runBytes ? { runBytes: this.runBytes } : {}) });
    // A first occurrence is never dropped, so its ordinal and tag are never read: 0 stands in.
    for (const [id, line] of this.memory?.entries() ?? []) ids.add(keyHash(id), id, line, 0, 0);
    this.memory = undefined;
    this.ids = ids;
  }

  private add(accountId: string, line: number, ordinal: number, tag: number): number | undefined {
    if (this.memory) {
      const first = this.memory.add(accountId, line);
      if (first === undefined && this.memory.size > this.memoryIds) this.spill();
      return first;
    }
    this.ids?.add(keyHash(accountId), accountId, line, ordinal, tag);
    return undefined;
  }

  /** An id already in the wave. Call before any `candidate`. */
  existing(accountId: string): void {
    this.add(accountId, IN_WAVE, 0, 0);
  }

  /**
   * An accepted row, the `ordinal`-th (0-based) candidate added; `line` ≥ 1 and increasing from
   * one call to the next.
   * @returns the line of the row it repeats (0: an id already in the wave) when that is known now
   *   — the row is then not a candidate, and the next one takes its ordinal — or undefined.
   */
  candidate(accountId: string, line: number, ordinal: number, tag: number): number | undefined {
    return this.add(accountId, line, ordinal, tag);
  }

  /**
   * Runs the merge; the duplicates it found are then read, ordered by ordinal, with `duplicates()`.
   * @returns how many there are (none while the ids were in memory: those were found as they came).
   */
  async resolve(): Promise<number> {
    const ids = this.ids;
    if (!ids) return 0;
    const dups = new ExternalSorter({ dir: this.dir, name: '.dups', runBytes: Math.min(this.runBytes ?? Infinity, 4 * 1024 * 1024) });
    this.dups = dups;
    let primary = -1;
    let key = '';
    let firstLine = 0;
    await ids.forEach((r) => {
      if (r.primary === primary && r.key === key) {
        // A second id of the wave itself is none of this ingest's business.
        if (r.a !== IN_WAVE) dups.add(r.b, r.key, r.a, firstLine, r.c);
        return;
      }
      primary = r.primary;
      key = r.key;
      firstLine = r.a;
    });
    ids.dispose();
    return dups.size;
  }

  /** The duplicates, ordered by ordinal (and so by line). Call after `resolve`; may be called again. */
  duplicates(): DuplicateReader {
    const reader = this.dups?.sorted() ?? { next: () => undefined, close: () => {} };
    return new DuplicateReader(reader);
  }

  /** Removes every temporary file and lets the index go. */
  dispose(): void {
    this.memory = undefined;
    this.ids?.dispose();
    this.dups?.dispose();
  }
}

/** Duplicates in ordinal order, with a look at the next one. */
export class DuplicateReader {
  private head: Duplicate | undefined;

  constructor(private readonly reader: SortedReader) {
    this.pull();
  }

  private pull(): void {
    const r = this.reader.next();
    this.head = r ? { ordinal: r.primary, accountId: r.key, line: r.a, firstLine: r.b, tag: r.c } : undefined;
  }

  /** The next duplicate, not taken. */
  peek(): Duplicate | undefined {
    return this.head;
  }

  /** Takes the next duplicate. */
  take(): Duplicate | undefined {
    const d = this.head;
    if (d) this.pull();
    return d;
  }

  close(): void {
    this.reader.close();
  }
}

/** A buffered private text file. */
export class TextOut {
  private readonly stream: WriteStream;
  private buffer = '';
  constructor(readonly path: string) {
    this.stream = createWriteStream(path, { fd: openPrivateFileSync(path) });
  }
  async write(text: string): Promise<void> {
    this.buffer += text;
    if (this.buffer.length >= 64 * 1024) await this.flush();
  }
  private async flush(): Promise<void> {
    if (this.buffer.length === 0) return;
    const ok = this.stream.write(this.buffer);
    this.buffer = '';
    if (!ok) await once(this.stream, 'drain');
  }
  async close(): Promise<void> {
    await this.flush();
    this.stream.end();
    await finished(this.stream);
  }
  destroy(): void {
    this.stream.destroy();
  }
}

/** The non-empty lines of a file we wrote, as text. */
export async function* textLines(path: string): AsyncGenerator<string> {
  for await (const batch of splitLines(createReadStream(path, { highWaterMark: 256 * 1024 }), 16 * 1024 * 1024)) {
    for (const buf of batch.lines) {
      if (buf === TOO_LONG || buf.length === 0) continue;
      yield buf.toString('utf8');
    }
  }
}

/**
 * Copies the candidate spool `from` to `to` (when given) without the duplicates' lines (one
 * candidate a line, in ordinal order), handing each line kept to `kept` with its new ordinal.
 */
export async function dropDuplicates(from: string, to: string | undefined, dups: DuplicateReader, kept?: (line: string, ordinal: number) => void): Promise<number> {
  const out = to ? new TextOut(to) : undefined;
  let ordinal = 0;
  let n = 0;
  try {
    for await (const line of textLines(from)) {
      const d = dups.peek();
      if (d && d.ordinal === ordinal) {
        dups.take();
      } else {
        kept?.(line, n);
        await out?.write(`${line}\n`);
        n++;
      }
      ordinal++;
    }
    await out?.close();
  } catch (err) {
    out?.destroy();
    throw err;
  } finally {
    dups.close();
  }
  return n;
}

/**
 * Writes the rejects report `to`: the report `from` (its header, then rows in line order) with a
 * row for each duplicate (`row`) put in its place by line. A report row spans several physical
 * lines when a quoted cell holds a line break: a row ends where its quotes balance.
 */
export async function mergeRejects(from: string, to: string, dups: DuplicateReader, row: (d: Duplicate) => string): Promise<void> {
  const out = new TextOut(to);
  let header = true;
  let pending = '';
  let quotes = 0;
  const emit = async (text: string): Promise<void> => {
    const line = Number(/^\d+/.exec(text)?.[0] ?? NaN);
    for (let d = dups.peek(); d && !(d.line > line); d = dups.peek()) await out.write(row(dups.take() as Duplicate));
    await out.write(`${text}\n`);
  };
  try {
    for await (const batch of splitLines(createReadStream(from, { highWaterMark: 256 * 1024 }), Number.MAX_SAFE_INTEGER)) {
      for (const buf of batch.lines) {
        if (buf === TOO_LONG) continue;
        const text = buf.toString('utf8');
        if (header) {
          await out.write(`${text}\n`);
          header = false;
          continue;
        }
        pending = pending === '' && quotes === 0 ? text : `${pending}\n${text}`;
        for (let i = text.indexOf('"'); i >= 0; i = text.indexOf('"', i + 1)) quotes++;
        if (quotes % 2 === 0) {
          await emit(pending);
          pending = '';
          quotes = 0;
        }
      }
    }
    if (pending !== '') await emit(pending);
    for (let d = dups.take(); d; d = dups.take()) await out.write(row(d));
    await out.close();
  } catch (err) {
    out.destroy();
    throw err;
  } finally {
    dups.close();
  }
}
