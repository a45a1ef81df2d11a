import { ACTIONS, ACTION_STATES, CHANNELS } from '@breachwave/domain';
import { waveClock, waveProgress, type Ledger, type WaveInfo, type WaveProgress, type WaveStatus } from '@breachwave/ledger';
import type { RowSource } from './choices.js';
import { openWaveRows, type DeliveryStatus, type OutcomeRow, type RowStats, type WaveRows } from './rows.js';

/** Outcomes in the order a summary shows them; anything else a ledger holds comes after, by name. */
const OUTCOME_ORDER: readonly string[] = ['done', 'failed', 'skipped', 'cancelled', 'pending', 'claimed', 'not-queued'];
const DELIVERY_ORDER: readonly DeliveryStatus[] = ['delivered', 'undelivered', 'unknown'];
/** Segment key for accounts whose segment is not known. */
export const UNKNOWN_SEGMENT = '(unknown)';
/**
 * Distinct (action, outcome, error code) groups kept; further ones are counted under
 * `(other)`. The catalog has under a hundred codes, so this only bounds a ledger gone wrong.
 */
const MAX_ERROR_GROUPS = 500;
const OTHER = '(other)';

/** A wave's summary for operations staff and regulators: counts, never an account. */
export interface WaveSummary {
  readonly waveId: string;
  readonly status: WaveStatus;
  /** Every accepted account fed and its notice finished (the counters' view). */
  readonly complete: boolean;
  readonly createdAt: string;
  readonly generatedAt: string;
  /** Where the accounts were read from (see `RowSource`). */
  readonly source: RowStats['source'];
  /** Events in order; `at` undefined when not recorded. */
  readonly timeline: readonly { readonly event: string; readonly at: string | undefined }[];
  /** The ingest and feed counters of the wave. */
  readonly intake: { readonly rows: number; readonly accepted: number; readonly rejected: number; readonly queued: number; readonly ledgerAccounts: number };
  /** Accounts read for this summary. */
  readonly accounts: number;
  readonly segmentsKnown: number;
  /** Segment ({@link UNKNOWN_SEGMENT} when not known) → `accounts` and the notice's outcome → accounts. */
  readonly bySegment: Readonly<Record<string, Readonly<Record<string, number>>>>;
  /** Action → outcome → accounts. */
  readonly byAction: Readonly<Record<string, Readonly<Record<string, number>>>>;
  /** Notices done by channel (accounts). */
  readonly byChannel: Readonly<Record<string, number>>;
  /** Sends the notifier recorded by channel (the counters: a reconciled notice is not a second send). */
  readonly sends: { readonly sms: number; readonly email: number };
  /** Messages the providers accepted by channel: a consolidated notice is one message for several accounts. */
  readonly messages: { readonly sms: number; readonly email: number };
  /** Accounts told by a consolidated notice (one message for the accounts sharing a phone or email). */
  readonly consolidated: number;
  /** Accounts by the error code their action holds, most frequent first. */
  readonly errors: readonly { readonly action: string; readonly outcome: string; readonly code: string; readonly accounts: number }[];
  /** Accounts with an ambiguous outcome on some action. */
  readonly ambiguousAccounts: number;
  /** Ambiguous outcomes recorded (an account may have several). */
  readonly ambiguousOutcomes: number;
  /** Notices found already sent at the provider after an unanswered send. */
  readonly reconciled: number;
  readonly pinsRotated: number;
  readonly codesIssued: number;
  /** When the first and the last notice of the accounts read were sent (undefined: none yet). */
  readonly notices: { readonly first: string | undefined; readonly last: string | undefined; readonly sent: number };
  /** Sent notices by their delivery (see `DeliveryStatus`). */
  readonly byDelivery: Readonly<Record<string, number>>;
  /** The wave against its regulatory clock; undefined when its manifest has none. */
  readonly regulatory: RegulatoryTimeline | undefined;
  /** What a reader must know to read the numbers right (source limits, a running wave). */
  readonly notes: readonly string[];
}

/**
 * How the wave stands against its notice deadline:
 * - `met`: every accepted account is finished and no notice was sent after the deadline;
 * - `missed`: a notice was sent after the deadline, or the deadline passed with accounts still open;
 * - `at risk`: running, before the deadline, and the wave's clock says it may not make it (see `WaveClock.atRisk`);
 * - `on track`: running, before the deadline, and not at risk.
 * Accounts that were never notified (a failed or skipped notice) do not change the verdict: they
 * are counted apart (`notNotified`), as a regulator will ask about them.
 */
