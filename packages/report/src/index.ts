/**
 * Per-account outcome reports of a wave: every account with what happened to each of its actions
 * (CSV or JSON lines, streamed in bounded memory), and a summary for operations staff and
 * regulators (Markdown or self-contained HTML). Ids, states, error codes and times only: no
 * contact point, name, PIN or code is read into a report.
 */
import { waveProgress, type Ledger, type WaveInfo } from '@breachwave/ledger';
import { csvHeader, csvLine, jsonLine } from './format.js';
import type { ReportFormat, RowSource } from './choices.js';
import { openWaveRows, type RowStats } from './rows.js';
import { readingNotes, renderHtml, renderMarkdown, summariseRows } from './summary.js';

export { csvCell, csvHeader, csvLine, csvRecord, jsonLine, CSV_COLUMNS } from './format.js';
export { deliveryOf, openWaveRows, outcomeRow, type ActionOutcome, type DeliveryStatus, type KnownAbout, type Outcome, type OutcomeRow, type RowStats, type WaveRows, type WaveRowsOptions } from './rows.js';
export { escapeHtml, readingNotes, renderHtml, renderMarkdown, summariseRows, summariseWave, UNKNOWN_SEGMENT, type DeadlineVerdict, type RegulatoryTimeline, type SummariseOptions, type WaveSummary } from './summary.js';
export { REPORT_FILE_MODE, writePrivateFile, writeToStream } from './output.js';

export { REPORT_FORMATS, ROW_SOURCES, type ReportFormat, type RowSource } from './choices.js';

export interface WaveReportOptions {
  readonly ledger: Ledger;
  readonly waveId: string;
  readonly format: ReportFormat;
  /** Default `auto` (see `RowSource`). */
  readonly source?: RowSource;
  /** Accounts per page. Default 1,000. */
  readonly pageSize?: number;
  /** Where a relative spool path is resolved. Default: the working directory. */
  readonly cwd?: string;
  readonly now?: () => Date;
  /** Called after each page with the walk's counts so far (for a progress display). */
  readonly onPage?: (stats: Readonly<RowStats>) => void;
}

export interface WaveReport {
  readonly wave: WaveInfo;
  /** The walk's counts, final once `chunks` is consumed. */
  readonly stats: Readonly<RowStats>;
  /** The report's text, a page of accounts at a time (the summary: one chunk at the end of its pass). */
  readonly chunks: AsyncGenerator<string>;
  /** Once `chunks` is consumed: what a reader must know to read the report right (see `readingNotes`). */
  notes(): Promise<string[]>;
}

/**
 * Opens a report of a wave: the wave is looked up (and the source chosen) now, so an unknown wave
 * fails before a byte is written; the accounts are read as `chunks` is consumed, one page at a
 * time, whatever the wave's size.
 * @throws BreachwaveError BW_WAVE_NOT_FOUND; BW_INPUT_FILE when `source` is `spool` and the
 *   wave's spool cannot be read here; while consuming, BW_INPUT_INVALID on a malformed spool line.
 */
export async function openWaveReport(options: WaveReportOptions): Promise<WaveReport> {
  const rows = await openWaveRows(options);
  const { wave, pages, stats } = rows;
  async function* chunks(): AsyncGenerator<string> {
    if (options.format === 'md' || options.format === 'html') {
      const summary = await summariseRows(options, rows);
      yield options.format === 'md' ? renderMarkdown(summary) : renderHtml(summary);
      return;
    }
    const line = options.format === 'csv' ? csvLine : jsonLine;
    if (options.format === 'csv') yield csvHeader();
    for await (const page of pages) {
      yield page.map(line).join('');
      options.onPage?.(stats);
    }
  }
  return {
    wave,
    stats,
    chunks: chunks(),
    notes: async () => {
      const [progress, counts] = await Promise.all([waveProgress(options.ledger, wave.waveId), options.ledger.counts(wave.waveId)]);
      return readingNotes(await options.ledger.getWave(wave.waveId), stats, progress, counts.accounts ?? 0);
    },
  };
}
