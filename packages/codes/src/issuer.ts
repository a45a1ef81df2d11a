import type { ConnectionOptions } from 'bullmq';
import { BreachwaveError, isBreachwaveError, type CodeSource, type WaveManifest } from '@breachwave/domain';
import { actionJobSchema } from '@breachwave/jobs';
import { createActionWorker, runStep, type ActionJobView, type ActionQueues, type ActionWorker, type ActionWorkerDeps, type StepOutcome, type StepResult } from '@breachwave/actions';
import type { Ledger } from '@breachwave/ledger';
import type { Logger } from '@breachwave/logging';
import { epochDay, parseEnrollBy } from './dates.js';
import { POOL_NAME_PATTERN, personKey, type AllocationRequest, type CodeScope, type CodeStore } from './store.js';

/** Reported after every allocation that gave an account its code (no code in it). */
export interface AllocationEvent {
  readonly waveId: string;
  readonly accountId: string;
  readonly outcome: 'assigned' | 'existing';
  /** `pool:<name>` or `gen`. */
  readonly source: string;
}

/** Dependencies of the issue-code step and its worker. */
export interface CodeIssuerDeps {
  readonly ledger: Ledger;
  readonly queues: ActionQueues;
  readonly store: CodeStore;
  readonly log: Logger;
  /** Audit actor. Default `code-issuer`. */
  readonly actor?: string;
  /** How long an account waits before asking an exhausted pool again (ms, jittered to 50–100%). Default 60,000. */
  readonly retryMs?: number;
  /**
   * Called once the allocation is stored and before the ledger records it: an observation point
   * (metrics; the composition root's fault injection for crash tests).
   */
  readonly onAllocated?: (event: AllocationEvent) => void;
  readonly random?: () => number;
}

/** How a wave issues codes, read from its manifest and the operator's scope choice. */
interface WavePlan {
  readonly source: CodeSource;
  /** Generated codes: the wave's enroll-by date as an epoch day. */
  readonly enrollByDay?: number;
  readonly scope: CodeScope;
}

/** Manifests are immutable; the scope is set before a wave starts. A short cache spares two reads per job. */
const PLAN_TTL_MS = 5000;

function planFrom(manifest: WaveManifest, scope: CodeScope, today: number): WavePlan {
  const source = manifest.codeSource;
  if (!source) throw new BreachwaveError('BW_CODE_SOURCE_INVALID', { detail: 'the manifest turns issue-code on without a codeSource' });
  if (source.kind === 'pool') {
    if (!POOL_NAME_PATTERN.test(source.pool)) throw new BreachwaveError('BW_CODE_SOURCE_INVALID', { detail: 'the manifest names a malformed pool' });
    return { source, scope };
  }
  if (!manifest.enrollBy) throw new BreachwaveError('BW_CODE_SOURCE_INVALID', { detail: 'generated codes need the manifest\'s enrollBy date' });
  let day: number;
  try {
    day = parseEnrollBy(manifest.enrollBy);
  } catch (cause) {
    throw new BreachwaveError('BW_CODE_SOURCE_INVALID', { detail: 'the manifest\'s enrollBy is not a YYYY-MM-DD date', cause });
  }
  if (day < today) throw new BreachwaveError('BW_CODE_SOURCE_INVALID', { detail: 'the manifest\'s enrollBy date has passed' });
  return { source, scope, enrollByDay: day };
}

/**
 * The issue-code action: gives the account its enrollment code (from the wave's vendor pool, or
 * generated) through one atomic allocation, and returns what the ledger records — the masked
 * code, its source and enroll-by date, never the code. Idempotent for a re-claim: the allocation
 * hands a person who holds a code that same code.
 * @throws BreachwaveError BW_CODE_POOL_EXHAUSTED (transient) when the pool has no unexpired code;
 *   BW_CODE_SOURCE_INVALID (permanent: the notice is skipped) when the wave says nothing usable.
 */
export function createIssueCodeStep(deps: CodeIssuerDeps) {
  const plans = new Map<string, { plan: WavePlan; at: number }>();
  /** Pools this process last found empty: their next jobs peek before claiming. */
  const emptyPools = new Set<string>();
  const planOf = async (waveId: string): Promise<WavePlan> => {
    const cached = plans.get(waveId);
    if (cached && Date.now() - cached.at < PLAN_TTL_MS) return cached.plan;
    const [wave, scope] = await Promise.all([deps.ledger.getWave(waveId), deps.store.scopeOf(waveId)]);
    const plan = planFrom(wave.manifest, scope, epochDay(new Date()));
    if (plans.size > 100) plans.clear();
    plans.set(waveId, { plan, at: Date.now() });
    return plan;
  };

  const step = async (ctx: { waveId: string; accountId: string; log: Logger }): Promise<StepResult> => {
    const plan = await planOf(ctx.waveId);
    const req: AllocationRequest = { personKey: personKey(plan.scope, ctx.waveId, ctx.accountId), waveId: ctx.waveId, accountId: ctx.accountId };
    const res = plan.source.kind === 'pool'
      ? await deps.store.allocateFromPool(plan.source.pool, req)
      : await deps.store.allocateGenerated(plan.enrollByDay ?? 0, req);
    if (res.outcome === 'exhausted') {
      emptyPools.add(res.pool);
      if (res.firstEvent) ctx.log.warn({ pool: res.pool }, 'code pool exhausted: accounts wait for more codes');
      throw new BreachwaveError('BW_CODE_POOL_EXHAUSTED', { detail: `pool ${res.pool}` });
    }
    const a = res.assignment;
    deps.onAllocated?.({ waveId: ctx.waveId, accountId: ctx.accountId, outcome: res.outcome, source: a.source });
    if (res.outcome === 'assigned' && res.lowWatermark) {
      ctx.log.warn({ pool: res.lowWatermark.pool, available: res.lowWatermark.available, threshold: res.lowWatermark.threshold }, 'code pool below its low watermark');
    }
    // `carried`: the person holds a code from an earlier wave and keeps it (one code per person).
    const carried = res.outcome === 'existing' && a.waveId !== ctx.waveId;
    ctx.log.debug({ codeMasked: a.masked, source: a.source, carried }, 'enrollment code issued');
    return {
      patch: { cm: a.masked, src: a.source, by: a.enrollBy, sc: plan.scope === 'wave' ? 'w' : 'p' },
      detail: { codeMasked: a.masked, source: a.source, enrollBy: a.enrollBy, carried },
      counters: { [`issue-code:code:${carried ? 'carried' : 'issued'}`]: 1 },
    };
  };
  return { step, planOf, emptyPools };
}

