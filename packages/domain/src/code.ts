import { randomBytes } from 'node:crypto';

/**
 * Identity-protection enrollment codes: format, check character, validation and masking. Pure
 * apart from {@link generateCode}'s randomness.
 *
 * Alphabet: Crockford base32 (digits and upper-case letters without I, L, O, U), so a code read
 * aloud or typed from an SMS cannot confuse 0/O or 1/I/L. Check character: Luhn mod N over that
 * alphabet (N = 32), which catches every single-character typo and every adjacent transposition
 * except `0Z` ↔ `Z0` (values 0 and N−1, like Luhn's 09 ↔ 90) — Crockford's own mod-37 check would
 * need symbols (`*~$=U`) that SMS users cannot type reliably.
 */
export const CODE_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';

/** Length of a generated code, check character included: 9 random symbols (45 bits) + 1 check. */
export const GENERATED_CODE_LENGTH = 10;

/** Lengths accepted from a vendor file (vendors hand out "about 10" characters). */
export const CODE_MIN_LENGTH = 6;
export const CODE_MAX_LENGTH = 20;

const N = CODE_ALPHABET.length;
const VALUE = new Map([...CODE_ALPHABET].map((c, i) => [c, i]));

/**
 * Canonical form of a typed code: upper case, spaces and hyphens removed, and Crockford's
 * read-alike letters mapped (O → 0, I and L → 1). Does not validate.
 */
export function normaliseCode(raw: string): string {
  return raw.trim().toUpperCase().replace(/[\s-]+/g, '').replace(/O/g, '0').replace(/[IL]/g, '1');
}

/** The Luhn mod 32 check character for `body` (canonical, alphabet only). */
export function checkCharacter(body: string): string {
  let factor = 2;
  let sum = 0;
  for (let i = body.length - 1; i >= 0; i--) {
    const v = VALUE.get(body[i] ?? '');
    if (v === undefined) throw new RangeError('code body has a character outside the alphabet');
    let addend = factor * v;
    factor = factor === 2 ? 1 : 2;
    addend = Math.floor(addend / N) + (addend % N);
    sum += addend;
  }
  return CODE_ALPHABET[(N - (sum % N)) % N] ?? '0';
}

/** True when the last character of a canonical code is the check character of the rest. */
export function hasValidCheck(code: string): boolean {
  if (code.length < 2 || ![...code].every((c) => VALUE.has(c))) return false;
  return checkCharacter(code.slice(0, -1)) === code.slice(-1);
}

export interface CodeFormatOptions {
  /** Require the Luhn mod 32 check character (default true; vendors without one: false). */
  readonly check?: boolean;
}

export type CodeValidation = { readonly ok: true; readonly code: string } | { readonly ok: false; readonly reason: string };

/**
 * Normalises and validates one code. The reason never contains the code (reasons go to reports).
 * Without `check`, a vendor's own alphanumeric format is accepted (letters Crockford excludes too).
 */
export function validateCode(raw: string, options: CodeFormatOptions = {}): CodeValidation {
  const check = options.check ?? true;
  const code = check ? normaliseCode(raw) : raw.trim().toUpperCase().replace(/[\s-]+/g, '');
  if (code === '') return { ok: false, reason: 'empty code' };
  if (code.length < CODE_MIN_LENGTH || code.length > CODE_MAX_LENGTH) {
    return { ok: false, reason: `length ${code.length} is outside ${CODE_MIN_LENGTH}–${CODE_MAX_LENGTH}` };
  }
  if (check) {
    if (![...code].every((c) => VALUE.has(c))) return { ok: false, reason: 'character outside the Crockford base32 alphabet' };
    if (!hasValidCheck(code)) return { ok: false, reason: 'bad check character' };
  } else if (!/^[A-Z0-9]+$/.test(code)) {
    return { ok: false, reason: 'not alphanumeric' };
  }
  return { ok: true, code };
}

/**
 * A new code from crypto randomness: {@link GENERATED_CODE_LENGTH} − 1 symbols and the check
 * character. One random byte per symbol, masked to 5 bits: 256 is a multiple of 32, so unbiased.
 */
export function generateCode(random: (n: number) => Buffer = randomBytes): string {
  const bytes = random(GENERATED_CODE_LENGTH - 1);
  let body = '';
  for (const b of bytes) body += CODE_ALPHABET[b & 31];
  return body + checkCharacter(body);
}

/**
 * The only form a code may take outside a rendered notice (logs, audit, ledger, reports): the
 * first four and last two characters, e.g. `JNRW****RT` (shorter codes show less).
 */
export function maskCode(code: string): string {
  const c = code.trim();
  const [head, tail] = c.length >= 8 ? [4, 2] : c.length >= 5 ? [2, 1] : [0, 0];
  return c.slice(0, head) + '*'.repeat(Math.max(0, c.length - head - tail)) + (tail ? c.slice(-tail) : '');
}
