import { test } from 'node:test';
import assert from 'node:assert/strict';
import { IdIndex } from './id-index.js';

test('an id index is exact: it agrees with a Map on every lookup, through growth and probe collisions', () => {
  const index = new IdIndex(4); // tiny on purpose: many doublings, long probe runs
  const map = new Map<string, number>();
  let seed = 7;
  const rnd = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed;
  };
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-';
  const ids: string[] = [];
  for (let i = 0; i < 30_000; i++) {
    // Short ids (many share prefixes), near-misses of earlier ids, and the longest allowed.
    const len = i % 97 === 0 ? 64 : 1 + (rnd() % 8);
    let id = '';
    for (let k = 0; k < len; k++) id += alphabet[rnd() % alphabet.length];
    if (i % 5 === 0 && ids.length > 0) {
      const other = ids[rnd() % ids.length] as string;
      id = other.slice(0, -1) + alphabet[rnd() % alphabet.length];
    }
    ids.push(id);
    const expected = map.get(id);
    assert.equal(index.add(id, i), expected, `add ${id}`);
    if (expected === undefined) map.set(id, i);
  }
  assert.equal(index.size, map.size);
  for (const id of ids) assert.equal(index.get(id), map.get(id));
  assert.equal(index.get('never-added'), undefined);
  assert.equal(index.get(''), undefined);
});

test('ids that differ only by case or by one character are different ids', () => {
  const index = new IdIndex();
  assert.equal(index.add('ACCT-1', 1), undefined);
  assert.equal(index.add('acct-1', 2), undefined);
  assert.equal(index.add('ACCT-10', 3), undefined);
  assert.equal(index.add('ACCT-1', 4), 1, 'the first line is kept');
  assert.deepEqual([index.get('ACCT-1'), index.get('acct-1'), index.get('ACCT-10'), index.get('ACCT-')], [1, 2, 3, undefined]);
});

test('values are unsigned 32-bit line numbers; text outside Latin-1 or over 255 characters is refused', () => {
  const index = new IdIndex();
  index.add('big', 4_000_000_000);
  assert.equal(index.get('big'), 4_000_000_000);
  assert.throws(() => index.add('x'.repeat(256), 1), RangeError);
  assert.throws(() => index.add('a\u0101', 1), RangeError);
  assert.throws(() => index.get('a\u0101'), RangeError);
});

test('a million ids cost about 36 bytes each, off the V8 heap', () => {
  const index = new IdIndex(1 << 20);
  for (let i = 0; i < 1_000_000; i++) index.add(`ACCT-${String(i).padStart(8, '0')}`, i + 2);
  assert.equal(index.size, 1_000_000);
  assert.equal(index.get('ACCT-00123456'), 123_458);
  assert.ok(index.bytes < 40 * 1024 * 1024, `${index.bytes} bytes`);
});
