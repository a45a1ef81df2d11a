import { ACTIONS, type ActionName } from '@breachwave/domain';
import { actionJobId, parseActionJobs } from '@breachwave/jobs';
import { DEAD_LETTER_RETENTION_SECONDS, ordinalOf, waveClock, waveProgress, type Ledger, type LedgerEntry, type WaveInfo, type WaveStatus } from '@breachwave/ledger';
import type { Logger } from '@breachwave/logging';
import { createLease, type Redis, type RedisLease } from '@breachwave/redis';
import { orderedActions, skipDependents } from './chain.js';
import { cancelOpenAccounts } from './gate.js';
import type { ActionQueues } from './worker.js';

/**
 * Recovery: the ledger is the truth, the queue only a way to get work done.
 *
 * BullMQ can end a job without the processor deciding anything: a job that stalls more than
 * `maxStalledCount` times (default 1, so two crashes while it runs) is failed with "job stalled
 * more than allowable limit" and never runs again; a job can be removed by hand; Redis can lose
 * the last second of writes when it restarts. Whatever that job carried must not be stranded: a
 * PIN rotated and never announced is the worst state an account can be in.
 *
 * A scan reads a wave's ledger and finds every account that is not terminal. One whose current
 * action has no live job (waiting, active, delayed, prioritised or paused, in any action queue)
 * and whose last change is older than `staleMs` is an orphan: it is re-driven through the normal,
 * idempotent path (a one-account job; the ledger's claim guard keeps it exactly-once, SMS
 * reconciliation keeps the provider side honest), or — once re-driven `maxRecoveries` times —
 * dead-lettered with `BW_WORKER_LOST`. An account whose earlier action failed for good but whose
 * later actions are still pending (a crash between the two writes) gets them skipped. Each step is
 * a ledger transition with its audit record (`<action>.recovered`, `<action>.failed`).
 *
 * An orphan whose notice was claimed and had passed its fence before the send (`sa`) had possibly
 * reached the provider: it goes back to pending as an *ambiguous* outcome (`amb`,
 * `notify:ambiguous`), so the next attempt asks Twilio before sending, and an email resent this
 * way is counted. One claimed under a token (`ct`) goes back only if that claim still holds.
 */

/** Default of {@link RecoveryDeps.compactAfterMs}: finished accounts are compacted ten minutes after their last change. */
export const DEFAULT_COMPACT_AFTER_MS = 600_000;

/**
 * How long after a wave ends its sweeps still compact it: longer than a finished notice's record
 * is kept for a fallback (two days), after which no more of its accounts can become compactable.
 */
const COMPACT_ENDED_WAVES_MS = 3 * 86_400_000;

/** How often a wave at risk of missing its notice deadline is audited and logged again (ms). */
const DEADLINE_WARN_EVERY_MS = 3_600_000;

/** BullMQ job states in which a job will still run. */
const LIVE_STATES = ['active', 'wait', 'prioritized', 'waiting-children', 'paused', 'delayed'] as const;
/** Jobs read per page when collecting the live set. */
const PAGE = 2000;

/** Where one account stands, read from its ledger entry. */
export type AccountSituation =
  | { readonly kind: 'terminal' }
  /** An action failed or was skipped for good, later ones are still pending or claimed. */
  | { readonly kind: 'dangling'; readonly failed: ActionName; readonly cause: string }
  /** The action to run next, its state, and since when (epoch ms) it has waited in that state. */
  | { readonly kind: 'open'; readonly action: ActionName; readonly state: 'pending' | 'claimed'; readonly since: number | undefined; readonly recoveries: number };

const at = (iso: string | undefined): number | undefined => {
  const t = iso ? Date.parse(iso) : Number.NaN;
  return Number.isFinite(t) ? t : undefined;
};

