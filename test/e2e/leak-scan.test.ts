import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formsIn, wholeNumbers } from './leak-scan.js';
import { containsPin } from './pin-support.js';

/** A deterministic pseudo-random text over a small alphabet, so forms and their near misses occur often. */
function texts(seed: number, count: number, length: number, alphabet: string): string[] {
  let x = seed;
  const next = (): number => {
    x = (x * 1_103_515_245 + 12_345) % 2_147_483_648;
    return x;
  };
  return Array.from({ length: count }, () => Array.from({ length: next() % length }, () => alphabet[next() % alphabet.length]).join(''));
}

test('formsIn finds exactly the forms includes() finds: overlapping, adjacent, at either end, sharing anchors, short ones', () => {
  const forms = ['+13125550100', '3125550100', '31255501', '3125', '31', '+1312555010', 'dabx1@drill.example.com', 'Drill abx1 Person', 'Drill abx12 Person', ''];
  const cases = [
    '', '3', '31', '312', '+13125550100', 'x+13125550100x3125550100', '31313125550100', 'Drill abx12 PersonDrill abx1 Person', 'dabx1@drill.example.co',
    ...forms.map((f) => `..${f}`), ...forms.map((f) => `${f}..`), forms.join(''),
    ...texts(7, 400, 60, '+1325501 '),
  ];
  for (const text of cases) assert.deepEqual(formsIn(text, forms), new Set(forms.filter((f) => text.includes(f))), JSON.stringify(text));
});

test('wholeNumbers answers as containsPin does: a PIN only as a whole number, never inside a longer run', () => {
  const pins = ['123456', '000123', '1234567', '654321'];
  const lengths = new Set(pins.map((p) => p.length));
  const cases = ['123456', '1234567', 'a123456b', '0123456', '123456 7', '12345 6', 'x000123', '654321654321', '654321-654321', ...texts(11, 400, 40, '0123456 a')];
  for (const text of cases) {
    const numbers = wholeNumbers(text, lengths);
    for (const pin of pins) assert.equal(numbers.has(pin), containsPin(text, pin), `${pin} in ${JSON.stringify(text)}`);
  }
});
