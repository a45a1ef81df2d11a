/** One key of a key ring: its id (recorded beside whatever it sealed or signed) and its base64 value. */
export interface RingKey {
  readonly id: string;
  readonly base64: string;
}

/** Ids of symmetric keys: they are written into sealed records and verifiers, so they stay short and plain. */
export const KEY_ID_PATTERN = /^[A-Za-z0-9_-]+$/;

/** Raw length of every symmetric key breachwave uses (AES-256-GCM and HMAC-SHA256 alike). */
export const KEY_BYTES = 32;

/** True when `value` is base64 (or base64url) of exactly {@link KEY_BYTES} bytes. */
export function isKey32(value: string): boolean {
  // Buffer.from ignores characters outside the alphabet, so the round trip is what proves it is base64.
  const raw = Buffer.from(value, 'base64');
  const given = value.trim().replace(/=+$/, '');
  return raw.length === KEY_BYTES && (raw.toString('base64').replace(/=+$/, '') === given || raw.toString('base64url') === given);
}

/** What {@link parseKeyRing} returns: the keys, or what is wrong with each bad entry (never a key's value). */
export type KeyRingResult = { readonly ok: true; readonly keys: readonly RingKey[] } | { readonly ok: false; readonly problems: readonly string[] };

/**
 * Parses an older-keys list, `id:base64,id:base64` (empty: no keys). Every entry needs an id
 * matching {@link KEY_ID_PATTERN} and a 32-byte base64 key, and ids must not repeat: a record
 * names the key that sealed it by id, so a repeated id would make the ring ambiguous. Pure; the
 * problems name entries by position and id, never by key.
 */
export function parseKeyRing(value: string): KeyRingResult {
  const keys: RingKey[] = [];
  const problems: string[] = [];
  const seen = new Set<string>();
  const entries = value.split(',').map((s) => s.trim()).filter(Boolean);
  entries.forEach((entry, i) => {
    const at = entry.indexOf(':');
    const id = at < 0 ? '' : entry.slice(0, at);
    const base64 = at < 0 ? '' : entry.slice(at + 1);
    const where = `entry ${i + 1}`;
    if (at < 0) problems.push(`${where} has no "id:" before its key`);
    else if (!KEY_ID_PATTERN.test(id)) problems.push(`${where} has an id that is not letters, digits, _ or -`);
    else if (seen.has(id)) problems.push(`${where} repeats the id "${id}"`);
    else if (!isKey32(base64)) problems.push(`${where} (id "${id}") is not a 32-byte base64 key`);
    else {
      seen.add(id);
      keys.push({ id, base64 });
    }
  });
  return problems.length ? { ok: false, problems } : { ok: true, keys };
}
