import { randomInt as cryptoRandomInt } from 'node:crypto';
import { BreachwaveError } from './errors.js';

/**
 * PIN policy for system-chosen PINs (NIST SP 800-63B §5.1.1.2 and Appendix A): at least six
 * digits, drawn from an approved RNG (`crypto.randomInt`), and checked against a blocklist of
 * values an attacker tries first. A blocked draw is thrown away and the whole PIN drawn again
 * (rejection sampling), so the result is uniform over the allowed PINs — never "the next allowed
 * value", which would make the PINs right after a blocked run more likely.
 */

/** Shortest PIN the policy accepts: SP 800-63B asks for ≥ 6 digits when the system chooses. */
export const MIN_PIN_LENGTH = 6;
/** Longest: `crypto.randomInt` draws below 2^48, and 10^12 < 2^48. */
export const MAX_PIN_LENGTH = 12;

/** How PINs are drawn. */
export interface PinPolicy {
  /** Digits per PIN. Default 6. */
  readonly length: number;
  /** Draws before giving up (a misconfigured context could block everything). Default 1,000. */
  readonly maxDraws: number;
}

export const DEFAULT_PIN_POLICY: PinPolicy = Object.freeze({ length: 6, maxDraws: 1000 });

/**
 * Validates a policy. @throws BreachwaveError BW_CONFIG_INVALID for a length outside
 * [{@link MIN_PIN_LENGTH}, {@link MAX_PIN_LENGTH}].
 */
export function createPinPolicy(options: Partial<PinPolicy> = {}): PinPolicy {
  const policy = { ...DEFAULT_PIN_POLICY, ...options };
  if (!Number.isInteger(policy.length) || policy.length < MIN_PIN_LENGTH || policy.length > MAX_PIN_LENGTH) {
    throw new BreachwaveError('BW_CONFIG_INVALID', { detail: `PIN length must be ${MIN_PIN_LENGTH}–${MAX_PIN_LENGTH} digits` });
  }
  if (!Number.isInteger(policy.maxDraws) || policy.maxDraws < 1) {
    throw new BreachwaveError('BW_CONFIG_INVALID', { detail: 'PIN maxDraws must be a positive integer' });
  }
  return Object.freeze(policy);
}

/** What the blocklist knows about the account a PIN is drawn for. */
export interface PinContext {
  /** The account's phone number in any format; its digits are off limits. */
  readonly phone?: string;
  /** True for the account's current (previous) PIN, e.g. a constant-time verifier check. */
  readonly isPrevious?: (pin: string) => boolean;
}

/** Why a PIN is refused. Never carries the PIN itself. */
export type PinBlockReason = 'format' | 'repeated' | 'sequence' | 'common' | 'year' | 'date' | 'phone' | 'previous';

/**
 * The most common human-chosen PINs that the structural rules below do not already catch
 * (Wang et al., "Understanding Human-Chosen PINs", IEEE S&P 2017; DataGenetics PIN analysis):
 * keypad shapes, well-known numbers and culture-specific favourites.
 */
export const COMMON_PINS: ReadonlySet<string> = new Set([
  // 6 digits
  '123321', '112233', '159753', '147258', '789456', '520520', '110110', '100200', '102030', '123654',
  '159357', '147852', '258369', '963852', '741852', '852456', '147369', '789123', '456123', '321654',
  '135790', '246810', '010203', '112358', '314159', '271828', '142857', '696969', '007007', '520131',
  '521521', '292513', '123789', '987123', '456789', '741963', '852963', '369258', '258456', '102938',
  '121314', '111222', '222333', '998877', '665544', '332211', '123000', '000123', '100100', '200200',
  '131420', '168168', '888666', '666888', '518518', '147896', '963258', '321456', '654123', '789654',
  // 7–12 digits
  '5201314', '1314520', '1234567', '7654321', '12344321', '11223344', '12341234', '147258369', '123456789',
  '987654321', '741852963', '159753852', '1234567890', '0987654321', '1122334455', '123456654321', '112233445566',
]);

const ZERO = 48;

function digitsOf(pin: string): number[] {
  const d = new Array<number>(pin.length);
  for (let i = 0; i < pin.length; i++) d[i] = pin.charCodeAt(i) - ZERO;
  return d;
}

/** All digits equal, ≤ 2 distinct digits, a run of 4 equal digits, or a repeated block (123123). */
function isRepeated(d: readonly number[], pin: string): boolean {
  const seen = new Set(d);
  if (seen.size <= 2) return true;
  let run = 1;
  for (let i = 1; i < d.length; i++) {
    run = d[i] === d[i - 1] ? run + 1 : 1;
    if (run >= 4) return true;
  }
  for (let p = 1; p <= d.length / 2; p++) {
    if (d.length % p === 0 && pin.slice(0, p).repeat(d.length / p) === pin) return true;
  }
  // Pairs of equal digits throughout (112233, 998877).
  if (d.length % 2 === 0) {
    let pairs = true;
    for (let i = 0; i < d.length && pairs; i += 2) pairs = d[i] === d[i + 1];
    if (pairs) return true;
  }
  return false;
}

/**
 * An arithmetic progression mod 10 over the whole PIN (123456, 987654, 890123, 135791), or a
 * run of 5 consecutive ascending or descending digits anywhere (912345, 654329).
 */
