import type { ActionName, ActionState, Channel } from '@breachwave/domain';
import { shardOf } from './shards.js';

/**
 * The compacted form of a finished account.
 *
 * A ledger entry is a JSON object in the wave's ledger hash, ~180 bytes of Redis per account for
 * the wave's whole life. Once every action of an account is terminal, what a reader still needs
 * from it fits in {@link SLOT_BYTES} bytes: each action's terminal state and error code, the
 * notice's channel, whether an outcome was ambiguous or reconciled, and the account's first and
 * last times, and a sent SMS's final delivery state. Everything else (provider ids, claim counts, tokens, delivery steps) is in the
 * audit trail. A compacted account lives in a fixed-width slot of one packed Redis string per
 * wave and shard (`<shard prefix>:wave:<w>:compact`), at offset `ordinal × SLOT_BYTES`; its
 * hash field is deleted.
 *
 * The ordinal: the account's position among the accounts of its shard in the wave's spool
 * (0, 1, 2… in spool order, per shard), given by the feeder with each account and kept in the
 * entry (`o`). It is a function of the spool alone, so a feeder that restarts and replays its
 * last batch gives every account the ordinal it had, and the slots of a shard are dense (a
 * Redis string grows to its largest offset). Jobs carry it next to the account id, so a
 * replayed job for a compacted account finds its slot: the claim guard stays exact.
 *
 * Exact, never probabilistic: a slot is found only by its ordinal, and its first byte is a
 * check of the account id: a slot found under an ordinal that holds another account's check is
 * treated as absent, never as "finished" (a wrong "finished" would drop a person's notice).
 * Anything the slot cannot hold exactly (an error code outside {@link ERROR_CODES}, a time span
 * past its field) keeps the account in the hash: compaction is an optimisation, never a loss.
 *
 * Layout of a slot (big-endian):
 *   [0]      check byte of the account id ({@link idCheck})
 *   [1..2]   bit 15 set (a compacted slot; a zero slot is empty), bits 14-12 rotate-pin's
 *            state, 11-9 issue-code's, 8-6 notify's (0 none, 1 done, 2 failed, 3 skipped,
 *            4 cancelled), 5-4 notify's channel (0 none, 1 sms, 2 email), bit 3 ambiguous,
 *            bit 2 reconciled, 1-0 the sent SMS's delivery from its status callbacks (0 none
 *            or not final, 1 delivered, 2 undelivered or failed; kept only when the callbacks
 *            tracked the message recorded as sent)
 *   [3..5]   each action's error code: its index in {@link ERROR_CODES} + 1, 0 for none
 *   [6..10]  the first time, in ms since {@link SLOT_EPOCH_MS} (40 bits: until 2054)
 *   [11..14] the last time minus the first (ms, 32 bits: up to ~49 days)
 */
export const SLOT_BYTES = 15;

/** 2020-01-01T00:00:00Z: the origin of a slot's first time. */
export const SLOT_EPOCH_MS = 1_577_836_800_000;

/** The actions of a slot, in slot order (the order of `ACTIONS`). */
export const SLOT_ACTIONS: readonly ActionName[] = ['rotate-pin', 'issue-code', 'notify'];
/** Slot state codes 1… (0: the account has no such action). */
export const SLOT_STATES: readonly ActionState[] = ['done', 'failed', 'skipped', 'cancelled'];
/** Slot channel codes 1… (0: none). */
export const SLOT_CHANNELS: readonly Channel[] = ['sms', 'email'];

/**
 * The error codes a slot can hold, by index. APPEND ONLY: a slot written today must read the same
 * tomorrow, so a code is never removed or moved (the ledger test checks every catalog code is
 * here). A code not listed keeps its account uncompacted.
 */
