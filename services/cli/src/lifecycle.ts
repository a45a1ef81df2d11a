import type { Command } from 'commander';
import { BreachwaveError } from '@breachwave/domain';
import type { DryRunReport, PaceChoice } from '@breachwave/feeder';
import { senderIds } from '@breachwave/pacing';
import type { WaveControlOp, WaveControlResult } from '@breachwave/ledger';
import { fullContext, operatorActor, readContext } from './context.js';
import { formatDuration } from './report.js';

const counts = (o: Readonly<Record<string, number | undefined>>): string => Object.entries(o).map(([k, n]) => `${k} ${n ?? 0}`).join('  ') || '-';

/** Where a channel's pace came from, in words. */
function paceLine(p: PaceChoice): string {
  const sender = p.sender ? ` of ${p.sender}` : '';
  const forSender = p.sender ? ` for ${p.sender}` : '';
  if (p.source === 'none') return `unpaced (no pace stored or planned${forSender}, none given)`;
  if (p.source === 'manifest') return `${p.rate}/s (the wave's planned pace${sender}, set when it is first fed)`;
  if (p.source === 'stored') return `${p.rate}/s (the stored pace${sender}, as pace set or an earlier feed wrote it)`;
  return `${p.rate}/s (${p.from ?? 'given'}: nothing stored or planned${forSender})`;
}

/** The quiet-hours line: the window and the SMS notices it would defer. */
function quietLine(r: DryRunReport): string {
  const q = r.quietHours;
  if (!q) return 'off';
  const window = q.window ? `${q.window.start}–${q.window.end}` : '08:00–21:00 (stricter state rules apply)';
  const deferred = q.deferred > 0 ? `${q.deferred} SMS notice(s) would be deferred, each by at most ${formatDuration(q.maxDelaySeconds)}` : 'no SMS notice would be deferred';
  const zones = q.areaCodes ? 'account zone, else area code, else' : 'account zone (area codes not read), else';
  return `kept (SMS held to ${window} recipient time; ${zones} default zone ${q.defaultZone}); sending from ${q.startAt} at the SMS pace, ${deferred}`;
}

/** The dry run as an approver reads it. */
export function formatDryRun(r: DryRunReport): string {
  const lines = [
    `dry run of wave ${r.waveId} (${r.status}): nothing was sent, queued or changed`,
    `  rows ${r.rows}  accepted ${r.accepted}  rejected ${r.rejected}`,
    `  by segment   ${counts(r.bySegment)}`,
    `  by language  ${counts(r.byLocale)}`,
    `  actions      ${counts(r.byAction)}`,
    `  first channel  sms ${r.byChannel.sms}  email ${r.byChannel.email}  no usable contact ${r.byChannel.none}`,
    `  notices      sms ${r.notices.sms}  email ${r.notices.email}  (${r.consolidated.notices} consolidated notice(s) for ${r.consolidated.accounts} accounts sharing a phone or email)`,
    `  SMS segments ${r.smsSegments.total} in all, ${r.smsSegments.max} at most per message`,
    `  quiet hours  ${quietLine(r)}`,
    `  pace         sms ${paceLine(r.paceSource.sms)}; email ${paceLine(r.paceSource.email)}`,
    `  estimated sending time  ${r.estimatedSeconds === null ? 'unknown (no pace stored or planned for the senders, and none given: BW_SMS_RATE, BW_EMAIL_RATE or --sms-rate/--email-rate)' : `${formatDuration(r.estimatedSeconds)} at sms ${r.pace.sms ?? '-'}/s, email ${r.pace.email ?? '-'}/s (no provider caps are configured beyond the pace)`}`,
    `  ${r.templates.length} distinct notice text(s); the most common:`,
  ];
  const o = r.overlap;
  if (o.notified + o.rotated + o.contacts > 0) {
    lines.splice(lines.length - 1, 0,
      `  OVERLAP with earlier waves: ${o.notified} accounts already notified, ${o.contacts} contact points (phones, emails) already notified under any account id, ${o.rotated} PINs already rotated (${o.waves.map((w) => `${w.waveId}: ${w.notified} notified, ${w.contacts} contact points, ${w.rotated} rotated`).join('; ')})`,
      '  approval will be refused unless given with --allow-overlap (audited): this wave would notify them again and rotate those PINs a second time');
  } else {
    lines.splice(lines.length - 1, 0, '  overlap with earlier waves: none');
  }
  const m = o.contactMatching;
  if (!m.checked) lines.splice(lines.length - 1, 0, `  contact points not compared: ${m.reason ?? 'unknown'}; overlap by account id only`);
  else if (m.skipped.length > 0) {
    lines.splice(lines.length - 1, 0, `  contact points not compared with ${m.skipped.length} earlier wave(s) (overlap with them by account id only): ${m.skipped.slice(0, 5).map((w) => `${w.waveId}: ${w.reason}`).join('; ')}${m.skipped.length > 5 ? '; …' : ''}`);
  }
  for (const t of r.templates.slice(0, 8)) {
    lines.push(`    ${String(t.accounts).padStart(8)}  ${t.channel} ${t.locale}  exposed: ${t.exposed.join(', ') || '(not given)'}${t.pinReset ? '  +PIN reset' : ''}${t.code ? '  +code' : ''}${t.segments !== undefined ? `  ${t.segments} segment(s)` : ''}`);
  }
  for (const s of r.samples) {
    lines.push(`  sample ${s.channel} (${s.locale}), personal values masked:`);
    if (s.subject) lines.push(`    subject: ${s.subject}`);
    for (const l of s.text.split('\n').slice(0, s.channel === 'sms' ? 10 : 6)) lines.push(`    | ${l}`);
  }
  return `${lines.join('\n')}\n`;
}

