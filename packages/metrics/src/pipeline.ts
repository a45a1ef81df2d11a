import { Counter, Gauge, type Registry } from 'prom-client';
import { createActionQueues, type ActionQueues } from '@breachwave/actions';
import { createCodeStore, type CodeStatus } from '@breachwave/codes';
import { createDeadLetters, type DeadLetterGroup } from '@breachwave/dlq';
import { ACTIONS, ACTION_STATES, type ActionName } from '@breachwave/domain';
import { QUEUE_FOR_ACTION } from '@breachwave/jobs';
import { DEFAULT_STUCK_AFTER_SECONDS, createLedger, waveClock, waveProgress, type Ledger, type WaveClock, type WaveInfo, type WaveProgress } from '@breachwave/ledger';
import { createPacer } from '@breachwave/pacing';
import { infoOfPrimaries, type Redis } from '@breachwave/redis';

/** BullMQ states reported per queue (`getJobCounts`); `wait` is reported as `waiting`. */
const QUEUE_STATES = ['wait', 'active', 'delayed', 'prioritized', 'paused', 'waiting-children', 'failed', 'completed'] as const;

/** Waves in these states have nothing left to move; their per-wave gauges are dropped. */
const OVER: readonly string[] = ['completed', 'cancelled'];

/** What the scrape-time collectors read from. */
export interface PipelineDeps {
  /** A fail-fast client (producer role) of the metrics' own: a scrape never waits on a worker's commands. */
  readonly redis: Redis;
  readonly prefix: string;
  /** Shards of the accounts (`BW_SHARDS`, default 1): wave counters and queues are read from every shard and summed. */
  readonly shards?: number;
  /** How long one reading of Redis is reused, ms. Default 5000. */
  readonly cacheMs?: number;
  /** How long the dead-letter counts are reused, ms (a ledger scan). Default 60000. */
  readonly dlqCacheMs?: number;
  /** Sender ids whose configured pace is reported (`twilio:+1…`, `smtp:host:port`). */
  readonly senders?: readonly string[];
  /** The code pools' low watermark, reported beside the pools. Default 1000 (the code store's). */
  readonly codesLowWatermark?: number;
  /** Seconds a running wave with notices open may go without a finished one before it is reported stuck (`BW_STUCK_AFTER_SECONDS`). Default {@link DEFAULT_STUCK_AFTER_SECONDS}. */
  readonly stuckAfterSeconds?: number;
  /** The most recent waves looked at (per-wave gauges, dead letters). Default 50. */
  readonly maxWaves?: number;
  /** A reading that takes longer than this counts as Redis being down, ms. Default 3000. */
  readonly timeoutMs?: number;
  readonly now?: () => Date;
}

interface QueueReading {
  readonly queue: string;
  readonly counts: Readonly<Record<string, number>>;
  /** Seconds the oldest job ready to run has waited; 0 when none waits. */
  readonly oldestWaitingSeconds: number;
}

interface WaveReading {
  readonly waveId: string;
  readonly info: WaveInfo;
  readonly counts: Readonly<Record<string, number>>;
  readonly progress: WaveProgress;
  readonly clock: WaveClock;
}

interface RedisReading {
  readonly usedBytes: number;
  readonly maxBytes: number;
  readonly policy: string;
}

/** One reading of everything the scrape-time gauges show. */
export interface PipelineSnapshot {
  readonly up: boolean;
  readonly redis?: RedisReading;
  readonly queues: readonly QueueReading[];
  readonly waves: readonly WaveReading[];
  readonly pace: readonly { readonly sender: string; readonly rate: number | undefined }[];
  readonly codes?: CodeStatus;
  /** Sources that failed in this reading (queues, waves, pace, codes), counted by the errors counter. */
  readonly failed: readonly string[];
}

const EMPTY: PipelineSnapshot = { up: false, queues: [], waves: [], pace: [], failed: [] };

function timeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
      timer.unref();
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Parses `INFO memory`: used and max memory (0 = no limit) and the eviction policy. */
export function parseRedisMemory(info: string): RedisReading {
  const field = (name: string): string | undefined => new RegExp(`^${name}:(\\S+)`, 'm').exec(info)?.[1];
  return { usedBytes: Number(field('used_memory') ?? 0), maxBytes: Number(field('maxmemory') ?? 0), policy: field('maxmemory_policy') ?? 'unknown' };
}

/**
 * The memory reading that matters: the one server's, or on a cluster the fullest primary's (a
 * full primary refuses writes to its slots whatever the others hold), with a policy other than
 * `noeviction` reported if any primary has one.
 */
export async function readRedisMemory(redis: Redis): Promise<RedisReading> {
  const readings = (await infoOfPrimaries(redis, 'memory')).map(parseRedisMemory);
  const fullest = readings.reduce((a, b) => (b.usedBytes > a.usedBytes ? b : a));
  return { ...fullest, policy: readings.find((r) => r.policy !== 'noeviction')?.policy ?? fullest.policy };
}

/**
 * Reads the pipeline's state from Redis at scrape time, at most once per `cacheMs` (concurrent
 * scrapes share one reading), and never longer than `timeoutMs`.
 */
export function createPipelineReader(deps: PipelineDeps) {
  const { redis, prefix } = deps;
  const cacheMs = deps.cacheMs ?? 5000;
  const dlqCacheMs = deps.dlqCacheMs ?? 60_000;
  const maxWaves = deps.maxWaves ?? 50;
  const timeoutMs = deps.timeoutMs ?? 3000;
  const stuckAfterSeconds = deps.stuckAfterSeconds ?? DEFAULT_STUCK_AFTER_SECONDS;
  const now = deps.now ?? (() => new Date());
  const ledger: Ledger = createLedger({ redis, prefix, shards: deps.shards ?? 1 });
  const codes = createCodeStore({ redis, prefix, ...(deps.codesLowWatermark !== undefined ? { lowWatermark: deps.codesLowWatermark } : {}) });
  // Queues are made on the first reading that finds Redis up: BullMQ waits for a connection it
  // is given to be ready, which a scrape must never do.
  let queues: ActionQueues | undefined;
  let cached: { at: number; value: Promise<PipelineSnapshot>; settled: boolean } | undefined;
  let dlq: { at: number; value: Promise<readonly DeadLetterGroup[]> } | undefined;
  let closed = false;

  const connected = async (): Promise<boolean> => {
    if (redis.status === 'wait' || redis.status === 'end') await redis.connect().catch(() => undefined);
    // A connection another caller opened a moment ago: wait for it (bounded by the caller's timeout).
    if (redis.status === 'connecting' || redis.status === 'connect') await new Promise((resolve) => redis.once('ready', resolve));
    if (redis.status !== 'ready') return false;
    await redis.ping();
    return true;
  };

  const readQueue = async (action: ActionName, q: ActionQueues): Promise<QueueReading> => {
    // Every shard's queue of the action, summed: one queue when the accounts are not sharded.
    const readings = await Promise.all(q.shardQueues(action).map((queue) => Promise.all([
      queue.getJobCounts(...QUEUE_STATES),
      // Jobs of the urgent lane are pushed at the head (LIFO): the oldest may be at either end.
      queue.getJobs(['wait'], 0, 0, true),
      queue.getJobs(['wait'], 0, 0, false),
      queue.getJobs(['prioritized'], 0, 0, true),
    ])));
    const counts: Record<string, number> = {};
    for (const [c] of readings) for (const [state, n] of Object.entries(c)) counts[state] = (counts[state] ?? 0) + n;
    const oldestFirst = readings.flatMap((r) => r[1]);
    const newestFirst = readings.flatMap((r) => r[2]);
    const prioritized = readings.flatMap((r) => r[3]);
    const t = now().getTime();
    let oldest = 0;
    for (const job of [...oldestFirst, ...newestFirst, ...prioritized]) {
      // A job added with a delay (a deferral, a backoff) has waited only since it became ready.
      const readySince = job.timestamp + (job.delay ?? 0);
      oldest = Math.max(oldest, (t - readySince) / 1000);
    }
    return { queue: QUEUE_FOR_ACTION[action], counts, oldestWaitingSeconds: Math.max(0, oldest) };
  };

  const readWaves = async (): Promise<WaveReading[]> => {
    const out: WaveReading[] = [];
    const at = now();
    for (const waveId of await ledger.listWaves(maxWaves)) {
      const info = await ledger.getWave(waveId).catch(() => undefined);
      if (!info || OVER.includes(info.status)) continue;
      const [counts, progress] = await Promise.all([ledger.counts(waveId), waveProgress(ledger, waveId)]);
      out.push({ waveId, info, counts, progress, clock: waveClock(info, progress, at, undefined, stuckAfterSeconds) });
    }
    return out;
  };

  const readPace = async (): Promise<PipelineSnapshot['pace']> => {
    const out: { sender: string; rate: number | undefined }[] = [];
    for (const sender of deps.senders ?? []) {
      const pacer = createPacer({ redis, prefix, sender });
      try {
        out.push({ sender, rate: await pacer.getRate() });
      } finally {
        pacer.close();
      }
    }
    return out;
  };

  const read = async (): Promise<PipelineSnapshot> => {
    try {
      if (!(await timeout(connected(), timeoutMs, 'PING'))) return EMPTY;
    } catch {
      return EMPTY;
    }
    const failed: string[] = [];
    const part = async <T>(name: string, fn: () => Promise<T>): Promise<T | undefined> => {
      try {
        return await timeout(fn(), timeoutMs, name);
      } catch {
        failed.push(name);
        return undefined;
      }
    };
    queues ??= createActionQueues({ connection: redis, prefix, shards: deps.shards ?? 1 });
    const q = queues;
    const [memory, queueReadings, waves, pace, codeStatus] = await Promise.all([
      part('redis', () => readRedisMemory(redis)),
      part('queues', () => Promise.all(ACTIONS.map((a) => readQueue(a, q)))),
      part('waves', readWaves),
      part('pace', readPace),
      part('codes', () => codes.status()),
    ]);
    return {
      up: true, ...(memory ? { redis: memory } : {}), queues: queueReadings ?? [], waves: waves ?? [], pace: pace ?? [],
      ...(codeStatus ? { codes: codeStatus } : {}), failed,
    };
  };

  return {
    /** The reading, from the cache while it is younger than `cacheMs`. */
    snapshot(): Promise<PipelineSnapshot> {
      const t = Date.now();
      if (closed) return Promise.resolve(EMPTY);
      // A reading under way is shared whatever its age: every gauge of one scrape sees the same one.
      if (!cached || (cached.settled && t - cached.at >= cacheMs)) {
        const entry = { at: t, value: read().catch(() => EMPTY), settled: false };
        void entry.value.then(() => {
          entry.settled = true;
        });
        cached = entry;
      }
      return cached.value;
    },

    /**
     * Dead letters by action and reason over the most recent waves, from the cache while it is
     * younger than `dlqCacheMs`: it scans their ledgers, which costs a read of every account.
     */
    deadLetters(): Promise<readonly DeadLetterGroup[]> {
      const t = Date.now();
      if (closed || !queues) return Promise.resolve([]);
      if (!dlq || t - dlq.at >= dlqCacheMs) {
        const q = queues;
        const value = (async () => {
          const list = createDeadLetters({ ledger, queues: q });
          const groups = new Map<string, DeadLetterGroup>();
          for (const waveId of await ledger.listWaves(maxWaves)) {
            for (const g of await list.list({ waveId })) {
              const key = `${g.action}\u0000${g.reason}`;
              const before = groups.get(key);
              groups.set(key, { action: g.action, reason: g.reason, count: (before?.count ?? 0) + g.count, waves: [...(before?.waves ?? []), ...g.waves] });
            }
          }
          return [...groups.values()];
        })();
        // A failed scan is not kept: the next scrape tries again.
        dlq = { at: t, value: value.catch((err: unknown) => {
          dlq = undefined;
          throw err;
        }) };
      }
      return dlq.value;
    },

    async close(): Promise<void> {
      closed = true;
      await queues?.close();
      queues = undefined;
    },
  };
}