export const ERROR_CODES: readonly string[] = [
  'DEPENDENCY_FAILED:rotate-pin', 'DEPENDENCY_FAILED:issue-code', 'DEPENDENCY_FAILED:notify',
  'BW_CONFIG_INVALID', 'BW_REDIS_UNREACHABLE', 'BW_REDIS_EVICTION_POLICY', 'BW_INPUT_INVALID', 'BW_INPUT_FILE', 'BW_JOB_PAYLOAD_INVALID',
  'BW_WAVE_NOT_FOUND', 'BW_ACCOUNT_NOT_FOUND', 'BW_NO_CHANNEL', 'BW_AUDIT_CHAIN_BROKEN', 'BW_AUDIT_WRITER_BUSY', 'BW_WAVE_BUSY',
  'BW_ENVELOPE_INVALID', 'BW_SUPPRESSED', 'BW_ORDER_VIOLATION', 'BW_SOURCE_REUSED', 'BW_WAVE_STATE', 'BW_APPROVAL_REFUSED',
  'BW_WORKER_LOST', 'BW_LEDGER_UNWRITABLE', 'BW_SMS_INVALID_NUMBER', 'BW_SMS_OPTED_OUT', 'BW_SMS_NOT_MOBILE', 'BW_SMS_REJECTED',
  'BW_SMS_AUTH', 'BW_SMS_THROTTLED', 'BW_SMS_PROVIDER_UNAVAILABLE', 'BW_SMS_NETWORK', 'BW_SMS_AMBIGUOUS', 'BW_EMAIL_REJECTED',
  'BW_EMAIL_THROTTLED', 'BW_EMAIL_TEMPORARY', 'BW_EMAIL_NETWORK', 'BW_EMAIL_AMBIGUOUS', 'BW_EMAIL_AUTH', 'BW_CODE_POOL_EXHAUSTED',
  'BW_CODE_INVALID', 'BW_CODE_SOURCE_INVALID', 'BW_CODE_NOT_ASSIGNED', 'BW_CODE_COLLISION', 'BW_PIN_POLICY', 'BW_PIN_STORE_REJECTED',
  'BW_PIN_STORE_ACCOUNT_UNKNOWN', 'BW_PIN_STORE_AUTH', 'BW_PIN_STORE_THROTTLED', 'BW_PIN_STORE_UNAVAILABLE', 'BW_PIN_STORE_NETWORK',
  'BW_PIN_STORE_AMBIGUOUS', 'BW_PIN_LOCKED', 'BW_PIN_THROTTLED', 'BW_RATE_LIMITED', 'BW_PIN_VERIFY_UNAUTHORIZED',
  'BW_WEBHOOK_SIGNATURE_INVALID', 'BW_UNSUBSCRIBE_TOKEN_INVALID', 'BW_UNSUBSCRIBE_TOKEN_EXPIRED', 'BW_DELIVERY_UNMATCHED',
  'BW_HTTP_NOT_FOUND', 'BW_HTTP_METHOD_NOT_ALLOWED', 'BW_HTTP_BODY_TOO_LARGE', 'BW_HTTP_UNSUPPORTED_MEDIA_TYPE', 'BW_HTTP_UNAUTHORIZED',
  'BW_HTTP_FORBIDDEN', 'BW_TOKEN_NAME_TAKEN', 'BW_TOKEN_NOT_FOUND', 'BW_UPLOAD_NOT_FOUND', 'BW_HTTP_OPERATOR_MISSING', 'BW_INTERNAL',
  'BW_PACE_NO_RATE', 'BW_PACE_CLOSED',
];

/** The check byte of an account id (a small hash; Lua computes the same in {@link SLOT_LUA}). */
export function idCheck(accountId: string): number {
  let h = 0;
  for (let i = 0; i < accountId.length; i++) h = (h * 31 + accountId.charCodeAt(i)) % 65521;
  return h % 256;
}

/** What a compacted slot says about its account. */
export interface CompactedAccount {
  readonly states: Partial<Record<ActionName, ActionState>>;
  readonly errors: Partial<Record<ActionName, string>>;
  readonly channel: Channel | undefined;
  readonly ambiguous: boolean;
  readonly reconciled: boolean;
  /** The sent SMS's final delivery state (`ds`), when its callbacks gave one for the message recorded as sent. */
  readonly delivery: 'delivered' | 'undelivered' | undefined;
  /** Epoch ms. */
  readonly firstAt: number;
  /** Epoch ms. */
  readonly lastAt: number;
}

/**
 * Decodes a slot read from the packed string (`GETRANGE`, as a Buffer): undefined when the slot
 * is empty, short (past the string's end), or holds another account's check byte.
 */
