/**
 * The NANP fast path in `normalisePhone` must give libphonenumber's verdict, number for
 * number: the reference (`reference/account-v0.ts`) asks libphonenumber for everything. Random
 * numbers over every area code 200–999, in the shapes the fast path takes and in shapes it leaves
 * to the library, plus numbers picked at the edges (toll-free, premium, Caribbean, N11, 555).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalisePhone } from '@breachwave/domain';
import { normalisePhoneV0 } from './reference/account-v0.js';

test('normalisePhone agrees with libphonenumber on every NANP area code and shape', () => {
  let seed = 42;
  const rnd = (n: number): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  const d = (n: number, len: number): string => String(n).padStart(len, '0');
  const shapes: ((a: string, b: string, c: string) => string)[] = [
    (a, b, c) => `+1${a}${b}${c}`,
    (a, b, c) => `(${a}) ${b}-${c}`,
    (a, b, c) => `${a}-${b}-${c}`,
    (a, b, c) => `${a}.${b}.${c}`,
    (a, b, c) => `${a}${b}${c}`,
    (a, b, c) => `+1 ${a} ${b} ${c}`,
    (a, b, c) => `+1-(${a})-${b}-${c}`,
    (a, b, c) => `1${a}${b}${c}`,
    (a, b, c) => `1-${a}-${b}-${c}`,
    (a, b, c) => `1 (${a}) ${b}-${c}`,
    // Left to the library:
    (a, b, _c) => `+1${a}${b}`,
    (a, b, c) => `(${a} ${b}-${c}`,
    (a, b, c) => `${a} ${b} ${c} x12`,
    (a, b, c) => `tel:+1${a}${b}${c}`,
  ];
  let checked = 0;
  const check = (text: string): void => {
    assert.deepEqual(normalisePhone(text), normalisePhoneV0(text), text);
    checked++;
  };
  for (let npa = 200; npa <= 999; npa++) {
    for (let k = 0; k < 24; k++) {
      const nxx = k < 2 ? [555, 200][k] as number : 100 + rnd(900);
      const shape = shapes[k % shapes.length] as (a: string, b: string, c: string) => string;
      check(shape(d(npa, 3), d(nxx, 3), d(rnd(10_000), 4)));
    }
  }
  for (const text of [
    '+18005550199', '(888) 555-0100', '+19005550100', '(976) 555-0100', '(211) 555-0100', '(555) 555-0100', '(370) 555-0100',
    '+12645550100', '+12684601234', '+18765550100', '+18095550100', '+17875550100', '+16845550100', '+16715550100', '+14415550100',
    '+12045550100', '+14165550100', '(416) 555-0199', '(202) 555-0143', '+1 312 555 0199', '12345', '555-CALL-NOW', '+44 20 7946 0958',
    '+1 202 555 014', '+1 202 555 01433', '(202)555-0143', '202 5550143', '+1 (202) 555-0143', '+1.202.555.0143',
  ]) check(text);
  assert.ok(checked > 19_000);
});
