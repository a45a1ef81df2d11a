import { ACTIONS } from '@breachwave/domain';
import { reportCell } from '@breachwave/feeder';
import type { OutcomeRow } from './rows.js';

/**
 * One CSV cell: neutralised against formula injection (a leading `'` before `=`, `+`, `-`, `@`,
 * tab or carriage return), then quoted as RFC 4180 says (`"…"` around a cell holding a comma, a
 * quote or a line break, its quotes doubled). `undefined` is an empty cell; `true`/`false` are
 * `yes`/`no`.
 */
export function csvCell(value: string | number | boolean | undefined): string {
  if (value === undefined) return '';
  // A ledger entry written by hand or by a bug may hold anything: every cell goes through the
  // same neutralising as the ingest's rejects report.
  return reportCell(typeof value === 'boolean' ? (value ? 'yes' : 'no') : String(value));
}

/** One CSV record, CRLF-terminated (RFC 4180). */
export function csvRecord(cells: readonly (string | number | boolean | undefined)[]): string {
  return `${cells.map(csvCell).join(',')}\r\n`;
}

/** `rotate-pin` → `rotate_pin`: a column name that every spreadsheet and SQL loader takes. */
const column = (action: string): string => action.replace(/-/g, '_');

/**
 * The export's columns, in order; an action's state and error code come as `<action>` and
 * `<action>_error`, so an action added to the domain gets its columns here too. Columns are only
 * ever added, at the end of their group or of the record: readers may rely on the names.
 */
export const CSV_COLUMNS: readonly string[] = [
  'account_id', 'segment', 'source_line',
  ...ACTIONS.flatMap((a) => [column(a), `${column(a)}_error`]),
  'channel', 'first_at', 'last_at', 'pin_rotated', 'code_issued', 'reconciled', 'ambiguous',
  'notified_at', 'delivery',
];

/** The CSV header record. */
export function csvHeader(): string {
  return csvRecord(CSV_COLUMNS);
}

/** One account as a CSV record ({@link CSV_COLUMNS}); an action the account does not have is two empty cells. */
export function csvLine(row: OutcomeRow): string {
  return csvRecord([
    row.accountId, row.segment, row.sourceLine,
    ...ACTIONS.flatMap((a) => [row.actions[a]?.state, row.actions[a]?.error]),
    row.channel, row.firstAt, row.lastAt, row.pinRotated, row.codeIssued, row.reconciled, row.ambiguous,
    row.notifiedAt, row.delivery,
  ]);
}

/**
 * One account as a JSON line: the CSV's fields under the same names, with `null` for what is not
 * known, `actions` holding only the account's own actions (by their domain names) and booleans
 * as booleans. The machine form: nothing is neutralised, JSON's own escaping suffices.
 */
export function jsonLine(row: OutcomeRow): string {
  const actions: Record<string, { state: string; error: string | null }> = {};
  for (const a of ACTIONS) {
    const o = row.actions[a];
    if (o) actions[a] = { state: o.state, error: o.error ?? null };
  }
  return `${JSON.stringify({
    account_id: row.accountId,
    segment: row.segment ?? null,
    source_line: row.sourceLine ?? null,
    actions,
    channel: row.channel ?? null,
    first_at: row.firstAt ?? null,
    last_at: row.lastAt ?? null,
    pin_rotated: row.pinRotated,
    code_issued: row.codeIssued,
    reconciled: row.reconciled,
    ambiguous: row.ambiguous,
    notified_at: row.notifiedAt ?? null,
    delivery: row.delivery ?? null,
  })}\n`;
}