/**
 * The processor of the issue-code queue: {@link createIssueCodeStep} run through the ledger's
 * `runStep` (claim → allocate → done → queue the notice).
 *
 * Pool exhaustion must not burn attempts (8 attempts of jittered backoff last about four minutes,
 * after which the notice would be skipped): the job is deferred (`job.defer`: BullMQ's delayed
 * set, no attempt spent) and comes back after `retryMs` as many times as it takes; the ledger
 * keeps the account `pending` and no notice goes out without its code. Deferred jobs count
 * against the feeder's window, so an empty pool also slows the feed. Once a pool is seen empty,
 * later jobs for it peek first and wait without claiming, sparing the audit trail a claim and a
 * retry record per account per wait.
 */
export function createCodeProcessor(deps: CodeIssuerDeps) {
  const { step, planOf, emptyPools } = createIssueCodeStep(deps);
  const actor = deps.actor ?? 'code-issuer';
  const retryMs = deps.retryMs ?? 60_000;
  const random = deps.random ?? Math.random;
  const runDeps = { ledger: deps.ledger, queues: deps.queues, log: deps.log, actor };
  const jittered = (): number => Math.round(retryMs / 2 + (random() * retryMs) / 2);

  /** True when the job's pool was seen empty and still has nothing for this still-waiting account. */
  const mustWait = async (data: unknown): Promise<boolean> => {
    if (emptyPools.size === 0) return false;
    const ref = actionJobSchema.safeParse(data);
    if (!ref.success) return false;
    const { waveId, accountId } = ref.data;
    let plan: WavePlan;
    try {
      plan = await planOf(waveId);
    } catch {
      return false; // runStep reports a bad wave as the action's permanent failure
    }
    if (plan.source.kind !== 'pool' || !emptyPools.has(plan.source.pool)) return false;
    const state = (await deps.ledger.get(waveId, accountId))?.['issue-code']?.s;
    if (state !== 'pending' && state !== 'claimed') return false;
    const peek = await deps.store.peekPool(plan.source.pool, { personKey: personKey(plan.scope, waveId, accountId), waveId, accountId });
    if (peek.outcome !== 'exhausted') {
      emptyPools.delete(plan.source.pool);
      return false;
    }
    if (peek.firstEvent) deps.log.warn({ pool: plan.source.pool }, 'code pool exhausted: accounts wait for more codes');
    return true;
  };

  return async function processIssueCode(job: ActionJobView): Promise<StepOutcome> {
    if (await mustWait(job.data)) return job.defer(jittered());
    try {
      return await runStep(runDeps, 'issue-code', job, step);
    } catch (err) {
      if (isBreachwaveError(err) && err.code === 'BW_CODE_POOL_EXHAUSTED') return job.defer(jittered());
      throw err;
    }
  };
}

/** Options of {@link createCodeIssuerWorker}. */
export interface CodeIssuerWorkerDeps extends CodeIssuerDeps {
  readonly connection: ConnectionOptions;
  readonly prefix: string;
  /** Default 20. */
  readonly concurrency?: number;
  /** Lock duration (ms) after which a dead worker's job is re-run. BullMQ default 30,000. */
  readonly lockDuration?: number;
  /** How often stalled jobs are looked for (ms). BullMQ default 30,000. */
  readonly stalledInterval?: number;
  /** See the action worker's `onLost`. */
  readonly onLost?: ActionWorkerDeps<unknown>['onLost'];
}

/**
 * The issue-code worker: the generic action worker with {@link createCodeProcessor}.
 * Constructing it does no I/O; `start()` begins consuming; `close()` drains, idempotent.
 */
export function createCodeIssuerWorker(deps: CodeIssuerWorkerDeps): ActionWorker {
  return createActionWorker({
    action: 'issue-code',
    connection: deps.connection,
    prefix: deps.prefix,
    processor: createCodeProcessor(deps),
    log: deps.log,
    concurrency: deps.concurrency ?? 20,
    ...(deps.lockDuration ? { lockDuration: deps.lockDuration } : {}),
    ...(deps.stalledInterval ? { stalledInterval: deps.stalledInterval } : {}),
    ...(deps.onLost ? { onLost: deps.onLost } : {}),
    // The wave gate: a paused wave's jobs wait, a cancelled wave's untouched accounts end.
    ledger: deps.ledger,
    actor: deps.actor ?? 'code-issuer',
  });
}
export type CodeIssuerWorker = ActionWorker;
