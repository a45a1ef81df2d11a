import type { WaveManifest } from '@breachwave/domain';
import { ACTION_STATES } from '@breachwave/domain';
import type { WaveInfo, WaveStatus } from './types.js';

/** What the progress reads of a ledger. */
export interface WaveReader {
  getWave(waveId: string): Promise<WaveInfo>;
  counts(waveId: string): Promise<Record<string, number>>;
}

/**
 * A wave's manifest by id, read from the ledger once and kept (a manifest does not change once
 * the wave is created): workers need it for every account. Keeps at most `max` waves.
 */
export function manifestCache(ledger: Pick<WaveReader, 'getWave'>, max = 100): (waveId: string) => Promise<WaveManifest> {
  const manifests = new Map<string, WaveManifest>();
  return async (waveId) => {
    let m = manifests.get(waveId);
    if (!m) {
      m = (await ledger.getWave(waveId)).manifest;
      if (manifests.size >= max) manifests.clear();
      manifests.set(waveId, m);
    }
    return m;
  };
}

/**
 * One wave's counters from every shard, summed: states and events add up across shards; the
 * `<action>:at:finished` times (epoch ms) are not counts, and the latest one is kept.
 */
export function sumShardCounts(perShard: readonly Readonly<Record<string, string | number>>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const raw of perShard) {
    for (const [f, v] of Object.entries(raw)) {
      const n = Number(v);
      if (f.includes(':at:')) out[f] = Math.max(out[f] ?? 0, n);
      else out[f] = (out[f] ?? 0) + n;
    }
  }
  return out;
}

/** A wave's progress, derived from the ledger counters and the wave record. */
export interface WaveProgress {
  readonly status: WaveStatus;
  readonly rows: number;
  readonly accepted: number;
  readonly rejected: number;
  readonly fed: number;
  /** Per action: state → accounts (they add up to the accounts fed for that action). */
  readonly actions: Readonly<Record<string, Readonly<Record<string, number>>>>;
  /** Per action: event → times it happened (reconciled, ambiguous, deferred, …): not states, they do not add up. */
  readonly events: Readonly<Record<string, Readonly<Record<string, number>>>>;
  /** Accounts whose notice was sent, per channel. */
  readonly sent: { readonly sms: number; readonly email: number };
  /**
   * Messages the providers accepted, per channel: one per account, except that a consolidated
   * notice is one message for several accounts. Not kept by waves sent before messages were counted (0).
   */
  readonly messages: { readonly sms: number; readonly email: number };
  /** Accounts whose notice was a consolidated one. */
  readonly consolidated: number;
  readonly ambiguous: number;
  /** Accounts whose notice reached a terminal state (done, failed, skipped or cancelled). */
  readonly finished: number;
  /** Paused by an operator. */
  readonly paused: boolean;
  /** When a notice last finished (ISO), if one has. */
  readonly lastFinishedAt?: string;
  /** Accepted accounts never fed because the wave was cancelled first (terminal: cancelled). */
  readonly cancelledUnfed: number;
  /** Every accepted account is terminal: fed and finished, or never fed because the wave was cancelled. */
  readonly complete: boolean;
}

/** Accounts whose notice is terminal (done, failed, skipped or cancelled), from a wave's counters. */
export function noticesFinished(counts: Readonly<Record<string, number>>): number {
  return (counts['notify:done'] ?? 0) + (counts['notify:failed'] ?? 0) + (counts['notify:skipped'] ?? 0) + (counts['notify:cancelled'] ?? 0);
}

/** Reads a wave's progress in two round trips. */
export async function waveProgress(ledger: WaveReader, waveId: string): Promise<WaveProgress> {
  const [wave, counts] = await Promise.all([ledger.getWave(waveId), ledger.counts(waveId)]);
  const actions: Record<string, Record<string, number>> = {};
  const events: Record<string, Record<string, number>> = {};
  for (const [f, v] of Object.entries(counts)) {
    const [action, state, extra] = f.split(':');
    if (!action || !state || extra !== undefined || v === 0) continue;
    if ((ACTION_STATES as readonly string[]).includes(state)) (actions[action] ??= {})[state] = v;
    else (events[action] ??= {})[state] = v;
  }
  const finished = noticesFinished(counts);
  const accepted = wave.stats.accepted ?? 0;
  const fed = wave.stats.fed ?? 0;
  const cancelledUnfed = wave.status === 'cancelled' ? Math.max(0, accepted - fed) : 0;
  return {
    status: wave.status,
    rows: wave.stats.rows ?? 0,
    accepted,
    rejected: wave.stats.rejected ?? 0,
    fed,
    actions,
    events,
    sent: { sms: counts['notify:sent:sms'] ?? 0, email: counts['notify:sent:email'] ?? 0 },
    messages: { sms: counts['notify:messages:sms'] ?? 0, email: counts['notify:messages:email'] ?? 0 },
    consolidated: counts['notify:consolidated'] ?? 0,
    ambiguous: counts['notify:ambiguous'] ?? 0,
    finished,
    paused: wave.paused === true,
    ...(counts['notify:at:finished'] ? { lastFinishedAt: new Date(counts['notify:at:finished']).toISOString() } : {}),
    cancelledUnfed,
    complete: ((wave.status === 'fed' || wave.status === 'completed') && finished >= accepted) || (wave.status === 'cancelled' && finished + cancelledUnfed >= accepted),
  };
}