function isSequence(d: readonly number[]): boolean {
  const step = ((d[1] ?? 0) - (d[0] ?? 0) + 10) % 10;
  let progression = true;
  for (let i = 2; i < d.length && progression; i++) progression = ((d[i] ?? 0) - (d[i - 1] ?? 0) + 10) % 10 === step;
  if (progression) return true;
  let up = 1;
  let down = 1;
  for (let i = 1; i < d.length; i++) {
    const diff = (d[i] ?? 0) - (d[i - 1] ?? 0);
    up = diff === 1 ? up + 1 : 1;
    down = diff === -1 ? down + 1 : 1;
    if (up >= 5 || down >= 5) return true;
  }
  return false;
}

/** Starts or ends with a plausible year, 1900–2099 (birth years, anniversaries). */
function isYearLike(pin: string): boolean {
  const y = (s: string) => s.startsWith('19') || s.startsWith('20');
  return y(pin.slice(0, 4)) || y(pin.slice(-4));
}

function isMonth(n: number): boolean {
  return n >= 1 && n <= 12;
}
function isDay(n: number): boolean {
  return n >= 1 && n <= 31;
}

/**
 * A six-digit calendar date, DDMMYY, MMDDYY or YYMMDD: birthdays are the largest class of
 * guessable PINs (Bonneau et al., "A birthday present every eleven wallets?", FC 2012). Longer
 * dates (DDMMYYYY, YYYYMMDD) start or end with a year and are caught by {@link isYearLike}.
 */
function isDateLike(d: readonly number[]): boolean {
  if (d.length !== 6) return false;
  const a = (d[0] ?? 0) * 10 + (d[1] ?? 0);
  const b = (d[2] ?? 0) * 10 + (d[3] ?? 0);
  const c = (d[4] ?? 0) * 10 + (d[5] ?? 0);
  return (isDay(a) && isMonth(b)) || (isMonth(a) && isDay(b)) || (isMonth(b) && isDay(c));
}

/**
 * Why `pin` is refused for the account described by `ctx`, or `undefined` when it is allowed.
 * Pure apart from `ctx.isPrevious`.
 */
export function pinBlockReason(pin: string, ctx: PinContext = {}): PinBlockReason | undefined {
  if (!/^\d+$/.test(pin) || pin.length < MIN_PIN_LENGTH || pin.length > MAX_PIN_LENGTH) return 'format';
  const d = digitsOf(pin);
  if (isRepeated(d, pin)) return 'repeated';
  if (isSequence(d)) return 'sequence';
  if (COMMON_PINS.has(pin)) return 'common';
  if (isYearLike(pin)) return 'year';
  if (isDateLike(d)) return 'date';
  if (ctx.phone !== undefined) {
    const phoneDigits = ctx.phone.replace(/\D/g, '');
    if (phoneDigits.length > 0 && phoneDigits.includes(pin)) return 'phone';
  }
  if (ctx.isPrevious?.(pin)) return 'previous';
  return undefined;
}

/** `crypto.randomInt(max)` shape: a uniform integer in [0, max). */
export type RandomInt = (max: number) => number;

/**
 * Draws a PIN uniformly from the allowed PINs of `policy.length` digits for this account: a
 * uniform draw over all 10^length values with `random` (default `crypto.randomInt`), redrawn
 * while {@link pinBlockReason} refuses it.
 * @throws BreachwaveError BW_PIN_POLICY when `maxDraws` draws are all blocked (message without any PIN).
 */
export function generatePin(ctx: PinContext = {}, policy: PinPolicy = DEFAULT_PIN_POLICY, random: RandomInt = cryptoRandomInt): string {
  const space = 10 ** policy.length;
  for (let i = 0; i < policy.maxDraws; i++) {
    const pin = String(random(space)).padStart(policy.length, '0');
    if (pinBlockReason(pin, ctx) === undefined) return pin;
  }
  throw new BreachwaveError('BW_PIN_POLICY', { detail: `no allowed PIN after ${policy.maxDraws} draws` });
}

// PIN store port ---------------------------------------------------------------------------------

/** The rotation id of (wave, account): deterministic, so every retry of a rotation names it the same way. */
export function rotationIdOf(waveId: string, accountId: string): string {
  return `rot.${waveId}.${accountId}`;
}

/** One PIN rotation to apply. Holds the new PIN: never log it or put it in an error. */
export interface PinRotationRequest {
  /** Idempotency key: {@link rotationIdOf}. */
  readonly rotationId: string;
  readonly waveId: string;
  readonly accountId: string;
  readonly pin: string;
}

/**
 * - `applied`: this request's PIN is now the account's PIN (first application).
 * - `replayed`: the same rotation with the same PIN was applied before; nothing changed.
 * - `conflict`: the rotation id was applied before with a *different* PIN; this request's PIN
 *   is not the account's PIN and must never reach the customer.
 */
export type PinApplyOutcome = 'applied' | 'replayed' | 'conflict';

export interface PinApplyResult {
  readonly outcome: PinApplyOutcome;
  /** Which store answered (`vault`, `bss`). */
  readonly store: string;
  /** Verifier key id, for stores that keep a keyed verifier. */
  readonly keyId?: string;
}

/**
 * Where rotated PINs are applied (a carrier's account system, or breachwave's own verifier
 * vault). `apply` must be idempotent by `rotationId`.
 */
export interface PinStore {
  readonly name: string;
  /** @throws BreachwaveError with a `BW_PIN_STORE_*` code; never a raw transport error. */
  apply(request: PinRotationRequest): Promise<PinApplyResult>;
}
