import { InvalidArgumentError, Option, type Command } from 'commander';
import { API_ROLES, TOKEN_NAME, createApiTokenStore, type ApiRole } from '@breachwave/access';
import { fullContext, operatorActor } from './context.js';
import { GROUPS } from './groups.js';

const tokenName = (v: string): string => {
  if (!TOKEN_NAME.test(v)) throw new InvalidArgumentError('1–64 letters, digits, ".", "_" or "-"');
  return v;
};

/**
 * `breachwave token create|list|revoke`: API tokens of the ops API, made straight in Redis — how
 * the first `admin` token comes to exist, and a way in when the API is down. Tokens are stored
 * as HMAC-SHA256 under BW_HMAC_KEY, so these commands need the deployment's keys.
 */
export function registerTokenCommands(program: Command): void {
  const token = program.command('token').description(GROUPS.token);
  token.command('create')
    .description('make a token and print it: the only time it is shown (store it in a secret manager); audited')
    .requiredOption('--name <name>', 'who it stands for; the ops API audits its calls as operator:<name>', tokenName)
    .addOption(new Option('--role <role>', 'viewer reads; operator also steers waves; approver also approves; admin also manages tokens (but does not approve)').choices(API_ROLES).makeOptionMandatory())
    .option('--json', 'print { name, role, token } as one JSON object')
    .action(async (o: { name: string; role: ApiRole; json?: boolean }) => {
      const ctx = await fullContext();
      try {
        const store = createApiTokenStore({ redis: ctx.redis, prefix: ctx.config.prefix, hmacKey: Buffer.from(ctx.config.hmacKey, 'base64') });
        const actor = operatorActor();
        const { token: secret, info } = await store.create({ name: o.name, role: o.role, createdBy: actor });
        await ctx.ledger.audit({ type: 'operator.token.created', actor, detail: { name: info.name, role: info.role } });
        process.stdout.write(o.json ? `${JSON.stringify({ name: info.name, role: info.role, token: secret })}\n` : `${secret}\n`);
        if (!o.json) process.stderr.write(`token ${info.name} (${info.role}) created; it is not shown again\n`);
      } finally {
        await ctx.close();
      }
    });
  token.command('list')
    .description('every token\'s name and role (never a token)')
    .option('--json', 'print as JSON')
    .action(async (o: { json?: boolean }) => {
      const ctx = await fullContext();
      try {
        const list = await createApiTokenStore({ redis: ctx.redis, prefix: ctx.config.prefix, hmacKey: Buffer.from(ctx.config.hmacKey, 'base64') }).list();
        process.stdout.write(o.json ? `${JSON.stringify(list)}\n` : list.map((t) => `${t.name}  ${t.role.padEnd(8)}  ${t.createdAt}  by ${t.createdBy}\n`).join(''));
      } finally {
        await ctx.close();
      }
    });
  token.command('revoke')
    .description('revoke a token by name; it stops working at once (audited)')
    .argument('<name>', 'token name', tokenName)
    .option('--json', 'print the result as one JSON object')
    .action(async (name: string, o: { json?: boolean }) => {
      const ctx = await fullContext();
      try {
        const info = await createApiTokenStore({ redis: ctx.redis, prefix: ctx.config.prefix, hmacKey: Buffer.from(ctx.config.hmacKey, 'base64') }).revoke(name);
        await ctx.ledger.audit({ type: 'operator.token.revoked', actor: operatorActor(), detail: { name: info.name, role: info.role } });
        process.stdout.write(o.json ? `${JSON.stringify({ name: info.name, role: info.role, revoked: true })}\n` : `token ${name} revoked\n`);
      } finally {
        await ctx.close();
      }
    });
}
