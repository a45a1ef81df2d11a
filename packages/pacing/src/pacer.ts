import { performance } from 'node:perf_hooks';
import type { Redis } from 'ioredis';
import { BreachwaveError, type ErrorCode } from '@breachwave/domain';
import { PENALISE, RESERVE } from './scripts.js';
import { preciseWake } from './wake.js';

type PaceRedis = Redis & {
  bwPaceReserve(key: string, wanted: string, horizonUs: string, defaultRate: string, defaultBurst: string, headroom: string, catchUpUs: string): Promise<string[]>;
  bwPacePenalise(key: string, factor: string, durationMs: string): Promise<string[]>;
};

/** Catalog codes of {@link PacingError}. */
export type PacingErrorCode = Extract<ErrorCode, 'BW_PACE_NO_RATE' | 'BW_PACE_CLOSED'>;

/**
 * Why an `acquire` was refused: a catalog error (`BW_PACE_NO_RATE`, kind `config`;
 * `BW_PACE_CLOSED`, kind `transient`), so a worker files it like any other. Carries no contact data.
 */
export class PacingError extends BreachwaveError {
  declare readonly code: PacingErrorCode;
  constructor(code: PacingErrorCode, detail: string) {
    super(code, { detail });
  }
}

/** The Redis key of a sender's pace (rate, burst, last slot, penalty). */
export function paceKey(prefix: string, sender: string): string {
  return `${prefix}:pace:${sender}`;
}

/** Options of {@link createPacer}. */
export interface PacerOptions {
  /** Any ioredis connection; the pacer never closes it. */
  readonly redis: Redis;
  /** Key prefix, e.g. `bw`; the sender's state lives at `<prefix>:pace:<sender>`. */
  readonly prefix: string;
  /** Sender id: one per Twilio number, Messaging Service or SMTP relay, e.g. `twilio:MG…`. */
  readonly sender: string;
  /** Rate (messages/s) used while none was stored with {@link Pacer.setRate}. Default: none. */
  readonly defaultRate?: number;
  /** Burst used while none was stored with {@link Pacer.setRate}. Default 1. */
  readonly burst?: number;
  /**
   * How far ahead (ms) slots may be reserved, across all processes. Bounds how long a rate
   * change or a penalty takes to be fully in force, and how many slots a stalled process can
   * hold (and lose when it stalls). Default 20. Measured with 4 processes at 200/s on a busy
   * 2-core host: 100 ms lost about 1 % more of the slots to stalls than 20 ms; 20 ms costs about
   * 1.6 script calls per message (processes race for the few slots ahead), 5 ms about 5.
   */
  readonly horizonMs?: number;
  /**
   * The fraction of the rate kept unused, 0 < h < 0.5, default 0.01: slots are spaced for
   * `rate × (1 − h)`, which lets a send happen up to `h / (1 − h)` seconds after its slot
   * (≈ 10 ms at the default) without any window of ≥ 1 s going over `rate·W + burst` (see
   * {@link Pacer}). Must be the same in every process of a sender.
   */
  readonly headroom?: number;
  /** Most slots one Redis call reserves for this process. Default 32. */
  readonly maxBatch?: number;
  /**
   * Wake for a slot from a thread that sleeps to the sub-millisecond (`wake.ts`) besides Node's
   * timer, which fires 0–1 ms late and more (0.74 ms at the median on a busy host). Default true.
   */
  readonly preciseWake?: boolean;
}

/** A sender's pace as stored in Redis. */
export interface PaceState {
  /** Configured rate (messages/s), or undefined when none is stored. */
  readonly rate: number | undefined;
  readonly burst: number;
  /** The rate in force now: `rate × penalty factor` during a penalty. */
  readonly effectiveRate: number | undefined;
  readonly penalty?: { readonly factor: number; readonly remainingMs: number };
}

