import { InvalidArgumentError, type Command } from 'commander';
import { WAVE_LANES, isFormattableTimeZone } from '@breachwave/domain';
import { GROUPS } from './groups.js';
import { registerLifecycleCommands } from './lifecycle.js';
import { collect, int, parsePinDelivery } from './parse.js';
import { registerWaveReportCommand } from './wave-report.js';

function parseActions(v: string): string[] {
  const list = v.split(',').map((a) => a.trim()).filter(Boolean);
  for (const a of list) if (a !== 'rotate-pin' && a !== 'issue-code') throw new InvalidArgumentError(`unknown action "${a}" (rotate-pin, issue-code)`);
  return list;
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

/**
 * A command's action, from the module that holds it, loaded when the command runs: `wave watch`
 * needs the ledger, not the feeder and the queue library that `wave create` and `wave start` load.
 */
function lazy<A extends unknown[]>(load: () => Promise<(...args: A) => Promise<void>>): (...args: A) => Promise<void> {
  return async (...args) => (await load())(...args);
}

/** `breachwave wave …`: create, feed, inspect and steer waves. */
export function registerWaveCommands(program: Command): void {
  const wave = program.command('wave').description(GROUPS.wave);
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
    .action(lazy(async () => (await import('./wave.js')).waveCreate));
  wave.command('add')
    .description('add the rows of another file (e.g. the fixed rows of a rejects report) to a wave not yet completed; ids already in the wave are rejected; then run wave start to feed them')
    .argument('<wave>', 'wave id')
    .requiredOption('--accounts <file>', 'affected-account file (.csv with a header row, or .jsonl)')
    .option('--json', 'print the result as one JSON object')
    .action(lazy(async () => (await import('./wave.js')).waveAdd));
  wave.command('start')
    .description('feed an approved wave (or one created with --approvals 0) to the queues in a bounded window (BW_FEED_WINDOW waiting jobs); resumes from its checkpoint after a crash; holds while the wave is paused, stops if it is cancelled; runs until every account is queued')
    .argument('<wave>', 'wave id')
    .option('--json', 'print the result as one JSON object')
    .action(lazy(async () => (await import('./wave.js')).waveStart));
  wave.command('status')
    .description('the wave by action and state (states add up; events apart), paused or not; rate, ETA, share notified and the time left to the notice deadline (a warning when the projected finish is after it); accounts still open and how long the oldest has waited; orphans no live job will finish; rotated PINs still waiting for their notice')
    .argument('<wave>', 'wave id')
    .option('--json', 'print as one JSON object')
    .action(lazy(async () => (await import('./wave.js')).waveStatus));
  wave.command('watch')
    .description('live progress until the wave is complete: on a terminal, a bar per action with the rate, ETA, share notified and the time left to the notice deadline, redrawn in place; otherwise one line (or with --json one JSON object) per interval')
    .argument('<wave>', 'wave id')
    .option('--interval <seconds>', 'seconds between samples', int('--interval', 1, 3600), 2)
    .option('--json', 'one JSON object per sample')
    .action(lazy(async () => (await import('./watch.js')).waveWatch));
  wave.command('recover')
    .description('find the accounts of a wave that are not terminal and that no live job will finish (their job was lost to repeated crashes, removed, or never queued), and re-drive them through the normal exactly-once path; dead-letters (BW_WORKER_LOST) one re-driven BW_RECOVERY_MAX times. The workers do this by themselves every BW_RECOVERY_INTERVAL_MS')
    .argument('<wave>', 'wave id')
    .option('--dry-run', 'only say what would be done')
    .option('--json', 'print the report as one JSON object')
    .action(lazy(async () => (await import('./recover.js')).waveRecover));
  wave.command('list')
    .description('most recent waves')
    .option('--json', 'print as JSON')
    .action(lazy(async () => (await import('./wave.js')).waveList));
  registerLifecycleCommands(wave);
  registerWaveReportCommand(wave);
}
