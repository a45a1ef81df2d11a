/**
 * SMS keyword parsing, following Twilio's standard opt-out handling: a keyword counts only when it
 * is the whole message (case-insensitive, surrounding whitespace ignored) — "STOP PLEASE" is not
 * an opt-out for Twilio, so treating it as one here would make our list disagree with Twilio's.
 */

/** What an inbound message asks for. */
export type KeywordIntent = 'opt-out' | 'opt-in' | 'help';

/**
 * Twilio's default opt-out keywords. OPTOUT and REVOKE were added by Twilio in 2025 for the FCC
 * rule that consent may be revoked "by any reasonable means"; suppressing on them is the safe side.
 */
export const OPT_OUT_KEYWORDS: readonly string[] = ['STOP', 'STOPALL', 'UNSUBSCRIBE', 'CANCEL', 'END', 'QUIT', 'OPTOUT', 'REVOKE'];

/** Twilio's default opt-in keywords (toll-free numbers honour UNSTOP at the carrier as well). */
export const OPT_IN_KEYWORDS: readonly string[] = ['START', 'YES', 'UNSTOP'];

/** Twilio's default help keywords: no change to the list. */
export const HELP_KEYWORDS: readonly string[] = ['HELP', 'INFO'];

const BY_WORD: ReadonlyMap<string, KeywordIntent> = new Map<string, KeywordIntent>([
  ...OPT_OUT_KEYWORDS.map((k): [string, KeywordIntent] => [k, 'opt-out']),
  ...OPT_IN_KEYWORDS.map((k): [string, KeywordIntent] => [k, 'opt-in']),
  ...HELP_KEYWORDS.map((k): [string, KeywordIntent] => [k, 'help']),
]);

/**
 * The intent of an inbound SMS body, or `undefined` when it is not a keyword. Case, surrounding
 * whitespace (including non-breaking spaces) and trailing punctuation ("Stop." / "stop!") are
 * ignored; anything else makes it an ordinary message.
 */
export function parseKeyword(body: string): KeywordIntent | undefined {
  const word = body
    .normalize('NFKC')
    .trim()
    .replace(/[.!?,;:]+$/u, '')
    .trim()
    .toUpperCase();
  if (word.length === 0 || word.length > 16) return undefined;
  return BY_WORD.get(word);
}

/**
 * Twilio's `OptOutType` webhook parameter (set with Advanced Opt-Out, which also knows custom
 * keywords): `STOP`, `START` or `HELP`. It wins over our own parsing when present.
 */
export function intentFromOptOutType(value: string | undefined): KeywordIntent | undefined {
  switch (value?.trim().toUpperCase()) {
    case 'STOP':
      return 'opt-out';
    case 'START':
      return 'opt-in';
    case 'HELP':
      return 'help';
    default:
      return undefined;
  }
}
