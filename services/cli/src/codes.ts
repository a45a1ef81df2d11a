import { InvalidArgumentError, type Command } from 'commander';
import { BreachwaveError, WAVE_ID_PATTERN } from '@breachwave/domain';
import { createReminderWave } from '@breachwave/feeder';
import { environment, loadCliConfig, loadConnectionConfig, loadVariables } from '@breachwave/config';
import {
  POOL_NAME_PATTERN, codeCryptoFromConfig, createCodeStore, importPool, importRedemptions, reminderAccountIds, reminderTargets,
  type CodeScope, type CodeStatus, type LineProblem,
} from '@breachwave/codes';
import { fullContext, operatorActor, readContext } from './context.js';
import { GROUPS } from './groups.js';

const int = (name: string, min: number, max: number) => (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}`);
  return n;
};
function parsePool(v: string): string {
  if (!POOL_NAME_PATTERN.test(v)) throw new InvalidArgumentError('must be 1–64 letters, digits, "-" or "_"');
  return v;
}
function parseWave(v: string): string {
  if (!WAVE_ID_PATTERN.test(v)) throw new InvalidArgumentError('must be a wave id');
  return v;
}
function parseDate(v: string): string {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(v) || Number.isNaN(Date.parse(`${v}T00:00:00Z`))) throw new InvalidArgumentError('must be a date YYYY-MM-DD');
  return v;
}
function parseScope(v: string): CodeScope {
  if (v !== 'person' && v !== 'wave') throw new InvalidArgumentError('must be person or wave');
  return v;
}

function writeProblems(problems: readonly LineProblem[], truncated: boolean, total: number): void {
  for (const p of problems) process.stdout.write(`line ${p.line}: ${p.reason}\n`);
  if (truncated) process.stdout.write(`… and ${total - problems.length} more not listed\n`);
}

/** The configured low watermark, for commands that need no keys. */
function lowWatermark(): number {
  return loadVariables(environment(), ['BW_CODE_LOW_WATERMARK']).BW_CODE_LOW_WATERMARK;
}

/** `codes status` as a table. */
export function formatCodeStatus(s: CodeStatus): string {
  const head = ['pool', 'loaded', 'assigned', 'available', 'expired', 'redeemed', 'waits', 'next enroll-by'];
  const rows = s.pools.map((p) => [p.pool, p.loaded, p.assigned, p.available, p.expired, p.redeemed, p.waits, `${p.nextEnrollBy ?? '-'}${p.low ? '  LOW' : ''}`].map(String));
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string => cells.map((c, i) => (i === 0 || i === cells.length - 1 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ').trimEnd();
  return [
    ...(rows.length ? [line(head), ...rows.map(line)] : ['no pools loaded']),
    `generated codes: ${s.generated.assigned} assigned, ${s.generated.redeemed} redeemed`,
    `people holding a code: ${s.holders}; redeemed: ${s.redeemed}; low watermark: ${s.lowWatermark}`,
    '',
  ].join('\n');
}

/**
 * `breachwave codes import|status|redeemed|reminders|scope`: vendor pools, their state, the
 * vendor's redemption feed, reminder targets, and per-wave code scope. Codes are printed masked.
 */
export function registerCodesCommands(program: Command): void {
  const codes = program.command('codes').description(GROUPS.codes);

  codes.command('import')
    .description('stream a vendor code file (one code per line) into a named pool; prints each rejected line (malformed, bad check character, duplicate); re-importing the same file adds nothing')
    .requiredOption('--file <file>', 'vendor code file')
    .requiredOption('--pool <name>', 'pool name, e.g. experian', parsePool)
    .requiredOption('--enroll-by <date>', 'the vendor\'s deadline for these codes (YYYY-MM-DD)', parseDate)
    .option('--no-check', 'the vendor\'s codes carry no Luhn mod 32 check character (accept any 6–20 alphanumerics)')
    .option('--json', 'print the report as one JSON object')
    .action(async (o: { file: string; pool: string; enrollBy: string; check: boolean; json?: boolean }) => {
      const ctx = await fullContext();
      try {
        const store = createCodeStore({ redis: ctx.redis, prefix: ctx.config.prefix, crypto: codeCryptoFromConfig(ctx.config), lowWatermark: ctx.config.codes.lowWatermark });
        const r = await importPool(store, { file: o.file, pool: o.pool, enrollBy: o.enrollBy, check: o.check, log: ctx.log });
        if (o.json) {
          process.stdout.write(`${JSON.stringify(r)}\n`);
          return;
        }
        process.stdout.write(`pool ${r.pool}: ${r.loaded} loaded, ${r.alreadyLoaded} already loaded, ${r.rejected} rejected, ${r.blank} blank (${r.lines} lines read); `
          + `${r.available} available; enroll by ${r.enrollBy}\n`);
        writeProblems(r.rejects, r.rejectsTruncated, r.rejected);
      } finally {
        await ctx.close();
      }
    });

  codes.command('status')
    .description('per pool: loaded, assigned, available, expired, redeemed, waits on an empty pool; generated codes; low-watermark state')
    .option('--json', 'print as one JSON object')
    .action(async (o: { json?: boolean }) => {
      const ctx = await readContext();
      try {
        const store = createCodeStore({ redis: ctx.redis, prefix: loadConnectionConfig().prefix, lowWatermark: lowWatermark() });
        const s = await store.status();
        process.stdout.write(o.json ? `${JSON.stringify(s)}\n` : formatCodeStatus(s));
      } finally {
        await ctx.close();
      }
    });

  codes.command('redeemed')
    .description('import the vendor\'s list of redeemed codes (CODE or CODE,YYYY-MM-DD per line); prints lines naming unknown or never-issued codes')
    .requiredOption('--file <file>', 'redemption feed')
    .option('--json', 'print the report as one JSON object')
    .action(async (o: { file: string; json?: boolean }) => {
      const ctx = await fullContext();
      try {
        const store = createCodeStore({ redis: ctx.redis, prefix: ctx.config.prefix, crypto: codeCryptoFromConfig(ctx.config) });
        const r = await importRedemptions(store, { file: o.file, log: ctx.log });
        if (o.json) {
          process.stdout.write(`${JSON.stringify(r)}\n`);
          return;
        }
        process.stdout.write(`${r.redeemed} newly redeemed, ${r.alreadyRedeemed} already redeemed, ${r.problems} not matched, ${r.blank} blank (${r.lines} lines read)\n`);
        writeProblems(r.problemLines, r.problemsTruncated, r.problems);
      } finally {
        await ctx.close();
      }
    });

  codes.command('reminders')
    .description('accounts whose code is unredeemed and whose enroll-by date is at most N days away: the targets of a reminder wave (CSV, codes masked)')
    .requiredOption('--days <n>', 'days before the enroll-by date', int('--days', 0, 3650))
    .option('--wave <wave>', 'only the accounts of this wave (default: every code holder)', parseWave)
    .option('--create', 'create a reminder wave of these accounts (needs --wave): the reminder lane, the same code, a notice that reminds; then dry-run, approve and start it like any wave')
    .option('--json', 'print one JSON array (with --create: one JSON object)')
    .action(async (o: { days: number; wave?: string; create?: boolean; json?: boolean }) => {
      if (o.create) {
        if (!o.wave) throw new BreachwaveError('BW_INPUT_INVALID', { detail: 'codes reminders --create needs --wave: a reminder wave reminds the people of one wave' });
        await createReminders(o.wave, o.days, Boolean(o.json));
        return;
      }
      const ctx = await readContext();
      try {
        const store = createCodeStore({ redis: ctx.redis, prefix: loadConnectionConfig().prefix });
        const targets = reminderTargets(store, { days: o.days, ...(o.wave ? { waveId: o.wave, ledger: ctx.ledger } : {}) });
        // Streamed: a deployment can hold millions of codes.
        let n = 0;
        process.stdout.write(o.json ? '[' : 'account_id,enroll_by,days_left,code,wave\n');
        for await (const t of targets) {
          process.stdout.write(o.json ? `${n ? ',' : ''}${JSON.stringify(t)}` : `${t.accountId},${t.enrollBy},${t.daysLeft},${t.codeMasked},${t.waveId}\n`);
          n++;
        }
        if (o.json) process.stdout.write(']\n');
        ctx.log.info({ targets: n, days: o.days }, 'reminder targets listed');
      } finally {
        await ctx.close();
      }
    });

  codes.command('scope')
    .description('whether a wave\'s accounts keep a code they hold from an earlier wave (person, the default) or get fresh ones (wave); set before the wave starts; audited')
    .requiredOption('--wave <wave>', 'wave id', parseWave)
    .requiredOption('--scope <scope>', 'person or wave', parseScope)
    .option('--json', 'print the result as one JSON object')
    .action(async (o: { wave: string; scope: CodeScope; json?: boolean }) => {
      const ctx = await readContext();
      try {
        await ctx.ledger.getWave(o.wave);
        await createCodeStore({ redis: ctx.redis, prefix: loadConnectionConfig().prefix }).setScope(o.wave, o.scope);
        process.stdout.write(o.json ? `${JSON.stringify({ waveId: o.wave, scope: o.scope })}\n` : `wave ${o.wave}: codes per ${o.scope}\n`);
      } finally {
        await ctx.close();
      }
    });
}

/** `codes reminders --wave W --create`: a reminder wave of W's unredeemed code holders. */
async function createReminders(waveId: string, days: number, json: boolean): Promise<void> {
  const ctx = await fullContext();
  try {
    const store = createCodeStore({ redis: ctx.redis, prefix: ctx.config.prefix });
    const r = await createReminderWave({
      ledger: ctx.ledger, sourceWaveId: waveId, accountIds: await reminderAccountIds(store, ctx.ledger, waveId, days), envelope: ctx.envelope, dataDir: ctx.config.dataDir, log: ctx.log,
      actor: operatorActor(), approvals: loadCliConfig().approvalsRequired,
    });
    if (json) process.stdout.write(`${JSON.stringify(r)}\n`);
    else {
      process.stdout.write(`reminder wave ${r.waveId} created for wave ${waveId}: ${r.accepted} accounts whose code is unredeemed within ${days} days of its enroll-by date` +
        `${r.notInSource ? ` (${r.notInSource} not in the wave's spool: nothing is sent to them)` : ''}\n` +
        `next: breachwave wave dry-run ${r.waveId}${(r.manifest.approvals ?? 0) > 0 ? `, wave approve ${r.waveId} by another operator` : ''}, then wave start ${r.waveId}\n`);
    }
  } finally {
    await ctx.close();
  }
}
