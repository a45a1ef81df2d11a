import { ACTIONS, type ActionName } from '@breachwave/domain';
import type { Ledger, LedgerEntry } from '@breachwave/ledger';

/** What the workers need to know of a wave before they touch one of its accounts. */
export interface WaveGateState {
  readonly status: string;
  readonly paused: boolean;
}

/**
 * A wave's status and pause flag as the workers see them, read at most once per `ttlMs` per wave
 * and process (one `HMGET`): a pause or a cancel reaches every worker within that time, without
 * a Redis read per account.
 */
export function waveGate(ledger: Pick<Ledger, 'waveState'>, ttlMs = 1000, now: () => number = Date.now): (waveId: string) => Promise<WaveGateState> {
  const cache = new Map<string, { at: number; state: WaveGateState }>();
  return async (waveId) => {
    const hit = cache.get(waveId);
    if (hit && now() - hit.at < ttlMs) return hit.state;
    const state = await ledger.waveState(waveId);
    if (cache.size >= 1000) cache.clear();
    cache.set(waveId, { at: now(), state });
    return state;
  };
}

/**
 * Cancels one account of a cancelled wave if nothing has been done to it yet: its first action
 * is still pending. That action and the later ones become `cancelled` (terminal, audited
 * `<action>.cancelled`, counted), first one first, so a worker that claims the first action
 * meanwhile keeps the account whole. An account whose chain has begun is left to finish it: a
 * PIN already rotated still gets its notice. Returns the actions it cancelled.
 */
export async function cancelAccount(ledger: Pick<Ledger, 'transition' | 'get'>, waveId: string, accountId: string, actor: string, entry?: LedgerEntry): Promise<ActionName[]> {
  const e = entry ?? (await ledger.get(waveId, accountId));
  if (!e) return [];
  const planned = ACTIONS.filter((a) => e[a] !== undefined);
  if (e[planned[0] ?? 'notify']?.s !== 'pending') return [];
  const cancelled: ActionName[] = [];
  for (const action of planned) {
    const r = await ledger.transition({ waveId, accountId, action, actor, from: ['pending'], to: 'cancelled', event: `${action}.cancelled`, detail: { reason: 'wave-cancelled' } });
    // Claimed meanwhile (the first action): the account is under way and finishes its chain.
    if (r.outcome !== 'ok') break;
    cancelled.push(action);
  }
  return cancelled;
}

export interface CancelSweep {
  /** Accounts cancelled by this sweep (nothing had been done to them). */
  readonly accounts: number;
  /** Accounts under way: their chain began before the cancel, and they finish it. */
  readonly underWay: number;
}

/**
 * Cancels every account of a cancelled wave that nothing has been done to yet (HSCAN, bounded
 * memory), so those accounts are terminal at once rather than when their delayed jobs come up.
 */
export async function cancelOpenAccounts(ledger: Pick<Ledger, 'transition' | 'entries' | 'get'>, waveId: string, actor: string): Promise<CancelSweep> {
  let accounts = 0;
  let underWay = 0;
  for await (const [accountId, entry] of ledger.entries(waveId)) {
    const open = ACTIONS.some((a) => entry[a]?.s === 'pending' || entry[a]?.s === 'claimed');
    if (!open) continue;
    if ((await cancelAccount(ledger, waveId, accountId, actor, entry)).length > 0) accounts++;
    else underWay++;
  }
  return { accounts, underWay };
}