/** Classifies a ledger entry (see {@link AccountSituation}). */
export function situationOf(entry: LedgerEntry): AccountSituation {
  let previousAt: number | undefined;
  let endedBy: { action: ActionName; cause: string } | undefined;
  for (const action of orderedActions(entry)) {
    const a = entry[action];
    if (!a) continue;
    if (a.s === 'done') {
      previousAt = at(a.at);
      continue;
    }
    if (a.s === 'pending' || a.s === 'claimed') {
      if (endedBy) return { kind: 'dangling', failed: endedBy.action, cause: endedBy.cause };
      const own = at(a.at);
      const since = own === undefined ? previousAt : previousAt === undefined ? own : Math.max(own, previousAt);
      return { kind: 'open', action, state: a.s, since, recoveries: typeof a.rcv === 'number' ? a.rcv : 0 };
    }
    endedBy ??= { action, cause: a.err ?? a.s };
  }
  return { kind: 'terminal' };
}

/** What one scan of a wave found and did. Counts only: no contact data. */
export interface WaveRecoveryReport {
  readonly waveId: string;
  readonly status: WaveStatus;
  /** Accounts in the ledger. */
  readonly accounts: number;
  /** Accounts with every action done, failed for good or skipped. */
  readonly terminal: number;
  /** Accounts not terminal (waiting, running, or orphaned). */
  readonly open: number;
  /** How long the longest-waiting open account has waited (ms), 0 when none. */
  readonly oldestOpenMs: number;
  /** Open accounts with no live job, older than the stale threshold. */
  readonly orphans: number;
  /** Orphans re-driven, per action (planned only, under `dryRun`). */
  readonly redriven: Readonly<Partial<Record<ActionName, number>>>;
  /** Orphans dead-lettered with BW_WORKER_LOST after too many re-drives. */
  readonly deadLettered: number;
  /** Accounts whose later actions were skipped after an earlier one failed. */
  readonly danglingSkipped: number;
  /** Accounts with a rotated PIN whose notice has not gone out (not sent, not dead-lettered). */
  readonly pinUnnotified: number;
  /** Of those, waiting longer than the PIN-notice limit. */
  readonly pinUnnotifiedOverdue: number;
  /** How long the oldest of them has waited (ms), 0 when none. */
  readonly pinUnnotifiedOldestMs: number;
  /** Every account is terminal and the wave is fed (a sweep then marks it completed). */
  readonly complete: boolean;
  readonly dryRun: boolean;
  /** Of `accounts` (and `terminal`), those compacted before this scan (read from their counter: they are no longer in the ledger hash). */
  readonly compacted: number;
}

export interface RecoveryDeps {
  readonly ledger: Ledger;
  readonly queues: ActionQueues;
  readonly log: Logger;
  /** Actor in audit records. Default `recovery`. */
  readonly actor?: string;
  /**
   * An open account's last change must be older than this before it counts as orphaned (ms):
   * at least the workers' lock duration plus their stalled-check interval, so a job a live worker
   * holds (or one BullMQ is about to re-run) is never raced. Default 60,000 (BullMQ's 30 s + 30 s).
   */
  readonly staleMs?: number;
  /** Re-drives of one action before it is dead-lettered (`BW_WORKER_LOST`). Default 3. */
  readonly maxRecoveries?: number;
  /** A rotated PIN whose notice has waited longer than this (ms) is reported overdue. Default 15 minutes. */
  readonly pinNoticeLimitMs?: number;
  /**
   * A sweep compacts the finished accounts of the waves it scans (`Ledger.compact`) whose last
   * change is older than this (ms), so a wave's Redis memory does not grow with its finished
   * accounts; `Infinity` turns it off. Until then a late delivery callback still records the
   * notice's delivery state on its entry. Default 10 minutes.
   */
  readonly compactAfterMs?: number;
  readonly now?: () => number;
}

/**
 * Scans waves for accounts no live job will finish, and re-drives them (see the module comment).
 * Stateless between calls; safe to run from any process, but two recoverers running at once may
 * add the same re-drive twice (harmless for the ledger, a wasted job): {@link createRecoveryLoop}
 * keeps it to one at a time.
 */