export type DeadlineVerdict = 'met' | 'missed' | 'at risk' | 'on track';

export interface RegulatoryTimeline {
  /** When the breach was determined (the clock's start). */
  readonly determinedAt: string;
  readonly deadline: string;
  /** The rule the deadline comes from, when the manifest names it. */
  readonly rule: string | undefined;
  /** Accepted accounts: what the shares are of. */
  readonly accepted: number;
  /** Accounts whose notice was sent at or before the deadline. */
  readonly notifiedByDeadline: number;
  /** Their share of the accepted accounts, 0–100, one decimal. */
  readonly notifiedByDeadlinePct: number;
  /** Accounts whose notice was sent after it. */
  readonly notifiedAfterDeadline: number;
  /** Accounts whose notice ended failed, skipped or cancelled, or was never fed (cancelled wave): told nothing. */
  readonly notNotified: number;
  readonly verdict: DeadlineVerdict;
}

export interface SummariseOptions {
  readonly ledger: Ledger;
  readonly waveId: string;
  readonly source?: RowSource;
  readonly pageSize?: number;
  readonly cwd?: string;
  readonly now?: () => Date;
  /** Called after each page with the walk's counts so far. */
  readonly onPage?: (stats: Readonly<RowStats>) => void;
}

const bump = (m: Record<string, number>, k: string, n = 1): void => {
  m[k] = (m[k] ?? 0) + n;
};

/**
 * What a reader of a report must know to read it right: where the accounts came from and what
 * that source cannot say, and whether the wave was still running. Complete once `stats` is (after
 * the walk).
 */
export function readingNotes(wave: WaveInfo, stats: Readonly<RowStats>, progress: Pick<WaveProgress, 'accepted' | 'complete'>, ledgerAccounts: number): string[] {
  const notes: string[] = [];
  if (stats.source === 'ledger') {
    if (stats.spoolPath) notes.push(`The wave's spool file is not readable on this host (${stats.spoolPath}), so accounts were read from the ledger alone.`);
    if (stats.segmentsKnown < stats.accounts) {
      notes.push(`The segment is known for ${stats.segmentsKnown} of ${stats.accounts} accounts: the ledger keeps it only while an account's record is in Redis (in flight, or for a while after a failed notice). Run the report where the wave's spool file is readable to have every account's segment.`);
    }
    if (stats.compactedUnlisted > 0) notes.push(`${stats.compactedUnlisted} finished accounts are compacted in the ledger, which keeps no id for them: they are not in this report (run it where the wave's spool file is readable to have them).`);
    const waiting = progress.accepted - ledgerAccounts;
    if (waiting > 0) notes.push(`${waiting} accepted accounts are not queued yet and have no ledger entry: they are not in this report (the wave's spool file lists them).`);
  } else if (stats.inLedger < ledgerAccounts) {
    notes.push(`The ledger holds ${ledgerAccounts} accounts, of which the spool file listed ${stats.inLedger}: the rest are not in this report (run it with the ledger as source to see them).`);
  }
  if (wave.status === 'feeding' || ((wave.status === 'fed' || wave.status === 'created') && !progress.complete)) {
    notes.push('The wave is still running: each account is reported in the state it had when it was read.');
  }
  if (Object.keys(wave.times).length === 0 && wave.status !== 'created') {
    notes.push(`When the wave was fed or completed is not in the ledger for this wave (its status changes predate the times the ledger keeps): the audit trail's wave.${wave.status} records say when.`);
  }
  return notes;
}

/**
 * Summarises a wave in one pass over its accounts (the same walk as the export, so bounded by a
 * page) plus its counters (`waveProgress`): the maps it keeps are keyed by segment, action,
 * outcome, channel and error code, never by account.
 * @throws BreachwaveError as `openWaveRows` does.
 */
export async function summariseWave(options: SummariseOptions): Promise<WaveSummary> {
  return summariseRows(options, await openWaveRows(options));
}

