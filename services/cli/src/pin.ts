import { InvalidArgumentError, type Command } from 'commander';
import { loadConnectionConfig } from '@breachwave/config';
import { unlockPinVerification } from '@breachwave/pin';
import { operatorActor, readContext } from './context.js';
import { GROUPS } from './groups.js';

function accountId(v: string): string {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(v)) throw new InvalidArgumentError('must be an account id ([A-Za-z0-9_-], up to 64 characters)');
  return v;
}

/** `breachwave pin unlock ACCOUNT`: the operator's way out of a PIN verification lock, audited. */
export function registerPinCommands(program: Command): void {
  const pin = program.command('pin').description(GROUPS.pin);
  pin.command('unlock')
    .description('clear an account\'s PIN verification lock and waits (its failed tries in the window); audited with the operator\'s name')
    .argument('<account>', 'account id', accountId)
    .option('--actor <name>', 'who is doing this, for the audit trail (default: BW_OPERATOR or $USER)')
    .option('--json', 'print the result as JSON')
    .action(async (account: string, o: { actor?: string; json?: boolean }) => {
      const ctx = await readContext();
      try {
        const actor = operatorActor(o.actor);
        const prefix = loadConnectionConfig().prefix;
        const { cleared } = await unlockPinVerification({ redis: ctx.redis, prefix, audit: (r) => ctx.ledger.audit(r) }, account, actor);
        process.stdout.write(o.json ? `${JSON.stringify({ accountId: account, cleared })}\n` : `${account}: ${cleared ? 'unlocked' : 'was not locked or waiting'}\n`);
      } finally {
        await ctx.close();
      }
    });
}
