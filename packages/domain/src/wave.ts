import type { AffectedAccount, Segment } from './account.js';

/** Side effects on one account, in the order they must happen. */
export const ACTIONS = ['rotate-pin', 'issue-code', 'notify'] as const;
export type ActionName = (typeof ACTIONS)[number];

/** Per-action ledger states. `claimed` means a worker started the side effect. */
export const ACTION_STATES = ['pending', 'claimed', 'done', 'failed', 'skipped'] as const;
export type ActionState = (typeof ACTION_STATES)[number];

/** The operator-approved description of a wave. */
export interface WaveManifest {
  readonly waveId: string;
  readonly createdAt: string;
  readonly source: string;
  readonly brand: string;
  readonly helpUrl: string;
  /** Which actions each segment gets. `notify` is implied for every accepted account. */
  readonly actions: Readonly<Record<Segment, readonly ActionName[]>>;
}

export const DEFAULT_SEGMENT_ACTIONS: Readonly<Record<Segment, readonly ActionName[]>> = {
  'prepaid-active': ['notify'],
  'postpaid-current': ['notify'],
  former: ['notify'],
  prospective: ['notify'],
};

/** The ordered actions for one account under a manifest. */
export function planActions(account: Pick<AffectedAccount, 'segment'>, manifest: Pick<WaveManifest, 'actions'>): ActionName[] {
  const wanted = new Set(manifest.actions[account.segment]);
  wanted.add('notify');
  return ACTIONS.filter((a) => wanted.has(a));
}

/** A wave id: sortable by creation time, safe in Redis keys and BullMQ job ids. */
export function newWaveId(now: Date, random: string): string {
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return `w${stamp}-${random}`;
}
export const WAVE_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
