import type { Command } from 'commander';
import { loadConnectionConfig } from '@breachwave/config';
import { checkPace, setSenderPace, showSenderPace } from '@breachwave/pacing';
import { operatorActor, readContext } from './context.js';
import { GROUPS } from './groups.js';

/** A pace as typed: checked by the same rule as the API's, so `--rate 0` is refused before anything connects. */
const rate = (v: string): number => checkPace(v.trim() === '' ? Number.NaN : Number(v));

/** `breachwave pace show|set`: a sender's pace, shared by every notifier, changeable mid-wave. */
export function registerPaceCommands(program: Command): void {
  const pace = program.command('pace').description(GROUPS.pace);
  pace.command('show')
    .description('the stored pace of a sender')
    .requiredOption('--sender <id>', 'e.g. twilio:+15005550006, twilio:MG…, smtp:relay.example.com:25')
    .option('--json', 'print as JSON')
    .action(async (o: { sender: string; json?: boolean }) => {
      const ctx = await readContext();
      try {
        const r = await showSenderPace({ redis: ctx.redis, prefix: loadConnectionConfig().prefix }, o.sender);
        process.stdout.write(o.json ? `${JSON.stringify(r)}\n` : `${o.sender}: ${r.rate === null ? 'unpaced' : `${r.rate} messages/s`}\n`);
      } finally {
        await ctx.close();
      }
    });
  pace.command('set')
    .description('set a sender\'s pace; running notifiers follow within a fraction of a second (audited)')
    .requiredOption('--sender <id>', 'sender id, as in `pace show`')
    .requiredOption('--rate <mps>', 'messages per second, 0 < rate ≤ 10000', rate)
    .option('--actor <name>', 'who is doing this, for the audit trail (default: BW_OPERATOR or $USER)')
    .option('--json', 'print the result as one JSON object')
    .action(async (o: { sender: string; rate: number; actor?: string; json?: boolean }) => {
      const ctx = await readContext();
      try {
        const r = await setSenderPace({ redis: ctx.redis, prefix: loadConnectionConfig().prefix, ledger: ctx.ledger }, o.sender, o.rate, operatorActor(o.actor));
        process.stdout.write(o.json ? `${JSON.stringify(r)}\n` : `${o.sender}: ${r.from ?? 'unpaced'} → ${r.rate} messages/s\n`);
      } finally {
        await ctx.close();
      }
    });
}