export function decodeSlot(slot: Buffer | undefined, accountId: string): CompactedAccount | undefined {
  if (!slot || slot.length < SLOT_BYTES) return undefined;
  const bits = slot.readUInt16BE(1);
  if ((bits & 0x8000) === 0 || slot[0] !== idCheck(accountId)) return undefined;
  const states: Partial<Record<ActionName, ActionState>> = {};
  const errors: Partial<Record<ActionName, string>> = {};
  SLOT_ACTIONS.forEach((action, i) => {
    const code = (bits >> (12 - 3 * i)) & 7;
    const s = code > 0 ? SLOT_STATES[code - 1] : undefined;
    if (s) states[action] = s;
    const e = slot[3 + i] ?? 0;
    const err = e > 0 ? ERROR_CODES[e - 1] : undefined;
    if (err) errors[action] = err;
  });
  const ch = (bits >> 4) & 3;
  const firstAt = SLOT_EPOCH_MS + slot.readUIntBE(6, 5);
  return {
    states, errors, channel: ch > 0 ? SLOT_CHANNELS[ch - 1] : undefined, ambiguous: (bits & 8) !== 0, reconciled: (bits & 4) !== 0,
    delivery: (bits & 3) === 1 ? 'delivered' : (bits & 3) === 2 ? 'undelivered' : undefined,
    firstAt, lastAt: firstAt + slot.readUInt32BE(11),
  };
}

/**
 * Lua helpers shared by the scripts that read or write slots (prepended to them):
 * `cpCheck(id)`, `cpState(slot, action)` and `cpRead(key, ordinal, id)`, which returns the slot's
 * bytes when it holds this account, false when it holds another's (an ordinal given wrongly),
 * nil when it is empty.
 */
export const SLOT_LUA = `
local CP_ACTIONS = { 'rotate-pin', 'issue-code', 'notify' }
local CP_STATES = { 'done', 'failed', 'skipped', 'cancelled' }
local function cpCheck(id)
  local h = 0
  for i = 1, #id do h = (h * 31 + string.byte(id, i)) % 65521 end
  return h % 256
end
local function cpBits(slot)
  local hi, lo = string.byte(slot, 2, 3)
  return hi * 256 + lo
end
local function cpState(slot, action)
  local bits = cpBits(slot)
  for i, act in ipairs(CP_ACTIONS) do
    if act == action then
      local code = math.floor(bits / (2 ^ (15 - 3 * i))) % 8
      return CP_STATES[code]
    end
  end
  return nil
end
local function cpRead(key, ordinal, id)
  if ordinal == nil or ordinal == '' then return nil end
  local o = tonumber(ordinal)
  if not o or o < 0 then return nil end
  local slot = redis.call('GETRANGE', key, o * ${SLOT_BYTES}, o * ${SLOT_BYTES} + ${SLOT_BYTES - 1})
  if #slot < ${SLOT_BYTES} or cpBits(slot) < 32768 then return nil end
  if string.byte(slot, 1) ~= cpCheck(id) then return false end
  return slot
end
local function cpHex(slot)
  return (string.gsub(slot, '.', function(c) return string.format('%02x', string.byte(c)) end))
end
`;

/**
 * The ordinals of a wave's accounts, in spool order: per shard, 0, 1, 2… Whoever walks the
 * spool (the feeder, a report, a dry run) gets the same ordinal for the same account by calling
 * {@link next} once per spool entry, in order, from the first.
 */
export function spoolOrdinals(waveId: string, shards: number) {
  const counts = new Array<number>(Math.max(1, shards)).fill(0);
  return {
    /** The ordinal of the next spool entry, this account. */
    next(accountId: string): number {
      const s = shardOf(waveId, accountId, shards);
      const o = counts[s] ?? 0;
      counts[s] = o + 1;
      return o;
    },
    /**
     * Counts a spool line passed over without being fed (one before a feed's checkpoint): an
     * account entry takes its ordinal as {@link next} would, a blank line none. With one shard
     * the line is not parsed.
     */
    skip(line: Buffer | null): void {
      if (!line || line.length === 0) return;
      if (counts.length === 1) {
        counts[0] = (counts[0] ?? 0) + 1;
        return;
      }
      const { accountId } = JSON.parse(line.toString('utf8')) as { accountId?: unknown };
      if (typeof accountId === 'string') this.next(accountId);
    },
  };
}

