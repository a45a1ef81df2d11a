import { keyHash as hash } from './external-sort.js';

/**
 * An exact set of account ids, each with the line it was first seen on, kept off the V8 heap.
 *
 * Why: the ingest's duplicate check held a `Map<string, number>` of every accepted id — ~60 MB of
 * heap per million rows, which V8 then grows its heap around (a 1M-row ingest peaked at ~320 MB
 * RSS). Here the ids live as bytes in 1 MiB arena chunks and an open-addressing table of
 * typed arrays points at them: ~20 bytes of arena and ~16 bytes of table per id, none of it
 * scanned by the garbage collector.
 *
 * Exact: a lookup compares the stored bytes, never only a hash, so two different ids are never
 * taken for one another (a false duplicate would drop a real person's notice).
 *
 * Ids must be at most 255 characters of Latin-1 text (account ids are `[A-Za-z0-9_-]{1,64}`);
 * anything else is refused with a RangeError rather than stored inexactly.
 */
export class IdIndex {
  /** Arena chunk size; a record never straddles two chunks. */
  private static readonly CHUNK = 1 << 20;
  /** Records start on 4-byte boundaries, so a slot stores `offset / 4` and 32 bits address 16 GiB. */
  private static readonly ALIGN = 4;

  private readonly chunks: Buffer[] = [];
  private used = IdIndex.CHUNK; // forces a chunk on the first insert
  /** Per slot: `(offset / ALIGN) + 1` of the record, 0 when empty. */
  private refs: Uint32Array;
  /** Per slot: the id's full 32-bit hash, so most mismatches never touch the arena. */
  private hashes: Uint32Array;
  private mask: number;
  private count = 0;

  constructor(initialCapacity = 1 << 16) {
    let cap = 16;
    while (cap < initialCapacity * 2) cap *= 2;
    this.refs = new Uint32Array(cap);
    this.hashes = new Uint32Array(cap);
    this.mask = cap - 1;
  }

  /** Ids stored. */
  get size(): number {
    return this.count;
  }

  /** Bytes held outside the V8 heap (table + arena). */
  get bytes(): number {
    return this.refs.byteLength + this.hashes.byteLength + this.chunks.length * IdIndex.CHUNK;
  }

  /** The value stored with `id`, or undefined. */
  get(id: string): number | undefined {
    const h = hash(id);
    for (let i = h & this.mask; ; i = (i + 1) & this.mask) {
      const ref = this.refs[i] as number;
      if (ref === 0) return undefined;
      if (this.hashes[i] === h && this.equals(ref, id)) return this.valueAt(ref);
    }
  }

  /**
   * Stores `id` with `value` (an unsigned 32-bit integer) unless it is already there.
   * @returns the value stored before (the id was already present, nothing changed), or undefined.
   */
  add(id: string, value: number): number | undefined {
    if (id.length > 255) throw new RangeError('id longer than 255 characters');
    const h = hash(id);
    let i = h & this.mask;
    for (; ; i = (i + 1) & this.mask) {
      const ref = this.refs[i] as number;
      if (ref === 0) break;
      if (this.hashes[i] === h && this.equals(ref, id)) return this.valueAt(ref);
    }
    this.refs[i] = this.store(id, value);
    this.hashes[i] = h;
    this.count++;
    if (this.count * 2 > this.refs.length) this.grow();
    return undefined;
  }

  /**
   * Adds one to the value stored with `id` (storing 1 when it is new).
   * @returns the value now stored.
   */
  increment(id: string): number {
    if (id.length > 255) throw new RangeError('id longer than 255 characters');
    const h = hash(id);
    for (let i = h & this.mask; ; i = (i + 1) & this.mask) {
      const ref = this.refs[i] as number;
      if (ref === 0) break;
      if (this.hashes[i] === h && this.equals(ref, id)) {
        const { chunk, at } = this.locate(ref);
        const next = (chunk.readUInt32LE(at + 1) + 1) >>> 0;
        chunk.writeUInt32LE(next, at + 1);
        return next;
      }
    }
    this.add(id, 1);
    return 1;
  }

  /** Every id with its value, in no particular order. Do not add while iterating. */
  *entries(): Generator<[string, number]> {
    for (let i = 0; i < this.refs.length; i++) {
      const ref = this.refs[i] as number;
      if (ref === 0) continue;
      const { chunk, at } = this.locate(ref);
      const len = chunk[at] as number;
      yield [chunk.toString('latin1', at + 5, at + 5 + len), chunk.readUInt32LE(at + 1)];
    }
  }

  /** Record layout: [length: u8][value: u32 LE][id bytes], padded to ALIGN. */
  private store(id: string, value: number): number {
    const size = (5 + id.length + IdIndex.ALIGN - 1) & ~(IdIndex.ALIGN - 1);
    if (this.used + size > IdIndex.CHUNK) {
      this.chunks.push(Buffer.allocUnsafeSlow(IdIndex.CHUNK));
      this.used = 0;
    }
    const chunk = this.chunks[this.chunks.length - 1] as Buffer;
    const at = this.used;
    chunk[at] = id.length;
    chunk.writeUInt32LE(value >>> 0, at + 1);
    chunk.write(id, at + 5, 'latin1');
    this.used += size;
    const offset = (this.chunks.length - 1) * IdIndex.CHUNK + at;
    return offset / IdIndex.ALIGN + 1;
  }

  private locate(ref: number): { chunk: Buffer; at: number } {
    const offset = (ref - 1) * IdIndex.ALIGN;
    const c = Math.floor(offset / IdIndex.CHUNK);
    return { chunk: this.chunks[c] as Buffer, at: offset - c * IdIndex.CHUNK };
  }

  private equals(ref: number, id: string): boolean {
    const { chunk, at } = this.locate(ref);
    if (chunk[at] !== id.length) return false;
    for (let k = 0, p = at + 5; k < id.length; k++, p++) if (chunk[p] !== id.charCodeAt(k)) return false;
    return true;
  }

  private valueAt(ref: number): number {
    const { chunk, at } = this.locate(ref);
    return chunk.readUInt32LE(at + 1);
  }

  /** Doubles the table; entries move by their stored hash, the arena is not touched. */
  private grow(): void {
    const cap = this.refs.length * 2;
    const refs = new Uint32Array(cap);
    const hashes = new Uint32Array(cap);
    const mask = cap - 1;
    for (let j = 0; j < this.refs.length; j++) {
      const ref = this.refs[j] as number;
      if (ref === 0) continue;
      const h = this.hashes[j] as number;
      let i = h & mask;
      while (refs[i] !== 0) i = (i + 1) & mask;
      refs[i] = ref;
      hashes[i] = h;
    }
    this.refs = refs;
    this.hashes = hashes;
    this.mask = mask;
  }
}
