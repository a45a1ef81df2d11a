import { setTimeout as sleep } from 'node:timers/promises';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { BreachwaveError, planActions, type ActionName, type WaveManifest } from '@breachwave/domain';
import { DEFAULT_JOB_OPTIONS, MAX_ACCOUNTS_PER_JOB, QUEUE_FOR_ACTION, accountsPerJobFor, actionJobFor, laneJobOptions, type ActionBatch, type ActionJob, type QueueName } from '@breachwave/jobs';
import { keys as ledgerKeys, noticesFinished, shardOf, shardPrefix, spoolOrdinals, type Ledger } from '@breachwave/ledger';
import type { Logger } from '@breachwave/logging';
import { createPacer } from '@breachwave/pacing';
import { createLease, type RedisLease } from '@breachwave/redis';
import type { SpoolEntry } from './ingest.js';
import { SpoolReader } from './spool.js';

/** The ledger operations the feeder uses. */
export type FeederLedger = Pick<Ledger, 'getWave' | 'putAccounts' | 'initAccounts' | 'setWaveFields' | 'setWaveStatus' | 'waveState' | 'counts' | 'audit'>;

/** Dependencies of {@link createFeeder}. */
export interface FeederDeps {
  readonly ledger: FeederLedger;
  /** Shared by the feeder's queues; a fail-fast `producer` client is fine (queues do not block). */
  readonly connection: Redis;
  /** BullMQ key prefix (the deployment's `BW_PREFIX`). */
  readonly prefix: string;
  /**
   * Shards of the deployment's accounts (`BW_SHARDS`, default 1): each account's job goes to its
   * shard's queue (BullMQ prefix of the shard), and the window is counted per shard queue. The
   * ledger must be made with the same number.
   */
  readonly shards?: number;
  /** Most jobs left waiting (waiting + delayed + prioritized + paused) in a queue the feeder adds to. */
  readonly window: number;
  /** Accounts per ledger round trip and `addBulk`. */
  readonly batch: number;
  /**
   * Accounts per first-action job, at most `MAX_ACCOUNTS_PER_JOB`. Above 1 the feeder adds
   * multi-account jobs (`{ waveId, accountIds }`): BullMQ's per-job cost is shared, every account
   * keeps its own ledger state, attempts and audit (see `createActionWorker`). Default 1.
   */
  readonly accountsPerJob?: number;
  /**
   * First-action jobs a wave is cut into at least, where it has the accounts: a smaller wave gets
   * fewer accounts per job, down to one (`accountsPerJobFor`), so its jobs fill every worker slot.
   * Default 1 (`accountsPerJob` whatever the wave's size).
   */
  readonly minJobs?: number;
  readonly log: Logger;
  /** Audit actor. Default `feeder`. */
  readonly actor?: string;
  /** Longest pause between two looks at a full queue; the first look comes after 25 ms. Default 500 ms. */
  readonly maxPollMs?: number;
  /**
   * TTL of the wave's feed lease (`<prefix>:wave:<id>:feeder`), renewed while waiting for room and
   * before every batch. A feeder that stalls longer loses the wave to the next one. Default 30,000 ms.
   */
  readonly leaseMs?: number;
}

/** Options for one {@link Feeder.feed} run. */
export interface FeedOptions {
  /** Stops the feed between batches (or while it waits for room) leaving a consistent checkpoint. */
  readonly signal?: AbortSignal;
}

/** What one feed run did. */
export interface FeedResult {
  /** Accounts whose first-action job was added in this run (a replayed, still pending one included). */
  readonly fed: number;
  /** Accounts read in this run whose first action was already past `pending`: not queued again. */
  readonly skipped: number;
  /** False when `signal` stopped the run before the end of the spool, or the wave was cancelled. */
  readonly complete: boolean;
  /** The wave was cancelled by an operator: the rest of the spool will never be fed. */
  readonly cancelled?: boolean;
}

/** A feeder: {@link createFeeder}. */
export interface Feeder {
  feed(waveId: string, options?: FeedOptions): Promise<FeedResult>;
  /** Closes the feeder's queues (not the connection). Idempotent. */
  close(): Promise<void>;
}

