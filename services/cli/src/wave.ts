import { DEFAULT_ACTION_RULES, checkSmsTemplates, type ActionRules, type CodeSource, type PinDelivery, type WaveLane } from '@breachwave/domain';
import { loadCliConfig, loadConnectionConfig } from '@breachwave/config';
import { addToWave, createWave, readWaveWarnings, type WaveWarnings } from '@breachwave/feeder';
import { waveClock, waveProgress } from '@breachwave/ledger';
import { runFeeder } from '@breachwave/feeder-service';
import { fullContext, operatorActor, readContext } from './context.js';
import { createProgress } from './progress.js';
import { formatRecovery, scanWave } from './recover.js';
import { formatClock, formatStatus } from './report.js';

export interface WaveCreateOptions {
  accounts: string;
  brand?: string;
  helpUrl?: string;
  actions: string[];
  pinDelivery: string;
  codeSource?: string;
  enrollBy?: string;
  smsSegmentBudget: number;
  allowSameFile?: boolean;
  approvals?: number;
  lane?: string;
  quietHours: boolean;
  quietHoursZone: string;
  json?: boolean;
}

/** The manifest part of `wave create`'s options: default rules for the actions turned on. */
export function planFromOptions(opts: Pick<WaveCreateOptions, 'actions' | 'pinDelivery' | 'codeSource' | 'enrollBy' | 'quietHours' | 'quietHoursZone'>) {
  const rules: ActionRules = Object.fromEntries(opts.actions.map((a) => [a, DEFAULT_ACTION_RULES[a as 'rotate-pin' | 'issue-code']]));
  const codeSource: CodeSource | undefined = opts.codeSource === undefined ? undefined
    : opts.codeSource === 'generated' ? { kind: 'generated' } : { kind: 'pool', pool: opts.codeSource.slice('pool:'.length) };
  return {
    rules,
    pinDelivery: opts.pinDelivery as PinDelivery,
    ...(codeSource ? { codeSource } : {}),
    ...(opts.enrollBy ? { enrollBy: opts.enrollBy } : {}),
    ...(opts.quietHours ? { quietHours: { defaultZone: opts.quietHoursZone } } : {}),
  };
}

/** `N accepted with warnings (phone_invalid 3, …)`, or nothing when there were none. */
function warningsLine(w: WaveWarnings): string {
  if (w.warned === 0) return '';
  return `${w.warned} accepted with warnings (${Object.entries(w.warnings).map(([kind, n]) => `${kind} ${n}`).join(', ')})\n`;
}

export async function waveCreate(opts: WaveCreateOptions): Promise<void> {
  const ctx = await fullContext();
  try {
    const progress = createProgress('ingest');
    const result = await createWave({
      ledger: ctx.ledger,
      file: opts.accounts,
      brand: opts.brand ?? ctx.config.brand,
      helpUrl: opts.helpUrl ?? ctx.config.helpUrl,
      ...planFromOptions(opts),
      dataDir: ctx.config.dataDir,
      envelope: ctx.envelope,
      log: ctx.log,
      onProgress: (p) => progress.update(`${p.rows.toLocaleString('en-US')} rows`, p.totalBytes ? p.bytes / p.totalBytes : undefined),
      // The same export made into a second wave would notify everyone again: refused unless asked for.
      fingerprintKey: Buffer.from(ctx.config.hmacKey, 'base64'),
      allowSameFile: Boolean(opts.allowSameFile),
      actor: operatorActor(),
      approvals: opts.approvals ?? loadCliConfig(process.env).approvalsRequired,
      ...(opts.lane ? { lane: opts.lane as WaveLane } : {}),
    });
    progress.done();
    const templateWarnings = checkSmsTemplates({ brand: result.manifest.brand, helpUrl: result.manifest.helpUrl }, opts.smsSegmentBudget);
    for (const w of templateWarnings) {
      process.stderr.write(`warning: the ${w.locale} SMS naming every data category (${w.variant}) is ${w.segments} segments (${w.encoding}), over the budget of ${opts.smsSegmentBudget}\n`);
    }
    if (opts.json) {
      process.stdout.write(`${JSON.stringify({ ...result, templateWarnings })}\n`);
    } else {
      const s = result.stats;
      process.stdout.write(
        `wave ${result.waveId} created: ${s.rows} rows read, ${s.accepted} accepted, ${s.rejected} rejected (${s.duplicates} duplicates)\n` +
          warningsLine(s) +
          (result.droppedColumns.length ? `dropped columns the pipeline does not need: ${result.droppedColumns.join(', ')}\n` : '') +
          `rejects report: ${result.rejectsPath}\n` +
          ((result.manifest.approvals ?? 0) > 0
            ? `next: breachwave wave dry-run ${result.waveId}, then wave approve ${result.waveId} by ${result.manifest.approvals === 1 ? 'another operator' : `${result.manifest.approvals} other operators`}, then wave start ${result.waveId}\n`
            : `next: breachwave wave start ${result.waveId}\n`),
      );
    }
  } finally {
    await ctx.close();
  }
}

