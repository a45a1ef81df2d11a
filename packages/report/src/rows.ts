import type { RowSource } from './choices.js';
import { access, constants } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ACTIONS, BreachwaveError, CHANNELS, planActions, type ActionName, type ActionState, type Channel, type WaveManifest } from '@breachwave/domain';
import { SpoolReader } from '@breachwave/feeder';
import { spoolOrdinals, type AccountRecord, type ActionEntry, type Ledger, type LedgerEntry, type WaveInfo } from '@breachwave/ledger';


/**
 * A ledger state, or `not-queued`: accepted into the wave, not yet given a ledger entry by the
 * feeder. Once the wave is cancelled an account never queued is `cancelled` instead, as the
 * wave's progress counts it (`cancelledUnfed`): it will never be fed.
 */
export type Outcome = ActionState | 'not-queued';

/**
 * What the provider said became of the notice's message, from its status callbacks (Twilio's, on
 * the SMS the ledger recorded): `delivered`; `undelivered` (undelivered or failed: the handset or
 * carrier did not take it); `unknown` (sent, and no final word: an email, whose relay sends no
 * callbacks, an SMS whose callbacks have not come, or one that went out again by another channel).
 */
export type DeliveryStatus = 'delivered' | 'undelivered' | 'unknown';

export interface ActionOutcome {
  readonly state: Outcome;
  /** The error code the ledger holds: why it failed or was skipped, or the last retried error of one still open. */
  readonly error: string | undefined;
}

/** One account's outcome. Ids, states, codes and times only: nothing from its contact record. */
export interface OutcomeRow {
  readonly accountId: string;
  /** Undefined when neither the spool nor a record still in Redis says. */
  readonly segment: string | undefined;
  /** The account's first line in the file it was ingested from, when known. */
  readonly sourceLine: number | undefined;
  /** The actions the account has (or, when not queued yet, will have), in their order. */
  readonly actions: Readonly<Partial<Record<ActionName, ActionOutcome>>>;
  /** The channel the notice went out on (set once the notice is done). */
  readonly channel: Channel | undefined;
  /** When the notice was sent (its `done` transition); undefined while it is not done. */
  readonly notifiedAt: string | undefined;
  /** The sent notice's delivery (see {@link DeliveryStatus}); undefined while no notice is done. */
  readonly delivery: DeliveryStatus | undefined;
  /** The earliest time the ledger holds for the account: its first claim, or when it was queued. */
  readonly firstAt: string | undefined;
  /** Its last change. */
  readonly lastAt: string | undefined;
  readonly pinRotated: boolean;
  readonly codeIssued: boolean;
  /** The notice was found already sent at the provider after an unanswered send (not sent twice). */
  readonly reconciled: boolean;
  /** An action had an ambiguous outcome (the request went out, no answer came). */
  readonly ambiguous: boolean;
}

/** What an account's row knows besides its ledger entry. */
export interface KnownAbout {
  readonly segment?: string;
  readonly line?: number;
  /** The actions planned for it, for an account without a ledger entry. */
  readonly plan?: readonly ActionName[];
  /** The wave is cancelled: planned actions of an account without a ledger entry are `cancelled`, not `not-queued`. */
  readonly cancelled?: boolean;
}

/**
 * The delivery of a done notice. The ledger's notify entry carries the state of the message its
 * status callbacks track (`ds`, of the message `dsSid`); it says something about the notice only
 * when that is the message recorded as sent (`pid`), an SMS: after a fallback the notice went out
 * again by email, and the SMS's callbacks speak of a message the person may never have seen. A
 * compacted entry keeps the state alone, written only when it met these conditions.
 */
export function deliveryOf(notify: ActionEntry | undefined): DeliveryStatus | undefined {
  if (notify?.s !== 'done') return undefined;
  const ds = notify.ds;
  const same = notify.pid === undefined || notify.dsSid === undefined || notify.dsSid === notify.pid;
  if (notify.ch !== 'sms' || !same || typeof ds !== 'string') return 'unknown';
  if (ds === 'delivered') return 'delivered';
  return ds === 'undelivered' || ds === 'failed' ? 'undelivered' : 'unknown';
}

