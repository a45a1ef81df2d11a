import { InvalidArgumentError, type Command } from 'commander';
import { loadConnectionConfig } from '@breachwave/config';
import { createPacer } from '@breachwave/pacing';
import { operatorActor, readContext } from './context.js';

const rate = (v: string): number => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0 || n > 10_000) throw new InvalidArgumentError('must be a number of messages per second, 0 < rate ≤ 10000');
  return n;
};

/** `breachwave pace show|set`: a sender's pace, shared by every notifier, changeable mid-wave. */
export function registerPaceCommands(program: Command): void {
  const pace = program.command('pace').description('per-sender pace (messages/s) shared by every notifier process');
  pace.command('show')
    .description('the stored pace of a sender')
    .requiredOption('--sender <id>', 'e.g. twilio:+15005550006, twilio:MG…, smtp:relay.example.com:25')
    .option('--json', 'print as JSON')
    .action(async (o: { sender: string; json?: boolean }) => {
      const ctx = await readContext();
      const pacer = createPacer({ redis: ctx.redis, prefix: loadConnectionConfig().prefix, sender: o.sender });
      try {
        const r = await pacer.getRate();
        process.stdout.write(o.json ? `${JSON.stringify({ sender: o.sender, rate: r ?? null })}\n` : `${o.sender}: ${r === undefined ? 'unpaced' : `${r} messages/s`}\n`);
      } finally {
        pacer.close();
        await ctx.close();
      }
    });
  pace.command('set')
    .description('set a sender\'s pace; running notifiers follow within a fraction of a second (audited)')
    .requiredOption('--sender <id>', 'sender id, as in `pace show`')
    .requiredOption('--rate <mps>', 'messages per second', rate)
    .option('--actor <name>', 'who is doing this, for the audit trail (default: BW_OPERATOR or $USER)')
    .option('--json', 'print the result as one JSON object')
    .action(async (o: { sender: string; rate: number; actor?: string; json?: boolean }) => {
      const ctx = await readContext();
      const pacer = createPacer({ redis: ctx.redis, prefix: loadConnectionConfig().prefix, sender: o.sender });
      try {
        const before = await pacer.getRate();
        await pacer.setRate(o.rate);
        await ctx.ledger.audit({ type: 'operator.pace.set', actor: operatorActor(o.actor), detail: { sender: o.sender, from: before ?? null, to: o.rate } });
        process.stdout.write(o.json ? `${JSON.stringify({ sender: o.sender, from: before ?? null, rate: o.rate })}\n` : `${o.sender}: ${before ?? 'unpaced'} → ${o.rate} messages/s\n`);
      } finally {
        pacer.close();
        await ctx.close();
      }
    });
}
