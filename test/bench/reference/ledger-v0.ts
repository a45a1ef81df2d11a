/**
 * REFERENCE — the notice path's use of the ledger before the issue-6 optimisations: the
 * three-key TRANSITION script (entry decoded once, encoded twice; audit record decoded and
 * re-encoded) and four round trips per notice (claim, read the record, record the send, release
 * the record). Benchmark only.
 */
import type { Redis } from 'ioredis';
import type { ActionEntry, LedgerEntry, TransitionRequest, TransitionResult } from '@breachwave/ledger';
import { keys } from '@breachwave/ledger';
import { TRANSITION } from './ledger-scripts-v0.js';

type V0Redis = Redis & { bwTransitionV0(k1: string, k2: string, k3: string, ...args: string[]): Promise<[string, string, string, string]> };

export function createLedgerV0(redis: Redis, prefix: string) {
  const k = keys(prefix);
  const r = redis as V0Redis;
  if (typeof r.bwTransitionV0 !== 'function') r.defineCommand('bwTransitionV0', { numberOfKeys: 3, lua: TRANSITION });
  return {
    async transition(req: TransitionRequest): Promise<TransitionResult> {
      const ts = new Date().toISOString();
      const record = { ts, type: req.event, actor: req.actor, wave: req.waveId, account: req.accountId, action: req.action, ...(req.detail ? { detail: req.detail } : {}) };
      const [outcome, prev, entry, all] = await r.bwTransitionV0(
        k.ledger(req.waveId), k.counts(req.waveId), k.audit,
        req.accountId, req.action, req.from === '*' ? '*' : req.from.join(','), req.to,
        JSON.stringify({ ...req.patch, at: ts }), JSON.stringify(record), JSON.stringify(req.counters ?? {}),
      );
      return {
        outcome: outcome as TransitionResult['outcome'],
        previous: prev ? (prev as TransitionResult['previous']) : undefined,
        entry: entry ? (JSON.parse(entry) as ActionEntry) : undefined,
        all: all ? (JSON.parse(all) as LedgerEntry) : undefined,
      };
    },
    async getAccount(waveId: string, accountId: string): Promise<unknown> {
      const raw = await r.get(k.account(waveId, accountId));
      return raw ? (JSON.parse(raw) as unknown) : undefined;
    },
    async releaseAccount(waveId: string, accountId: string): Promise<void> {
      await r.unlink(k.account(waveId, accountId));
    },
  };
}