/** Counters of one process's pacer. */
export interface PacerStats {
  /** Slots handed to callers. */
  readonly granted: number;
  /**
   * Reserved slots not used: released later than the lateness tolerance (event-loop stall) or
   * with nobody waiting (caller aborted). A wasted slot lowers the rate, never raises it.
   */
  readonly wasted: number;
  /** Script calls made. */
  readonly calls: number;
  /**
   * Milliseconds the granted slots were handed out after their time, summed (divide by
   * `granted` for the mean wake-up latency): what a slot's tolerance has left for stalls.
   */
  readonly lateMs: number;
  /**
   * Grid slots nobody reserved in time, counted by this process's call that restarted the grid
   * after them: the sender had nothing to send, or every process asked late (stalls). Under
   * steady demand they are lost like wasted ones.
   */
  readonly skipped: number;
}

/**
 * A distributed rate limit for one sender, shared by every process using the same Redis,
 * `prefix` and `sender`.
 *
 * Guarantee ("never exceeded"). Let `r` be the rate in force, `b` the burst, `h` the headroom
 * and τ = h/(1 − h) seconds (10.1 ms at the default h = 1 %). If each caller sends within τ/2
 * of its `acquire` resolving, then for every W ≥ 1 s every half-open window [t, t + W) holds at
 * most `r·W + b` sends across all processes; the `acquire` resolutions themselves hold at most
 * ⌈r·W − h·r/2⌉ + b − 1, which leaves the caller that τ/2.
 *
 * Why: slots are reserved in Redis time (one clock for all processes), on a grid spaced
 * 1/(r(1 − h)) apart, plus at most b − 1 extra slots that fall due at once after an idle period.
 * A process resolves a slot's `acquire` no earlier than the slot's time (mapped to its own clock
 * with a lower bound of the clock offset, so never early) and no later than τ/2 after it; a slot
 * that the event loop or the OS would release later than that, allowing for the uncertainty of
 * the clock mapping, is discarded, not used. Sends (≤ τ after their slot) in [t, t + W) therefore
 * come from grid slots in (t − τ, t + W): at most ⌈(W + τ)·r(1 − h)⌉ ≤ ⌈r·W⌉ for W ≥ 1 s, plus
 * at most b − 1 extras: ≤ r·W + b.
 *
 * The price: the measured rate is at most r(1 − h), and a stall longer than τ/2 loses the slots
 * the stalled process held (at most `horizonMs` worth). A request that reaches Redis up to τ/4
 * after the next grid slot still gets that slot, so a moment when every process is busy costs
 * little (and up to 1 + r·τ/4 sends may then go at once: the bound is for windows of 1 s and
 * more). The clock mapping needs a Redis round trip well under τ/2 (else
 * every slot is discarded: raise `headroom` for a distant Redis).
 *
 * Rate changes and penalties apply to every slot reserved after them; slots already reserved
 * (at most `horizonMs` ahead) keep the old spacing.
 */
export interface Pacer {
  readonly sender: string;
  /**
   * Resolves when the caller may send one message. Waiters are served first come, first served
   * within the process; the wait is as long as the queue ahead at the sender's pace (pass an
   * `AbortSignal.timeout(ms)` to bound it). Rejects with the signal's reason when aborted,
   * `PacingError` `BW_PACE_NO_RATE` when the sender has no rate, `BW_PACE_CLOSED` after
   * {@link Pacer.close}, or the Redis error when the reservation failed.
   */
  acquire(signal?: AbortSignal): Promise<void>;
  /**
   * Stores the sender's rate (messages/s, > 0) and optionally its burst (integer ≥ 1) in Redis:
   * every process's next reservation uses it.
   */
  setRate(mps: number, options?: { readonly burst?: number }): Promise<void>;
  /** The stored rate, or undefined when none is stored (the `defaultRate` then applies). */
  getRate(): Promise<number | undefined>;
  /** The stored pace and any penalty in force. */
  getState(): Promise<PaceState>;
  /**
   * After a provider throttle (Twilio 20429, HTTP 429, SMTP 421): runs the sender at
   * `rate × factor` (0 < factor ≤ 1) for `durationMs`, then at the full rate again. Penalties do
   * not compound: the stricter factor and the later end of overlapping penalties win. The job
   * that was throttled should be retried without spending an attempt.
   */
  penalise(factor: number, durationMs: number): Promise<void>;
  /** This process's counters. */
  stats(): PacerStats;
  /** Rejects every waiter with `BW_PACE_CLOSED` and stops the timers. Idempotent. */
  close(): void;
}

