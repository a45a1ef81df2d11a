#!/usr/bin/env -S npx tsx
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { BreachwaveError, WAVE_LANES, isBreachwaveError, isFormattableTimeZone } from '@breachwave/domain';
import { waveAdd, waveCreate, waveList, waveStart, waveStatus } from './wave.js';
import { auditVerify } from './audit.js';
import { waveRecover } from './recover.js';
import { waveWatch } from './watch.js';
import { demo } from './demo.js';
import { registerDlqCommands } from './dlq.js';
import { registerCodesCommands } from './codes.js';
import { registerPaceCommands } from './pace.js';
import { registerPinCommands } from './pin.js';
import { registerTokenCommands } from './tokens.js';
import { registerKeysCommands } from './keys.js';
import { registerLifecycleCommands } from './lifecycle.js';
import { registerWaveReportCommand } from './wave-report.js';

const int = (name: string, min: number, max: number) => (v: string): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}`);
  return n;
};

function parseActions(v: string): string[] {
  const list = v.split(',').map((a) => a.trim()).filter(Boolean);
  for (const a of list) if (a !== 'rotate-pin' && a !== 'issue-code') throw new InvalidArgumentError(`unknown action "${a}" (rotate-pin, issue-code)`);
  return list;
}
function parsePinDelivery(v: string): string {
  if (v !== 'none' && v !== 'sms-temporary') throw new InvalidArgumentError('must be none or sms-temporary');
  return v;
}
function parseCodeSource(v: string): string {
  if (v !== 'generated' && !/^pool:[A-Za-z0-9_-]{1,64}$/.test(v)) throw new InvalidArgumentError('must be generated or pool:NAME');
  return v;
}
function parseLane(v: string): string {
  if (!(WAVE_LANES as readonly string[]).includes(v)) throw new InvalidArgumentError(`must be one of ${WAVE_LANES.join(', ')}`);
  return v;
}
function parseZone(v: string): string {
  if (!isFormattableTimeZone(v)) throw new InvalidArgumentError('must be an IANA time zone, e.g. America/Chicago');
  return v;
}
function parseDate(v: string): string {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(v) || Number.isNaN(Date.parse(`${v}T00:00:00Z`))) throw new InvalidArgumentError('must be a date YYYY-MM-DD');
  return v;
}

const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

const program = new Command('breachwave')
  .description('Breach-response waves: ingest affected accounts, notify them by SMS and email, prove it with a hash-chained audit.\nConfiguration comes from environment variables (REDIS_URL, BW_PREFIX, BW_ENVELOPE_KEY, BW_HMAC_KEY, TWILIO_*, SMTP_*; see README).')
  // A parse error (a missing argument, an unknown option, a value its parser refuses) is thrown
  // instead of printed and exited on, so it is reported below like every other error: one line
  // with its catalog code, or a JSON error object under --json. Subcommands inherit both settings.
  .exitOverride()
  .configureOutput({ outputError: () => {} });

const wave = program.command('wave').description('create, feed and inspect notification waves');
wave.command('create')
  .description('validate, normalise, minimise and de-duplicate an affected-account file (CSV or JSONL) into a new wave; prints the wave id, counts, and the rejects report path')
  .option('--accounts <file>', 'affected-account file (.csv with a header row, or .jsonl); overrides the manifest\'s accounts')
  .option('--manifest <file>', 'wave manifest (YAML, or JSON for a .json file) describing the wave instead of the flags below; see README')
  .option('--write-manifest <file>', 'write the manifest the flags describe (YAML, or JSON for a .json file) and exit without creating a wave')
  .option('--column <canonical=header>', 'read the file\'s column HEADER as the known column CANONICAL, e.g. --column phone=MSISDN; repeatable', collect, [])
  .option('--ignore-column <name>', 'a column the file carries that the pipeline does not read: skip it (unknown columns otherwise stop the wave); repeatable', collect, [])
  .option('--brand <name>', 'brand named in the notices (default: BW_BRAND)')
  .option('--help-url <url>', 'link in the notices (default: BW_HELP_URL)')
  .option('--actions <list>', 'optional actions to run before the notice, with their default rules: rotate-pin (prepaid-active accounts whose PIN was exposed), issue-code (accounts whose SSN or driver\'s licence was exposed)', parseActions, [])
  .option('--pin-delivery <mode>', 'none (the notice says the PIN was reset) or sms-temporary (a temporary PIN by SMS to the account\'s own number)', parsePinDelivery, 'none')
  .option('--code-source <source>', 'enrollment codes: generated, or pool:NAME for an imported vendor pool (required with --actions issue-code)', parseCodeSource)
  .option('--enroll-by <date>', 'enrollment deadline printed in notices (YYYY-MM-DD)', parseDate)
  .option('--quiet-hours-zone <zone>', 'IANA zone for recipients whose zone neither the account nor the area code gives', parseZone, 'America/New_York')
  .option('--no-quiet-hours', 'send SMS at any hour (default: hold each SMS until 08:00–21:00 recipient time, stricter state rules apply)')
  .option('--no-consolidate', 'one notice per account (default: accounts sharing a phone or email get one notice naming each account, masked, with what each was told)')
  .option('--sms-segment-budget <n>', 'warn when a rendered SMS needs more segments than this (GSM-7 vs UCS-2 aware)', int('--sms-segment-budget', 1, 10), 3)
  .option('--allow-same-file', 'create the wave even though this very file was already made into a wave (it would notify those people again); audited')
  .option('--lane <lane>', 'queue lane: urgent (taken before every other waiting job: a small urgent wave is not held behind a large one), normal, or reminder (after the others)', parseLane, 'normal')
  .option('--approvals <n>', 'operators other than you who must approve the wave (after wave dry-run) before wave start feeds it; 0: none (default: BW_APPROVALS_REQUIRED, else 1)', int('--approvals', 0, 5))
  .option('--json', 'print the result as one JSON object')
  .action(waveCreate);
wave.command('add')
  .description('add the rows of another file (e.g. the fixed rows of a rejects report) to a wave not yet completed; ids already in the wave are rejected; then run wave start to feed them')
  .argument('<wave>', 'wave id')
  .requiredOption('--accounts <file>', 'affected-account file (.csv with a header row, or .jsonl)')
  .option('--json', 'print the result as one JSON object')
  .action(waveAdd);
wave.command('start')
  .description('feed an approved wave (or one created with --approvals 0) to the queues in a bounded window (BW_FEED_WINDOW waiting jobs); resumes from its checkpoint after a crash; holds while the wave is paused, stops if it is cancelled; runs until every account is queued')
  .argument('<wave>', 'wave id')
  .option('--json', 'print the result as one JSON object')
  .action(waveStart);
wave.command('status')
  .description('the wave by action and state (states add up; events apart), paused or not; rate, ETA, share notified and the time left to the notice deadline (a warning when the projected finish is after it); accounts still open and how long the oldest has waited; orphans no live job will finish; rotated PINs still waiting for their notice')
  .argument('<wave>', 'wave id')
  .option('--json', 'print as one JSON object')
  .action(waveStatus);
wave.command('watch')
  .description('live progress until the wave is complete: on a terminal, a bar per action with the rate, ETA, share notified and the time left to the notice deadline, redrawn in place; otherwise one line (or with --json one JSON object) per interval')
  .argument('<wave>', 'wave id')
  .option('--interval <seconds>', 'seconds between samples', int('--interval', 1, 3600), 2)
  .option('--json', 'one JSON object per sample')
  .action(waveWatch);
wave.command('recover')
  .description('find the accounts of a wave that are not terminal and that no live job will finish (their job was lost to repeated crashes, removed, or never queued), and re-drive them through the normal exactly-once path; dead-letters (BW_WORKER_LOST) one re-driven BW_RECOVERY_MAX times. The workers do this by themselves every BW_RECOVERY_INTERVAL_MS')
  .argument('<wave>', 'wave id')
  .option('--dry-run', 'only say what would be done')
  .option('--json', 'print the report as one JSON object')
  .action(waveRecover);
wave.command('list')
  .description('most recent waves')
  .option('--json', 'print as JSON')
  .action(waveList);
registerLifecycleCommands(wave);
registerWaveReportCommand(wave);

program.command('audit')
  .description('audit trail tools')
  .command('verify')
  .description('verify audit JSONL files as evidence: the hash chain, and the signed checkpoints beside it (audit.checkpoints), which catch a cut tail, an appended line and a recomputed chain; names the file and line where it breaks and exits 1. Public keys also from BW_AUDIT_PUBLIC_KEYS (id:base64,…)')
  .argument('[files...]', 'audit files, e.g. .breachwave/audit/*.jsonl')
  .option('--dir <dir>', 'instead of files: the audit directory (BW_AUDIT_DIR); verifies the chain of each of the BW_SHARDS shards in it (shard 0 in the directory, shard s in shard-<s>/) on its own, with its own checkpoints, and reports each')
  .option('--public-key <file>', 'Ed25519 public key (PEM), or a key ring of id:PEM blocks; repeatable: keep old keys to verify files signed before a rotation', collect)
  .option('--checkpoints <file>', 'checkpoint file (default: audit.checkpoints beside the audit files)')
  .option('--redis', 'also compare with the newest checkpoint and chain head kept in Redis (REDIS_URL, BW_PREFIX), when reachable: catches checkpoints cut from the checkpoint file')
  .option('--allow-unsigned', 'accept unsigned checkpoints (a writer run without BW_AUDIT_SIGNING_KEY); they prove nothing against anyone who can write the files')
  .option('--allow-uncovered', 'accept records after the newest checkpoint (a running writer signs them within BW_AUDIT_CHECKPOINT_MS)')
  .option('--json', 'print the result as JSON')
  .action(auditVerify);

registerDlqCommands(program);
registerCodesCommands(program);
registerPaceCommands(program);
registerPinCommands(program);
registerTokenCommands(program);
registerKeysCommands(program);

program.command('demo')
  .description('run a demo wave end to end on loopback: synthetic accounts, Redis (REDIS_URL, else 127.0.0.1:6379, else a container), PIN rotation of exposed prepaid accounts, notices through local SMTP and Twilio-compatible sinks, audit verification (in a source checkout: the production build leaves it out)')
  .option('--accounts <n>', 'rows in the synthetic file', int('--accounts', 1, 5_000_000), 10_000)
  .option('--json', 'print the summary as one JSON object')
  .option('--pin-delivery <mode>', 'none or sms-temporary, for the rotated prepaid PINs', parsePinDelivery, 'none')
  .option('--keep', 'keep the demo\'s Redis keys afterwards (default: removed)')
  .action(demo);

// Under --json, an error is one JSON object on stdout too ({"error": {code, kind, message}}), so a
// script reads every outcome the same way; the exit code is the same either way.
const wantsJson = process.argv.includes('--json');
/** Help and version were asked for (exit 0), or help was shown for a command named without its subcommand (exit 1): already printed. */
const PRINTED = new Set(['commander.helpDisplayed', 'commander.version', 'commander.help', 'commander.executeSubCommandAsync']);
try {
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    if (PRINTED.has(err.code)) {
      process.exitCode = err.exitCode;
    } else {
      // "error: option '--rate <mps>' argument '0' is invalid. …" → the catalog's invalid input, in one line.
      throw new BreachwaveError('BW_INPUT_INVALID', { detail: `${err.message.replace(/^error: /, '').replace(/\s*\n\s*/g, ' ')} (see breachwave --help)` });
    }
  }
} catch (err) {
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