const FIRST_POLL_MS = 25;
/** How often a paused feed looks whether the wave was resumed or cancelled (ms). */
const PAUSE_POLL_MS = 1000;
const PROGRESS_LOG_MS = 5000;

interface BulkJob {
  name: ActionName;
  data: ActionJob | ActionBatch;
  opts: typeof DEFAULT_JOB_OPTIONS & { jobId: string };
}

/** Whether `entry` is the last account of its consolidated group (or alone). */
function groupEnds(entry: SpoolEntry): boolean {
  const group = entry.record.group;
  return !group || group[group.length - 1] === entry.accountId;
}

/**
 * Cuts a batch's accounts (in spool order) into jobs of at most `size` accounts, never splitting a
 * consolidated group's accounts (next to one another in the spool) between two jobs: the group's
 * lead then finds the others' earlier actions done in the same job's run. A group larger than
 * `size` gets a job of its own (a group is at most `MAX_GROUP_ACCOUNTS`, below the job's limit).
 */
export function jobAccounts(entries: readonly Pick<SpoolEntry, 'accountId' | 'record'>[], size: number): string[][] {
  const units: string[][] = [];
  let lead: string | undefined;
  for (const e of entries) {
    const g = e.record.group?.[0];
    const last = units[units.length - 1];
    if (g !== undefined && g === lead && last) last.push(e.accountId);
    else units.push([e.accountId]);
    lead = g;
  }
  const jobs: string[][] = [];
  let current: string[] = [];
  for (const unit of units) {
    if (current.length > 0 && current.length + unit.length > size) {
      jobs.push(current);
      current = [];
    }
    current.push(...unit);
  }
  if (current.length > 0) jobs.push(current);
  return jobs;
}

/**
 * Moves a created wave's accounts from its spool into the queues, in batches, never letting a
 * first-action queue's backlog grow past `window`.
 *
 * Per batch: ledger entries created (`initAccounts`), account records stored for the accounts
 * whose first action is still pending, their first-action jobs added (references only —
 * `{ waveId, accountId }`, or `{ waveId, accountIds }` with `accountsPerJob` above 1 —
 * deterministic job ids), then the checkpoint (`feed_checkpoint` = spool lines done, and
 * `fed`) moved on the wave. A crash replays at most the batch in flight: the ledger keeps its
 * entries, BullMQ ignores a job id it still holds, and accounts whose first action was already
 * claimed or finished are neither queued again nor have their contact record rewritten. Feeding
 * a wave already `fed` does nothing.
 *
 * One process feeds a wave at a time: `feed` takes the wave's lease in Redis first and rejects
 * with `BW_WAVE_BUSY` (naming the holder) while another process holds it. The lease is renewed
 * while the feed waits for room and checked before every batch; a feeder that finds it lost (it
 * stalled past the TTL and another took over) stops with `BW_WAVE_BUSY` before writing anything
 * more. It is released when the run ends, however it ends.
 */
