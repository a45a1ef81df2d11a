#!/usr/bin/env -S npx tsx
import { Command, CommanderError } from 'commander';
import { GROUPS, type GroupName } from './groups.js';
import { int, parsePinDelivery } from './parse.js';
import type { DemoOptions } from '@breachwave/demo-service';

const program = new Command('breachwave')
  .description('Breach-response waves: ingest affected accounts, notify them by SMS and email, prove it with a hash-chained audit.\nConfiguration comes from environment variables (REDIS_URL, BW_PREFIX, BW_ENVELOPE_KEY, BW_HMAC_KEY, TWILIO_*, SMTP_*; see README).')
  // A parse error (a missing argument, an unknown option, a value its parser refuses) is thrown
  // instead of printed and exited on, so it is reported below like every other error: one line
  // with its catalog code, or a JSON error object under --json. Subcommands inherit both settings.
  .exitOverride()
  .configureOutput({ outputError: () => {} });

/**
 * Each group's commands, loaded only when the group is named by one of the arguments: commander
 * runs a group only when an argument is exactly its name, and the top-level help lists a group by
 * its name and description alone (groups.ts). So `--help` loads commander and nothing else, and a
 * command loads what its group needs, not every group's dependencies (the queue library, the
 * report writer, the feeder…): each Node process pays for every module it loads, and scripts run
 * the CLI once per step. A value that happens to equal a group's name only loads that group too.
 */
const LOADERS: Readonly<Record<GroupName, () => Promise<(program: Command) => void>>> = {
  wave: async () => (await import('./wave-commands.js')).registerWaveCommands,
  audit: async () => (await import('./audit.js')).registerAuditCommands,
  dlq: async () => (await import('./dlq.js')).registerDlqCommands,
  codes: async () => (await import('./codes.js')).registerCodesCommands,
  pace: async () => (await import('./pace.js')).registerPaceCommands,
  pin: async () => (await import('./pin.js')).registerPinCommands,
  token: async () => (await import('./tokens.js')).registerTokenCommands,
  keys: async () => (await import('./keys.js')).registerKeysCommands,
};

async function registerCommands(): Promise<void> {
  const named = new Set(process.argv.slice(2));
  for (const [name, description] of Object.entries(GROUPS) as [GroupName, string][]) {
    if (named.has(name)) (await LOADERS[name]())(program);
    else program.command(name).description(description);
  }
  program.command('demo')
    .description('run a demo wave end to end on loopback: synthetic accounts, Redis (REDIS_URL, else 127.0.0.1:6379, else a container), PIN rotation of exposed prepaid accounts, notices through local SMTP and Twilio-compatible sinks, audit verification (in a source checkout: the production build leaves it out)')
    .option('--accounts <n>', 'rows in the synthetic file', int('--accounts', 1, 5_000_000), 10_000)
    .option('--json', 'print the summary as one JSON object')
    .option('--pin-delivery <mode>', 'none or sms-temporary, for the rotated prepaid PINs', parsePinDelivery, 'none')
    .option('--keep', 'keep the demo\'s Redis keys afterwards (default: removed)')
    .action(async (opts: DemoOptions) => (await import('./demo.js')).demo(opts));
}

// Under --json, an error is one JSON object on stdout too ({"error": {code, kind, message}}), so a
// script reads every outcome the same way; the exit code is the same either way.
const wantsJson = process.argv.includes('--json');
/** Help and version were asked for (exit 0), or help was shown for a command named without its subcommand (exit 1): already printed. */
const PRINTED = new Set(['commander.helpDisplayed', 'commander.version', 'commander.help', 'commander.executeSubCommandAsync']);
try {
  await registerCommands();
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    if (PRINTED.has(err.code)) {
      process.exitCode = err.exitCode;
    } else {
      // "error: option '--rate <mps>' argument '0' is invalid. …" → the catalog's invalid input, in one line.
      const { BreachwaveError } = await import('@breachwave/domain');
      throw new BreachwaveError('BW_INPUT_INVALID', { detail: `${err.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ')} (see breachwave --help)` });
    }
  }
} catch (err) {
  // Loaded here, not up front: help and every command that succeeds go without the catalog's module.
  const { isBreachwaveError } = await import('@breachwave/domain');
  if (wantsJson) {
    const e = isBreachwaveError(err) ? { code: err.code, kind: err.kind, message: err.message } : { code: 'BW_INTERNAL', kind: 'permanent', message: err instanceof Error ? err.message : String(err) };
    process.stdout.write(`${JSON.stringify({ error: e })}\n`);
  }
  if (isBreachwaveError(err)) {
    // Several problems at once (a manifest, a header): the first line says how many, then one line each.
    const [first, ...problems] = err.message.split('\n');
    process.stderr.write(`breachwave: error [${err.code}]: ${first ?? ''}\n${problems.map((p) => (/^\s/.test(p) ? `${p}\n` : `${err.code}: ${p}\n`)).join('')}`);
    process.exitCode = err.kind === 'invalid-input' ? 2 : 1;
  } else {
    process.stderr.write(`breachwave: unexpected error: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exitCode = 1;
  }
}
