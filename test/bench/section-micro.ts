/**
 * One number per ingest optimisation, reference vs current in the same process and run, so the
 * whole-ingest before/after can be attributed:
 * - phone: `normalisePhone` on the file's phone column (libphonenumber for every number vs type
 *   computed once + the NANP fast path);
 * - parse: `parseAccountRow` on the file's rows (all of the row validation, phone included);
 * - seal: sealing one contact object (one `randomBytes(12)` per IV vs IVs drawn 1,024 at a time);
 * - dedupe: the duplicate check's memory per id, a `Map` of detached strings vs the off-heap
 *   `IdIndex`, for `ids` ids (heap + external bytes after a full GC; needs --expose-gc).
 *
 * Params: { file, rows, ids }. Prints { phone: {referenceUs, currentUs}, parse: {...}, seal: {...}, dedupe: {...} }.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { normalisePhone, parseAccountRow, type RawRow } from '@breachwave/domain';
import { IdIndex, parseCsvLine } from '@breachwave/feeder';
import { createEnvelope } from '@breachwave/secrets';
import { childParams, emit, round } from './common.js';
import { normalisePhoneV0, parseAccountRowV0 } from './reference/account-v0.js';
import { createEnvelopeV0 } from './reference/envelope-v0.js';

interface Params {
  readonly file: string;
  readonly rows: number;
  readonly ids: number;
}
const p = childParams<Params>();

// Memory per id, measured first (before the timings leave garbage behind): the Map's growth of
// the V8 heap after a full collection, against the IdIndex's exact off-heap bytes plus its heap growth.
const gc = (globalThis as { gc?: () => void }).gc;
const heap = (): number => {
  gc?.();
  gc?.();
  return process.memoryUsage().heapUsed;
};
const idOf = (i: number): string => `ACCT-${String(i).padStart(8, '0')}`;
let before = heap();
const map = new Map<string, number>();
for (let i = 0; i < p.ids; i++) map.set(Buffer.from(idOf(i), 'latin1').toString('latin1'), i + 2);
const mapBytes = heap() - before;
map.clear();
before = heap();
const index = new IdIndex(p.ids);
for (let i = 0; i < p.ids; i++) index.add(idOf(i), i + 2);
const indexBytes = heap() - before + index.bytes;
if (index.size !== p.ids) throw new Error('index lost ids');

// The file's first `rows` data rows, as the ingest hands them to the parser.
const rows: RawRow[] = [];
let header: string[] | undefined;
for await (const line of createInterface({ input: createReadStream(p.file) })) {
  const parsed = parseCsvLine(line);
  if (!parsed.ok) continue;
  if (!header) {
    header = parsed.fields;
    continue;
  }
  if (parsed.fields.length !== header.length) continue;
  const row: Record<string, string> = {};
  header.forEach((h, i) => {
    row[h] = parsed.fields[i] as string;
  });
  rows.push(row);
  if (rows.length >= p.rows) break;
}
const phones = rows.map((r) => r.phone ?? '').filter((x) => x !== '');

/** Best of three passes, µs per item. */
function time<T>(items: readonly T[], fn: (item: T, i: number) => unknown): number {
  let best = Infinity;
  for (let pass = 0; pass < 3; pass++) {
    const t0 = performance.now();
    for (let i = 0; i < items.length; i++) fn(items[i] as T, i);
    best = Math.min(best, performance.now() - t0);
  }
  return round((best * 1000) / Math.max(1, items.length), 3);
}

const phone = { items: phones.length, referenceUs: time(phones, (x) => normalisePhoneV0(x)), currentUs: time(phones, (x) => normalisePhone(x)) };
const parse = { items: rows.length, referenceUs: time(rows, (r) => parseAccountRowV0(r)), currentUs: time(rows, (r) => parseAccountRow(r)) };
const keys = [{ id: 'k1', key: randomBytes(32) }];
const v0 = createEnvelopeV0(keys);
const v1 = createEnvelope(keys);
const contact = JSON.stringify({ name: 'Ana Lopez', phone: '+13125550119', email: 'ana.lopez.123@example.com' });
const sealItems = Array.from({ length: Math.min(100_000, Math.max(1000, p.rows)) }, (_, i) => `wbench:ACCT-${i}`);
const seal = { items: sealItems.length, referenceUs: time(sealItems, (aad) => v0.seal(contact, aad)), currentUs: time(sealItems, (aad) => v1.seal(contact, aad)) };

emit({
  phone,
  parse,
  seal,
  dedupe: { ids: p.ids, gc: gc !== undefined, mapBytesPerId: round(mapBytes / p.ids, 1), indexBytesPerId: round(indexBytes / p.ids, 1), indexOffHeapBytes: index.bytes },
});
