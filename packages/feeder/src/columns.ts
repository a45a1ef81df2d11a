/**
 * How the columns of an affected-account file are read: the names the pipeline knows, the
 * operator's mapping of a carrier's own headers onto them, the columns the operator declared
 * ignored, and, for any other column, a refusal with a suggestion.
 *
 * A column the pipeline silently skipped used to cost every account that column: an export with
 * `Exposed Data`, `Language` and `MSISDN` made a wave in which nobody's exposure, language or
 * phone was known, and the notices said so to everyone. So an unknown column stops the wave
 * instead, until it is mapped or declared ignored.
 */
import { ACCOUNT_COLUMNS, FORBIDDEN_COLUMNS } from '@breachwave/domain';

/** A column the pipeline reads (`account_id`, `segment`, `name`, `phone`, …). */
export type AccountColumn = (typeof ACCOUNT_COLUMNS)[number];

/** Canonical column → the header (or JSONL key) the file uses for it, e.g. `{ phone: 'MSISDN' }`. */
export type ColumnMapping = Readonly<Partial<Record<AccountColumn, string>>>;

const KNOWN: ReadonlySet<string> = new Set(ACCOUNT_COLUMNS);

/** Header normalisation: trimmed, lower-cased, runs of spaces or dashes become `_`. */
export function normaliseColumn(name: string): string {
  return name.trim().toLowerCase().replace(/[\s-]+/g, '_');
}

/** What a header (normalised) is read as. */
export type ColumnResolution =
  | { readonly kind: 'known'; readonly column: AccountColumn }
  | { readonly kind: 'forbidden' }
  | { readonly kind: 'ignored' }
  | { readonly kind: 'unknown' };

/** A mapping and ignore list checked and turned into lookups by normalised header. */
export interface ColumnPlan {
  /** Normalised header → the canonical column it is read as (the mapping's headers). */
  readonly mapped: ReadonlyMap<string, AccountColumn>;
  /** Normalised names declared ignored. */
  readonly ignored: ReadonlySet<string>;
  resolve(normalised: string): ColumnResolution;
}

/** One problem with a mapping or ignore list: where (`['columns', 'phone']`, `['ignoreColumns', 1]`) and what. */
export interface ColumnProblem {
  readonly path: readonly (string | number)[];
  readonly message: string;
}

/** `columns.phone`, `ignoreColumns[1]`: a field path as people read it. */
export function fieldPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : `${out ? '.' : ''}${String(p)}`;
  return out;
}

/**
 * Checks a mapping and an ignore list. A mapping must name a canonical column and a header that
 * is neither forbidden (its values are never read) nor another known column, and no two columns
 * may take the same header; an ignored name must not be a column the pipeline reads or a mapped
 * header. Returns the plan, or every problem found.
 */
export function planColumns(mapping: Readonly<Record<string, string>> = {}, ignore: readonly string[] = []): { plan: ColumnPlan; problems: readonly ColumnProblem[] } {
  const problems: ColumnProblem[] = [];
  const mapped = new Map<string, AccountColumn>();
  for (const [canonical, header] of Object.entries(mapping)) {
    const path = ['columns', canonical];
    if (!KNOWN.has(canonical)) {
      problems.push({ path, message: `unknown column "${canonical}" (a mapping is from one of ${ACCOUNT_COLUMNS.join(', ')} to the file's header)` });
      continue;
    }
    const n = normaliseColumn(header);
    if (n === '') problems.push({ path, message: 'the header is empty' });
    else if (FORBIDDEN_COLUMNS.has(n)) problems.push({ path, message: `"${header}" is a column the pipeline never reads (it is dropped at ingest); it cannot be mapped` });
    else if (KNOWN.has(n) && n !== canonical) problems.push({ path, message: `"${header}" is itself the known column ${n}; map a header the pipeline does not know` });
    else if (mapped.has(n)) problems.push({ path, message: `"${header}" is already mapped to ${mapped.get(n) ?? ''}` });
    else if (n !== canonical) mapped.set(n, canonical as AccountColumn);
  }
  const ignored = new Set<string>();
  ignore.forEach((name, i) => {
    const n = normaliseColumn(name);
    const path = ['ignoreColumns', i];
    if (n === '') problems.push({ path, message: 'the column name is empty' });
    else if (KNOWN.has(n)) problems.push({ path, message: `${n} is a column the pipeline reads; take it out of the file rather than ignoring it` });
    else if (mapped.has(n)) problems.push({ path, message: `"${name}" is mapped to ${mapped.get(n) ?? ''}; it cannot also be ignored` });
    else ignored.add(n);
  });
  const plan: ColumnPlan = {
    mapped,
    ignored,
    resolve(normalised) {
      const to = mapped.get(normalised);
      if (to) return { kind: 'known', column: to };
      if (FORBIDDEN_COLUMNS.has(normalised)) return { kind: 'forbidden' };
      if (KNOWN.has(normalised)) return { kind: 'known', column: normalised as AccountColumn };
      if (ignored.has(normalised)) return { kind: 'ignored' };
      return { kind: 'unknown' };
    },
  };
  return { plan, problems };
}