export function createFeeder(deps: FeederDeps): Feeder {
  const actor = deps.actor ?? 'feeder';
  const maxPollMs = deps.maxPollMs ?? 500;
  const leaseMs = deps.leaseMs ?? 30_000;
  const shards = Math.max(1, deps.shards ?? 1);
  /** A queue of one shard: `<queue name>#<shard>`. */
  type ShardQueue = `${QueueName}#${number}`;
  const queues = new Map<ShardQueue, Queue>();
  let closing: Promise<void> | undefined;

  if (!Number.isInteger(deps.window) || deps.window < 1) throw new BreachwaveError('BW_CONFIG_INVALID', { detail: 'feed window must be a positive integer' });
  if (!Number.isInteger(deps.batch) || deps.batch < 1) throw new BreachwaveError('BW_CONFIG_INVALID', { detail: 'feed batch must be a positive integer' });
  const perJob = deps.accountsPerJob ?? 1;
  if (!Number.isInteger(perJob) || perJob < 1 || perJob > MAX_ACCOUNTS_PER_JOB) {
    throw new BreachwaveError('BW_CONFIG_INVALID', { detail: `accounts per job must be an integer from 1 to ${MAX_ACCOUNTS_PER_JOB}` });
  }
  const minJobs = deps.minJobs ?? 1;
  if (!Number.isSafeInteger(minJobs) || minJobs < 1) throw new BreachwaveError('BW_CONFIG_INVALID', { detail: 'minimum jobs per wave must be a positive integer' });
  if (!Number.isSafeInteger(leaseMs) || leaseMs < 1) throw new BreachwaveError('BW_CONFIG_INVALID', { detail: 'feed lease must be a positive integer of milliseconds' });

  const queueFor = (sq: ShardQueue): Queue => {
    let q = queues.get(sq);
    if (!q) {
      const [name, shard] = sq.split('#') as [QueueName, string];
      q = new Queue(name, { connection: deps.connection, prefix: shardPrefix(deps.prefix, Number(shard)) });
      q.on('error', (err) => deps.log.error({ err, queue: name, ...(shards > 1 ? { shard: Number(shard) } : {}) }, 'queue error'));
      queues.set(sq, q);
    }
    return q;
  };

  /**
   * Accounts left waiting in a queue, counted as if every job held `size` of them (the wave's
   * accounts per job): jobs that left a batch hold one, so the window errs on the side of less in
   * Redis.
   */
  const backlog = async (q: Queue, size: number): Promise<number> => {
    const c = await q.getJobCounts('waiting', 'delayed', 'prioritized', 'paused');
    return ((c.waiting ?? 0) + (c.delayed ?? 0) + (c.prioritized ?? 0) + (c.paused ?? 0)) * size;
  };

  /**
   * Waits until every queue can take its share of the next batch without passing `window`
   * (an empty queue always can, so a batch larger than the window still moves), renewing the feed
   * lease (`hold`) before each pause. False if aborted.
   */
  const waitForRoom = async (need: ReadonlyMap<ShardQueue, number>, size: number, waveId: string, hold: () => Promise<void>, signal?: AbortSignal): Promise<boolean> => {
    for (const [name, n] of need) {
      const q = queueFor(name);
      let announced = false;
      const room = await pollUntil(async () => {
        const waiting = await backlog(q, size);
        if (waiting === 0 || waiting + n <= deps.window) return true;
        if (!announced) {
          deps.log.info({ waveId, queue: name.split('#')[0], ...(shards > 1 ? { shard: Number(name.split('#')[1]) } : {}), waiting, window: deps.window }, 'feed window full: waiting for workers');
          announced = true;
        }
        return false;
      }, hold, signal);
      if (!room) return false;
    }
    return true;
  };

  /**
   * Asks `ready` until it says yes, renewing the feed lease (`hold`) before each pause, pauses
   * doubling up to `maxPollMs`. False if aborted.
   */
  const pollUntil = async (ready: () => Promise<boolean>, hold: () => Promise<void>, signal?: AbortSignal): Promise<boolean> => {
    let pause = FIRST_POLL_MS;
    for (;;) {
      if (signal?.aborted) return false;
      if (await ready()) return true;
      await hold();
      try {
        await sleep(pause, undefined, signal ? { signal } : {});
      } catch {
        return false;
      }
      pause = Math.min(maxPollMs, pause * 2);
    }
  };

  /**
   * Waits until the wave's own accounts in flight (fed, notice not yet finished) leave room for
   * `n` more within `window`, renewing the lease before each pause. False if aborted.
   */
  const waitForWaveRoom = (waveId: string, fed: number, n: number, hold: () => Promise<void>, signal?: AbortSignal): Promise<boolean> =>
    pollUntil(async () => {
      const inFlight = Math.max(0, fed - noticesFinished(await deps.ledger.counts(waveId)));
      return inFlight === 0 || inFlight + n <= deps.window;
    }, hold, signal);

  /** Takes the wave's feed lease (or a gone local feeder's, see `tryAcquire`); else BW_WAVE_BUSY. */
  const takeLease = async (waveId: string): Promise<RedisLease> => {
    const lease = createLease(deps.connection, ledgerKeys(deps.prefix).feeder(waveId), leaseMs);
    const attempt = await lease.tryAcquire();
    if (attempt.acquired) {
      if (attempt.tookOverFrom) deps.log.warn({ waveId, previous: attempt.tookOverFrom }, 'took over the feed lease of a feeder on this host that is gone');
      return lease;
    }
    throw new BreachwaveError('BW_WAVE_BUSY', {
      detail: `wave ${waveId} is being fed by ${attempt.holder ?? 'another process'}; if that process is gone, its lease ends within ${Math.ceil(leaseMs / 1000)} s`,
    });
  };

  const running = new Set<string>();
  const feed = async (waveId: string, options: FeedOptions = {}): Promise<FeedResult> => {
    if (closing) throw new Error('feeder is closed');
    if (running.has(waveId)) throw new BreachwaveError('BW_INPUT_INVALID', { detail: `wave ${waveId} is already being fed by this process` });
    running.add(waveId);
    try {
      const lease = await takeLease(waveId);
      try {
        return await feedWave(waveId, options, lease);
      } finally {
        await lease.release().catch((err: unknown) => deps.log.warn({ err, waveId }, 'could not release the feed lease; it expires on its own'));
      }
    } finally {
      running.delete(waveId);
    }
  };

  const feedWave = async (waveId: string, options: FeedOptions, lease: RedisLease): Promise<FeedResult> => {
    const { signal } = options;
    /** Renews the wave's lease; throws when another process holds it now, so nothing more is written. */
    const hold = async (): Promise<void> => {
      if (await lease.renew()) return;
      const holder = await lease.holder();
      throw new BreachwaveError('BW_WAVE_BUSY', { detail: `wave ${waveId}: this feeder lost its lease${holder ? ` to ${holder}` : ''} and stopped` });
    };
    const wave = await deps.ledger.getWave(waveId);
    const log = deps.log.child({ waveId });
    if (wave.status === 'fed' || wave.status === 'completed') {
      log.info({ fed: wave.stats.fed ?? 0, status: wave.status }, 'wave already fed: nothing to do');
      return { fed: 0, skipped: 0, complete: true };
    }
    const approvals = wave.manifest.approvals ?? 0;
    if (wave.status === 'created' && approvals > 0) {
      throw new BreachwaveError('BW_WAVE_STATE', { detail: `wave ${waveId} is not approved: it needs a dry run and ${approvals === 1 ? 'the approval of an operator' : `the approvals of ${approvals} operators`} other than its creator (wave dry-run, wave approve)` });
    }
    if (wave.status !== 'created' && wave.status !== 'approved' && wave.status !== 'feeding') {
      throw new BreachwaveError('BW_WAVE_STATE', { detail: `wave ${waveId} is ${wave.status}; only an approved wave (or one being fed) can be fed` });
    }
    const spoolPath = wave.paths.spool;
    if (!spoolPath) throw new BreachwaveError('BW_INPUT_INVALID', { detail: `wave ${waveId} has no spool` });
    const manifest: WaveManifest = wave.manifest;

    let checkpoint = wave.stats.feed_checkpoint ?? 0;
    let fedTotal = wave.stats.fed ?? 0;
    let fed = 0;
    let skipped = 0;
    let lastLog = Date.now();
    // The same for every run of the wave, so a replayed batch is cut into the same jobs (ids).
    const size = accountsPerJobFor(wave.stats.accepted ?? 0, perJob, minJobs);
    const lane = laneJobOptions(manifest.lane);
    await applyPlannedPace(deps.connection, deps.prefix, deps.ledger, waveId, manifest, actor, log);
    if ((await deps.ledger.setWaveStatus(waveId, 'feeding', actor, { checkpoint })) === 'cancelled') return { fed: 0, skipped: 0, complete: false, cancelled: true };
    let cancelled = false;
    /**
     * An operator's pause holds the feed (the lease kept) until resumed; a cancel ends it. False
     * when the feed must stop (cancelled, or aborted).
     */
    const mayGoOn = async (): Promise<boolean> => {
      let announced = false;
      for (;;) {
        const state = await deps.ledger.waveState(waveId);
        if (state.status === 'cancelled') {
          cancelled = true;
          log.info({ checkpoint, fed: fedTotal }, 'wave cancelled: the feed stops; accounts not fed are never sent anything');
          return false;
        }
        if (!state.paused) return true;
        if (!announced) {
          log.info({ checkpoint, fed: fedTotal }, 'wave paused: the feed waits for wave resume');
          announced = true;
        }
        await hold();
        try {
          await sleep(PAUSE_POLL_MS, undefined, signal ? { signal } : {});
        } catch {
          return false;
        }
      }
    };
    log.info({ checkpoint, window: deps.window, batch: deps.batch, accountsPerJob: size }, checkpoint > 0 ? 'feed resuming from checkpoint' : 'feed started');

    // Each account's ordinal in the wave (its place in the spool, per shard): the same on every
    // run. The map holds the batch being read.
    const ordinals = spoolOrdinals(waveId, shards);
    const ordinalOf = new Map<string, number>();
    /** Commits one batch ending at spool line `lastLine`. False if aborted before it began. */
    const commit = async (entries: readonly SpoolEntry[], lastLine: number): Promise<boolean> => {
      const plans = entries.map((e) => planActions(e.record, manifest));
      // A consolidated notice settles its accounts in one script, and a wave's accounts are
      // spread over shards by id: the two cannot meet. Refused before anything is written.
      if (shards > 1 && entries.some((e) => (e.record.group?.length ?? 0) > 1)) {
        throw new BreachwaveError('BW_INPUT_INVALID', { detail: `wave ${waveId} has consolidated notices, which need one shard: create it with consolidation off to feed it over ${shards} shards` });
      }
      const shardOfEntry = entries.map((e) => shardOf(waveId, e.accountId, shards));
      const need = new Map<ShardQueue, number>();
      plans.forEach((p, i) => {
        const q: ShardQueue = `${QUEUE_FOR_ACTION[p[0] ?? 'notify']}#${shardOfEntry[i] ?? 0}`;
        need.set(q, (need.get(q) ?? 0) + 1);
      });
      if (!(await mayGoOn())) return false;
      // An urgent wave's jobs are taken before the others' waiting ones, so a large wave's backlog
      // must not hold its feed: its window counts its own accounts in flight instead.
      const room = manifest.lane === 'urgent'
        ? await waitForWaveRoom(waveId, fedTotal, entries.length, hold, signal)
        : await waitForRoom(need, size, waveId, hold, signal);
      if (!room) return false;
      // The fence: the lease is checked right before the batch is written.
      await hold();

      const states = await deps.ledger.initAccounts(waveId, actor, entries.map((e, i) => ({ accountId: e.accountId, actions: plans[i] ?? ['notify'], ordinal: ordinalOf.get(e.accountId) })));
      const toQueue: { entry: SpoolEntry; action: ActionName; shard: number }[] = [];
      entries.forEach((entry, i) => {
        const state = states[i];
        // 'pending' is a replayed batch whose job may or may not have been added before a crash;
        // anything else (claimed, done, failed, skipped) belongs to a worker already.
        if (state === 'new' || state === 'pending') toQueue.push({ entry, action: plans[i]?.[0] ?? 'notify', shard: shardOfEntry[i] ?? 0 });
        else skipped++;
      });
      // Records are written after initAccounts so a replay never rewrites the record of an account
      // a worker already finished (and may have released); no job exists before its record does.
      await deps.ledger.putAccounts(waveId, toQueue.map(({ entry }) => ({ accountId: entry.accountId, record: entry.record })));
      // Per action and shard: a job's accounts are all of one shard, in that shard's queue.
      const byAction = new Map<string, SpoolEntry[]>();
      for (const { entry, action, shard } of toQueue) {
        const key = `${action}#${shard}`;
        const list = byAction.get(key) ?? [];
        list.push(entry);
        byAction.set(key, list);
      }
      let added = 0;
      for (const [key, list] of byAction) {
        const [action, shard] = key.split('#') as [ActionName, string];
        const jobs: BulkJob[] = [];
        for (const ids of jobAccounts(list, size)) {
          const { data, jobId } = actionJobFor(action, waveId, ids, ids.map((id) => ordinalOf.get(id)));
          jobs.push({ name: action, data, opts: { ...DEFAULT_JOB_OPTIONS, jobId, ...lane } });
        }
        await queueFor(`${QUEUE_FOR_ACTION[action]}#${Number(shard)}`).addBulk(jobs);
        added += list.length;
      }
      fed += added;
      fedTotal += added;
      checkpoint = lastLine;
      await deps.ledger.setWaveFields(waveId, { feed_checkpoint: checkpoint, fed: fedTotal });
      if (Date.now() - lastLog >= PROGRESS_LOG_MS) {
        lastLog = Date.now();
        log.info({ checkpoint, fed: fedTotal }, 'feed progress');
      }
      return true;
    };

    const stopped = (): FeedResult => {
      if (cancelled) return { fed, skipped, complete: false, cancelled: true };
      log.info({ checkpoint, fed: fedTotal }, 'feed stopped before the end; run it again to resume');
      return { fed, skipped, complete: false };
    };

    const spool = new SpoolReader(spoolPath, { skip: checkpoint, onSkip: (buf) => ordinals.skip(buf) });
    let entries: SpoolEntry[] = [];
    for await (const { line, entry } of spool) {
      entries.push(entry);
      ordinalOf.set(entry.accountId, ordinals.next(entry.accountId));
      // A consolidated notice's accounts are next to one another in the spool: never cut between them.
      if (entries.length >= deps.batch && groupEnds(entry)) {
        if (!(await commit(entries, line))) return stopped();
        entries = [];
        ordinalOf.clear();
      }
    }
    const line = spool.lines;
    if (entries.length > 0 && !(await commit(entries, line))) return stopped();
    // Blank trailing lines (none in spools we write) still count as done.
    if (line > checkpoint) await deps.ledger.setWaveFields(waveId, { feed_checkpoint: line, fed: fedTotal });
    if ((await deps.ledger.setWaveStatus(waveId, 'fed', actor, { fed: fedTotal })) === 'cancelled') return { fed, skipped, complete: false, cancelled: true };
    log.info({ fed: fedTotal, thisRun: fed, skipped }, 'wave fed');
    return { fed, skipped, complete: true };
  };

  return {
    feed,
    close: () => {
      closing ??= Promise.all([...queues.values()].map((q) => q.close())).then(() => undefined);
      return closing;
    },
  };
}