interface Waiter {
  resolve(): void;
  reject(err: unknown): void;
  detach(): void;
}

interface Slot {
  /** `performance.now()` time from which it may be used (the latest the slot time can map to). */
  readonly at: number;
  /** `performance.now()` time after which it must not be used. */
  readonly until: number;
}

/** The default {@link PacerOptions.headroom}: the fraction of the rate kept unused. */
export const DEFAULT_HEADROOM = 0.01;

/** How long a clock-offset sample is trusted: bounds the error from clock drift (≤ 500 ppm). */
const OFFSET_MEMORY_MS = 2_000;

function positive(name: string, v: number): void {
  if (!Number.isFinite(v) || v <= 0) throw new RangeError(`${name} must be a finite number > 0, got ${v}`);
}

function validBurst(b: number): void {
  if (!Number.isInteger(b) || b < 1) throw new RangeError(`burst must be an integer ≥ 1, got ${b}`);
}

/**
 * Defines the pacer's scripts on a client (no I/O; once per client). `createPacer` does it too,
 * but a process that makes pacers lazily on a client with auto-pipelining must call this when
 * it sets up: ioredis builds each tick's pipeline with the commands defined at that moment, and
 * a script defined while a pipeline is pending breaks that pipeline (a TypeError, and an
 * uncaught one in ioredis's callback that ends the process).
 */
export function definePaceCommands(redis: PacerOptions['redis']): void {
  const r = redis as PaceRedis;
  if (typeof r.bwPaceReserve !== 'function') r.defineCommand('bwPaceReserve', { numberOfKeys: 1, lua: RESERVE });
  if (typeof r.bwPacePenalise !== 'function') r.defineCommand('bwPacePenalise', { numberOfKeys: 1, lua: PENALISE });
}

/**
 * Creates this process's handle on a sender's distributed pace. No I/O until the first call.
 * Every process sending through the sender must use the same `prefix` and `sender`.
 */
