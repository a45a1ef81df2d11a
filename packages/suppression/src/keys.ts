/**
 * Redis keys this package writes. Changing a key's shape strands data already written (a lost
 * suppression means messaging someone who said STOP): add a new key and migrate instead.
 */
export function suppressionKeys(prefix: string) {
  return {
    /**
     * Hash: `<channel>:<keyed hash of the normalised contact>` → JSON `{ "<reason>": "<ISO time>", … }`.
     * Never holds a contact point in clear.
     */
    list: `${prefix}:sup:list`,
    /** Hash: `<channel>:<reason>` → number of contact points currently suppressed for that reason. */
    counts: `${prefix}:sup:counts`,
    /** String: Twilio message sid → `<wave>.<account>` (with a TTL), for status-callback correlation. */
    sid: (sid: string) => `${prefix}:sup:sid:${sid}`,
  } as const;
}
export type SuppressionKeys = ReturnType<typeof suppressionKeys>;