export type PipelineReader = ReturnType<typeof createPipelineReader>;

/**
 * Registers the gauges read from Redis at scrape time. Every one reads the same cached
 * snapshot; a gauge whose source failed shows nothing rather than a stale or made-up value, and
 * `breachwave_metrics_read_errors_total{source}` counts the failure.
 */
export function registerPipelineMetrics(registry: Registry, reader: PipelineReader): void {
  const registers = [registry];
  const errors = new Counter({
    name: 'breachwave_metrics_read_errors_total', help: 'Readings of Redis at scrape time that failed or timed out, by source (redis, queues, waves, pace, codes, dead-letters).', labelNames: ['source'], registers,
    // The reading first, so that a failure of this scrape's reading is counted in this scrape.
    async collect() {
      await snap();
    },
  });
  // Each reading is counted once, however many gauges look at it.
  const counted = new WeakSet<PipelineSnapshot>();
  const snap = async (): Promise<PipelineSnapshot> => {
    const s = await reader.snapshot();
    if (!counted.has(s)) {
      counted.add(s);
      if (!s.up) errors.inc({ source: 'redis' });
      for (const f of s.failed) errors.inc({ source: f });
    }
    return s;
  };
  type G = Gauge;
  const gauge = (name: string, help: string, labelNames: readonly string[], fill: (g: G, s: PipelineSnapshot) => void | Promise<void>): void => {
    new Gauge({
      name, help, labelNames: [...labelNames], registers,
      async collect() {
        const s = await snap();
        this.reset();
        await fill(this, s);
      },
    });
  };
  /** A counter whose value is a monotonic counter kept in Redis (the ledger's); shown as read. */
  const counterOf = (name: string, help: string, labelNames: readonly string[], fill: (set: (labels: Record<string, string>, v: number) => void, s: PipelineSnapshot) => void): void => {
    new Counter({
      name, help, labelNames: [...labelNames], registers,
      async collect() {
        const s = await snap();
        this.reset();
        fill((labels, v) => this.inc(labels, Math.max(0, v)), s);
      },
    });
  };

  gauge('breachwave_redis_up', 'Whether Redis answered the last reading (1) or not (0).', [], (g, s) => g.set(s.up ? 1 : 0));
  gauge('breachwave_redis_memory_used_bytes', 'Memory Redis uses (INFO memory used_memory).', [], (g, s) => {
    if (s.redis) g.set(s.redis.usedBytes);
  });
  gauge('breachwave_redis_maxmemory_bytes', 'Redis maxmemory; 0 means no limit.', [], (g, s) => {
    if (s.redis) g.set(s.redis.maxBytes);
  });
  gauge('breachwave_redis_noeviction', 'Whether Redis runs with maxmemory-policy noeviction (1) or another policy that may silently drop jobs and ledger entries (0).', [], (g, s) => {
    if (s.redis) g.set(s.redis.policy === 'noeviction' ? 1 : 0);
  });

  gauge('breachwave_queue_jobs', 'Jobs in each BullMQ queue by state (waiting, active, delayed, prioritized, paused, waiting-children, failed, completed — the last two as retained).', ['queue', 'state'], (g, s) => {
    for (const q of s.queues) for (const [state, n] of Object.entries(q.counts)) g.set({ queue: q.queue, state: state === 'wait' ? 'waiting' : state }, n);
  });
  gauge('breachwave_queue_oldest_waiting_seconds', 'How long the oldest job ready to run has waited in each queue; 0 when none waits.', ['queue'], (g, s) => {
    for (const q of s.queues) g.set({ queue: q.queue }, Math.round(q.oldestWaitingSeconds * 1000) / 1000);
  });

  gauge('breachwave_wave_accounts', 'Accounts of each wave still running, by action and ledger state (pending, claimed, done, failed, skipped, cancelled).', ['wave', 'action', 'state'], (g, s) => {
    for (const w of s.waves) {
      for (const action of ACTIONS) {
        for (const state of ACTION_STATES) {
          const v = w.counts[`${action}:${state}`];
          if (v !== undefined) g.set({ wave: w.waveId, action, state }, Number(v));
        }
      }
    }
  });
  gauge('breachwave_wave_accepted_accounts', 'Accounts each running wave accepted from its file.', ['wave'], (g, s) => {
    for (const w of s.waves) g.set({ wave: w.waveId }, w.progress.accepted);
  });
  gauge('breachwave_wave_finished_accounts', 'Accounts of each running wave whose notice is finished (done, failed, skipped or cancelled).', ['wave'], (g, s) => {
    for (const w of s.waves) g.set({ wave: w.waveId }, w.progress.finished);
  });
  gauge('breachwave_wave_notified_ratio', 'Share of each running wave\'s accepted accounts whose notice was sent, 0–1.', ['wave'], (g, s) => {
    for (const w of s.waves) g.set({ wave: w.waveId }, w.progress.accepted > 0 ? (w.progress.actions.notify?.done ?? 0) / w.progress.accepted : 0);
  });
  gauge('breachwave_wave_status', 'The status of each running wave: 1 for its current status.', ['wave', 'status'], (g, s) => {
    for (const w of s.waves) g.set({ wave: w.waveId, status: w.info.status }, 1);
  });
  gauge('breachwave_wave_paused', 'Whether each running wave is paused (1) or not (0).', ['wave'], (g, s) => {
    for (const w of s.waves) g.set({ wave: w.waveId }, w.progress.paused ? 1 : 0);
  });
  gauge('breachwave_wave_deadline_seconds_left', 'Seconds until the notice deadline of each running wave with a regulatory clock (negative once past).', ['wave'], (g, s) => {
    for (const w of s.waves) if (w.clock.timeLeftSeconds !== null) g.set({ wave: w.waveId }, w.clock.timeLeftSeconds);
  });
  gauge('breachwave_wave_at_risk', 'Whether each running wave with a regulatory clock is at risk of missing it (1): past it, projected to finish after it, or nothing finished with less than a day left.', ['wave'], (g, s) => {
    for (const w of s.waves) if (w.clock.deadline !== null) g.set({ wave: w.waveId }, w.clock.atRisk ? 1 : 0);
  });
  gauge('breachwave_wave_idle_seconds', 'Seconds since a notice of each running wave last finished (since its feed began when none has).', ['wave'], (g, s) => {
    for (const w of s.waves) if (w.clock.idleSeconds !== null) g.set({ wave: w.waveId }, w.clock.idleSeconds);
  });
  gauge('breachwave_wave_stuck', 'Whether each running wave is stuck (1): not paused, notices open, and none finished for BW_STUCK_AFTER_SECONDS (since its feed began when none has).', ['wave'], (g, s) => {
    for (const w of s.waves) g.set({ wave: w.waveId }, w.clock.stuck ? 1 : 0);
  });
  gauge('breachwave_wave_eta_seconds', 'Seconds until each running wave finishes at its average pace so far; absent while unknown.', ['wave'], (g, s) => {
    for (const w of s.waves) if (w.clock.etaSeconds !== null) g.set({ wave: w.waveId }, Math.round(w.clock.etaSeconds));
  });

  // Written by the recovery sweep of the workers (every BW_RECOVERY_INTERVAL_MS), which scans the ledger.
  gauge('breachwave_wave_pins_awaiting_notice', 'Accounts of each running wave whose PIN was rotated and whose notice has not gone out, as of the last recovery sweep.', ['wave'], (g, s) => {
    for (const w of s.waves) if (w.info.stats.pin_checked_at !== undefined) g.set({ wave: w.waveId }, w.info.stats.pin_unnotified ?? 0);
  });
  gauge('breachwave_wave_pins_overdue', 'Of those, the ones waiting longer than BW_PIN_NOTICE_LIMIT_SECONDS, as of the last recovery sweep.', ['wave'], (g, s) => {
    for (const w of s.waves) if (w.info.stats.pin_checked_at !== undefined) g.set({ wave: w.waveId }, w.info.stats.pin_overdue ?? 0);
  });
  gauge('breachwave_wave_pin_oldest_awaiting_notice_seconds', 'How long the oldest rotated PIN of each running wave has waited for its notice, as of the last recovery sweep.', ['wave'], (g, s) => {
    for (const w of s.waves) if (w.info.stats.pin_checked_at !== undefined) g.set({ wave: w.waveId }, (w.info.stats.pin_oldest_ms ?? 0) / 1000);
  });
  gauge('breachwave_wave_pin_check_timestamp_seconds', 'Unix time of the last recovery sweep that counted each running wave\'s rotated PINs awaiting their notice.', ['wave'], (g, s) => {
    for (const w of s.waves) if (w.info.stats.pin_checked_at !== undefined) g.set({ wave: w.waveId }, Math.floor(w.info.stats.pin_checked_at / 1000));
  });

  counterOf('breachwave_notices_sent_total', 'Notices sent by each running wave, by channel (the ledger\'s notify:sent counters, shared by every notifier).', ['wave', 'channel'], (set, s) => {
    for (const w of s.waves) for (const channel of ['sms', 'email'] as const) set({ wave: w.waveId, channel }, Number(w.counts[`notify:sent:${channel}`] ?? 0));
  });
  counterOf('breachwave_notice_errors_total', 'Notice failures of each running wave, by catalog error code (the ledger\'s notify:error counters).', ['wave', 'code'], (set, s) => {
    for (const w of s.waves) {
      for (const [field, v] of Object.entries(w.counts)) {
        if (field.startsWith('notify:error:')) set({ wave: w.waveId, code: field.slice('notify:error:'.length) }, Number(v));
      }
    }
  });
  counterOf('breachwave_notices_ambiguous_total', 'Notices of each running wave whose provider outcome was ambiguous (a timeout after the request was sent): counted, then reconciled.', ['wave'], (set, s) => {
    for (const w of s.waves) set({ wave: w.waveId }, Number(w.counts['notify:ambiguous'] ?? 0));
  });

  gauge('breachwave_sender_pace_per_second', 'The configured pace of each sender, messages/s, as stored in Redis and shared by every notifier (absent: unpaced).', ['sender'], (g, s) => {
    for (const p of s.pace) if (p.rate !== undefined) g.set({ sender: p.sender }, p.rate);
  });

  gauge('breachwave_code_pool_available', 'Enrollment codes each vendor pool can still hand out (unassigned, not past their enroll-by date).', ['pool'], (g, s) => {
    for (const p of s.codes?.pools ?? []) g.set({ pool: p.pool }, p.available);
  });
  gauge('breachwave_code_pool_expired', 'Unassigned codes of each pool past their enroll-by date (never handed out).', ['pool'], (g, s) => {
    for (const p of s.codes?.pools ?? []) g.set({ pool: p.pool }, p.expired);
  });
  gauge('breachwave_code_pool_low', 'Whether each pool is below the low watermark (1) since the event fired, until an import lifts it.', ['pool'], (g, s) => {
    for (const p of s.codes?.pools ?? []) g.set({ pool: p.pool }, p.low ? 1 : 0);
  });
  gauge('breachwave_code_pool_low_watermark', 'The configured low watermark of the code pools (BW_CODE_LOW_WATERMARK).', [], (g, s) => {
    if (s.codes) g.set(s.codes.lowWatermark);
  });
  counterOf('breachwave_code_pool_waits_total', 'Times an account found each pool exhausted and was put back to wait.', ['pool'], (set, s) => {
    for (const p of s.codes?.pools ?? []) set({ pool: p.pool }, p.waits);
  });

  new Gauge({
    name: 'breachwave_dead_letters',
    help: 'Dead letters (actions failed for good, re-drivable) in the most recent waves, by action and catalog reason. Read by a ledger scan, cached longer than the other figures.',
    labelNames: ['action', 'reason'],
    registers,
    async collect() {
      // The snapshot first: it connects, and the scan needs its queues.
      const s = await snap();
      if (!s.up) {
        this.reset();
        return;
      }
      try {
        const groups = await reader.deadLetters();
        this.reset();
        for (const g of groups) this.set({ action: g.action, reason: g.reason }, g.count);
      } catch {
        errors.inc({ source: 'dead-letters' });
        this.reset();
      }
    },
  });
}