/** {@link summariseWave} over a walk already opened (so an unknown wave fails before anything is written). */
export async function summariseRows(options: Pick<SummariseOptions, 'ledger' | 'now' | 'onPage'>, rows: WaveRows): Promise<WaveSummary> {
  const now = options.now ?? (() => new Date());
  const { wave, pages, stats } = rows;
  const progress = await waveProgress(options.ledger, wave.waveId);
  const counts = await options.ledger.counts(wave.waveId);

  const bySegment: Record<string, Record<string, number>> = {};
  const byAction: Record<string, Record<string, number>> = {};
  const byChannel: Record<string, number> = {};
  const errors = new Map<string, { action: string; outcome: string; code: string; accounts: number }>();
  let ambiguousAccounts = 0;
  let reconciled = 0;
  let pinsRotated = 0;
  let codesIssued = 0;
  let firstActivity: string | undefined;
  let lastActivity: string | undefined;
  let firstNotice: string | undefined;
  let lastNotice: string | undefined;
  let noticesSent = 0;
  let notifiedByDeadline = 0;
  let notNotified = 0;
  const byDelivery: Record<string, number> = {};
  const deadline = wave.manifest.regulatory?.deadline;
  const add = (row: OutcomeRow): void => {
    const seg = (bySegment[row.segment ?? UNKNOWN_SEGMENT] ??= {});
    bump(seg, 'accounts');
    const notice = row.actions.notify;
    if (notice) bump(seg, notice.state);
    for (const action of ACTIONS) {
      const o = row.actions[action];
      if (!o) continue;
      bump((byAction[action] ??= {}), o.state);
      if (o.error !== undefined) {
        const exact = JSON.stringify([action, o.state, o.error]);
        const code = errors.has(exact) || errors.size < MAX_ERROR_GROUPS ? o.error : OTHER;
        const key = code === o.error ? exact : JSON.stringify([action, o.state, OTHER]);
        const group = errors.get(key) ?? { action, outcome: o.state, code, accounts: 0 };
        group.accounts++;
        errors.set(key, group);
      }
    }
    if (row.channel) bump(byChannel, row.channel);
    if (row.ambiguous) ambiguousAccounts++;
    if (row.reconciled) reconciled++;
    if (row.pinRotated) pinsRotated++;
    if (row.codeIssued) codesIssued++;
    if (row.firstAt !== undefined && (firstActivity === undefined || row.firstAt < firstActivity)) firstActivity = row.firstAt;
    if (row.lastAt !== undefined && (lastActivity === undefined || row.lastAt > lastActivity)) lastActivity = row.lastAt;
    const at = row.notifiedAt;
    if (at !== undefined) {
      noticesSent++;
      // ISO 8601 UTC strings of one length compare as text; the deadline is parsed, as a manifest may write it otherwise.
      if (firstNotice === undefined || at < firstNotice) firstNotice = at;
      if (lastNotice === undefined || at > lastNotice) lastNotice = at;
      if (deadline !== undefined && Date.parse(at) <= Date.parse(deadline)) notifiedByDeadline++;
    }
    if (row.delivery) bump(byDelivery, row.delivery);
    const state = row.actions.notify?.state;
    if (state === 'failed' || state === 'skipped' || state === 'cancelled') notNotified++;
  };
  for await (const page of pages) {
    for (const row of page) add(row);
    options.onPage?.(stats);
  }

  const ledgerAccounts = counts.accounts ?? 0;
  const t = wave.times;
  const notes = readingNotes(wave, stats, progress, ledgerAccounts);
  const at = now();
  const reg = wave.manifest.regulatory;
  let regulatory: RegulatoryTimeline | undefined;
  if (reg) {
    const passed = at.getTime() > Date.parse(reg.deadline);
    const late = noticesSent - notifiedByDeadline;
    const verdict: DeadlineVerdict = late > 0 || (passed && !progress.complete) ? 'missed'
      : progress.complete ? 'met'
      : waveClock(wave, progress, at).atRisk ? 'at risk' : 'on track';
    regulatory = {
      determinedAt: reg.determinedAt, deadline: reg.deadline, rule: reg.rule, accepted: progress.accepted,
      notifiedByDeadline, notifiedByDeadlinePct: progress.accepted > 0 ? Math.round((notifiedByDeadline / progress.accepted) * 1000) / 10 : 0,
      notifiedAfterDeadline: late, notNotified, verdict,
    };
  }

  return {
    waveId: wave.waveId,
    status: wave.status,
    complete: progress.complete,
    createdAt: wave.manifest.createdAt,
    generatedAt: at.toISOString(),
    source: stats.source,
    timeline: [
      { event: 'created', at: wave.manifest.createdAt },
      ...(t.approved ? [{ event: 'approved', at: t.approved.first }] : []),
      { event: 'feeding started', at: t.feeding?.first },
      { event: 'fed (last time)', at: t.fed?.last },
      { event: 'first account activity', at: firstActivity },
      { event: 'first notice sent', at: firstNotice },
      { event: 'last notice sent', at: lastNotice },
      { event: 'last account activity', at: lastActivity },
      { event: 'completed', at: t.completed?.first },
      ...(t.cancelled ? [{ event: 'cancelled', at: t.cancelled.first }] : []),
    ],
    intake: { rows: progress.rows, accepted: progress.accepted, rejected: progress.rejected, queued: progress.fed, ledgerAccounts },
    accounts: stats.accounts,
    segmentsKnown: stats.segmentsKnown,
    bySegment,
    byAction,
    byChannel,
    sends: progress.sent,
    messages: progress.messages,
    consolidated: progress.consolidated,
    errors: [...errors.values()].sort((a, b) => b.accounts - a.accounts || a.action.localeCompare(b.action) || a.code.localeCompare(b.code)),
    ambiguousAccounts,
    ambiguousOutcomes: progress.ambiguous,
    reconciled,
    pinsRotated,
    codesIssued,
    notices: { first: firstNotice, last: lastNotice, sent: noticesSent },
    byDelivery,
    regulatory,
    notes,
  };
}

