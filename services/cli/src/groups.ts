/**
 * The CLI's command groups, in the order help lists them, with the line help gives each. Here
 * rather than beside each group's commands: the top-level help lists every group without loading
 * the modules behind their commands (see main.ts).
 */
export const GROUPS = {
  wave: 'create, feed and inspect notification waves',
  audit: 'audit trail tools',
  dlq: 'dead letters: actions that failed for good, with their classified reason',
  codes: 'identity-protection enrollment codes: vendor pools, status, redemptions, reminders',
  pace: 'per-sender pace (messages/s) shared by every notifier process',
  pin: 'PIN verification',
  token: 'API tokens of the ops API (named, with a role: viewer < operator < approver < admin)',
  keys: 'secrets of a deployment',
} as const;

export type GroupName = keyof typeof GROUPS;
