import type { WaveInfo, WaveProgress } from './index.js';

/**
 * Where a wave stands against time: how fast its notices finish, when it will be done at that
 * pace, and — when its manifest carries a regulatory clock — how long is left before the deadline
 * and whether the projected finish is past it.
 */
export interface WaveClock {
  /** Notices finished (done, failed, skipped, cancelled) per second, or null before any finished. */
  readonly ratePerSecond: number | null;
  /** Seconds until every accepted account is finished at that rate; 0 when complete; null when unknown. */
  readonly etaSeconds: number | null;
  /** ISO time the wave would finish at that rate; null when unknown. */
  readonly projectedFinish: string | null;
  /** Share of the accepted accounts whose notice was sent (done), 0–100. */
  readonly notifiedPct: number;
  /** The regulatory deadline: the earliest of the wave's deadline rules; null without a regulatory clock. */
  readonly deadline: string | null;
  /** The rule that sets {@link deadline} (the earliest one's), e.g. "State X: 72 hours"; null when none is named. */
  readonly deadlineRule: string | null;
  /** Seconds until the deadline (negative once past); null without a regulatory clock. */
  readonly timeLeftSeconds: number | null;
  /**
   * The wave is not complete and either the deadline has passed, or the projected finish is after
   * it, or nothing has finished yet with less than a day left: someone must look.
   */
  readonly atRisk: boolean;
  /**
   * Running (fed or being fed), not paused, with notices still open, and none finished for
   * `stuckAfterSeconds` (counted from the feed's start when none ever has): workers may be gone.
   */
  readonly stuck: boolean;
  /** Seconds since a notice last finished (or since the feed began), null before the feed. */
  readonly idleSeconds: number | null;
}

/** Default of the stuck threshold: ten minutes without a finished notice while some are open. */
export const DEFAULT_STUCK_AFTER_SECONDS = 600;

/**
 * The clock from a wave's progress. `rate`, when given, is a rate measured by the caller (a watch
 * that samples the counters); otherwise the average since the feed began (`times.feeding.first`).
 */
export function waveClock(wave: Pick<WaveInfo, 'manifest' | 'times'>, p: WaveProgress, now: Date, rate?: number, stuckAfterSeconds = DEFAULT_STUCK_AFTER_SECONDS): WaveClock {
  const started = wave.times?.feeding?.first ?? wave.times?.approved?.first;
  const elapsed = started ? (now.getTime() - Date.parse(started)) / 1000 : 0;
  const measured = rate ?? (elapsed > 0 && p.finished > 0 ? p.finished / elapsed : undefined);
  const ratePerSecond = measured !== undefined && measured > 0 ? measured : null;
  const remaining = Math.max(0, p.accepted - p.finished - p.cancelledUnfed);
  const etaSeconds = p.complete || remaining === 0 ? 0 : ratePerSecond ? remaining / ratePerSecond : null;
  const projectedFinish = etaSeconds === null ? null : new Date(now.getTime() + etaSeconds * 1000).toISOString();
  const notifiedPct = p.accepted > 0 ? Math.round(((p.actions.notify?.done ?? 0) / p.accepted) * 1000) / 10 : 0;
  const deadline = wave.manifest.regulatory?.deadline ?? null;
  const deadlineRule = wave.manifest.regulatory?.rule ?? null;
  const timeLeftSeconds = deadline ? Math.round((Date.parse(deadline) - now.getTime()) / 1000) : null;
  let atRisk = false;
  if (deadline && timeLeftSeconds !== null && !p.complete && p.status !== 'cancelled') {
    atRisk = timeLeftSeconds < 0
      || (projectedFinish !== null && Date.parse(projectedFinish) > Date.parse(deadline))
      || (ratePerSecond === null && timeLeftSeconds < 86_400);
  }
  const since = p.lastFinishedAt ?? started;
  const idleSeconds = since ? Math.max(0, Math.round((now.getTime() - Date.parse(since)) / 1000)) : null;
  const running = (p.status === 'feeding' || p.status === 'fed') && !p.paused;
  const stuck = running && !p.complete && remaining > 0 && idleSeconds !== null && idleSeconds >= stuckAfterSeconds;
  return { ratePerSecond, etaSeconds, projectedFinish, notifiedPct, deadline, deadlineRule, timeLeftSeconds, atRisk, stuck, idleSeconds };
}