// Rendering -----------------------------------------------------------------------------------

/** A table cell: a number, a label of ours, or a value read from Redis or the spool (`{ value }`), shown as code and escaped as such. */
type Cell = number | string | { readonly value: string | undefined };
interface Table {
  readonly title: string;
  readonly intro?: string;
  readonly head: readonly string[];
  readonly rows: readonly (readonly Cell[])[];
  /** Shown instead of an empty table. */
  readonly empty?: string;
}

/** Outcomes present in `maps`, in {@link OUTCOME_ORDER} then by name. */
function outcomesOf(maps: readonly Readonly<Record<string, number>>[]): string[] {
  const seen = new Set<string>();
  for (const m of maps) for (const k of Object.keys(m)) if (k !== 'accounts') seen.add(k);
  const known = [...OUTCOME_ORDER, ...ACTION_STATES].filter((s, i, all) => all.indexOf(s) === i && seen.has(s));
  return [...known, ...[...seen].filter((s) => !known.includes(s)).sort()];
}

const val = (value: string | undefined): Cell => ({ value });

const VERDICT_TEXT: Record<DeadlineVerdict, string> = {
  'met': 'met: every account is finished and no notice was sent after the deadline',
  'missed': 'MISSED: a notice was sent after the deadline, or it passed with accounts still open',
  'at risk': 'AT RISK: the wave is running and, at its pace, may finish after the deadline',
  'on track': 'on track: the wave is running and, at its pace, finishes before the deadline',
};

/** The wave against its notice deadline: when the clock started, the deadline and its rule, when notices went out, the share in time, the verdict. */
function regulatoryTable(s: WaveSummary): Table {
  const r = s.regulatory;
  if (!r) return { title: 'Regulatory clock', head: ['', ''], rows: [], empty: 'The wave\'s manifest sets no regulatory clock (regulatory.determinedAt, regulatory.deadline): no deadline to report against.' };
  return {
    title: 'Regulatory clock',
    intro: 'Notices are counted by when they were sent (their done time in the ledger), not by when they were delivered.',
    head: ['', ''],
    rows: [
      ['breach determined', val(r.determinedAt)],
      ['notice deadline', val(r.deadline)],
      ['rule setting the deadline', r.rule === undefined ? 'not named in the manifest' : val(r.rule)],
      ['first notice sent', s.notices.first === undefined ? 'none yet' : val(s.notices.first)],
      ['last notice sent', s.notices.last === undefined ? 'none yet' : val(s.notices.last)],
      ['accounts accepted', r.accepted],
      ['notified by the deadline', `${r.notifiedByDeadline} (${r.notifiedByDeadlinePct}%)`],
      ['notified after the deadline', r.notifiedAfterDeadline],
      ['not notified (notice failed, skipped or cancelled)', r.notNotified],
      ['deadline', VERDICT_TEXT[r.verdict]],
    ],
  };
}