/**
 * Names exports use for the columns the pipeline reads, which neither spelling nor shared words
 * give away (`Language` is the locale, `MSISDN` the phone). Normalised.
 */
const SYNONYMS: Readonly<Record<string, AccountColumn>> = {
  msisdn: 'phone', mdn: 'phone', mobile: 'phone', cell: 'phone', telephone: 'phone', tel: 'phone', ctn: 'phone',
  language: 'locale', lang: 'locale', preferred_language: 'locale', language_preference: 'locale',
  e_mail: 'email', mail: 'email',
  timezone: 'time_zone', tz: 'time_zone',
  exposure: 'exposed', categories: 'exposed', data_categories: 'exposed', compromised_data: 'exposed',
  full_name: 'name', customer_name: 'name', subscriber_name: 'name',
  ban: 'account_id', acct: 'account_id', account: 'account_id', account_no: 'account_id', subscriber_id: 'account_id',
  customer_segment: 'segment', customer_type: 'segment', line_type: 'segment',
};

/** Words of a column too generic to say which column it is. */
const GENERIC = new Set(['id', 'no', 'data', 'the', 'of', 'customer', 'number']);

function words(name: string): string[] {
  return name.split(/[^a-z0-9]+/).filter((w) => w.length > 0 && !GENERIC.has(w));
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

/**
 * The known column an unknown header most likely stands for, or undefined: a name exports use
 * for it (`msisdn` → phone), else a shared word (`exposed_data` → exposed, `email_address` →
 * email), else a spelling within two edits in five (`emial`, `timezone`). Columns
 * already in the file (`taken`) are never suggested: mapping another header onto one would
 * give the file that column twice.
 */
export function suggestColumn(normalised: string, taken: ReadonlySet<string> = new Set()): AccountColumn | undefined {
  const free = ACCOUNT_COLUMNS.filter((c) => !taken.has(c));
  const synonym = SYNONYMS[normalised];
  if (synonym) return free.includes(synonym) ? synonym : undefined;
  const mine = words(normalised);
  const byWord = free.filter((c) => words(c).some((w) => mine.includes(w)));
  if (byWord.length === 1) return byWord[0];
  const flat = normalised.replace(/_/g, '');
  let best: AccountColumn | undefined;
  let bestScore = Infinity;
  for (const c of byWord.length > 1 ? byWord : free) {
    const target = c.replace(/_/g, '');
    const score = editDistance(flat, target) / Math.max(flat.length, target.length);
    if (score < bestScore) [best, bestScore] = [c, score];
  }
  return byWord.length > 1 || bestScore <= 0.4 ? best : undefined;
}

/** `"Exposed Data"` quoted for a shell when it needs it, bare otherwise. */
function shellWord(s: string): string {
  return /^[A-Za-z0-9_.:/-]+$/.test(s) ? s : JSON.stringify(s);
}

/**
 * One line about an unknown column: what it is, and how to map or ignore it. `what` names it
 * (`column "MSISDN"`, `key "Favourite Colour" (first on line 2)`); the name is cut to 64
 * characters, as a header is not trusted to be short.
 */
export function unknownColumnProblem(what: string, raw: string, taken: ReadonlySet<string>): string {
  const name = raw.trim().slice(0, 64);
  const suggestion = suggestColumn(normaliseColumn(raw), taken);
  const map = suggestion
    ? `map it with --column ${suggestion}=${shellWord(name)} (in a manifest: columns.${suggestion}), or`
    : `map it with --column NAME=${shellWord(name)} (NAME one of ${ACCOUNT_COLUMNS.join(', ')}), or`;
  return `${what} is not a column the pipeline knows${suggestion ? ` (is it ${suggestion}?)` : ''}: ${map} ignore it with --ignore-column ${shellWord(name)} (in a manifest: ignoreColumns)`;
}