const earlier = (a: string | undefined, b: string): string => (a === undefined || b < a ? b : a);
const later = (a: string | undefined, b: string): string => (a === undefined || b > a ? b : a);

/**
 * One account's row from its ledger entry (undefined: not queued yet). Reads only the fields it
 * names: anything else an entry carries (provider ids, a masked code, rotation ids) stays out.
 */
export function outcomeRow(accountId: string, entry: LedgerEntry | undefined, known: KnownAbout = {}): OutcomeRow {
  const actions: Partial<Record<ActionName, ActionOutcome>> = {};
  let firstAt: string | undefined;
  let lastAt: string | undefined;
  let ambiguous = false;
  for (const action of ACTIONS) {
    const a = entry?.[action];
    if (a && typeof a === 'object') {
      actions[action] = { state: a.s, error: typeof a.err === 'string' && a.err !== '' ? a.err : undefined };
      // Both are ISO 8601 UTC strings of one length, so they compare as text.
      if (typeof a.c0 === 'string') firstAt = earlier(firstAt, a.c0);
      if (typeof a.at === 'string') {
        firstAt = earlier(firstAt, a.at);
        lastAt = later(lastAt, a.at);
      }
      if (typeof a.amb === 'number' && a.amb > 0) ambiguous = true;
    } else if (entry === undefined && known.plan?.includes(action)) {
      actions[action] = { state: known.cancelled ? 'cancelled' : 'not-queued', error: undefined };
    }
  }
  const notify = entry?.notify;
  const ch = notify?.ch;
  return {
    accountId,
    segment: known.segment,
    sourceLine: known.line,
    actions,
    channel: notify?.s === 'done' && (CHANNELS as readonly unknown[]).includes(ch) ? ch : undefined,
    notifiedAt: notify?.s === 'done' && typeof notify.at === 'string' ? notify.at : undefined,
    delivery: deliveryOf(notify),
    firstAt,
    lastAt,
    pinRotated: entry?.['rotate-pin']?.s === 'done',
    codeIssued: entry?.['issue-code']?.s === 'done',
    reconciled: notify?.rec === true,
    ambiguous,
  };
}

/** What a walk over a wave read, updated as it goes. */
export interface RowStats {
  /** The source actually read (`auto` resolved). */
  source: 'ledger' | 'spool';
  /** The spool file read, or the one that could not be read when `auto` fell back to the ledger. */
  spoolPath: string | undefined;
  /** Rows produced so far. */
  accounts: number;
  /** Of those, rows with a ledger entry. */
  inLedger: number;
  /** Of those, rows whose segment is known. */
  segmentsKnown: number;
  /** Pages read (HSCAN replies, or spool batches). */
  pages: number;
  /** Accounts the ledger walk could not list because they are compacted (known once the walk ends; 0 from the spool). */
  compactedUnlisted: number;
}

export interface WaveRowsOptions {
  readonly ledger: Pick<Ledger, 'getWave' | 'entryPages' | 'getMany' | 'getAccounts' | 'compactedCount' | 'shards'>;
  readonly waveId: string;
  /** Default `auto`: the wave's spool when it is readable on this host, else the ledger. */
  readonly source?: RowSource;
  /** Accounts per page (the HSCAN COUNT hint, or spool lines per HMGET). Default 1,000. */
  readonly pageSize?: number;
  /** Where a relative spool path is resolved (the data directory is relative to where the wave was created). Default: the working directory. */
  readonly cwd?: string;
}

export interface WaveRows {
  readonly wave: WaveInfo;
  /** Pages of rows; each account once. Lazy: nothing is read until it is iterated. */
  readonly pages: AsyncGenerator<OutcomeRow[]>;
  readonly stats: RowStats;
}