/**
 * Compacts finished accounts of one shard of a wave, re-checking each one in the script.
 * KEYS: ledger, compact string, counts, then each account's record (in ARGV's order).
 * ARGV: cutoff (epoch ms: only accounts whose last change is at or before it), then account ids.
 *
 * An account is compacted only when all of these hold, read in this script (so nothing can move
 * it in between): it carries its ordinal (`o`); every action is done, skipped or cancelled — not
 * pending or claimed (still in play), not failed (a dead letter, which an operator may re-drive
 * or purge); no enrollment code was issued to it (a reminder for a wave's codes finds them, and
 * each code's scope, by walking that wave's ledger hash); its sealed record is gone (released after its notice, or expired: while a record
 * rests, a delivery callback's fallback or a re-drive may still bring the account back into
 * play); its last change is at or before the cutoff (late delivery callbacks still find the
 * entry); its slot is empty; and the slot can hold every field exactly. It is then written
 * to its slot and its hash field deleted, and the shard's `compacted` counter bumped.
 *
 * No audit record: no action's state changes, and every change that led here was audited.
 * Returns the number of accounts compacted.
 */
export const COMPACT = `${SLOT_LUA}
local ERR = {}
for i, code in ipairs(cjson.decode(${JSON.stringify(JSON.stringify(ERROR_CODES))})) do ERR[code] = i end
local STATE = { done = 1, skipped = 3, cancelled = 4 }
local CH = { sms = 1, email = 2 }
local cutoff = tonumber(ARGV[1])
local function bytes(n, width)
  local out = {}
  for i = width, 1, -1 do
    out[i] = string.char(n % 256)
    n = math.floor(n / 256)
  end
  return table.concat(out)
end
local compacted = 0
for i = 2, #ARGV do
  local acct = ARGV[i]
  local raw = redis.call('HGET', KEYS[1], acct)
  local ok = raw ~= false and raw ~= nil
  local entry, bits, errs, first, last
  if ok then
    entry = cjson.decode(raw)
    ok = type(entry.o) == 'number' and entry.o >= 0 and redis.call('EXISTS', KEYS[3 + i - 1]) == 0
  end
  if ok then
    bits = 32768
    errs = { 0, 0, 0 }
    for j, act in ipairs(CP_ACTIONS) do
      local a = entry[act]
      if type(a) == 'table' then
        local code = STATE[a.s]
        if not code or (act == 'issue-code' and a.s == 'done') then ok = false break end
        bits = bits + code * (2 ^ (15 - 3 * j))
        if a.err ~= nil then
          local e = ERR[a.err]
          if not e or e > 255 then ok = false break end
          errs[j] = e
        end
        if type(a.at) ~= 'number' then ok = false break end
        if first == nil or a.at < first then first = a.at end
        if last == nil or a.at > last then last = a.at end
        if a.c0 ~= nil then
          if type(a.c0) ~= 'number' then ok = false break end
          if a.c0 < first then first = a.c0 end
        end
        if type(a.amb) == 'number' and a.amb > 0 and bits % 16 < 8 then bits = bits + 8 end
        if a.rec == true and bits % 8 < 4 then bits = bits + 4 end
        if act == 'notify' and a.ch ~= nil then
          local c = CH[a.ch]
          if not c then ok = false break end
          bits = bits + c * 16
          -- The delivery of the message recorded as sent (not of an earlier one of the notice).
          if a.ch == 'sms' and type(a.ds) == 'string' and (a.pid == nil or a.dsSid == nil or a.pid == a.dsSid) then
            if a.ds == 'delivered' then bits = bits + 1
            elseif a.ds == 'undelivered' or a.ds == 'failed' then bits = bits + 2 end
          end
        end
      elseif a ~= nil then
        ok = false break
      end
    end
  end
  if ok then
    ok = first ~= nil and last <= cutoff and first >= ${SLOT_EPOCH_MS} and first - ${SLOT_EPOCH_MS} < 2 ^ 40 and last - first < 2 ^ 32
  end
  if ok then
    local o = entry.o
    local existing = redis.call('GETRANGE', KEYS[2], o * ${SLOT_BYTES}, o * ${SLOT_BYTES} + ${SLOT_BYTES - 1})
    if #existing == ${SLOT_BYTES} and cpBits(existing) >= 32768 then ok = false end
  end
  if ok then
    local slot = string.char(cpCheck(acct)) .. bytes(bits, 2) .. string.char(errs[1], errs[2], errs[3]) .. bytes(first - ${SLOT_EPOCH_MS}, 5) .. bytes(last - first, 4)
    redis.call('SETRANGE', KEYS[2], entry.o * ${SLOT_BYTES}, slot)
    redis.call('HDEL', KEYS[1], acct)
    compacted = compacted + 1
  end
end
if compacted > 0 then redis.call('HINCRBY', KEYS[3], 'compacted', compacted) end
return compacted
`;
