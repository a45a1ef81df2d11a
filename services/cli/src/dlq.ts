import { InvalidArgumentError, type Command } from 'commander';
import { ACTIONS, type ActionName } from '@breachwave/domain';
import { openDeadLetters, type DeadLetters, type Selector } from '@breachwave/dlq';
import { loadConnectionConfig } from '@breachwave/config';
import { operatorActor, readContext } from './context.js';
import { GROUPS } from './groups.js';

interface SelOpts { wave?: string; reason?: string; action?: string; json?: boolean; limit?: number; actor?: string }

function selector(o: SelOpts): Selector {
  return { ...(o.wave ? { waveId: o.wave } : {}), ...(o.reason ? { reason: o.reason } : {}), ...(o.action ? { action: o.action as ActionName } : {}) };
}

function parseAction(v: string): string {
  if (!(ACTIONS as readonly string[]).includes(v)) throw new InvalidArgumentError(`must be one of ${ACTIONS.join(', ')}`);
  return v;
}

/** The operator's name for the audit trail: --actor, else BW_OPERATOR, else the OS user. */
function actorOf(o: SelOpts): string {
  return operatorActor(o.actor);
}

async function withDlq<T>(fn: (dlq: DeadLetters) => Promise<T>): Promise<T> {
  const ctx = await readContext();
  const dlq = openDeadLetters({ ledger: ctx.ledger, connection: ctx.redis, prefix: loadConnectionConfig().prefix, shards: loadConnectionConfig().shards });
  try {
    return await fn(dlq);
  } finally {
    await dlq.close();
    await ctx.close();
  }
}

const common = (c: Command): Command => c
  .option('--wave <wave>', 'only this wave (default: every wave)')
  .option('--action <action>', 'only this action', parseAction)
  .option('--json', 'print as JSON');

/** `breachwave dlq list|show|retry|purge`. */
export function registerDlqCommands(program: Command): void {
  const dlq = program.command('dlq').description(GROUPS.dlq);
  common(dlq.command('list').description('dead letters grouped by action and reason, with counts'))
    .action(async (o: SelOpts) => {
      const groups = await withDlq((d) => d.list(selector(o)));
      if (o.json) process.stdout.write(`${JSON.stringify(groups)}\n`);
      else if (groups.length === 0) process.stdout.write('no dead letters\n');
      else for (const g of groups) process.stdout.write(`${String(g.count).padStart(8)}  ${g.action.padEnd(10)}  ${g.reason}  (waves: ${g.waves.join(', ')})\n`);
    });
  common(dlq.command('show').description('the dead letters of one reason: wave, account, attempts, time (ids only)'))
    .option('--reason <code>', 'error code, e.g. BW_SMS_INVALID_NUMBER')
    .option('--limit <n>', 'at most this many', (v) => Number(v), 50)
    .action(async (o: SelOpts) => {
      const rows = await withDlq((d) => d.show(selector(o), o.limit ?? 50));
      if (o.json) process.stdout.write(`${JSON.stringify(rows)}\n`);
      else for (const r of rows) process.stdout.write(`${r.waveId}  ${r.accountId}  ${r.action}  ${r.reason}  attempts ${r.attempts}  ${r.at ?? ''}\n`);
    });
  common(dlq.command('retry').description('re-drive the dead letters of one reason (after fixing the cause); audited'))
    .requiredOption('--reason <code>', 'error code to re-drive')
    .option('--actor <name>', 'who is doing this, for the audit trail (default: BW_OPERATOR or $USER)')
    .action(async (o: SelOpts & { reason: string }) => {
      const r = await withDlq((d) => d.retry({ ...selector(o), reason: o.reason }, actorOf(o)));
      process.stdout.write(o.json ? `${JSON.stringify(r)}\n` : `re-driven: ${r.retried}${r.expired ? `; ${r.expired} could not be (contact record expired)` : ''}\n`);
    });
  common(dlq.command('purge').description('drop dead letters for good (they stay failed in their wave); audited'))
    .option('--reason <code>', 'only this reason')
    .option('--actor <name>', 'who is doing this, for the audit trail (default: BW_OPERATOR or $USER)')
    .action(async (o: SelOpts) => {
      const r = await withDlq((d) => d.purge(selector(o), actorOf(o)));
      process.stdout.write(o.json ? `${JSON.stringify(r)}\n` : `purged: ${r.purged}\n`);
    });
}
