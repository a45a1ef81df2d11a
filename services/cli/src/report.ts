import type { WaveProgress } from '@breachwave/ledger';

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
  return `${lines.join('\n')}\n`;
}