function tables(s: WaveSummary): Table[] {
  const segments = Object.keys(s.bySegment).sort((a, b) => (a === UNKNOWN_SEGMENT ? 1 : b === UNKNOWN_SEGMENT ? -1 : a.localeCompare(b)));
  const segOutcomes = outcomesOf(Object.values(s.bySegment));
  const actions = ACTIONS.filter((a) => s.byAction[a]);
  const actionOutcomes = outcomesOf(Object.values(s.byAction));
  const total = (m: Readonly<Record<string, number>>): number => Object.entries(m).reduce((n, [k, v]) => (k === 'accounts' ? n : n + v), 0);
  return [
    {
      title: 'Wave',
      head: ['', ''],
      rows: [
        ['wave', val(s.waveId)],
        ['status', val(`${s.status}${s.complete ? ' (complete)' : ''}`)],
        ['created', val(s.createdAt)],
        ['report generated', val(s.generatedAt)],
        ['accounts read from', s.source === 'spool' ? 'the wave\'s spool file, with each account\'s ledger entry' : 'the ledger'],
      ],
    },
    regulatoryTable(s),
    {
      title: 'Timeline',
      head: ['event', 'time (UTC)'],
      rows: s.timeline.map((e) => [e.event, e.at === undefined ? 'not recorded' : val(e.at)]),
    },
    {
      title: 'Intake',
      head: ['rows read', 'accepted', 'rejected', 'queued', 'accounts in the ledger', 'accounts in this report'],
      rows: [[s.intake.rows, s.intake.accepted, s.intake.rejected, s.intake.queued, s.intake.ledgerAccounts, s.accounts]],
    },
    {
      title: 'Accounts by segment',
      intro: `The notice's outcome per segment. Segment known for ${s.segmentsKnown} of ${s.accounts} accounts.`,
      head: ['segment', 'accounts', ...segOutcomes.map((o) => `notice ${o}`)],
      rows: segments.map((seg) => {
        const m = s.bySegment[seg] ?? {};
        return [seg === UNKNOWN_SEGMENT ? 'unknown' : val(seg), m.accounts ?? 0, ...segOutcomes.map((o) => m[o] ?? 0)];
      }),
      empty: 'No accounts.',
    },
    {
      title: 'Actions by outcome',
      intro: 'Accounts per action and outcome: done, failed (for good: a dead letter), skipped (suppressed, or an earlier action failed), cancelled (the wave was cancelled before anything was done to the account, or before it was fed), pending or claimed (still open), not-queued (accepted, not yet fed).',
      head: ['action', ...actionOutcomes, 'total'],
      rows: actions.map((a) => {
        const m = s.byAction[a] ?? {};
        return [a, ...actionOutcomes.map((o) => m[o] ?? 0), total(m)];
      }),
      empty: 'No actions.',
    },
    {
      title: 'Notices by channel',
      intro: `Accounts whose notice is done, by the channel it went out on, the sends the notifier recorded (accounts), and the messages that carried them: accounts sharing a phone or email get one consolidated message (${s.consolidated} accounts).`,
      head: ['channel', 'notices done', 'sends recorded', 'messages'],
      rows: CHANNELS.map((c) => [c, s.byChannel[c] ?? 0, s.sends[c], s.messages[c]]),
    },
    {
      title: 'Delivery',
      intro: 'Sent notices by what the provider said became of them: delivered, undelivered (the handset or carrier did not take it), or unknown (no final status callback: every email, an SMS whose callbacks have not come, or one sent again by another channel).',
      head: ['delivery', 'notices'],
      rows: DELIVERY_ORDER.map((d) => [d, s.byDelivery[d] ?? 0]),
    },
    {
      title: 'Error codes',
      intro: 'The error code each action holds: why it failed or was skipped, or the last error of one still being retried.',
      head: ['action', 'outcome', 'error code', 'accounts'],
      rows: s.errors.map((e) => [e.action, val(e.outcome), val(e.code), e.accounts]),
      empty: 'No errors.',
    },
    {
      title: 'Ambiguous outcomes and remediation',
      head: ['', 'accounts'],
      rows: [
        ['accounts with an ambiguous outcome (request sent, no answer)', s.ambiguousAccounts],
        ['ambiguous outcomes recorded', s.ambiguousOutcomes],
        ['notices reconciled with the provider (found sent, not sent again)', s.reconciled],
        ['PINs rotated', s.pinsRotated],
        ['identity-protection codes issued', s.codesIssued],
      ],
    },
  ];
}

