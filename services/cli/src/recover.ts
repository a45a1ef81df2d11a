import { recoverWave, type WaveRecoveryReport } from '@breachwave/actions';
import { loadConnectionConfig, loadWorkersConfig } from '@breachwave/config';
import { operatorActor, readContext, type ReadContext } from './context.js';

/** The recovery scan for one wave as the CLI runs it: the workers' thresholds, the CLI as actor. */
export async function scanWave(ctx: ReadContext, waveId: string, dryRun: boolean): Promise<WaveRecoveryReport> {
  const { prefix, shards } = loadConnectionConfig();
  return recoverWave({ ledger: ctx.ledger, connection: ctx.redis, prefix, shards, log: ctx.log, actor: operatorActor(), workers: loadWorkersConfig() }, waveId, { dryRun });
}

const seconds = (ms: number): string => `${Math.round(ms / 1000)} s`;

/** Human-readable lines of a recovery report (the open accounts and what recovery found or did). */
export function formatRecovery(r: WaveRecoveryReport): string[] {
  const redriven = Object.entries(r.redriven).map(([a, n]) => `${a} ${n}`).join(', ') || 'none';
  const lines = [
    `  accounts ${r.accounts}  terminal ${r.terminal}  open ${r.open}${r.open ? ` (oldest waiting ${seconds(r.oldestOpenMs)})` : ''}`,
  ];
  if (r.orphans || r.deadLettered || r.danglingSkipped) {
    lines.push(`  orphaned (no live job) ${r.orphans}: ${r.dryRun ? 'would re-drive' : 're-driven'} ${redriven}; ${r.dryRun ? 'would dead-letter' : 'dead-lettered'} ${r.deadLettered}; dependents ${r.dryRun ? 'to skip' : 'skipped'} ${r.danglingSkipped}`);
  }
  if (r.pinUnnotified) {
    lines.push(`  rotated PINs waiting for their notice ${r.pinUnnotified} (oldest ${seconds(r.pinUnnotifiedOldestMs)})${r.pinUnnotifiedOverdue ? `, OVERDUE ${r.pinUnnotifiedOverdue}` : ''}`);
  }
  return lines;
}

/** `breachwave wave recover WAVE [--dry-run] [--json]`. */
export async function waveRecover(waveId: string, opts: { dryRun?: boolean; json?: boolean }): Promise<void> {
  const ctx = await readContext();
  try {
    const report = await scanWave(ctx, waveId, Boolean(opts.dryRun));
    if (opts.json) process.stdout.write(`${JSON.stringify(report)}\n`);
    else process.stdout.write(`wave ${waveId}: ${report.dryRun ? 'recovery (dry run)' : 'recovery'}\n${formatRecovery(report).join('\n')}\n`);
  } finally {
    await ctx.close();
  }
}
