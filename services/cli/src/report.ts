import type { WaveClock, WaveProgress } from '@breachwave/ledger';

/**
 * Human-readable wave status. Per action, the states (they add up to the accounts that action
 * was planned for) and, apart, the events counted along the way (they do not add up).
 */
export function formatStatus(waveId: string, p: WaveProgress): string {
  const flags = [p.paused ? 'paused' : '', p.complete ? 'complete' : ''].filter(Boolean);
  const lines = [
    `wave ${waveId}: ${p.status}${flags.length ? ` (${flags.join(', ')})` : ''}`,
    `  rows ${p.rows}  accepted ${p.accepted}  rejected ${p.rejected}  queued ${p.fed}${p.cancelledUnfed ? `  never queued (cancelled) ${p.cancelledUnfed}` : ''}`,
  ];
  for (const [action, states] of Object.entries(p.actions)) {
    const total = Object.values(states).reduce((a, b) => a + b, 0);
    lines.push(`  ${action.padEnd(10)} ${Object.entries(states).map(([s, n]) => `${s} ${n}`).join('  ')}  (of ${total})`);
  }
  for (const [action, events] of Object.entries(p.events)) {
    lines.push(`  ${action.padEnd(10)} events: ${Object.entries(events).map(([s, n]) => `${s} ${n}`).join('  ')}`);
  }
  lines.push(`  sent: sms ${p.sent.sms}  email ${p.sent.email}${p.ambiguous ? `  ambiguous outcomes ${p.ambiguous}` : ''}`);
  // Accounts sent to, against the messages that carried their notices: one consolidated notice covers several accounts.
  if (p.consolidated > 0) lines.push(`  messages: sms ${p.messages.sms}  email ${p.messages.email}  (${p.consolidated} accounts told by a consolidated notice)`);
  return `${lines.join('\n')}\n`;
}

/** `3 d 04 h`, `2 h 05 min`, `42 s`. */
export function formatDuration(seconds: number): string {
  const s = Math.abs(seconds);
  if (s < 60) return `${Math.round(s)} s`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h} h ${String(m % 60).padStart(2, '0')} min`;
  return `${Math.floor(h / 24)} d ${String(h % 24).padStart(2, '0')} h`;
}

/** The wave against time: rate, ETA, share notified, and the regulatory deadline with its warning. */
export function formatClock(c: WaveClock, deadlineRule?: string): string {
  const parts = [
    `rate ${c.ratePerSecond === null ? '-' : `${c.ratePerSecond.toFixed(1)}/s`}`,
    `ETA ${c.etaSeconds === null ? 'unknown' : c.etaSeconds === 0 ? 'done' : formatDuration(c.etaSeconds)}`,
    `notified ${c.notifiedPct}%`,
  ];
  const lines = [`  ${parts.join('  ')}`];
  if (c.stuck && c.idleSeconds !== null) lines.push(`  WARNING: stuck: no notice has finished for ${formatDuration(c.idleSeconds)} while accounts are open (are the workers running?)`);
  if (c.deadline && c.timeLeftSeconds !== null) {
    const left = c.timeLeftSeconds >= 0 ? `${formatDuration(c.timeLeftSeconds)} left` : `passed ${formatDuration(c.timeLeftSeconds)} ago`;
    // The rule that sets the deadline: the earliest of the wave's rules.
    const rule = deadlineRule ?? c.deadlineRule;
    lines.push(`  deadline ${c.deadline}${rule ? ` (${rule})` : ''}: ${left}`);
    if (c.atRisk) lines.push(`  WARNING: at this pace the wave ${c.timeLeftSeconds < 0 ? 'missed' : c.projectedFinish ? `would finish ${c.projectedFinish}, after` : 'may miss'} the notice deadline`);
  }
  return `${lines.join('\n')}\n`;
}