/** Markdown text: the characters that would start markup or break a table row are escaped. */
function mdText(text: string): string {
  return text.replace(/[\\`*_[\]<>|&]/g, (c) => (c === '<' ? '&lt;' : c === '>' ? '&gt;' : c === '&' ? '&amp;' : `\\${c}`)).replace(/[\r\n]+/g, ' ');
}

/**
 * A value as a Markdown code span: shown literally (no markup, no HTML), its fence longer than
 * any run of backticks inside, line breaks flattened and, in a table, `|` escaped so the row
 * holds (GitHub-flavoured Markdown reads `\|` as a pipe even inside a code span there).
 */
function mdCode(text: string, inTable = true): string {
  if (text === '') return '';
  const oneLine = text.replace(/[\r\n]+/g, ' ');
  const flat = inTable ? oneLine.replace(/\|/g, '\\|') : oneLine;
  const longest = Math.max(0, ...(flat.match(/`+/g) ?? []).map((run) => run.length));
  const fence = '`'.repeat(longest + 1);
  const pad = flat.startsWith('`') || flat.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${flat}${pad}${fence}`;
}

function mdCell(c: Cell): string {
  if (typeof c === 'number') return String(c);
  if (typeof c === 'string') return mdText(c);
  return c.value === undefined ? '' : mdCode(c.value);
}

/** The summary as Markdown (GitHub-flavoured tables). */
export function renderMarkdown(s: WaveSummary): string {
  const out: string[] = [`# Wave report: ${mdCode(s.waveId, false)}`, ''];
  for (const t of tables(s)) {
    out.push(`## ${mdText(t.title)}`, '');
    if (t.intro) out.push(mdText(t.intro), '');
    if (t.rows.length === 0) {
      out.push(mdText(t.empty ?? 'None.'), '');
      continue;
    }
    out.push(`| ${t.head.map(mdText).join(' | ')} |`, `|${t.head.map(() => ' --- ').join('|')}|`);
    for (const r of t.rows) out.push(`| ${r.map(mdCell).join(' | ')} |`);
    out.push('');
  }
  if (s.notes.length > 0) {
    out.push('## Notes', '');
    for (const n of s.notes) out.push(`- ${mdText(n)}`);
    out.push('');
  }
  out.push(mdText('No contact data, PIN, code or name is in this report: accounts are counted, never listed.'), '');
  return out.join('\n');
}

/** Text for HTML element content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

function htmlCell(c: Cell, tag: 'td' | 'th' = 'td'): string {
  if (typeof c === 'number') return `<${tag} class="n">${c}</${tag}>`;
  if (typeof c === 'string') return `<${tag}>${escapeHtml(c)}</${tag}>`;
  return `<${tag}>${c.value === undefined ? '' : `<code>${escapeHtml(c.value)}</code>`}</${tag}>`;
}

const STYLE = `body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#1b1f24}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}table{border-collapse:collapse;margin:.5rem 0}
th,td{border:1px solid #c8ccd1;padding:.25rem .6rem;text-align:left;vertical-align:top}th{background:#f1f3f5}
td.n{text-align:right;font-variant-numeric:tabular-nums}code{font:12px ui-monospace,Menlo,Consolas,monospace}
p.intro{color:#4a525b;margin:.25rem 0}.foot{color:#4a525b;margin-top:2rem}`;

/**
 * The summary as one self-contained HTML page: inline style, no script, no external resource
 * (its Content-Security-Policy forbids them), every value escaped.
 */
export function renderHtml(s: WaveSummary): string {
  const title = `Wave report: ${s.waveId}`;
  const body: string[] = [`<h1>${escapeHtml(title)}</h1>`];
  for (const t of tables(s)) {
    body.push(`<h2>${escapeHtml(t.title)}</h2>`);
    if (t.intro) body.push(`<p class="intro">${escapeHtml(t.intro)}</p>`);
    if (t.rows.length === 0) {
      body.push(`<p>${escapeHtml(t.empty ?? 'None.')}</p>`);
      continue;
    }
    const head = t.head.some((h) => h !== '') ? `<thead><tr>${t.head.map((h) => htmlCell(h, 'th')).join('')}</tr></thead>` : '';
    body.push(`<table>${head}<tbody>${t.rows.map((r) => `<tr>${r.map((c) => htmlCell(c)).join('')}</tr>`).join('')}</tbody></table>`);
  }
  if (s.notes.length > 0) body.push('<h2>Notes</h2>', `<ul>${s.notes.map((n) => `<li>${escapeHtml(n)}</li>`).join('')}</ul>`);
  body.push('<p class="foot">No contact data, PIN, code or name is in this report: accounts are counted, never listed.</p>');
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\'">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(title)}</title>`,
    `<style>${STYLE}</style>`,
    '</head>',
    `<body>\n${body.join('\n')}\n</body>`,
    '</html>',
    '',
  ].join('\n');
}
