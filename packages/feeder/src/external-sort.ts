import { closeSync, openSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { openPrivateFileSync } from './private-files.js';

/**
 * One record of an {@link ExternalSorter}: an unsigned 32-bit `primary`, a `key` of at most 255
 * Latin-1 characters, three unsigned 32-bit values and a text `payload` carried along (empty
 * unless given). Records come out ordered by `primary`,
 * then `key` (by character code), then `a`; records equal on all three keep the order they were
 * added in.
 */
export interface SortRecord {
  readonly primary: number;
  readonly key: string;
  readonly a: number;
  readonly b: number;
  readonly c: number;
  readonly payload: string;
}

/** Reads an {@link ExternalSorter}'s records in order, one at a time. */
export interface SortedReader {
  /** The next record (valid until the next call), or undefined at the end. */
  next(): SortRecord | undefined;
  /** Closes the files read (also done at the end). */
  close(): void;
}

/** Options of an {@link ExternalSorter}. */
export interface ExternalSorterOptions {
  /** Where the sorted runs are written (private files, removed by `dispose`). */
  readonly dir: string;
  /** File name prefix of the runs (`<name>.run<n>`). */
  readonly name: string;
  /** Bytes of records held in memory before they are sorted and written out as a run. Default 16 MiB. */
  readonly runBytes?: number;
}

/** Fixed part of a record: primary, a, b, c (u32 LE each), key length (u8), payload length in bytes (u32 LE). */
const HEAD = 21;
/** Local indices of a run fit in 21 bits, so `primary * 2^21 + index` is an exact double. */
const INDEX_BITS = 2 ** 21;
/** Read buffer per run while merging, at most; less when there are many runs (see `MERGE_BYTES`). */
const READ_BYTES = 64 * 1024;
/** Read buffers of all runs together, at most (a buffer is never below 4 KiB, nor below one record). */
const MERGE_BYTES = 32 * 1024 * 1024;
/** Records handed out between two yields to the event loop by `forEach`. */
const YIELD_EVERY = 32_768;

/**
 * FNV-1a (32-bit) over a key's char codes with a final avalanche: a `primary` that spreads keys
 * (equal keys, equal hash) so that grouping by key sorts mostly on numbers.
 * @throws RangeError for a character outside Latin-1.
 */
export function keyHash(key: string): number {
  let h = 0x811c9dc5;
  for (let k = 0; k < key.length; k++) {
    const c = key.charCodeAt(k);
    if (c > 0xff) throw new RangeError('key has a character outside Latin-1');
    h ^= c;
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h >>> 0;
}

function compare(p1: number, k1: string, a1: number, p2: number, k2: string, a2: number): number {
  if (p1 !== p2) return p1 < p2 ? -1 : 1;
  if (k1 !== k2) return k1 < k2 ? -1 : 1;
  return a1 - a2;
}

/**
 * Sorts any number of small records in bounded memory: records are buffered up to `runBytes`,
 * sorted and written to a private file (a run) next to the data they come from, and read back
 * with a k-way merge of the runs. Memory is the buffer while adding, and a 64 KiB read buffer per
 * run while reading, whatever the number of records. With records that never fill the buffer,
 * nothing is written to disk.
 *
 * File I/O is synchronous (a run is written when the buffer fills, inside `add`): the sorter
 * serves batch passes where the event loop has nothing else to do but what `forEach`'s periodic
 * yields let through.
 */
export class ExternalSorter {
  private readonly runBytes: number;
  private readonly capacity: number;
  private arena: Buffer | undefined;
  private offsets: Uint32Array | undefined;
  private used = 0;
  private count = 0;
  private total = 0;
  private readonly runs: string[] = [];

  constructor(private readonly options: ExternalSorterOptions) {
    this.runBytes = Math.max(4096, options.runBytes ?? 16 * 1024 * 1024);
    this.capacity = Math.min(INDEX_BITS, Math.floor(this.runBytes / 20));
  }

  /** Records added. */
  get size(): number {
    return this.total;
  }

  /** Run files written so far. */
  get runCount(): number {
    return this.runs.length;
  }

  /** Adds a record (see {@link SortRecord}); writes a run first when the buffer is full. */
  add(primary: number, key: string, a: number, b: number, c: number, payload = ''): void {
    if (key.length > 255) throw new RangeError('sort key longer than 255 characters');
    const payloadBytes = payload === '' ? 0 : Buffer.byteLength(payload, 'utf8');
    const size = HEAD + key.length + payloadBytes;
    if (size > this.runBytes) throw new RangeError('sort record larger than a run');
    if (!this.arena || !this.offsets) {
      this.arena = Buffer.allocUnsafeSlow(this.runBytes);
      this.offsets = new Uint32Array(this.capacity);
    }
    if (this.used + size > this.runBytes || this.count >= this.capacity) this.spill();
    const arena = this.arena;
    const at = this.used;
    arena.writeUInt32LE(primary >>> 0, at);
    arena.writeUInt32LE(a >>> 0, at + 4);
    arena.writeUInt32LE(b >>> 0, at + 8);
    arena.writeUInt32LE(c >>> 0, at + 12);
    arena[at + 16] = key.length;
    arena.writeUInt32LE(payloadBytes, at + 17);
    for (let k = 0; k < key.length; k++) if (key.charCodeAt(k) > 0xff) throw new RangeError('sort key has a character outside Latin-1');
    arena.write(key, at + HEAD, 'latin1');
    if (payloadBytes > 0) arena.write(payload, at + HEAD + key.length, 'utf8');
    (this.offsets as Uint32Array)[this.count++] = at;
    this.used += size;
    this.total++;
  }

  /** The buffered records' offsets in sorted order. */
  private sortBuffer(): Uint32Array {
    const arena = this.arena as Buffer;
    const offsets = this.offsets as Uint32Array;
    const n = this.count;
    const keys = new Float64Array(n);
    for (let i = 0; i < n; i++) keys[i] = arena.readUInt32LE(offsets[i] as number) * INDEX_BITS + i;
    keys.sort();
    const order = new Uint32Array(n);
    for (let i = 0; i < n; i++) order[i] = (keys[i] as number) % INDEX_BITS;
    // Records of one primary are in the order they were added; sort each such range by key, a.
    const keyAt = (i: number): string => {
      const at = offsets[i] as number;
      return arena.toString('latin1', at + HEAD, at + HEAD + (arena[at + 16] as number));
    };
    for (let s = 0; s < n; ) {
      const p = Math.floor((keys[s] as number) / INDEX_BITS);
      let e = s + 1;
      while (e < n && Math.floor((keys[e] as number) / INDEX_BITS) === p) e++;
      if (e - s > 1) {
        const range = Array.from(order.subarray(s, e), (i) => ({ i, key: keyAt(i), a: arena.readUInt32LE((offsets[i] as number) + 4) }));
        range.sort((x, y) => (x.key !== y.key ? (x.key < y.key ? -1 : 1) : x.a - y.a || x.i - y.i));
        range.forEach((r, j) => (order[s + j] = r.i));
      }
      s = e;
    }
    return order;
  }

  /** Sorts the buffer and writes it out as a run file. */
  private spill(): void {
    if (this.count === 0) return;
    const arena = this.arena as Buffer;
    const offsets = this.offsets as Uint32Array;
    const order = this.sortBuffer();
    const path = join(this.options.dir, `${this.options.name}.run${this.runs.length}`);
    const fd = openPrivateFileSync(path);
    this.runs.push(path);
    try {
      const out = Buffer.allocUnsafe(1024 * 1024);
      let o = 0;
      for (let j = 0; j < order.length; j++) {
        const at = offsets[order[j] as number] as number;
        const size = recordSize(arena, at);
        if (o + size > out.length) {
          writeAll(fd, out, o);
          o = 0;
        }
        if (size > out.length) writeAll(fd, arena.subarray(at, at + size), size);
        else {
          arena.copy(out, o, at, at + size);
          o += size;
        }
      }
      writeAll(fd, out, o);
    } finally {
      closeSync(fd);
    }
    this.used = 0;
    this.count = 0;
  }

  /**
   * A reader of every record added so far, in order. It may be opened more than once; records
   * added afterwards are not seen by a reader already open.
   */
  sorted(): SortedReader {
    if (this.runs.length > 0) {
      this.spill();
      this.arena = undefined;
      this.offsets = undefined;
      return mergeRuns(this.runs);
    }
    if (!this.arena || this.count === 0) return { next: () => undefined, close: () => {} };
    const arena = this.arena;
    const offsets = this.offsets as Uint32Array;
    const order = this.sortBuffer();
    let j = 0;
    const rec = { primary: 0, key: '', a: 0, b: 0, c: 0, payload: '' };
    return {
      next: () => {
        if (j >= order.length) return undefined;
        const at = offsets[order[j++] as number] as number;
        decode(arena, at, rec);
        return rec;
      },
      close: () => {},
    };
  }

  /** Calls `fn` with every record in order (the record is reused: copy what is kept), yielding to the event loop now and then. */
  async forEach(fn: (r: SortRecord) => void): Promise<void> {
    const reader = this.sorted();
    try {
      let n = 0;
      for (let r = reader.next(); r; r = reader.next()) {
        fn(r);
        if (++n % YIELD_EVERY === 0) await yieldToLoop();
      }
    } finally {
      reader.close();
    }
  }

  /** Removes the run files and drops the buffer. The sorter is empty afterwards. */
  dispose(): void {
    for (const path of this.runs.splice(0)) {
      try {
        unlinkSync(path);
      } catch {
        // Already gone.
      }
    }
    this.arena = undefined;
    this.offsets = undefined;
    this.used = 0;
    this.count = 0;
    this.total = 0;
  }
}

function writeAll(fd: number, buf: Buffer, length: number): void {
  let done = 0;
  while (done < length) done += writeSync(fd, buf, done, length - done);
}

function recordSize(buf: Buffer, at: number): number {
  return HEAD + (buf[at + 16] as number) + buf.readUInt32LE(at + 17);
}

type MutableRecord = { -readonly [K in keyof SortRecord]: SortRecord[K] };

function decode(buf: Buffer, at: number, rec: MutableRecord): void {
  rec.primary = buf.readUInt32LE(at);
  rec.a = buf.readUInt32LE(at + 4);
  rec.b = buf.readUInt32LE(at + 8);
  rec.c = buf.readUInt32LE(at + 12);
  const keyEnd = at + HEAD + (buf[at + 16] as number);
  rec.key = buf.toString('latin1', at + HEAD, keyEnd);
  const payloadBytes = buf.readUInt32LE(at + 17);
  rec.payload = payloadBytes === 0 ? '' : buf.toString('utf8', keyEnd, keyEnd + payloadBytes);
}

/** One run being merged: its file, a read buffer and its current record. */
class RunReader {
  private readonly fd: number;
  private buf: Buffer;
  private pos = 0;
  private end = 0;
  private eof = false;
  readonly rec: MutableRecord = { primary: 0, key: '', a: 0, b: 0, c: 0, payload: '' };

  constructor(path: string, readonly index: number, bufferBytes: number) {
    this.buf = Buffer.allocUnsafe(bufferBytes);
    this.fd = openSync(path, 'r');
  }

  /** Reads the next record into `rec`; false at the end of the run. */
  advance(): boolean {
    if (!this.ensure(HEAD)) return false;
    const size = recordSize(this.buf, this.pos);
    if (!this.ensure(size)) throw new Error('a sort run file ends inside a record');
    decode(this.buf, this.pos, this.rec);
    this.pos += size;
    return true;
  }

  /** Makes `n` bytes available from `pos`; false when the file ends first (with nothing left at all). */
  private ensure(n: number): boolean {
    if (this.end - this.pos >= n) return true;
    if (n > this.buf.length) {
      const bigger = Buffer.allocUnsafe(n);
      this.buf.copy(bigger, 0, this.pos, this.end);
      this.buf = bigger;
      this.end -= this.pos;
      this.pos = 0;
    } else if (this.pos > 0) {
      this.buf.copy(this.buf, 0, this.pos, this.end);
      this.end -= this.pos;
      this.pos = 0;
    }
    while (this.end < n && !this.eof) {
      const got = readSync(this.fd, this.buf, this.end, this.buf.length - this.end, null);
      if (got === 0) this.eof = true;
      this.end += got;
    }
    if (this.end >= n) return true;
    if (this.end > 0) throw new Error('a sort run file ends inside a record');
    return false;
  }

  close(): void {
    closeSync(this.fd);
  }
}

/** A k-way merge of sorted run files (a binary heap of their current records). */
function mergeRuns(paths: readonly string[]): SortedReader {
  const heap: RunReader[] = [];
  const less = (x: RunReader, y: RunReader): boolean => {
    const c = compare(x.rec.primary, x.rec.key, x.rec.a, y.rec.primary, y.rec.key, y.rec.a);
    return c !== 0 ? c < 0 : x.index < y.index;
  };
  const down = (i: number): void => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && less(heap[l] as RunReader, heap[m] as RunReader)) m = l;
      if (r < heap.length && less(heap[r] as RunReader, heap[m] as RunReader)) m = r;
      if (m === i) return;
      [heap[i], heap[m]] = [heap[m] as RunReader, heap[i] as RunReader];
      i = m;
    }
  };
  const open: RunReader[] = [];
  const closeAll = (): void => {
    for (const r of open.splice(0)) r.close();
    heap.length = 0;
  };
  try {
    const bufferBytes = Math.max(4096, Math.min(READ_BYTES, Math.floor(MERGE_BYTES / paths.length)));
    paths.forEach((p, i) => {
      const r = new RunReader(p, i, bufferBytes);
      open.push(r);
      if (r.advance()) heap.push(r);
    });
  } catch (err) {
    closeAll();
    throw err;
  }
  for (let i = (heap.length >> 1) - 1; i >= 0; i--) down(i);
  // The record handed out last: a copy, since its reader moves on before the caller looks at it.
  const out: MutableRecord = { primary: 0, key: '', a: 0, b: 0, c: 0, payload: '' };
  return {
    next: () => {
      const top = heap[0];
      if (!top) {
        closeAll();
        return undefined;
      }
      Object.assign(out, top.rec);
      if (top.advance()) down(0);
      else {
        const last = heap.pop() as RunReader;
        if (heap.length > 0) {
          heap[0] = last;
          down(0);
        }
      }
      return out;
    },
    close: closeAll,
  };
}
