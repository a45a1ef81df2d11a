/**
 * Leak scans over large texts (a Redis dump, process logs, audit files) that look for many
 * strings at once, each text walked a few times instead of once per string looked for.
 */

/** Length of the anchor: the first characters of a form, looked up with one indexOf walk for every form sharing them. */
const ANCHOR = 4;

/**
 * The forms that occur in `text`, exactly as `text.includes(form)` says for each (overlapping
 * and adjacent occurrences included): every occurrence of each distinct anchor is found, and the
 * text there compared with the forms that start with it. Forms sharing a prefix (phone numbers,
 * emails of one domain pattern, names of one shape) cost one walk of the text per anchor.
 */
export function formsIn(text: string, forms: Iterable<string>): Set<string> {
  const wanted = new Set<string>();
  const found = new Set<string>();
  // Each anchor with the lengths of the forms that start with it.
  const anchors = new Map<string, Set<number>>();
  for (const form of forms) {
    if (form === '') {
      found.add(form);
      continue;
    }
    wanted.add(form);
    const anchor = form.slice(0, ANCHOR);
    const lengths = anchors.get(anchor) ?? new Set<number>();
    lengths.add(form.length);
    anchors.set(anchor, lengths);
  }
  for (const [anchor, lengths] of anchors) {
    for (let at = text.indexOf(anchor); at !== -1; at = text.indexOf(anchor, at + 1)) {
      for (const length of lengths) {
        if (at + length > text.length) continue;
        const candidate = text.slice(at, at + length);
        if (wanted.has(candidate)) found.add(candidate);
      }
    }
  }
  return found;
}

/**
 * Every whole number of `text` (a maximal run of digits) whose length is one of `lengths`: a
 * digit string occurs in the text with no digit on either side exactly when it is in this set.
 */
export function wholeNumbers(text: string, lengths: ReadonlySet<number>): Set<string> {
  const out = new Set<string>();
  for (const m of text.matchAll(/\d+/g)) if (lengths.has(m[0].length)) out.add(m[0]);
  return out;
}
