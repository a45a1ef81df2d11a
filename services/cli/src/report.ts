import type { WaveProgress } from '@breachwave/ledger';

/** Human-readable wave status. */
export function formatStatus(waveId: string, p: WaveProgress): string {
  const lines = [
    `wave ${waveId}: ${p.status}${p.complete ? ' (complete)' : ''}`,
    `  rows ${p.rows}  accepted ${p.accepted}  rejected ${p.rejected}  queued ${p.fed}`,
  ];
  for (const [action, states] of Object.entries(p.actions)) {
    lines.push(`  ${action.padEnd(10)} ${Object.entries(states).map(([s, n]) => `${s} ${n}`).join('  ')}`);
  }
  lines.push(`  sent: sms ${p.sent.sms}  email ${p.sent.email}${p.ambiguous ? `  ambiguous outcomes ${p.ambiguous}` : ''}`);
  return `${lines.join('\n')}\n`;
}
