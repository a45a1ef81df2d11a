/**
 * The report's choices, in a module of their own that loads nothing else: a command line that
 * offers them (the CLI's `wave report --format/--source`) does not load the report writer, the
 * feeder and the queue library just to list them.
 */

/** `csv` and `jsonl`: one row per account; `md` and `html`: the wave's summary. */
export const REPORT_FORMATS = ['csv', 'jsonl', 'md', 'html'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

/**
 * Where a wave's per-account outcomes come from, and why.
 *
 * The ledger hash (`<prefix>:wave:<id>:ledger`) is the truth about every account: one entry per
 * queued account with each action's state, error code, channel, ambiguous and reconciled marks,
 * and the times of its first claim and last change. Walked with HSCAN it is read one page at a
 * time, so the export holds a page, never the wave, and it is there on any host that reaches
 * Redis. The audit files hold the same transitions as history, but turning a history into one
 * row per account needs a per-account map of the whole wave (or a sort of the trail): memory or
 * disk that grows with the wave, for nothing the ledger entry does not already say.
 *
 * What the ledger entry lacks is the account's segment. It rests in the account's record, which
 * is released once the notice is done (kept only while in flight, and for a while after a failed
 * notice), so it cannot be counted on. The wave's spool file (`accounts.jsonl`, written by
 * `wave create` and `wave add`) holds every accepted account with its segment in clear and its
 * contact points sealed: read line by line, with each page's ledger entries fetched by HMGET,
 * it gives every account its segment and source line, lists accounts not queued yet, and is
 * just as bounded. It exists only on the host (and data directory) where the wave was created.
 * Hence `auto`: the spool when it is readable here, the ledger alone otherwise. Contact points
 * are never opened either way.
 *
 * A finished account the ledger has compacted (`@breachwave/ledger`'s compact.ts) has left the
 * hash for a 15-byte slot found by its ordinal — its place in the spool — and holds no account
 * id. The spool walk counts the ordinals as the feeder did and reads each such account's slot,
 * which gives its row exactly as its entry did (states, errors, channel, marks, first and last
 * times). The ledger walk cannot name those accounts: it leaves them out and counts them
 * (`compactedUnlisted`).
 */
export type RowSource = 'auto' | 'ledger' | 'spool';
export const ROW_SOURCES: readonly RowSource[] = ['auto', 'ledger', 'spool'];
