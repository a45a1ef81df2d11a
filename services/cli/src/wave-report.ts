import { Option, type Command } from 'commander';
import { BreachwaveError } from '@breachwave/domain';
import { REPORT_FORMATS, ROW_SOURCES, type ReportFormat, type RowSource } from '@breachwave/report/choices';
import { readContext } from './context.js';
import { createProgress } from './progress.js';

interface WaveReportOptions {
  format: ReportFormat;
  out?: string;
  source: RowSource;
  json?: boolean;
}


const DESCRIPTION = `what happened to every account of a wave, or the wave's summary. csv and jsonl: one row per account (account_id, segment, source_line, each action's state and error code, channel, first_at, last_at, pin_rotated, code_issued, reconciled, ambiguous, notified_at, delivery), streamed a page at a time whatever the wave's size; md and html: counts by segment, action and outcome, channel, delivery and error code, ambiguous and reconciled notices, the wave's timeline and, when its manifest has a regulatory clock, the breach's determination, the deadline and its rule, the first and last notice, the share notified by the deadline and whether it was met (or is at risk while the wave runs). Ids, states, error codes and times only: never a name, phone, email, PIN or code. States: done, failed (for good), skipped, cancelled, pending or claimed (still open), not-queued (accepted, not fed yet; cancelled once the wave is). delivery, for a sent notice: delivered, undelivered (the SMS's status callbacks said so), or unknown (an email, or no final callback). A CSV cell starting with =, +, -, @, tab or CR gets a leading ' so spreadsheets show it as text.
The segment comes from the wave's spool file when it is readable on this host (BW_DATA_DIR where the wave was created; a relative path is read from the working directory), which also lists accounts not queued yet; otherwise from the ledger alone, which knows it only while an account's record is in Redis (in flight, or for a while after a failed notice): the column is then empty for the others, and accounts not queued yet are not listed. What the report could not tell is printed on stderr (and in the summary). Reading a running wave gives each account as it was when read.`;

/** `breachwave wave report WAVE [--format csv|jsonl|md|html] [--out FILE [--json]] [--source auto|ledger|spool]`. */
export function registerWaveReportCommand(wave: Command): void {
  wave.command('report')
    .summary('what happened to every account of a wave (csv, jsonl), or its summary (md, html); no contact data')
    .description(DESCRIPTION)
    .argument('<wave>', 'wave id')
    .addOption(new Option('--format <format>', 'csv or jsonl (one row per account), md or html (the summary)').choices(REPORT_FORMATS).default('csv'))
    .option('--out <file>', 'write to this file instead of stdout: created owner-only (0600), written beside it and renamed into place once complete (an existing file is replaced)')
    .addOption(new Option('--source <source>', 'where the accounts are read from: auto (the spool file when readable here, else the ledger), ledger, or spool (fails when the spool cannot be read here)').choices(ROW_SOURCES).default('auto'))
    .option('--json', 'with --out: print what was written as one JSON object (wave, format, file, accounts, source, notes) instead of the lines on stderr')
    .action(async (waveId: string, o: WaveReportOptions) => {
      // The report itself is stdout's without --out: a JSON summary there would corrupt it.
      if (o.json && !o.out) throw new BreachwaveError('BW_INPUT_INVALID', { detail: '--json needs --out: without it the report itself is written to stdout' });
      const ctx = await readContext();
      try {
        const { openWaveReport, writePrivateFile, writeToStream } = await import('@breachwave/report');
        const progress = process.stderr.isTTY && !o.json ? createProgress('report') : undefined;
        // The wave is looked up here: an unknown one fails before a file is created or a byte written.
        const report = await openWaveReport({
          ledger: ctx.ledger, waveId, format: o.format, source: o.source,
          onPage: (s) => progress?.update(`${s.accounts.toLocaleString('en-US')} accounts`),
        });
        if (o.out) await writePrivateFile(o.out, report.chunks);
        else await writeToStream(report.chunks, process.stdout);
        progress?.done();
        const notes = await report.notes();
        if (o.json) {
          process.stdout.write(`${JSON.stringify({ waveId, format: o.format, out: o.out, accounts: report.stats.accounts, source: report.stats.source, compactedUnlisted: report.stats.compactedUnlisted, notes })}\n`);
          return;
        }
        for (const note of notes) process.stderr.write(`note: ${note}\n`);
        if (o.out) process.stderr.write(`wave ${waveId}: ${report.stats.accounts} accounts (read from the ${report.stats.source}) reported in ${o.out}\n`);
      } catch (err) {
        // The reader of stdout went away (`| head`): what it wanted was written.
        if ((err as NodeJS.ErrnoException).code !== 'EPIPE') throw err;
      } finally {
        await ctx.close();
      }
    });
}
