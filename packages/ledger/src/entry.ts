import type { ActionEntry, LedgerEntry } from './types.js';
import { SLOT_ACTIONS, type CompactedAccount } from './compact.js';

/**
 * Parses a stored ledger entry. `at` and `c0` rest as epoch milliseconds (13 digits instead of a
 * 24-character ISO string: with the JSON quotes, 22 bytes less per action, which moves a
 * notice-only entry into a smaller allocation class — ~30 bytes per account, 30 MB per million)
 * and are handed out as ISO strings, as they always were. Entries written before kept
 * their strings and read the same.
 */
export function readEntry(raw: string): LedgerEntry {
  const stored = JSON.parse(raw) as LedgerEntry & { o?: unknown };
  // The ordinal rests beside the actions; readers see the actions only (ordinalOf gives it).
  const o = stored.o;
  delete stored.o;
  const entry: LedgerEntry = stored;
  for (const a of Object.values(entry)) {
    if (!a || typeof a !== 'object') continue;
    if (typeof a.at === 'number') a.at = new Date(a.at).toISOString();
    if (typeof a.c0 === 'number') a.c0 = new Date(a.c0).toISOString();
  }
  if (typeof o === 'number') ORDINALS.set(entry, o);
  return entry;
}

const ORDINALS = new WeakMap<LedgerEntry, number>();

/**
 * The account's ordinal in its wave (`compact.ts`), for an entry the ledger read (undefined for
 * an account queued without one): whoever queues a job for the account puts it in the job.
 */
export function ordinalOf(entry: LedgerEntry | undefined): number | undefined {
  return entry ? ORDINALS.get(entry) : undefined;
}

/**
 * The entry a compacted account reads as: each action's terminal state and error, the notice's
 * channel, `amb`/`rec` marks, the SMS's final delivery state `ds`, every action's `at` its last time and the first action's `c0` its
 * first time (so the earliest and latest times read as before), claims (`n`) 0 — and
 * `compacted: true` on each action. What the slot does not keep is in the audit trail.
 */
export function compactedEntry(c: CompactedAccount, ordinal?: number): LedgerEntry {
  const entry: LedgerEntry = {};
  let first = true;
  for (const action of SLOT_ACTIONS) {
    const s = c.states[action];
    if (!s) continue;
    const a: ActionEntry = { s, n: 0, at: new Date(c.lastAt).toISOString(), compacted: true };
    if (first) a.c0 = new Date(c.firstAt).toISOString();
    first = false;
    const err = c.errors[action];
    if (err) a.err = err;
    if (action === 'notify') {
      if (c.channel) a.ch = c.channel;
      if (c.ambiguous) a.amb = 1;
      if (c.reconciled) a.rec = true;
      if (c.delivery) a.ds = c.delivery;
    }
    entry[action] = a;
  }
  if (ordinal !== undefined) ORDINALS.set(entry, ordinal);
  return entry;
}

/** Whether an entry is a compacted account's (read from its slot, not the hash). */
export function isCompacted(entry: LedgerEntry | undefined): boolean {
  return entry !== undefined && Object.values(entry).some((a) => typeof a === 'object' && a !== null && a.compacted === true);
}

const COMPACTABLE = new Set(['done', 'skipped', 'cancelled']);

/** A cheap first look before the compaction script (which decides): every action finished, not failed, last change by `cutoff`, an ordinal. */
export function looksCompactable(raw: string, cutoff: number): boolean {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(raw) as Record<string, unknown>;
  } catch {
    return false;
  }
  if (typeof entry.o !== 'number') return false;
  for (const [key, a] of Object.entries(entry)) {
    if (key === 'o') continue;
    if (!a || typeof a !== 'object') return false;
    const { s, at } = a as { s?: unknown; at?: unknown };
    if (typeof s !== 'string' || !COMPACTABLE.has(s) || typeof at !== 'number' || at > cutoff) return false;
    if (key === 'issue-code' && s === 'done') return false;
  }
  return true;
}