async function readable(path: string): Promise<boolean> {
  try {
    await access(path, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Opens a walk over every account of a wave, one page at a time (see {@link RowSource} for where
 * the rows come from). Memory holds one page of rows, whatever the wave's size. Each row is the
 * account's state when its page was read: a report of a running wave is a moving snapshot.
 * @throws BreachwaveError BW_WAVE_NOT_FOUND; BW_INPUT_FILE when `source` is `spool` and the spool
 *   cannot be read here; BW_INPUT_INVALID (while iterating) on a spool line that is not an account entry.
 */
export async function openWaveRows(options: WaveRowsOptions): Promise<WaveRows> {
  const { ledger, waveId } = options;
  const pageSize = options.pageSize ?? 1000;
  const wave = await ledger.getWave(waveId);
  const source = options.source ?? 'auto';
  const spoolPath = wave.paths.spool ? resolve(options.cwd ?? process.cwd(), wave.paths.spool) : undefined;
  const useSpool = source !== 'ledger' && spoolPath !== undefined && (await readable(spoolPath));
  if (source === 'spool' && !useSpool) {
    throw new BreachwaveError('BW_INPUT_FILE', { detail: spoolPath ? `wave ${waveId}: its spool ${spoolPath} cannot be read on this host` : `wave ${waveId} has no spool` });
  }
  const stats: RowStats = { source: useSpool ? 'spool' : 'ledger', spoolPath: source === 'ledger' ? undefined : spoolPath, accounts: 0, inLedger: 0, segmentsKnown: 0, pages: 0, compactedUnlisted: 0 };
  const count = (rows: OutcomeRow[], withEntry: number): OutcomeRow[] => {
    stats.pages++;
    stats.accounts += rows.length;
    stats.inLedger += withEntry;
    for (const r of rows) if (r.segment !== undefined) stats.segmentsKnown++;
    return rows;
  };
  const pages = useSpool && spoolPath
    ? spoolPages(ledger, waveId, spoolPath, wave.manifest, wave.status === 'cancelled', pageSize, count)
    : ledgerPages(ledger, waveId, pageSize, count, stats);
  return { wave, pages, stats };
}

type Count = (rows: OutcomeRow[], withEntry: number) => OutcomeRow[];

async function* ledgerPages(ledger: WaveRowsOptions['ledger'], waveId: string, pageSize: number, count: Count, stats: RowStats): AsyncGenerator<OutcomeRow[]> {
  // Read before the walk: an account compacted during it is then at worst listed and counted.
  const compacted = await ledger.compactedCount(waveId);
  for await (const page of ledger.entryPages(waveId, pageSize)) {
    // The segment, while the account's record is still in Redis. The record's sealed contact
    // points are read over the wire with it but never opened.
    const records: (AccountRecord | undefined)[] = await ledger.getAccounts(waveId, page.map(([id]) => id));
    yield count(page.map(([id, entry], i) => {
      const record = records[i];
      return outcomeRow(id, entry, record ? { segment: record.segment, line: record.line } : {});
    }), page.length);
  }
  stats.compactedUnlisted = compacted;
}

async function* spoolPages(ledger: WaveRowsOptions['ledger'], waveId: string, spoolPath: string, manifest: WaveManifest, cancelled: boolean, pageSize: number, count: Count): AsyncGenerator<OutcomeRow[]> {
  let batch: { accountId: string; ordinal: number; known: KnownAbout }[] = [];
  // Each account's ordinal, counted as the feeder counts them: a compacted account's key to its slot.
  const ordinals = spoolOrdinals(waveId, ledger.shards);
  const rowsOf = async (): Promise<OutcomeRow[]> => {
    const entries = await ledger.getMany(waveId, batch.map((b) => b.accountId), batch.map((b) => b.ordinal));
    const rows = batch.map((b, i) => outcomeRow(b.accountId, entries[i], b.known));
    const withEntry = entries.filter((e) => e !== undefined).length;
    batch = [];
    return count(rows, withEntry);
  };
  for await (const { entry } of new SpoolReader(spoolPath)) {
    // The plan the feeder gives the account (same manifest, same rule), for one not queued yet.
    batch.push({ accountId: entry.accountId, ordinal: ordinals.next(entry.accountId), known: { segment: entry.record.segment, line: entry.line, plan: planActions(entry.record, manifest), cancelled } });
    if (batch.length >= pageSize) yield await rowsOf();
  }
  if (batch.length > 0) yield await rowsOf();
}
