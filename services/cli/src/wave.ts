import { writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { BreachwaveError, DEFAULT_ACTION_RULES, DEFAULT_CHANNEL_ORDER, checkSmsTemplates, type ActionRules, type CodeSource, type PinDelivery, type WaveLane } from '@breachwave/domain';
import { environment, loadCliConfig, loadConnectionConfig, loadVariables } from '@breachwave/config';
import {
  addToWave, createWave, formatWaveManifest, manifestFromPlan, planColumns, plannedWaveOptions, readWaveManifest, readWaveWarnings,
  type WavePlan, type WaveWarnings,
} from '@breachwave/feeder';
import { waveClock, waveProgress } from '@breachwave/ledger';
import { fullContext, operatorActor, readContext } from './context.js';
import { createProgress } from './progress.js';
import { formatRecovery, scanWave } from './recover.js';
import { formatClock, formatStatus } from './report.js';

export interface WaveCreateOptions {
  accounts?: string;
  manifest?: string;
  writeManifest?: string;
  column: string[];
  ignoreColumn: string[];
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
  /** `--no-consolidate` makes it false. */
  consolidate: boolean;
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

/** The flags that describe a wave, which a manifest describes instead (`--accounts` may override the manifest's file). */
const MANIFEST_FLAGS: Readonly<Record<string, string>> = {
  brand: '--brand', helpUrl: '--help-url', actions: '--actions', pinDelivery: '--pin-delivery', codeSource: '--code-source',
  enrollBy: '--enroll-by', quietHoursZone: '--quiet-hours-zone', quietHours: '--no-quiet-hours', smsSegmentBudget: '--sms-segment-budget',
  approvals: '--approvals', column: '--column', ignoreColumn: '--ignore-column', consolidate: '--no-consolidate',
};

/** `--column canonical=Header` values as a mapping, refused with every problem at once. */
export function columnsFromFlags(column: readonly string[], ignoreColumn: readonly string[]): { columns: Record<string, string>; ignoreColumns: string[] } {
  const problems: string[] = [];
  const columns: Record<string, string> = {};
  for (const v of column) {
    const eq = v.indexOf('=');
    if (eq <= 0) problems.push(`--column ${v}: must be CANONICAL=HEADER, e.g. --column phone=MSISDN`);
    else columns[v.slice(0, eq).trim()] = v.slice(eq + 1);
  }
  for (const p of planColumns(columns, ignoreColumn).problems) {
    const flag = p.path[0] === 'columns' ? `--column ${String(p.path[1])}=${columns[String(p.path[1])] ?? ''}` : `--ignore-column ${ignoreColumn[p.path[1] as number] ?? ''}`;
    problems.push(`${flag}: ${p.message}`);
  }
  if (problems.length > 0) {
    throw new BreachwaveError('BW_INPUT_INVALID', { detail: problems.length === 1 ? problems[0] : `${problems.length} problems with the column flags:\n${problems.join('\n')}` });
  }
  return { columns, ignoreColumns: [...ignoreColumn] };
}

/** The wave the flags describe, as a manifest would (brand, help URL and approvals only when given). */
export function planFromFlags(opts: WaveCreateOptions): Omit<WavePlan, 'manifestVersion'> {
  const { columns, ignoreColumns } = columnsFromFlags(opts.column, opts.ignoreColumn);
  const plan = planFromOptions(opts);
  return {
    ...plan,
    ...(opts.accounts ? { accounts: resolve(opts.accounts) } : {}),
    ...(opts.brand ? { brand: opts.brand } : {}),
    ...(opts.helpUrl ? { helpUrl: opts.helpUrl } : {}),
    smsSegmentBudget: opts.smsSegmentBudget,
    consolidate: opts.consolidate,
    channels: { order: [...DEFAULT_CHANNEL_ORDER] },
    ...(opts.approvals !== undefined ? { approvals: opts.approvals } : {}),
    ...(opts.lane && opts.lane !== 'normal' ? { lane: opts.lane as WaveLane } : {}),
    ...(Object.keys(columns).length > 0 ? { columns } : {}),
    ...(ignoreColumns.length > 0 ? { ignoreColumns } : {}),
  };
}

/** The plan of `wave create`: from `--manifest` (refusing the flags it replaces), else from the flags. */
async function planOf(opts: WaveCreateOptions, cmd: Command | undefined): Promise<Omit<WavePlan, 'manifestVersion'> & { manifestVersion?: number }> {
  if (!opts.manifest) return planFromFlags(opts);
  const given = Object.keys(MANIFEST_FLAGS).filter((k) => cmd?.getOptionValueSource(k) === 'cli');
  if (given.length > 0) {
    throw new BreachwaveError('BW_INPUT_INVALID', { detail: `${given.map((k) => MANIFEST_FLAGS[k]).join(', ')} cannot be used with --manifest: the manifest describes the wave (change it there; only --accounts overrides it)` });
  }
  const plan = await readWaveManifest(opts.manifest);
  return opts.accounts ? { ...plan, accounts: resolve(opts.accounts) } : plan;
}

/** `N accepted with warnings (phone_invalid 3, …)`, or nothing when there were none. */
function warningsLine(w: WaveWarnings): string {
  if (w.warned === 0) return '';
  return `${w.warned} accepted with warnings (${Object.entries(w.warnings).map(([kind, n]) => `${kind} ${n}`).join(', ')})\n`;
}

export async function waveCreate(opts: WaveCreateOptions, cmd?: Command): Promise<void> {
  const plan = await planOf(opts, cmd);
  if (opts.writeManifest) {
    const target = resolve(opts.writeManifest);
    // 'wx': an operator's reviewed manifest is never overwritten by a second run.
    await writeFile(target, formatWaveManifest(manifestFromPlan(plan, dirname(target)), target), { flag: 'wx' }).catch((err: unknown) => {
      const code = (err as NodeJS.ErrnoException | undefined)?.code;
      throw new BreachwaveError('BW_INPUT_FILE', { detail: `${code === 'EEXIST' ? 'the manifest file exists already (nothing was written)' : `cannot write the manifest (${code ?? 'error'})`}: ${target}`, cause: err });
    });
    if (opts.json) process.stdout.write(`${JSON.stringify({ manifest: target })}\n`);
    else process.stdout.write(`manifest written: ${target} (no wave created; create it with: breachwave wave create --manifest ${opts.writeManifest})\n`);
    return;
  }
  if (!plan.accounts) throw new BreachwaveError('BW_INPUT_INVALID', { detail: opts.manifest ? `manifest ${opts.manifest}: accounts: required (or give --accounts)` : '--accounts is required (or --manifest)' });
  const ctx = await fullContext();
  try {
    const progress = createProgress('ingest');
    const result = await createWave({
      ledger: ctx.ledger,
      file: plan.accounts,
      ...plannedWaveOptions(plan, { brand: ctx.config.brand, helpUrl: ctx.config.helpUrl, approvals: loadCliConfig().approvalsRequired }),
      dataDir: ctx.config.dataDir,
      envelope: ctx.envelope,
      log: ctx.log,
      onProgress: (p) => progress.update(`${p.rows.toLocaleString('en-US')} rows`, p.totalBytes ? p.bytes / p.totalBytes : undefined),
      // The same export made into a second wave would notify everyone again: refused unless asked for.
      fingerprintKey: Buffer.from(ctx.config.hmacKey, 'base64'),
      allowSameFile: Boolean(opts.allowSameFile),
      actor: operatorActor(),
    });
    progress.done();
    const templateWarnings = checkSmsTemplates({ brand: result.manifest.brand, helpUrl: result.manifest.helpUrl, ...(result.manifest.supportPhone ? { supportPhone: result.manifest.supportPhone } : {}) }, plan.smsSegmentBudget);
    for (const w of templateWarnings) {
      process.stderr.write(`warning: the ${w.locale} SMS naming every data category (${w.variant}) is ${w.segments} segments (${w.encoding}), over the budget of ${plan.smsSegmentBudget}\n`);
    }
    if (opts.json) {
      process.stdout.write(`${JSON.stringify({ ...result, templateWarnings })}\n`);
    } else {
      const s = result.stats;
      process.stdout.write(
        `wave ${result.waveId} created: ${s.rows} rows read, ${s.accepted} accepted, ${s.rejected} rejected (${s.duplicates} duplicates)\n` +
          warningsLine(s) +
          (result.droppedColumns.length ? `dropped columns the pipeline does not need: ${result.droppedColumns.join(', ')}\n` : '') +
          (result.ingest.ignoredColumns.length ? `ignored columns, as declared: ${result.ingest.ignoredColumns.join(', ')}\n` : '') +
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
      contactKey: Buffer.from(ctx.config.hmacKey, 'base64'),
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
    // Loaded here: the feeding process (its metrics among it) is this command's alone.
    const { runFeeder } = await import('@breachwave/feeder-service');
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
    const clock = waveClock(wave, p, new Date(), undefined, loadVariables(environment(), ['BW_STUCK_AFTER_SECONDS']).BW_STUCK_AFTER_SECONDS);
    // What the counters cannot say: accounts neither done nor dead-lettered, how long they have
    // waited, orphans no live job will finish, rotated PINs still waiting for their notice.
    const r = await scanWave(ctx, waveId, true);
    const complete = p.complete && r.open === 0;
    const w = await readWaveWarnings(ctx.redis, loadConnectionConfig().prefix, waveId);
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
