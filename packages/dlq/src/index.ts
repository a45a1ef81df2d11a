import { ACTIONS, type ActionName } from '@breachwave/domain';
import { actionJobId } from '@breachwave/jobs';
import { ordinalOf, type Ledger, type LedgerEntry } from '@breachwave/ledger';
import { createActionQueues, type ActionQueues } from '@breachwave/actions';

/**
 * Dead letters are ledger entries in state `failed` — the action failed for good, with its
 * classified reason (`err`, a catalog code). They are listed, shown, re-driven and purged from
 * the ledger itself, so a dead letter cannot exist without its ledger state and audit trail.
 */
export interface DeadLetter {
  readonly waveId: string;
  readonly accountId: string;
  readonly action: ActionName;
  readonly reason: string;
  readonly attempts: number;
  readonly at: string | undefined;
}

export interface DeadLetterGroup {
  readonly action: ActionName;
  readonly reason: string;
  readonly count: number;
  readonly waves: readonly string[];
}

export interface Selector {
  /** Only this wave; default every wave. */
  readonly waveId?: string;
  /** Only this reason (error code); default every reason. */
  readonly reason?: string;
  readonly action?: ActionName;
}

export interface DeadLetterDeps {
  readonly ledger: Ledger;
  readonly queues: ActionQueues;
}

function deadLettersOf(waveId: string, accountId: string, entry: LedgerEntry, sel: Selector): DeadLetter[] {
  const out: DeadLetter[] = [];
  for (const action of ACTIONS) {
    const a = entry[action];
    if (!a || a.s !== 'failed' || a.dlq === 'purged') continue;
    const reason = a.err ?? 'UNKNOWN';
    if (sel.reason && sel.reason !== reason) continue;
    if (sel.action && sel.action !== action) continue;
    out.push({ waveId, accountId, action, reason, attempts: a.n, at: a.at });
  }
  return out;
}

/** Dead-letter operations for operators (`breachwave dlq …`). Every change is audited. */
export function createDeadLetters(deps: DeadLetterDeps) {
  const { ledger } = deps;

  async function* scan(sel: Selector): AsyncGenerator<DeadLetter> {
    const waves = sel.waveId ? [sel.waveId] : await ledger.listWaves(10_000);
    for (const waveId of waves) {
      for await (const [accountId, entry] of ledger.entries(waveId)) yield* deadLettersOf(waveId, accountId, entry, sel);
    }
  }

  return {
    scan,

    /** Dead letters grouped by action and reason, largest group first. */
    async list(sel: Selector = {}): Promise<DeadLetterGroup[]> {
      const groups = new Map<string, { action: ActionName; reason: string; count: number; waves: Set<string> }>();
      for await (const d of scan(sel)) {
        const key = `${d.action}\u0000${d.reason}`;
        const g = groups.get(key) ?? { action: d.action, reason: d.reason, count: 0, waves: new Set<string>() };
        g.count++;
        g.waves.add(d.waveId);
        groups.set(key, g);
      }
      return [...groups.values()].sort((a, b) => b.count - a.count).map((g) => ({ ...g, waves: [...g.waves] }));
    },

    /** Up to `limit` dead letters matching the selector (ids and reasons only). */
    async show(sel: Selector = {}, limit = 50): Promise<DeadLetter[]> {
      const out: DeadLetter[] = [];
      for await (const d of scan(sel)) {
        out.push(d);
        if (out.length >= limit) break;
      }
      return out;
    },

    /**
     * Re-drives matching dead letters: the action goes back to `pending` (and the actions it had
     * skipped with it), and its job is queued again. Accounts whose contact record expired are
     * reported, not re-driven.
     */
    async retry(sel: Selector & { readonly reason: string }, actor: string): Promise<{ retried: number; expired: number }> {
      let retried = 0;
      let expired = 0;
      for await (const d of scan(sel)) {
        if (!(await ledger.getAccount(d.waveId, d.accountId))) {
          expired++;
          continue;
        }
        const r = await ledger.transition({ waveId: d.waveId, accountId: d.accountId, action: d.action, actor, from: ['failed'], to: 'pending',
          patch: { err: false, retriedFrom: d.reason }, event: 'operator.dlq.retry', detail: { reason: d.reason } });
        if (r.outcome !== 'ok') continue;
        const entry = r.all ?? {};
        for (const later of ACTIONS.slice(ACTIONS.indexOf(d.action) + 1)) {
          if (entry[later]?.s === 'skipped' && entry[later]?.err === `DEPENDENCY_FAILED:${d.action}`) {
            await ledger.transition({ waveId: d.waveId, accountId: d.accountId, action: later, actor, from: ['skipped'], to: 'pending',
              patch: { err: false }, event: 'operator.dlq.retry', detail: { reason: `DEPENDENCY_FAILED:${d.action}` } });
          }
        }
        const o = ordinalOf(r.all);
        const job = o === undefined ? { waveId: d.waveId, accountId: d.accountId } : { waveId: d.waveId, accountId: d.accountId, o };
        // The failed BullMQ job keeps its deterministic id: remove it so the re-drive is queued.
        await deps.queues.queueOf(d.action, d.waveId, d.accountId).remove(actionJobId(d.action, job));
        await deps.queues.add(d.action, job);
        retried++;
      }
      await ledger.audit({ type: 'operator.dlq.retry-batch', actor, ...(sel.waveId ? { wave: sel.waveId } : {}), detail: { reason: sel.reason, action: sel.action ?? null, retried, expired } });
      return { retried, expired };
    },

    /**
     * Removes matching dead letters from the queue's view for good: marked `purged` in the ledger
     * (state stays `failed`, so the wave's counts and audit stay true), failed jobs and sealed
     * contact records deleted.
     */
    async purge(sel: Selector, actor: string): Promise<{ purged: number }> {
      let purged = 0;
      for await (const d of scan(sel)) {
        const r = await ledger.transition({ waveId: d.waveId, accountId: d.accountId, action: d.action, actor, from: ['failed'], to: 'failed',
          patch: { dlq: 'purged' }, event: 'operator.dlq.purge', detail: { reason: d.reason } });
        if (r.outcome !== 'ok') continue;
        await deps.queues.queueOf(d.action, d.waveId, d.accountId).remove(actionJobId(d.action, { waveId: d.waveId, accountId: d.accountId }));
        await ledger.releaseAccount(d.waveId, d.accountId, 0);
        purged++;
      }
      await ledger.audit({ type: 'operator.dlq.purge-batch', actor, ...(sel.waveId ? { wave: sel.waveId } : {}), detail: { reason: sel.reason ?? null, action: sel.action ?? null, purged } });
      return { purged };
    },
  };
}
export type DeadLetters = ReturnType<typeof createDeadLetters>;

/** What {@link openDeadLetters} needs: the ledger and where the action queues are. */
export interface OpenDeadLettersDeps {
  readonly ledger: Ledger;
  readonly connection: Parameters<typeof createActionQueues>[0]['connection'];
  readonly prefix: string;
  /** `BW_SHARDS`; default 1. */
  readonly shards?: number;
}

/**
 * Dead-letter operations with queues of their own, closed by `close()`: what `breachwave dlq …`
 * and the ops API's `/v1/dead-letters` routes both run, so a re-drive is the same whichever way
 * it is asked for.
 */
export function openDeadLetters(deps: OpenDeadLettersDeps): DeadLetters & { close(): Promise<void> } {
  const queues = createActionQueues({ connection: deps.connection, prefix: deps.prefix, shards: deps.shards ?? 1, ledger: deps.ledger });
  return { ...createDeadLetters({ ledger: deps.ledger, queues }), close: () => queues.close() };
}
