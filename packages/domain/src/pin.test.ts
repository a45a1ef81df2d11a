import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import type { BreachwaveError } from './errors.js';
import { COMMON_PINS, createPinPolicy, DEFAULT_PIN_POLICY, generatePin, pinBlockReason, rotationIdOf, type PinContext } from './pin.js';

test('the blocklist refuses repeats, runs, common PINs, years, dates, the phone and the previous PIN', () => {
  const cases: [string, string][] = [
    ['111111', 'repeated'], ['000000', 'repeated'], ['121212', 'repeated'], ['123123', 'repeated'], ['112233', 'repeated'],
    ['337777', 'repeated'], ['100001', 'repeated'], ['998877', 'repeated'],
    ['123456', 'sequence'], ['654321', 'sequence'], ['890123', 'sequence'], ['135791', 'sequence'], ['912345', 'sequence'], ['865432', 'sequence'],
    ['159753', 'common'], ['147258', 'common'], ['102030', 'common'], ['314159', 'common'],
    ['198504', 'year'], ['042019', 'year'], ['20240917', 'year'],
    ['250385', 'date'], ['031585', 'date'], ['850315', 'date'],
  ];
  for (const [pin, reason] of cases) assert.equal(pinBlockReason(pin), reason, pin);
  assert.equal(pinBlockReason('12345'), 'format', 'shorter than six digits');
  assert.equal(pinBlockReason('12a456'), 'format');
  const ctx: PinContext = { phone: '+1 (202) 555-0143', isPrevious: (p) => p === '483916' };
  assert.equal(pinBlockReason('550143', ctx), 'phone', 'digits of the account phone');
  assert.equal(pinBlockReason('025550', ctx), 'phone');
  assert.equal(pinBlockReason('483916', ctx), 'previous');
  assert.equal(pinBlockReason('483916'), undefined);
  assert.equal(pinBlockReason('738294', ctx), undefined);
  for (const pin of COMMON_PINS) assert.notEqual(pinBlockReason(pin), undefined, `${pin} is refused`);
});

test('a blocked draw is thrown away and redrawn from scratch', () => {
  const draws = [123456, 111111, 550143, 738294];
  const seen: number[] = [];
  const pin = generatePin({ phone: '+12025550143' }, DEFAULT_PIN_POLICY, (max) => {
    assert.equal(max, 1_000_000);
    const v = draws[seen.length];
    assert.ok(v !== undefined, 'no more draws than needed');
    seen.push(v);
    return v;
  });
  assert.equal(pin, '738294');
  assert.equal(seen.length, 4);
  assert.equal(generatePin({}, DEFAULT_PIN_POLICY, () => 4821), '004821', 'leading zeros are kept');
});

test('length is configurable, at least six digits', () => {
  assert.equal(generatePin({}, createPinPolicy({ length: 8 })).length, 8);
  assert.equal(generatePin({}, createPinPolicy({ length: 12 })).length, 12);
  assert.equal(generatePin().length, 6);
  for (const length of [4, 5, 13, 6.5]) {
    assert.throws(() => createPinPolicy({ length }), (e: BreachwaveError) => e.code === 'BW_CONFIG_INVALID');
  }
});

test('an exhausted policy fails with a catalog error that names no PIN', () => {
  assert.throws(() => generatePin({}, createPinPolicy({ maxDraws: 3 }), () => 111111), (e: BreachwaveError) => {
    assert.equal(e.code, 'BW_PIN_POLICY');
    assert.ok(!/\d{6}/.test(e.message));
    return true;
  });
});

test('rotation ids are deterministic per (wave, account)', () => {
  assert.equal(rotationIdOf('w1', 'A-1'), 'rot.w1.A-1');
  assert.equal(rotationIdOf('w1', 'A-1'), rotationIdOf('w1', 'A-1'));
});