export function createPacer(options: PacerOptions): Pacer {
  definePaceCommands(options.redis);
  const r = options.redis as PaceRedis;
  if (options.defaultRate !== undefined) positive('defaultRate', options.defaultRate);
  const burst = options.burst ?? 1;
  validBurst(burst);
  const horizonMs = options.horizonMs ?? 20;
  positive('horizonMs', horizonMs);
  const headroom = options.headroom ?? DEFAULT_HEADROOM;
  if (!(headroom > 0 && headroom < 0.5)) throw new RangeError(`headroom must be in (0, 0.5), got ${headroom}`);
  const tauMs = (headroom / (1 - headroom)) * 1000;
  // τ is split: half for the caller to send after `acquire` resolves, a quarter for a grid slot
  // already past when requested (catch-up), a quarter for the reply and the timer to release it.
  const toleranceMs = tauMs / 2;
  const catchUpMs = tauMs / 4;
  const maxBatch = options.maxBatch ?? 32;
  if (!Number.isInteger(maxBatch) || maxBatch < 1) throw new RangeError(`maxBatch must be an integer ≥ 1, got ${maxBatch}`);

  const key = paceKey(options.prefix, options.sender);
  const defaultRate = options.defaultRate === undefined ? '' : String(options.defaultRate);
  const waiters: Waiter[] = [];
  const slots: Slot[] = [];
  /** Recent bounds of (Redis clock − local clock), ms, from the replies: low ≤ offset ≤ high. */
  const offsets: { at: number; low: number; high: number }[] = [];
  let inFlight = false;
  let closed = false;
  /** Local time before which this process does not ask for slots (the shared horizon is full). */
  let holdUntil = 0;
  let releaseTimer: NodeJS.Timeout | undefined;
  let reserveTimer: NodeJS.Timeout | undefined;
  let granted = 0;
  let wasted = 0;
  let calls = 0;
  let lateMs = 0;
  let skipped = 0;
  const wake = options.preciseWake === false ? undefined : preciseWake();
  let cancelWake: (() => void) | undefined;

  const unserved = () => waiters.length - slots.length;

  // Waiters beyond the slots already held are the ones a failed reservation leaves without one.
  function rejectUnserved(err: unknown): void {
    const n = unserved();
    if (n <= 0) return;
    for (const w of waiters.splice(waiters.length - n, n)) {
      w.detach();
      w.reject(err);
    }
  }

  function release(): void {
    const now = performance.now();
    while (slots.length > 0 && (slots[0] as Slot).at <= now) {
      const slot = slots.shift() as Slot;
      const w = now <= slot.until ? waiters.shift() : undefined;
      if (!w) {
        wasted++;
        continue;
      }
      granted++;
      lateMs += now - slot.at;
      w.detach();
      w.resolve();
    }
  }

  function reserve(): void {
    if (closed || inFlight || unserved() <= 0) return;
    const now = performance.now();
    const lastAt = slots.at(-1)?.at;
    // Hysteresis: top up only when this process's own reservations run less than half a horizon ahead.
    if (lastAt !== undefined) holdUntil = Math.max(holdUntil, lastAt - horizonMs / 2);
    if (now < holdUntil) {
      clearTimeout(reserveTimer);
      reserveTimer = setTimeout(pump, Math.ceil(holdUntil - now));
      return;
    }
    inFlight = true;
    calls++;
    const wanted = Math.min(unserved(), maxBatch);
    const sent = performance.now();
    r.bwPaceReserve(key, String(wanted), String(Math.round(horizonMs * 1000)), defaultRate, String(burst), String(headroom), String(Math.round(catchUpMs * 1000))).then(
      (reply) => {
        inFlight = false;
        if (closed) return;
        const received = performance.now();
        const [n = 0, delayUs = 0, intervalUs = 0, , redisNowUs = 0, passedOver = 0] = reply.map(Number);
        skipped += passedOver;
        // Redis read its clock between `sent` and `received`, so the offset between the clocks
        // lies in [redisNow − received, redisNow − sent]; recent replies narrow that interval.
        const redisNowMs = redisNowUs / 1000;
        offsets.push({ at: received, low: redisNowMs - received, high: redisNowMs - sent });
        while (offsets.length > 64 || (offsets[0] as { at: number }).at < received - OFFSET_MEMORY_MS) offsets.shift();
        let low = Math.max(...offsets.map((o) => o.low));
        let high = Math.min(...offsets.map((o) => o.high));
        if (low > high) {
          // A clock step: forget the older samples.
          offsets.splice(0, offsets.length - 1);
          low = redisNowMs - received;
          high = redisNowMs - sent;
        }
        if (n < 0) {
          rejectUnserved(new PacingError('BW_PACE_NO_RATE', `sender ${options.sender}`));
        } else if (n === 0) {
          holdUntil = redisNowMs - low + delayUs / 1000 + horizonMs / 2;
        } else {
          for (let i = 0; i < n; i++) {
            const slotMs = redisNowMs + delayUs / 1000 + (i * intervalUs) / 1000;
            // A slot already due is usable at once. Its lateness counts from the slot itself when
            // it came from the catch-up, from the grant when it is one of the burst's extras.
            const due = Math.max(slotMs, redisNowMs);
            const lateFrom = slotMs < redisNowMs - catchUpMs ? redisNowMs : slotMs;
            slots.push({ at: Math.max(due - low, slots.at(-1)?.at ?? -Infinity), until: lateFrom - high + toleranceMs });
          }
        }
        pump();
      },
      (err: unknown) => {
        inFlight = false;
        if (closed) return;
        rejectUnserved(err);
        pump();
      },
    );
  }

  function pump(): void {
    if (closed) return;
    release();
    reserve();
    clearTimeout(releaseTimer);
    releaseTimer = undefined;
    cancelWake?.();
    cancelWake = undefined;
    const next = slots[0];
    if (!next) return;
    const delay = next.at - performance.now();
    // Node's timer keeps the process open and is the fallback; the precise wake usually comes first.
    releaseTimer = setTimeout(pump, Math.max(0, Math.ceil(delay)));
    if (delay > 0 && wake) cancelWake = wake.at(next.at, pump);
  }

  return {
    sender: options.sender,

    acquire(signal?: AbortSignal): Promise<void> {
      if (closed) return Promise.reject(new PacingError('BW_PACE_CLOSED', `sender ${options.sender}`));
      if (signal?.aborted) return Promise.reject(signal.reason as unknown);
      return new Promise<void>((resolve, reject) => {
        const onAbort = () => {
          const i = waiters.indexOf(waiter);
          if (i >= 0) waiters.splice(i, 1);
          reject(signal?.reason as unknown);
        };
        const waiter: Waiter = { resolve, reject, detach: () => signal?.removeEventListener('abort', onAbort) };
        signal?.addEventListener('abort', onAbort, { once: true });
        waiters.push(waiter);
        pump();
      });
    },

    async setRate(mps, rateOptions = {}) {
      positive('rate', mps);
      const fields: Record<string, string> = { rate: String(mps) };
      if (rateOptions.burst !== undefined) {
        validBurst(rateOptions.burst);
        fields.burst = String(rateOptions.burst);
      }
      await r.hset(key, fields);
    },

    async getRate() {
      const v = await r.hget(key, 'rate');
      return v === null ? undefined : Number(v);
    },

    async getState() {
      const res = await r.multi().time().hmget(key, 'rate', 'burst', 'pf', 'pu').exec();
      const time = res?.[0]?.[1] as [string, string] | undefined;
      const h = (res?.[1]?.[1] ?? []) as (string | null)[];
      const nowUs = Number(time?.[0] ?? 0) * 1e6 + Number(time?.[1] ?? 0);
      const stored = h[0] == null ? undefined : Number(h[0]);
      const rate = stored ?? options.defaultRate;
      const until = h[3] == null ? undefined : Number(h[3]);
      const factor = Number(h[2] ?? 1);
      const penalised = until !== undefined && nowUs < until;
      return {
        rate: stored,
        burst: h[1] == null ? burst : Number(h[1]),
        effectiveRate: rate === undefined ? undefined : penalised ? rate * factor : rate,
        ...(penalised ? { penalty: { factor, remainingMs: Math.round((until - nowUs) / 1000) } } : {}),
      };
    },

    async penalise(factor, durationMs) {
      if (!Number.isFinite(factor) || factor <= 0 || factor > 1) throw new RangeError(`factor must be in (0, 1], got ${factor}`);
      positive('durationMs', durationMs);
      await r.bwPacePenalise(key, String(factor), String(durationMs));
    },

    stats: () => ({ granted, wasted, calls, lateMs: Math.round(lateMs * 1000) / 1000, skipped }),

    close() {
      if (closed) return;
      closed = true;
      clearTimeout(releaseTimer);
      clearTimeout(reserveTimer);
      cancelWake?.();
      wake?.close();
      for (const w of waiters.splice(0)) {
        w.detach();
        w.reject(new PacingError('BW_PACE_CLOSED', `sender ${options.sender}`));
      }
      slots.length = 0;
    },
  };
}