export function createRecovery(deps: RecoveryDeps) {
  const actor = deps.actor ?? 'recovery';
  const staleMs = deps.staleMs ?? 60_000;
  const maxRecoveries = deps.maxRecoveries ?? 3;
  const pinNoticeLimitMs = deps.pinNoticeLimitMs ?? 15 * 60_000;
  const compactAfterMs = deps.compactAfterMs ?? DEFAULT_COMPACT_AFTER_MS;
  const now = deps.now ?? Date.now;
  const { ledger, queues } = deps;

  /** Every account of `waveId` some live job names, whatever its action. Read twice and joined: a job moving between states during one pass is seen in the other. */
  const liveAccounts = async (waveId: string): Promise<Set<string>> => {
    const live = new Set<string>();
    for (let pass = 0; pass < 2; pass++) {
      for (const queue of ACTIONS.flatMap((action) => queues.shardQueues(action))) {
        for (const state of LIVE_STATES) {
          for (let start = 0; ; start += PAGE) {
            const jobs = await queue.getJobs([state], start, start + PAGE - 1, true);
            for (const job of jobs) {
              if (!job) continue;
              try {
                for (const ref of parseActionJobs(job.data)) if (ref.waveId === waveId) live.add(ref.accountId);
              } catch {
                // A job whose data does not parse names no account: the worker dead-letters the job itself.
              }
            }
            if (jobs.length < PAGE) break;
          }
        }
      }
    }
    return live;
  };

  const redrive = async (waveId: string, accountId: string, s: Extract<AccountSituation, { kind: 'open' }>, entry: LedgerEntry): Promise<'redriven' | 'dead-lettered' | 'changed'> => {
    const a = entry[s.action];
    const base = { waveId, accountId, action: s.action, actor };
    if (s.recoveries >= maxRecoveries) {
      const r = await ledger.transition({ ...base, from: [s.state], to: 'failed', patch: { err: 'BW_WORKER_LOST' }, event: `${s.action}.failed`,
        detail: { code: 'BW_WORKER_LOST', kind: 'permanent', recoveries: s.recoveries }, counters: { [`${s.action}:error:BW_WORKER_LOST`]: 1 },
        releaseAccount: DEAD_LETTER_RETENTION_SECONDS });
      if (r.outcome !== 'ok') return 'changed';
      await skipDependents(ledger, waveId, accountId, s.action, 'BW_WORKER_LOST', actor);
      return 'dead-lettered';
    }
    // A claimed notice past its fence may have reached the provider: the next attempt must
    // reconcile first. One that never passed it sent nothing.
    const ambiguous = s.action === 'notify' && s.state === 'claimed' && typeof a?.sa === 'number';
    const r = await ledger.transition({ ...base, from: [s.state], to: 'pending', ...(typeof a?.ct === 'string' ? { guard: a.ct } : {}),
      patch: { rcv: s.recoveries + 1, ...(ambiguous ? { amb: (a?.amb ?? 0) + 1 } : {}) },
      event: `${s.action}.recovered`, detail: { from: s.state, recoveries: s.recoveries + 1, reason: 'no-live-job', ...(ambiguous ? { ambiguous: true } : {}) },
      ...(ambiguous ? { counters: { 'notify:ambiguous': 1, 'notify:recovered': 1 } } : { counters: { [`${s.action}:recovered`]: 1 } }) });
    if (r.outcome !== 'ok') return 'changed';
    const o = ordinalOf(entry);
    const job = o === undefined ? { waveId, accountId } : { waveId, accountId, o };
    // Its own id: a finished or failed job with the plain one-account id may still be kept, and
    // BullMQ ignores an add whose id it already holds.
    await queues.add(s.action, job, { jobId: `${actionJobId(s.action, job)}.r${s.recoveries + 1}` });
    return 'redriven';
  };

  /** Scans one wave; re-drives its orphans unless `dryRun`. */
  const scanWave = async (waveId: string, options: { readonly dryRun?: boolean } = {}): Promise<WaveRecoveryReport> => {
    const dryRun = options.dryRun ?? false;
    const wave = await ledger.getWave(waveId);
    const t = now();
    // Compacted accounts are terminal and no longer in the hash the walk reads: counted here.
    // Read before the walk, and no compaction runs during it (the sweep compacts after its scan).
    const compacted = await ledger.compactedCount(waveId);
    let accounts = compacted;
    let terminal = compacted;
    let open = 0;
    let oldest = 0;
    let pinUnnotified = 0;
    let pinOverdue = 0;
    let pinOldest = 0;
    const stale: { accountId: string; s: Extract<AccountSituation, { kind: 'open' }>; at: number | undefined }[] = [];
    const dangling: { accountId: string; failed: ActionName; cause: string }[] = [];
    for await (const [accountId, entry] of ledger.entries(waveId)) {
      accounts++;
      const s = situationOf(entry);
      if (s.kind === 'terminal') {
        terminal++;
        continue;
      }
      open++;
      if (s.kind === 'dangling') {
        dangling.push({ accountId, failed: s.failed, cause: s.cause });
        continue;
      }
      const age = s.since === undefined ? 0 : Math.max(0, t - s.since);
      oldest = Math.max(oldest, age);
      if (entry['rotate-pin']?.s === 'done') {
        pinUnnotified++;
        const rotatedAt = at(entry['rotate-pin']?.at);
        const waited = rotatedAt === undefined ? 0 : Math.max(0, t - rotatedAt);
        pinOldest = Math.max(pinOldest, waited);
        if (waited > pinNoticeLimitMs) pinOverdue++;
      }
      // Unknown age (an entry written before entries carried their time): stale once the feed is over.
      const isStale = s.since === undefined ? wave.status === 'fed' || wave.status === 'completed' : age >= staleMs;
      if (isStale) stale.push({ accountId, s, at: s.since });
    }

    let orphans = 0;
    let deadLettered = 0;
    let danglingSkipped = 0;
    const redriven: Partial<Record<ActionName, number>> = {};
    if (stale.length > 0) {
      const live = await liveAccounts(waveId);
      for (const c of stale) {
        if (live.has(c.accountId)) continue;
        // Read again: it may have moved on while the live set was read.
        const entry = await ledger.get(waveId, c.accountId);
        const s = entry ? situationOf(entry) : undefined;
        if (!entry || s?.kind !== 'open' || s.action !== c.s.action || s.state !== c.s.state || s.since !== c.at) continue;
        orphans++;
        if (dryRun) {
          if (s.recoveries >= maxRecoveries) deadLettered++;
          else redriven[s.action] = (redriven[s.action] ?? 0) + 1;
          continue;
        }
        const outcome = await redrive(waveId, c.accountId, s, entry);
        if (outcome === 'redriven') redriven[s.action] = (redriven[s.action] ?? 0) + 1;
        else if (outcome === 'dead-lettered') deadLettered++;
      }
    }
    for (const d of dangling) {
      danglingSkipped++;
      if (!dryRun) await skipDependents(ledger, waveId, d.accountId, d.failed, 'BW_WORKER_LOST', actor);
    }
    // What this scan ended itself (not in a dry run) is terminal now.
    const ended = dryRun ? 0 : deadLettered + danglingSkipped;
    const report: WaveRecoveryReport = {
      waveId, status: wave.status, accounts, terminal: terminal + ended, open: open - ended, oldestOpenMs: oldest, orphans, redriven, deadLettered, danglingSkipped,
      pinUnnotified, pinUnnotifiedOverdue: pinOverdue, pinUnnotifiedOldestMs: pinOldest,
      complete: open - ended === 0 && (((wave.status === 'fed' || wave.status === 'completed') && accounts >= (wave.stats.accepted ?? 0)) || wave.status === 'cancelled'),
      dryRun,
      compacted,
    };
    if (!dryRun && (orphans > 0 || danglingSkipped > 0)) {
      await ledger.audit({ type: 'wave.recovered', actor, wave: waveId, detail: { orphans, redriven, deadLettered, danglingSkipped, open } });
      deps.log.warn({ wave: waveId, orphans, redriven, deadLettered, danglingSkipped }, 'recovered accounts no live job would have finished');
    }
    if (pinOverdue > 0) deps.log.warn({ wave: waveId, pinUnnotified, overdue: pinOverdue, oldestMs: pinOldest }, 'rotated PINs still waiting for their notice');
    return report;
  };

  /**
   * A wave with a regulatory clock whose projected finish is past its deadline (or that has passed
   * it, or has finished nothing with less than a day left) is audited as `wave.deadline.at-risk`
   * and logged at warn — at most once an hour per wave — for alerting.
   */
  const watchDeadline = async (wave: WaveInfo): Promise<void> => {
    const at = now();
    const clock = waveClock(wave, await waveProgress(ledger, wave.waveId), new Date(at));
    if (!clock.atRisk) return;
    const last = wave.stats.deadline_warned_at ?? 0;
    if (at - last < DEADLINE_WARN_EVERY_MS) return;
    await ledger.setWaveFields(wave.waveId, { deadline_warned_at: at });
    const detail = { deadline: clock.deadline, timeLeftSeconds: clock.timeLeftSeconds, projectedFinish: clock.projectedFinish, ratePerSecond: clock.ratePerSecond, notifiedPct: clock.notifiedPct };
    await ledger.audit({ type: 'wave.deadline.at-risk', actor, wave: wave.waveId, detail });
    deps.log.warn({ wave: wave.waveId, ...detail }, 'the wave is at risk of missing its notice deadline');
  };

  /**
   * Compacts a wave's finished accounts (see {@link RecoveryDeps.compactAfterMs}); a wave with
   * nothing left that could be (every account compacted or dead-lettered, by its counters) is not
   * walked.
   */
  const compactWave = async (waveId: string): Promise<number> => {
    if (!Number.isFinite(compactAfterMs)) return 0;
    const counts = await ledger.counts(waveId);
    const failed = ACTIONS.reduce((n, a) => n + (counts[`${a}:failed`] ?? 0), 0);
    if ((counts.accounts ?? 0) - (counts.compacted ?? 0) - failed <= 0) return 0;
    return ledger.compact(waveId, { olderThanMs: compactAfterMs });
  };

  return {
    scanWave,
    compactWave,
    /**
     * Scans every wave that is being fed or has been fed and is not completed; marks a wave
     * `completed` once every account is terminal. A wave whose feeder is alive (it holds the
     * wave's lease) is left alone: its newest accounts may be queued a moment after their
     * ledger entries.
     */
    async sweep(): Promise<WaveRecoveryReport[]> {
      const reports: WaveRecoveryReport[] = [];
      for (const waveId of await ledger.listWaves(10_000)) {
        let wave: WaveInfo;
        try {
          wave = await ledger.getWave(waveId);
        } catch {
          continue;
        }
        const status: WaveStatus = wave.status;
        const settled = (wave.stats.cancel_settled ?? 0) > 0;
        if (wave.manifest.regulatory && status !== 'completed' && status !== 'cancelled') await watchDeadline(wave);
        if (status === 'completed' || (status === 'cancelled' && settled)) {
          // Accounts whose record outlived the wave's end (kept for an SMS notice's email
          // fallback) are compacted once it goes; after a while nothing more can be.
          const ended = Date.parse(wave.times[status]?.last ?? '');
          if (Number.isFinite(ended) && now() - ended < COMPACT_ENDED_WAVES_MS) await compactWave(waveId);
          continue;
        }
        if (status === 'cancelled' && !settled) {
          // Accounts nothing was done to end now (their jobs may be delayed for hours); those
          // under way are recovered like any other until they finish.
          await cancelOpenAccounts(ledger, waveId, actor);
          const report = await scanWave(waveId);
          reports.push(report);
          await compactWave(waveId);
          if (report.complete) await ledger.setWaveFields(waveId, { cancel_settled: 1 });
          continue;
        }
        if (status !== 'fed' && status !== 'feeding') continue;
        if (status === 'feeding' && (await ledger.feederHolder(waveId)) !== undefined) continue;
        const report = await scanWave(waveId);
        reports.push(report);
        await compactWave(waveId);
        // Kept on the wave for the metrics: no counter says how long a rotated PIN has waited for
        // its notice, and only this scan of the ledger finds out.
        await ledger.setWaveFields(waveId, {
          pin_unnotified: report.pinUnnotified, pin_overdue: report.pinUnnotifiedOverdue, pin_oldest_ms: report.pinUnnotifiedOldestMs, pin_checked_at: now(),
        });
        if (report.complete && status === 'fed') {
          await ledger.setWaveStatus(waveId, 'completed', actor, { accounts: report.accounts });
          deps.log.info({ wave: waveId, accounts: report.accounts }, 'wave completed: every account is terminal');
        }
      }
      return reports;
    },
  };
}
export type Recovery = ReturnType<typeof createRecovery>;