/** Upper chi-square quantile (Wilson–Hilferty), z the standard normal quantile of the test level. */
function chiSquareCritical(df: number, z: number): number {
  const a = 2 / (9 * df);
  return df * (1 - a + z * Math.sqrt(a)) ** 3;
}
function chiSquare(observed: readonly number[], expected: readonly number[]): number {
  return observed.reduce((s, o, i) => {
    const e = expected[i] ?? 0;
    return s + (o - e) ** 2 / e;
  }, 0);
}
// Per-test level 1e-6 (z = 4.753): five tests stay far from a flaky false alarm while a biased
// sampler (below) lands hundreds of standard deviations out.
const Z = 4.753;

test('output is uniform over the allowed space (200,000 draws, chi-square)', () => {
  const length = 6;
  const space = 10 ** length;
  const ctx: PinContext = { phone: '+13125550199', isPrevious: (p) => p === '483916' };
  // The allowed space, enumerated once: rank of every allowed PIN, and how many blocked values
  // come right before it (a "next allowed value" sampler would favour PINs after long gaps).
  const rank = new Int32Array(space).fill(-1);
  const gapBefore: number[] = [];
  let allowed = 0;
  let gap = 0;
  for (let v = 0; v < space; v++) {
    if (pinBlockReason(String(v).padStart(length, '0'), ctx) === undefined) {
      rank[v] = allowed++;
      gapBefore.push(gap);
      gap = 0;
    } else gap++;
  }
  assert.ok(allowed > 0.8 * space, `the blocklist keeps most of the space (${allowed})`);

  const N = 200_000;
  const K = 100;
  const gapClass = (g: number) => (g === 0 ? 0 : g === 1 ? 1 : g <= 4 ? 2 : 3);
  const expectedBuckets = new Array<number>(K).fill(0);
  const expectedDigits = Array.from({ length }, () => new Array<number>(10).fill(0));
  const expectedGaps = new Array<number>(4).fill(0);
  for (let v = 0; v < space; v++) {
    const r = rank[v] ?? -1;
    if (r < 0) continue;
    expectedBuckets[Math.floor((r * K) / allowed)]! += N / allowed;
    const s = String(v).padStart(length, '0');
    for (let i = 0; i < length; i++) expectedDigits[i]![s.charCodeAt(i) - 48]! += N / allowed;
    expectedGaps[gapClass(gapBefore[r] ?? 0)]! += N / allowed;
  }

  const observe = (draw: () => string) => {
    const buckets = new Array<number>(K).fill(0);
    const digits = Array.from({ length }, () => new Array<number>(10).fill(0));
    const gaps = new Array<number>(4).fill(0);
    for (let i = 0; i < N; i++) {
      const pin = draw();
      const r = rank[Number(pin)] ?? -1;
      assert.ok(r >= 0, 'never a blocked PIN');
      buckets[Math.floor((r * K) / allowed)]!++;
      for (let j = 0; j < length; j++) digits[j]![pin.charCodeAt(j) - 48]!++;
      gaps[gapClass(gapBefore[r] ?? 0)]!++;
    }
    return {
      buckets: chiSquare(buckets, expectedBuckets),
      digits: digits.map((d, j) => chiSquare(d, expectedDigits[j] ?? [])),
      gaps: chiSquare(gaps, expectedGaps),
    };
  };

  const real = observe(() => generatePin(ctx));
  assert.ok(real.buckets < chiSquareCritical(K - 1, Z), `rank buckets: χ² ${real.buckets.toFixed(1)}`);
  for (const [j, x] of real.digits.entries()) assert.ok(x < chiSquareCritical(9, Z), `digit ${j}: χ² ${x.toFixed(1)}`);
  assert.ok(real.gaps < chiSquareCritical(3, Z), `gap classes: χ² ${real.gaps.toFixed(1)}`);

  // The test has teeth: a sampler that moves a blocked draw to the next allowed value is caught.
  const nextAllowed = () => {
    let v = randomInt(space);
    while ((rank[v] ?? -1) < 0) v = (v + 1) % space;
    return String(v).padStart(length, '0');
  };
  const biased = observe(nextAllowed);
  assert.ok(biased.gaps > 10 * chiSquareCritical(3, Z), `the biased sampler fails (χ² ${biased.gaps.toFixed(0)})`);
});