/** One line saying what a lifecycle step did. */
function said(op: WaveControlOp, waveId: string, r: WaveControlResult): string {
  if (op === 'approve') {
    return r.status === 'approved'
      ? `wave ${waveId} approved by ${r.approvers.join(', ')}\nnext: breachwave wave start ${waveId}\n`
      : `wave ${waveId}: approval recorded (${r.approvers.length} of ${r.approvals}: ${r.approvers.join(', ')}); it needs ${r.approvals - r.approvers.length} more\n`;
  }
  if (op === 'pause') return `wave ${waveId} paused: nothing new is fed or started; sends in flight finish (wave resume ${waveId})\n`;
  if (op === 'resume') return `wave ${waveId} resumed (${r.status})\n`;
  return `wave ${waveId}: ${r.status}\n`;
}

/**
 * `wave dry-run | approve | pause | resume | cancel`: the operator's steps on a wave, each guarded
 * (a step the wave's state does not allow is refused and changes nothing) and audited with the
 * operator's identity (BW_OPERATOR, else the login name). The feeder (dry-run) and the queues
 * (cancel) are loaded by the steps that use them: approve, pause and resume need the ledger only.
 */
export function registerLifecycleCommands(wave: Command): void {
  wave.command('dry-run')
    .description('what the wave would do, read from its accounts without sending or queueing anything: counts by segment, language, action and channel, the distinct notice texts with their SMS segments, the estimated sending time at each sender\'s pace (the wave\'s planned pace until it is first fed, else the sender\'s stored pace, else the flag or BW_SMS_RATE/BW_EMAIL_RATE; the output says which), the SMS notices quiet hours would defer, the overlap with earlier waves (accounts and phones/emails already notified, PINs already rotated), and a rendered sample per channel and language with personal values masked; recorded (audited) as the dry run an approval needs')
    .argument('<wave>', 'wave id')
    .option('--sms-rate <mps>', 'SMS pace for the estimate when the SMS sender has none stored (pace set) or planned (the manifest\'s pace); default BW_SMS_RATE', Number)
    .option('--email-rate <mps>', 'email pace for the estimate when the SMTP relay has none stored or planned; default BW_EMAIL_RATE', Number)
    .option('--start-at <time>', 'when the sends would start, for the quiet-hours deferrals (ISO 8601; default now)')
    .option('--json', 'print the report as one JSON object')
    .action(async (waveId: string, o: { smsRate?: number; emailRate?: number; startAt?: string; json?: boolean }) => {
      const startAt = o.startAt === undefined ? undefined : new Date(o.startAt);
      if (startAt && Number.isNaN(startAt.getTime())) throw new BreachwaveError('BW_INPUT_INVALID', { detail: '--start-at must be an ISO 8601 time, e.g. 2026-03-01T14:00:00Z' });
      const ctx = await fullContext();
      try {
        const { dryRunAndRecord } = await import('@breachwave/feeder');
        const c = ctx.config;
        const sms = o.smsRate ?? c.notifier.smsRate;
        const email = o.emailRate ?? c.notifier.emailRate;
        const report = await dryRunAndRecord(ctx.ledger, waveId, operatorActor(), {
          fallback: { ...(sms ? { sms } : {}), ...(email ? { email } : {}) },
          fallbackFrom: { sms: o.smsRate ? '--sms-rate' : 'BW_SMS_RATE', email: o.emailRate ? '--email-rate' : 'BW_EMAIL_RATE' },
          pacing: { redis: ctx.redis, prefix: c.prefix, senders: senderIds({ twilioFrom: c.twilio?.from, twilioMessagingServiceSid: c.twilio?.messagingServiceSid, smtpHost: c.smtp.host, smtpPort: c.smtp.port }) },
          envelope: ctx.envelope,
          ...(startAt ? { startAt } : {}),
        });
        process.stdout.write(o.json ? `${JSON.stringify(report)}\n` : formatDryRun(report));
      } finally {
        await ctx.close();
      }
    });

  const step = (op: Exclude<WaveControlOp, 'dry-run'>, description: string, withReason: boolean): void => {
    const c = wave.command(op).description(description).argument('<wave>', 'wave id');
    if (withReason) c.option('--reason <text>', 'why, for the audit trail (no personal data)');
    if (op === 'approve') c.option('--allow-overlap', 'approve although the dry run found accounts, phones or emails earlier waves already notified, or accounts whose PIN they rotated (audited)');
    c.option('--json', 'print the result as one JSON object').action(async (waveId: string, o: { reason?: string; allowOverlap?: boolean; json?: boolean }) => {
      const ctx = await readContext();
      try {
        const allow = o.allowOverlap === true;
        const r = await ctx.ledger.control(op, waveId, operatorActor(), { ...(o.reason ? { reason: o.reason } : {}), ...(allow ? { allowOverlap: true } : {}) }, 0, { allow });
        const sweep = op === 'cancel' ? await (await import('@breachwave/actions')).cancelOpenAccounts(ctx.ledger, waveId, operatorActor()) : undefined;
        if (o.json) {
          process.stdout.write(`${JSON.stringify({ waveId, ...r, ...(sweep ? { cancelledAccounts: sweep.accounts, underWay: sweep.underWay } : {}) })}\n`);
        } else {
          process.stdout.write(said(op, waveId, r));
          if (sweep) process.stdout.write(`  ${sweep.accounts} queued accounts cancelled; ${sweep.underWay} under way finish what they began (a rotated PIN still gets its notice); accounts never queued are never sent anything\n`);
        }
      } finally {
        await ctx.close();
      }
    });
  };
  step('approve', 'approve a wave after its dry run, as an operator other than its creator (two-person rule); it is approved once it has the approvals it was created with, and only then can wave start feed it', false);
  step('pause', 'pause a running wave: nothing new is fed or started (queued jobs wait without spending attempts); sends in flight finish', true);
  step('resume', 'resume a paused wave', true);
  step('cancel', 'cancel a wave for good: nothing new is fed or started, queued accounts nothing was done to end as cancelled, accounts under way finish what they began', true);
}