export interface RecoveryLoopDeps extends RecoveryDeps {
  /** A client for the leader lease (fail-fast role is fine). */
  readonly redis: Redis;
  readonly prefix: string;
  /** Time between sweeps (ms). Default 30,000. */
  readonly intervalMs?: number;
}

/**
 * Runs {@link createRecovery}'s sweep every `intervalMs` in whichever worker process holds the
 * recovery lease (`<prefix>:recovery:leader`): every action worker runs one loop, one of them
 * sweeps. A leader that dies is replaced when its lease lapses (three intervals), or at once by a
 * process on the same host. A loop, not a repeatable BullMQ job: a repeatable job is itself a job
 * that a stalled-limit failure or a removal can end, which is the very failure this guards.
 * Constructing does no I/O; `start()` begins; `close()` stops and waits for a running sweep.
 */
export function createRecoveryLoop(deps: RecoveryLoopDeps) {
  const intervalMs = deps.intervalMs ?? 30_000;
  const recovery = createRecovery(deps);
  const lease: RedisLease = createLease(deps.redis, `${deps.prefix}:recovery:leader`, intervalMs * 3);
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> | undefined;
  let stopped = false;
  let leader = false;

  const tick = async (): Promise<void> => {
    try {
      leader = leader ? await lease.renew() : (await lease.tryAcquire()).acquired;
      if (!leader) return;
      await recovery.sweep();
    } catch (err) {
      // Redis unreachable or a wave read failed: the next tick tries again.
      deps.log.warn({ err }, 'recovery sweep failed; will try again');
    }
  };
  const schedule = (delay: number): void => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = tick().finally(() => {
        running = undefined;
        schedule(intervalMs);
      });
    }, delay);
    timer.unref();
  };

  return {
    recovery,
    start(): void {
      if (timer || stopped) return;
      schedule(Math.min(intervalMs, 1000));
    },
    /** Sweeps soon (a job was lost), if this process leads. */
    kick(): void {
      if (stopped || running || !leader) return;
      if (timer) clearTimeout(timer);
      schedule(0);
    },
    async close(): Promise<void> {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
      if (leader) await lease.release().catch(() => undefined);
    },
  };
}
export type RecoveryLoop = ReturnType<typeof createRecoveryLoop>;

/** The workers' recovery settings, as the configuration gives them. */
export interface RecoverySettings {
  readonly recoveryIntervalMs: number;
  readonly staleMs: number;
  readonly maxRecoveries: number;
  readonly pinNoticeLimitMs: number;
  readonly compactAfterMs: number;
}

/** {@link createRecoveryLoop} for a worker process, from its configured settings (not started). */
export function recoveryLoopFor(deps: Omit<RecoveryLoopDeps, 'intervalMs' | 'staleMs' | 'maxRecoveries' | 'pinNoticeLimitMs' | 'compactAfterMs'>, settings: RecoverySettings): RecoveryLoop {
  return createRecoveryLoop({ ...deps, intervalMs: settings.recoveryIntervalMs, staleMs: settings.staleMs, maxRecoveries: settings.maxRecoveries, pinNoticeLimitMs: settings.pinNoticeLimitMs, compactAfterMs: settings.compactAfterMs });
}