export async function waveAdd(waveId: string, opts: { accounts: string; json?: boolean }): Promise<void> {
  const ctx = await fullContext();
  try {
    const progress = createProgress('ingest');
    const result = await addToWave({
      redis: ctx.redis, prefix: ctx.config.prefix, ledger: ctx.ledger, waveId, file: opts.accounts, envelope: ctx.envelope, log: ctx.log,
      onProgress: (p) => progress.update(`${p.rows.toLocaleString('en-US')} rows`, p.totalBytes ? p.bytes / p.totalBytes : undefined),
    });
    progress.done();
    if (opts.json) {
      process.stdout.write(`${JSON.stringify(result)}\n`);
    } else {
      const i = result.ingest;
      process.stdout.write(
        `wave ${waveId}: ${i.rows} rows read, ${i.accepted} added, ${i.rejected} rejected (${i.duplicates} duplicates)\n` +
          warningsLine(i) +
          `rejects report: ${result.rejectsPath}\nwave now ${result.stats.accepted} accepted of ${result.stats.rows} rows (${result.status})` +
          `${i.accepted > 0 ? `\nnext: breachwave wave start ${waveId}` : ''}\n`,
      );
    }
  } finally {
    await ctx.close();
  }
}

export async function waveStart(waveId: string, opts: { json?: boolean } = {}): Promise<void> {
  const ctx = await fullContext();
  const controller = new AbortController();
  const onSignal = (): void => controller.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const r = await runFeeder(ctx.config, { log: ctx.log, waveId, signal: controller.signal });
    const interrupted = controller.signal.aborted && !r.complete && !r.cancelled;
    if (opts.json) process.stdout.write(`${JSON.stringify({ waveId, ...r, interrupted })}\n`);
    else process.stdout.write(`wave ${waveId}: ${r.fed} accounts queued${r.cancelled ? ' (the wave was cancelled: the rest is never fed)' : interrupted ? ' (interrupted; run again to resume from the checkpoint)' : ''}\n`);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await ctx.close();
  }
}

export async function waveStatus(waveId: string, opts: { json?: boolean }): Promise<void> {
  const ctx = await readContext();
  try {
    const [p, wave] = await Promise.all([waveProgress(ctx.ledger, waveId), ctx.ledger.getWave(waveId)]);
    const clock = waveClock(wave, p, new Date());
    // What the counters cannot say: accounts neither done nor dead-lettered, how long they have
    // waited, orphans no live job will finish, rotated PINs still waiting for their notice.
    const r = await scanWave(ctx, waveId, true);
    const complete = p.complete && r.open === 0;
    const w = await readWaveWarnings(ctx.redis, loadConnectionConfig(process.env).prefix, waveId);
    if (opts.json) {
      process.stdout.write(`${JSON.stringify({ waveId, ...p, complete, clock, open: r.open, oldestOpenMs: r.oldestOpenMs, orphans: r.orphans,
        pinUnnotified: r.pinUnnotified, pinUnnotifiedOverdue: r.pinUnnotifiedOverdue, pinUnnotifiedOldestMs: r.pinUnnotifiedOldestMs, ...w })}\n`);
    } else {
      process.stdout.write(formatStatus(waveId, { ...p, complete }) + formatClock(clock, wave.manifest.regulatory?.rule) + `${formatRecovery(r).join('\n')}\n` + (w.warned ? `  ${warningsLine(w)}` : ''));
    }
  } finally {
    await ctx.close();
  }
}

export async function waveList(opts: { json?: boolean }): Promise<void> {
  const ctx = await readContext();
  try {
    const ids = await ctx.ledger.listWaves();
    const waves = await Promise.all(ids.map(async (id) => {
      const w = await ctx.ledger.getWave(id);
      return { waveId: id, status: w.status, createdAt: w.manifest.createdAt, accepted: w.stats.accepted ?? 0, rows: w.stats.rows ?? 0 };
    }));
    if (opts.json) process.stdout.write(`${JSON.stringify(waves)}\n`);
    else for (const w of waves) process.stdout.write(`${w.waveId}  ${w.status.padEnd(9)}  ${w.createdAt}  rows ${w.rows}  accepted ${w.accepted}\n`);
  } finally {
    await ctx.close();
  }
}
