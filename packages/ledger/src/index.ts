import type { Redis } from 'ioredis';
import type { ActionName, ActionState, WaveManifest } from '@breachwave/domain';
import { BreachwaveError } from '@breachwave/domain';
import { AUDIT_FIELD, auditRecordJson, type AuditInput } from './audit-stream.js';
import { keys, type Keys } from './keys.js';
import { shardOf, shardPrefixes } from './shards.js';
import { FENCE, GROUP_TRANSITION, INIT_ACCOUNTS, TRANSITION } from './scripts.js';
import { COMPACT, SLOT_BYTES, decodeSlot } from './compact.js';
import { WAVE_CONTROL, WAVE_STATUS, controlRecord, waveControlError, type WaveControlOp, type WaveControlResult } from './lifecycle.js';
import type { AccountRecord, GroupClaim, InitItem, LedgerDeps, LedgerEntry, PatchValue, TransitionRequest, TransitionResult, WaveInfo, WaveStatus, WaveStatusTimes } from './types.js';
import { compactedEntry, looksCompactable, readEntry } from './entry.js';
import { sumShardCounts } from './progress.js';

export { keys, type Keys } from './keys.js';
export { ERROR_CODES, SLOT_BYTES, decodeSlot, idCheck, spoolOrdinals, type CompactedAccount } from './compact.js';
export { MAX_SHARDS, shardOf, shardPrefix, shardPrefixes } from './shards.js';
export { DEFAULT_STUCK_AFTER_SECONDS, waveClock, type WaveClock } from './clock.js';
export { type WaveControlOp, type WaveControlRefusal, type WaveControlResult } from './lifecycle.js';
export { AUDIT_FIELD, AUDIT_FIELD_LUA, auditRecordJson, auditStreamKey, type AuditInput, type AuditRecord } from './audit-stream.js';
export * from './types.js';
export { compactedEntry, isCompacted, ordinalOf } from './entry.js';
export { manifestCache, noticesFinished, sumShardCounts, waveProgress, type WaveProgress, type WaveReader } from './progress.js';

type ScriptRedis = Redis & {
  bwTransition6(k1: string, k2: string, k3: string, k4: string, k5: string, ...args: string[]): Promise<[string, string, string, string, string?]>;
  bwCompact(numKeys: number, ...keysAndArgs: string[]): Promise<number>;
  bwGroupTransition(numKeys: number, ...keysAndArgs: string[]): Promise<string[]>;
  bwInitAccountsOrd(k1: string, k2: string, k3: string, k4: string, ...args: string[]): Promise<string[]>;
  bwFence(k1: string, ...args: string[]): Promise<string>;
  bwWaveControl(k1: string, k2: string, ...args: string[]): Promise<string[]>;
  bwWaveStatus(k1: string, k2: string, ...args: string[]): Promise<string>;
};

const WAVE_NUMERIC = /^(rows|accepted|rejected|duplicates|dropped_columns|fed|feed_checkpoint|cancel_settled|deadline_warned_at|pin_unnotified|pin_overdue|pin_oldest_ms|pin_checked_at)$/;
/** Wave hash fields: the first and the last time (epoch ms) the wave entered a status, e.g. `first:fed` (kept by the status scripts). */
const STATUS_FIRST = 'first:';
const STATUS_LAST = 'last:';

/**
 * The ledger: per (wave, account) action state, wave metadata, encrypted account records, and
 * the audit stream — every ledger transition is written with its audit record in one Lua script.
 */