/** Wave hash field set when the wave's planned pace was applied (once, whatever the number of feeds). */
export const PACE_APPLIED_FIELD = 'pace_applied';

/**
 * Sets the pace the wave's manifest plans for each sender, where `pace set` writes it, the first
 * time the wave is fed — once (a field on the wave hash, set if absent): a feed resumed after an
 * operator changed the pace mid-wave must not put the planned one back. Each change is audited
 * like `pace set`'s.
 */
export async function applyPlannedPace(redis: Redis, prefix: string, ledger: Pick<Ledger, 'audit'>, waveId: string, manifest: Pick<WaveManifest, 'pace'>, actor: string, log: Logger): Promise<void> {
  const pace = Object.entries(manifest.pace ?? {});
  if (pace.length === 0) return;
  if ((await redis.hsetnx(ledgerKeys(prefix).wave(waveId), PACE_APPLIED_FIELD, String(Date.now()))) !== 1) return;
  for (const [sender, rate] of pace) {
    const pacer = createPacer({ redis, prefix, sender });
    try {
      const before = await pacer.getRate();
      await pacer.setRate(rate);
      await ledger.audit({ type: 'operator.pace.set', actor, wave: waveId, detail: { sender, from: before ?? null, to: rate, source: 'manifest' } });
      log.info({ sender, from: before ?? null, rate }, 'planned pace set');
    } finally {
      pacer.close();
    }
  }
}
