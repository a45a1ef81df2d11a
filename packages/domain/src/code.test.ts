import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CODE_ALPHABET, GENERATED_CODE_LENGTH, checkCharacter, generateCode, hasValidCheck, maskCode, normaliseCode, validateCode,
} from './code.js';

test('the alphabet is Crockford base32: 32 symbols, no I, L, O or U', () => {
  assert.equal(new Set(CODE_ALPHABET).size, 32);
  for (const c of 'ILOU') assert.ok(!CODE_ALPHABET.includes(c));
});

test('generated codes have the set length, the alphabet and a valid check character', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 2000; i++) {
    const code = generateCode();
    assert.equal(code.length, GENERATED_CODE_LENGTH);
    assert.ok([...code].every((c) => CODE_ALPHABET.includes(c)));
    assert.ok(hasValidCheck(code));
    seen.add(code);
  }
  assert.equal(seen.size, 2000);
});

test('every single-character substitution is caught, and every adjacent transposition but 0Z/Z0', () => {
  const code = generateCode();
  for (let i = 0; i < code.length; i++) {
    for (const c of CODE_ALPHABET) {
      if (c === code[i]) continue;
      assert.equal(hasValidCheck(code.slice(0, i) + c + code.slice(i + 1)), false, `substitution at ${i}`);
    }
  }
  let caught = 0;
  let cases = 0;
  for (let n = 0; n < 500; n++) {
    const k = generateCode();
    for (let i = 0; i + 1 < k.length; i++) {
      const a = CODE_ALPHABET.indexOf(k[i] ?? '');
      const b = CODE_ALPHABET.indexOf(k[i + 1] ?? '');
      if (a === b || (a === 0 && b === 31) || (a === 31 && b === 0)) continue;
      cases++;
      if (!hasValidCheck(k.slice(0, i) + k[i + 1] + k[i] + k.slice(i + 2))) caught++;
    }
  }
  assert.equal(caught, cases);
});

test('typed codes normalise: case, hyphens, spaces and read-alike letters', () => {
  const body = 'JNRW0Q4T1';
  const code = body + checkCharacter(body);
  assert.equal(normaliseCode(` jnrw-oq4t-i${code.slice(-1).toLowerCase()} `), code);
  assert.deepEqual(validateCode(`jnrw oq4t l${code.slice(-1)}`), { ok: true, code });
});

test('validation rejects with a reason that never echoes the code', () => {
  const good = generateCode();
  const badCheck = good.slice(0, -1) + (good.endsWith('0') ? '1' : '0');
  const cases: [string, RegExp][] = [['', /empty/], ['ABC12', /length/], [badCheck, /check/], ['ABCDEFGHJU', /alphabet/]];
  for (const [raw, why] of cases) {
    const r = validateCode(raw);
    assert.equal(r.ok, false, raw);
    if (!r.ok) {
      assert.match(r.reason, why);
      if (raw) assert.ok(!r.reason.includes(raw));
    }
  }
  assert.deepEqual(validateCode('ilou-1234-xy', { check: false }), { ok: true, code: 'ILOU1234XY' });
  assert.equal(validateCode('ab$d12345', { check: false }).ok, false);
});

test('masks keep the first four and last two characters', () => {
  assert.equal(maskCode('JNRWQ4T1RT'), 'JNRW****RT');
  assert.equal(maskCode('ABCDEF'), 'AB***F');
  assert.equal(maskCode('ABCD'), '****');
});