export function createLedger(deps: LedgerDeps) {
  const k: Keys = keys(deps.prefix);
  const shards = Math.max(1, Math.floor(deps.shards ?? 1));
  const shardKeys: readonly Keys[] = shards === 1 ? [k] : shardPrefixes(deps.prefix, shards).map((p) => keys(p));
  /** The keys of the shard that holds this account of this wave. */
  const ak = (waveId: string, accountId: string): Keys => shardKeys[shardOf(waveId, accountId, shards)] ?? k;
  /** Accounts grouped by shard, each with its index in `accountIds`. */
  const byShard = (waveId: string, accountIds: readonly string[]): Map<number, number[]> => {
    const out = new Map<number, number[]>();
    accountIds.forEach((a, i) => {
      const s = shardOf(waveId, a, shards);
      const list = out.get(s);
      if (list) list.push(i);
      else out.set(s, [i]);
    });
    return out;
  };
  const now = deps.now ?? (() => new Date());
  const r = deps.redis as ScriptRedis;
  // `bwTransition6`: the five-key script (it releases/reads the account record too, refuses a held
  // entry, finds a compacted account by its ordinal); a new name so a client shared with code that
  // defined an older version keeps both apart.
  if (typeof r.bwTransition6 !== 'function') r.defineCommand('bwTransition6', { numberOfKeys: 5, lua: TRANSITION });
  // Its number of keys varies with the batch: given per call.
  if (typeof r.bwCompact !== 'function') r.defineCommand('bwCompact', { lua: COMPACT });
  // Its number of keys varies with the group's size: given per call.
  if (typeof r.bwGroupTransition !== 'function') r.defineCommand('bwGroupTransition', { lua: GROUP_TRANSITION });
  // `bwInitAccountsAt`: entries carry the time they began to wait; a new name, as above.
  // `bwInitAccountsOrd`: entries carry their ordinal, and a compacted account is found by it.
  if (typeof r.bwInitAccountsOrd !== 'function') r.defineCommand('bwInitAccountsOrd', { numberOfKeys: 4, lua: INIT_ACCOUNTS });
  if (typeof r.bwFence !== 'function') r.defineCommand('bwFence', { numberOfKeys: 1, lua: FENCE });
  if (typeof r.bwWaveControl !== 'function') r.defineCommand('bwWaveControl', { numberOfKeys: 2, lua: WAVE_CONTROL });
  if (typeof r.bwWaveStatus !== 'function') r.defineCommand('bwWaveStatus', { numberOfKeys: 2, lua: WAVE_STATUS });

  const groupScript = (waveId: string, accountIds: readonly string[], args: readonly string[]): Promise<string[]> => {
    // A consolidated notice settles all its accounts in one script: they must share a slot.
    const groupShards = byShard(waveId, accountIds);
    if (groupShards.size > 1) throw new BreachwaveError('BW_INPUT_INVALID', { detail: `a consolidated group of wave ${waveId} spans ${groupShards.size} shards: consolidation needs one shard` });
    const sk = accountIds[0] === undefined ? k : ak(waveId, accountIds[0]);
    const keyList = [sk.ledger(waveId), sk.counts(waveId), sk.audit, ...accountIds.map((a) => sk.account(waveId, a))];
    return r.bwGroupTransition(keyList.length, ...keyList, ...args);
  };

  const audit = async (input: AuditInput): Promise<void> => {
    await r.xadd(k.audit, '*', AUDIT_FIELD, auditRecordJson(input, now()));
  };

  return {
    /** The deployment's own keys: wave records, and the ledger keys of shard 0. */
    keys: k,
    /** How many shards the accounts are spread over. */
    shards,
    /** The keys of every shard, shard 0 (= {@link keys}) first. */
    shardKeys,
    /** The keys of the shard that holds this account of this wave (its ledger, counters, record, audit stream). */
    keysOf: ak,

    /** Applies a transition and writes its audit record atomically, or reports why it did not. */
    async transition(req: TransitionRequest): Promise<TransitionResult> {
      const when = now();
      const record = auditRecordJson({ type: req.event, actor: req.actor, wave: req.waveId, account: req.accountId, action: req.action, ...(req.detail ? { detail: req.detail } : {}) }, when);
      const counters = req.counters && Object.keys(req.counters).length > 0 ? JSON.stringify(req.counters) : '';
      const release = req.releaseAccount === undefined ? '' : String(Math.max(0, Math.floor(req.releaseAccount)));
      const sk = ak(req.waveId, req.accountId);
      const [outcome, prev, whole, account, slotHex] = await r.bwTransition6(
        sk.ledger(req.waveId), sk.counts(req.waveId), sk.audit, sk.account(req.waveId, req.accountId), sk.compact(req.waveId),
        req.accountId, req.action, req.from === '*' ? '*' : req.from.join(','), req.to,
        // The script appends from/to to the audit record as text: it gets the record open-ended.
        JSON.stringify({ ...req.patch, at: when.getTime() }), record.slice(0, -1), counters, release, req.withAccount ? '1' : '0', req.guard ?? '', req.unlessHeld ?? '',
        req.ordinal === undefined ? '' : String(req.ordinal),
      );
      const compacted = slotHex ? decodeSlot(Buffer.from(slotHex, 'hex'), req.accountId) : undefined;
      const all = whole ? readEntry(whole) : compacted ? compactedEntry(compacted, req.ordinal) : undefined;
      return {
        outcome: outcome as TransitionResult['outcome'],
        previous: prev ? (prev as ActionState) : undefined,
        entry: outcome === 'missing' || outcome === 'no-action' ? undefined : all?.[req.action],
        all,
        ...(account ? { account: JSON.parse(account) as AccountRecord } : {}),
      };
    },

    /**
     * Claims the other accounts of a consolidated notice for its lead, in one script: each one
     * whose action is pending (or claimed by an earlier attempt of the lead) and whose earlier
     * actions are done is claimed under `token`, marked `gl` = the lead, with its own
     * `<action>.claimed` audit record. Per account: `ok` (claimed now, with its entry and, with
     * `withAccount`, its record), or why not (`waiting`, `busy`, `solo`, `missing`, `no-action`,
     * or the state found).
     */
    async claimGroup(req: { readonly waveId: string; readonly action: ActionName; readonly lead: string; readonly token: string; readonly actor: string;
      readonly accountIds: readonly string[]; readonly withAccount?: boolean; readonly detail?: Readonly<Record<string, unknown>> }): Promise<GroupClaim[]> {
      if (req.accountIds.length === 0) return [];
      const when = now();
      const args: string[] = [];
      for (const accountId of req.accountIds) {
        const record = auditRecordJson({ type: `${req.action}.claimed`, actor: req.actor, wave: req.waveId, account: accountId, action: req.action, detail: { ...req.detail, lead: req.lead } }, when);
        args.push(accountId, JSON.stringify({ at: when.getTime() }), record.slice(0, -1));
      }
      const reply = await groupScript(req.waveId, req.accountIds, [req.action, 'claim', req.token, req.lead, 'claimed', '', '', req.withAccount ? '1' : '0', ...args]);
      return req.accountIds.map((accountId, i) => {
        const status = reply[i * 3] ?? 'missing';
        const whole = reply[i * 3 + 1];
        const account = reply[i * 3 + 2];
        const all = whole ? readEntry(whole) : undefined;
        return { accountId, status, entry: all?.[req.action], all, ...(account ? { account: JSON.parse(account) as AccountRecord } : {}) };
      });
    },

    /**
     * Moves every account of a consolidated notice (its lead included) from `claimed` under
     * `token` to `to`, each with its own patch and its own audit record, `counters` bumped once,
     * the records released as asked — in one script, all or nothing: `superseded` (nothing
     * written) when any of them is no longer claimed under the token. With an empty token (a send
     * that happened is recorded whoever holds the claims now), every account found `claimed`
     * moves and those that are not are returned as `skipped`.
     */
    async settleGroup(req: { readonly waveId: string; readonly action: ActionName; readonly lead: string; readonly token: string; readonly actor: string; readonly to: ActionState;
      readonly event: string; readonly accounts: readonly { readonly accountId: string; readonly patch?: Readonly<Record<string, PatchValue>>; readonly detail?: Readonly<Record<string, unknown>> }[];
      readonly counters?: Readonly<Record<string, number>>; readonly releaseAccount?: number }): Promise<{ readonly outcome: 'ok' | 'superseded'; readonly skipped: readonly string[] }> {
      if (req.accounts.length === 0) return { outcome: 'ok', skipped: [] };
      const when = now();
      const args: string[] = [];
      for (const a of req.accounts) {
        const record = auditRecordJson({ type: req.event, actor: req.actor, wave: req.waveId, account: a.accountId, action: req.action, detail: { ...a.detail, lead: req.lead } }, when);
        args.push(a.accountId, JSON.stringify({ ...a.patch, at: when.getTime() }), record.slice(0, -1));
      }
      const counters = req.counters && Object.keys(req.counters).length > 0 ? JSON.stringify(req.counters) : '';
      const release = req.releaseAccount === undefined ? '' : String(Math.max(0, Math.floor(req.releaseAccount)));
      const reply = await groupScript(req.waveId, req.accounts.map((a) => a.accountId), [req.action, 'settle', req.token, req.lead, req.to, counters, release, '0', ...args]);
      return reply[0] === 'ok' ? { outcome: 'ok', skipped: reply.slice(1) } : { outcome: 'superseded', skipped: [] };
    },

    /**
     * Patches a claimed action entry only while `token` (its `ct`) still holds the claim: `ok`,
     * `superseded` (a later attempt took the claim over), `missing`, `no-action`, or the state
     * found when the action is no longer claimed. Nothing is audited.
     */
    async fence(waveId: string, accountId: string, action: ActionName, token: string, patch: Readonly<Record<string, PatchValue>>): Promise<string> {
      return r.bwFence(ak(waveId, accountId).ledger(waveId), accountId, action, token, JSON.stringify(patch));
    },

    /**
     * Creates pending ledger entries for a batch of accounts. Returns, per account, `'new'` or
     * the state its first action already had (a replayed batch).
     */
    async initAccounts(waveId: string, actor: string, items: readonly InitItem[]): Promise<string[]> {
      if (items.length === 0) return [];
      const when = now();
      const head: string[] = [when.toISOString(), actor, waveId, String(when.getTime())];
      const script = (sk: Keys, part: readonly InitItem[]): Promise<string[]> => {
        const args = [...head];
        for (const it of part) args.push(it.accountId, it.actions.join(','), it.actions[0] ?? 'notify', it.ordinal === undefined ? '' : String(it.ordinal));
        return r.bwInitAccountsOrd(sk.ledger(waveId), sk.counts(waveId), sk.audit, sk.compact(waveId), ...args);
      };
      if (shards === 1) return script(k, items);
      // One script (and one `accounts.queued` record) per shard of the batch.
      const out = new Array<string>(items.length);
      await Promise.all([...byShard(waveId, items.map((it) => it.accountId))].map(async ([s, idx]) => {
        const reply = await script(shardKeys[s] ?? k, idx.map((i) => items[i] as InitItem));
        idx.forEach((i, j) => { out[i] = reply[j] ?? ''; });
      }));
      return out;
    },

    /**
     * The account's entry; with its `ordinal`, a compacted account's too (see
     * {@link compactedEntry}). Without it a compacted account reads as absent.
     */
    async get(waveId: string, accountId: string, ordinal?: number): Promise<LedgerEntry | undefined> {
      return (await this.getMany(waveId, [accountId], ordinal === undefined ? undefined : [ordinal]))[0];
    },

    /**
     * The entries of several accounts in one round trip per shard (HMGET), in the order asked;
     * `undefined` for an account without one. With `ordinals` (one per account, `undefined` for
     * an unknown one), an account not in the hash is looked up in its compacted slot (one
     * GETRANGE each, pipelined with the HMGET).
     */
    async getMany(waveId: string, accountIds: readonly string[], ordinals?: readonly (number | undefined)[]): Promise<(LedgerEntry | undefined)[]> {
      if (accountIds.length === 0) return [];
      const out = new Array<LedgerEntry | undefined>(accountIds.length);
      const groups = shards === 1 ? [[0, accountIds.map((_, i) => i)] as const] : [...byShard(waveId, accountIds)];
      await Promise.all(groups.map(async ([s, idx]) => {
        const sk = shardKeys[s] ?? k;
        const slots = ordinals ? idx.filter((i) => ordinals[i] !== undefined) : [];
        if (slots.length === 0) {
          const raws = await r.hmget(sk.ledger(waveId), ...idx.map((i) => accountIds[i] as string));
          idx.forEach((i, j) => { const raw = raws[j]; out[i] = raw ? readEntry(raw) : undefined; });
          return;
        }
        // One pipeline (one slot): the hash and the slots read together, so an account compacted
        // between two reads cannot be missed by both.
        const p = r.multi().hmget(sk.ledger(waveId), ...idx.map((i) => accountIds[i] as string));
        for (const i of slots) {
          const o = ordinals?.[i] as number;
          p.getrangeBuffer(sk.compact(waveId), o * SLOT_BYTES, o * SLOT_BYTES + SLOT_BYTES - 1);
        }
        const res = await p.exec();
        const failed = res?.find(([err]) => err);
        if (failed?.[0]) throw failed[0];
        const raws = (res?.[0]?.[1] ?? []) as (string | null)[];
        const slotOf = new Map(slots.map((i, j) => [i, res?.[j + 1]?.[1] as Buffer | undefined]));
        idx.forEach((i, j) => {
          const raw = raws[j];
          if (raw) out[i] = readEntry(raw);
          else {
            const c = decodeSlot(slotOf.get(i), accountIds[i] as string);
            out[i] = c ? compactedEntry(c, ordinals?.[i]) : undefined;
          }
        });
      }));
      return out;
    },

    /**
     * Compacts the wave's finished accounts whose last change is older than `olderThanMs`
     * (`compact.ts` says which qualify; the script re-checks each one, so running this at any
     * moment, alongside workers, recovery and delivery callbacks, is safe). Walks each shard's
     * ledger a page at a time (HSCAN), sending only accounts that look finished to the script,
     * `batch` at a time. Returns how many were compacted.
     *
     * Why a sweep and not the finishing transition: a finished notice stays in play for a while —
     * a delivery callback still records its delivery state on the entry, and one saying
     * "undelivered" for good re-drives it by email while its sealed record is kept for that —
     * and a dead letter stays until an operator re-drives or purges it. The sweep compacts only
     * what nothing can bring back into play; it runs with the recovery sweep.
     */
    async compact(waveId: string, options: { readonly olderThanMs?: number; readonly batch?: number; readonly count?: number } = {}): Promise<number> {
      const cutoff = now().getTime() - Math.max(0, options.olderThanMs ?? 0);
      const batch = Math.max(1, options.batch ?? 500);
      let compacted = 0;
      for (const sk of shardKeys) {
        const run = async (ids: string[]): Promise<void> => {
          if (ids.length === 0) return;
          const keyList = [sk.ledger(waveId), sk.compact(waveId), sk.counts(waveId), ...ids.map((a) => sk.account(waveId, a))];
          compacted += Number(await r.bwCompact(keyList.length, ...keyList, String(cutoff), ...ids));
        };
        let cursor = '0';
        do {
          const [next, flat] = await r.hscan(sk.ledger(waveId), cursor, 'COUNT', options.count ?? 1000);
          cursor = next;
          let ids: string[] = [];
          for (let i = 0; i + 1 < flat.length; i += 2) {
            if (!looksCompactable(flat[i + 1] as string, cutoff)) continue;
            ids.push(flat[i] as string);
            if (ids.length >= batch) {
              await run(ids);
              ids = [];
            }
          }
          await run(ids);
        } while (cursor !== '0');
      }
      return compacted;
    },

    /** Accounts of the wave compacted so far (all shards). */
    async compactedCount(waveId: string): Promise<number> {
      return (await this.counts(waveId)).compacted ?? 0;
    },

    /** Counters: `<action>:<state>`, `accounts`, and extras such as `notify:sent:sms`. */
    async counts(waveId: string): Promise<Record<string, number>> {
      if (shards === 1) return Object.fromEntries(Object.entries(await r.hgetall(k.counts(waveId))).map(([f, v]) => [f, Number(v)]));
      return sumShardCounts(await Promise.all(shardKeys.map((sk) => r.hgetall(sk.counts(waveId)))));
    },

    /** Each shard's own counters (shard 0 first): what {@link counts} sums. */
    async shardCounts(waveId: string): Promise<Record<string, number>[]> {
      return (await Promise.all(shardKeys.map((sk) => r.hgetall(sk.counts(waveId))))).map((raw) => Object.fromEntries(Object.entries(raw).map(([f, v]) => [f, Number(v)])));
    },

    /** Iterates a wave's ledger in bounded memory (HSCAN). */
    async *entries(waveId: string, count = 1000): AsyncGenerator<[string, LedgerEntry]> {
      for (const sk of shardKeys) {
        let cursor = '0';
        do {
          const [next, flat] = await r.hscan(sk.ledger(waveId), cursor, 'COUNT', count);
          cursor = next;
          for (let i = 0; i + 1 < flat.length; i += 2) yield [flat[i] as string, readEntry(flat[i + 1] as string)];
        } while (cursor !== '0');
      }
    },

    /**
     * The same walk as {@link entries}, one HSCAN reply at a time (about `count` entries; a hash
     * small enough for Redis's compact encoding comes whole in one reply): for readers that
     * batch their own follow-up reads per page. The walk holds one page in memory, whatever the
     * wave's size. HSCAN returns an entry twice only when the hash shrinks during the walk, and
     * no account is ever removed from a wave's ledger.
     */
    async *entryPages(waveId: string, count = 1000): AsyncGenerator<[string, LedgerEntry][]> {
      // Shard after shard: a page never mixes two shards.
      for (const sk of shardKeys) {
        let cursor = '0';
        do {
          const [next, flat] = await r.hscan(sk.ledger(waveId), cursor, 'COUNT', count);
          cursor = next;
          const page: [string, LedgerEntry][] = [];
          for (let i = 0; i + 1 < flat.length; i += 2) page.push([flat[i] as string, readEntry(flat[i + 1] as string)]);
          if (page.length > 0) yield page;
        } while (cursor !== '0');
      }
    },

    /** Appends an audit record for something that is not a ledger transition (operator actions, wave events). */
    audit,

    // Account records ---------------------------------------------------------------------------

    /** Stores account records (pipelined). */
    async putAccounts(waveId: string, records: readonly { accountId: string; record: AccountRecord }[]): Promise<void> {
      if (records.length === 0) return;
      // A cluster client's pipeline must stay in one slot: one per shard.
      await Promise.all([...byShard(waveId, records.map((x) => x.accountId))].map(async ([s, idx]) => {
        const sk = shardKeys[s] ?? k;
        const p = r.pipeline();
        for (const i of idx) {
          const { accountId, record } = records[i] as { accountId: string; record: AccountRecord };
          p.set(sk.account(waveId, accountId), JSON.stringify(record));
        }
        const res = await p.exec();
        const failed = res?.find(([err]) => err);
        if (failed?.[0]) throw failed[0];
      }));
    },

    async getAccount(waveId: string, accountId: string): Promise<AccountRecord | undefined> {
      const raw = await r.get(ak(waveId, accountId).account(waveId, accountId));
      return raw ? (JSON.parse(raw) as AccountRecord) : undefined;
    },

    /**
     * The records of several accounts in one round trip (MGET), in the order asked; `undefined`
     * for an account whose record is gone (released after its notice, or expired).
     */
    async getAccounts(waveId: string, accountIds: readonly string[]): Promise<(AccountRecord | undefined)[]> {
      if (accountIds.length === 0) return [];
      // MGET over keys of several slots is refused on a cluster: one per shard.
      const out = new Array<AccountRecord | undefined>(accountIds.length);
      await Promise.all([...byShard(waveId, accountIds)].map(async ([s, idx]) => {
        const sk = shardKeys[s] ?? k;
        const raws = await r.mget(idx.map((i) => sk.account(waveId, accountIds[i] as string)));
        idx.forEach((i, j) => { const raw = raws[j]; out[i] = raw ? (JSON.parse(raw) as AccountRecord) : undefined; });
      }));
      return out;
    },

    /** Removes the account's contact record now, or after `retentionSeconds`. */
    async releaseAccount(waveId: string, accountId: string, retentionSeconds = 0): Promise<void> {
      const key = ak(waveId, accountId).account(waveId, accountId);
      if (retentionSeconds > 0) await r.expire(key, retentionSeconds);
      else await r.unlink(key);
    },

    // Waves -------------------------------------------------------------------------------------

    async createWave(manifest: WaveManifest, stats: Readonly<Record<string, number>>, paths: Readonly<Record<string, string>>): Promise<void> {
      const created = await r.hsetnx(k.wave(manifest.waveId), 'manifest', JSON.stringify(manifest));
      if (!created) throw new BreachwaveError('BW_INPUT_INVALID', { detail: `wave ${manifest.waveId} already exists` });
      const fields: Record<string, string> = {
        status: 'created', approvals: String(manifest.approvals ?? 0), ...(manifest.createdBy ? { created_by: manifest.createdBy } : {}),
        // Read by the approval step: only these operators may approve.
        ...(manifest.approvers ? { approvers_named: JSON.stringify(manifest.approvers) } : {}),
      };
      for (const [f, v] of Object.entries(stats)) fields[f] = String(v);
      for (const [f, v] of Object.entries(paths)) fields[`path:${f}`] = v;
      await r.multi()
        .hset(k.wave(manifest.waveId), fields)
        .zadd(k.waves, Date.parse(manifest.createdAt) || now().getTime(), manifest.waveId)
        .exec();
      await audit({ type: 'wave.created', actor: manifest.createdBy ?? 'operator', wave: manifest.waveId, detail: { ...stats, source: manifest.source, approvals: manifest.approvals ?? 0, ...(manifest.approvers ? { approvers: manifest.approvers } : {}) } });
    },

    async getWave(waveId: string): Promise<WaveInfo> {
      const raw = await r.hgetall(k.wave(waveId));
      if (!raw.manifest) throw new BreachwaveError('BW_WAVE_NOT_FOUND', { detail: waveId });
      const stats: Record<string, number> = {};
      const paths: Record<string, string> = {};
      const times: Partial<Record<WaveStatus, WaveStatusTimes>> = {};
      for (const [f, v] of Object.entries(raw)) {
        if (WAVE_NUMERIC.test(f)) stats[f] = Number(v);
        else if (f.startsWith('path:')) paths[f.slice(5)] = v;
        else if (f.startsWith(STATUS_FIRST)) {
          const status = f.slice(STATUS_FIRST.length) as WaveStatus;
          const last = raw[`${STATUS_LAST}${status}`] ?? v;
          times[status] = { first: new Date(Number(v)).toISOString(), last: new Date(Number(last)).toISOString() };
        }
      }
      return { waveId, status: raw.status as WaveStatus, paused: raw.paused === '1', manifest: JSON.parse(raw.manifest) as WaveManifest, stats, paths, times };
    },

    async setWaveFields(waveId: string, fields: Readonly<Record<string, string | number>>): Promise<void> {
      await r.hset(k.wave(waveId), fields);
    },

    /**
     * Moves a wave's feed status (feeding, fed, completed) and audits it, atomically, unless the
     * wave is already cancelled or completed (final), keeping the first and the last time it
     * entered that status (read back by {@link getWave} as `times`: a report's timeline needs no
     * pass over the audit files). Returns the status the wave has after.
     */
    async setWaveStatus(waveId: string, status: WaveStatus, actor: string, detail?: Readonly<Record<string, unknown>>): Promise<WaveStatus> {
      const when = now();
      const after = await r.bwWaveStatus(k.wave(waveId), k.audit, status, auditRecordJson({ type: `wave.${status}`, actor, wave: waveId, ...(detail ? { detail } : {}) }, when), String(when.getTime()));
      if (!after) throw new BreachwaveError('BW_WAVE_NOT_FOUND', { detail: waveId });
      return after as WaveStatus;
    },

    /**
     * An operator's step on a wave (dry run, approve, pause, resume, cancel), with its guards and
     * its audit record in one script. A dry run records the overlap with earlier waves it found
     * (`overlap.found`); an approval of a wave with overlap needs `overlap.allow` (audited). A refused step changes nothing and throws `BW_WAVE_STATE`,
     * `BW_APPROVAL_REFUSED` or `BW_WAVE_NOT_FOUND`, saying why.
     */
    async control(op: WaveControlOp, waveId: string, actor: string, detail: Readonly<Record<string, unknown>> = {}, accepted = 0,
      overlap: { readonly found?: number; readonly allow?: boolean } = {}): Promise<WaveControlResult> {
      const when = now();
      const extra = op === 'dry-run' ? String(overlap.found ?? 0) : overlap.allow ? '1' : '0';
      const reply = await r.bwWaveControl(k.wave(waveId), k.audit, op, actor, controlRecord(op, waveId, actor, detail, when), String(accepted), String(when.getTime()), extra);
      const [outcome, a, b, c, d] = reply;
      if (outcome !== 'ok') throw waveControlError(op, waveId, a ?? '', b ?? '', actor, c);
      return { status: a ?? '', paused: b === '1', approvers: (c ?? '').split(',').filter(Boolean), approvals: Number(d ?? 0) };
    },

    /** A wave's status and pause flag (one round trip), for the workers' gate. */
    async waveState(waveId: string): Promise<{ status: WaveStatus; paused: boolean }> {
      const [status, paused] = await r.hmget(k.wave(waveId), 'status', 'paused');
      if (!status) throw new BreachwaveError('BW_WAVE_NOT_FOUND', { detail: waveId });
      return { status: status as WaveStatus, paused: paused === '1' };
    },

    /** The wave first created from the source file with this fingerprint, if any. */
    async sourceWave(fingerprint: string): Promise<string | undefined> {
      return (await r.hget(k.sources, fingerprint)) ?? undefined;
    },

    /** Remembers the first wave created from a source file (a later one does not replace it). */
    async recordSource(fingerprint: string, waveId: string): Promise<void> {
      await r.hsetnx(k.sources, fingerprint, waveId);
    },

    /** The token of the process feeding the wave (its lease), if one is alive. */
    async feederHolder(waveId: string): Promise<string | undefined> {
      return (await r.get(k.feeder(waveId))) ?? undefined;
    },

    async listWaves(limit = 50): Promise<string[]> {
      return r.zrevrange(k.waves, 0, limit - 1);
    },
  };
}

export type Ledger = ReturnType<typeof createLedger>;
