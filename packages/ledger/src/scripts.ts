import { AUDIT_FIELD_LUA } from './audit-stream.js';
import { SLOT_LUA } from './compact.js';

/**
 * Lua scripts: a ledger transition, its counters and its audit record are written in one script,
 * so no state change exists without its audit record and no record without its change.
 */

/**
 * KEYS: ledger, counts, audit stream, the account's record, the shard's compacted slots.
 * ARGV: accountId, action, allowed from-states ("a,b" or "*"), to-state, patch JSON,
 *       audit record JSON without its closing brace (from/to are appended here), extra counters
 *       JSON ({name: delta}, or "" for none), release ("" = keep the record, "0" = delete it,
 *       N = expire it in N seconds; only after an applied transition), "1" to return the record,
 *       claim token the entry's \`ct\` must hold ("" = none), held field, the account's
 *       ordinal ("" = unknown).
 * Returns {outcome, previousState, wholeEntryJson, recordJson, compactedSlotHex}; outcome is ok |
 * rejected | missing | no-action | superseded (the entry is claimed under another token: a later
 * attempt took it over). The action's own entry is read from the whole entry by the caller.
 * An account compacted (`compact.ts`; found by its ordinal) is finished for good: every
 * transition is refused (`rejected` with the action's terminal state, or `no-action`), and the
 * slot is returned instead of the entry.
 * Moving to `claimed` counts a claim (`n`), so re-claims after a crash are visible, and keeps the
 * first claim's time (`c0`): the earliest moment a send of this action may have reached a provider.
 * Moving to a terminal state records the time in the counters (`<action>:at:finished`, epoch ms).
 *
 * Cost (measured with Redis SLOWLOG): one JSON decode of the entry and one encode per transition; the
 * audit record is appended to as text instead of being decoded and re-encoded, and the action
 * entry is no longer encoded a second time for the reply. Releasing or reading the account
 * record here saves the caller a round trip each.
 */
export const TRANSITION = `${SLOT_LUA}
local TERMINAL = { done = true, failed = true, skipped = true, cancelled = true }
local raw = redis.call('HGET', KEYS[1], ARGV[1])
local record = ''
if ARGV[9] == '1' then record = redis.call('GET', KEYS[4]) or '' end
if not raw then
  local slot = cpRead(KEYS[5], ARGV[12], ARGV[1])
  if not slot then return {'missing', '', '', record, ''} end
  local state = cpState(slot, ARGV[2])
  if not state then return {'no-action', '', '', record, cpHex(slot)} end
  return {'rejected', state, '', record, cpHex(slot)}
end
local entry = cjson.decode(raw)
local a = entry[ARGV[2]]
if type(a) ~= 'table' then return {'no-action', '', raw, record} end
local cur = a.s
if ARGV[3] ~= '*' then
  local allowed = false
  for s in string.gmatch(ARGV[3], '[^,]+') do if s == cur then allowed = true end end
  if not allowed then return {'rejected', cur, raw, record} end
end
if ARGV[11] ~= '' and cur == 'claimed' and a[ARGV[11]] ~= nil then return {'held', cur, raw, record} end
if ARGV[10] ~= '' and a.ct ~= ARGV[10] then return {'superseded', cur, raw, record} end
for k, v in pairs(cjson.decode(ARGV[5])) do
  if v == false then a[k] = nil else a[k] = v end
end
if ARGV[4] == 'claimed' then
  a.n = (a.n or 0) + 1
  if not a.c0 then a.c0 = a.at end
end
a.s = ARGV[4]
entry[ARGV[2]] = a
local encoded = cjson.encode(entry)
redis.call('HSET', KEYS[1], ARGV[1], encoded)
if cur ~= ARGV[4] then
  redis.call('HINCRBY', KEYS[2], ARGV[2] .. ':' .. cur, -1)
  redis.call('HINCRBY', KEYS[2], ARGV[2] .. ':' .. ARGV[4], 1)
  -- When the action last finished for an account: a wave whose jobs wait and nothing finishes is stuck.
  if TERMINAL[ARGV[4]] and a.at then redis.call('HSET', KEYS[2], ARGV[2] .. ':at:finished', a.at) end
end
if ARGV[7] ~= '' then
  for k, v in pairs(cjson.decode(ARGV[7])) do redis.call('HINCRBY', KEYS[2], k, v) end
end
local fromTo = ',"to":' .. cjson.encode(ARGV[4]) .. '}'
if cur ~= nil then fromTo = ',"from":' .. cjson.encode(cur) .. fromTo end
redis.call('XADD', KEYS[3], '*', ${AUDIT_FIELD_LUA}, ARGV[6] .. fromTo)
if ARGV[8] == '0' then
  redis.call('DEL', KEYS[4])
elseif ARGV[8] ~= '' then
  redis.call('EXPIRE', KEYS[4], ARGV[8])
end
return {'ok', cur, encoded, record}
`;

/**
 * Patches a claimed action entry only while the given claim token still holds it: the fence an
 * attempt passes right before a side effect that cannot be taken back (a provider send), so an
 * attempt whose claim a later one took over (its job stalled while it still ran) stops there.
 * No audit record: the claim that set the token was audited, and so is the outcome.
 * KEYS: ledger. ARGV: accountId, action, token, patch JSON (\`false\` removes a field).
 * Returns ok | superseded | missing | no-action | the state found when it is not \`claimed\`.
 */
export const FENCE = `
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 'missing' end
local entry = cjson.decode(raw)
local a = entry[ARGV[2]]
if type(a) ~= 'table' then return 'no-action' end
if a.s ~= 'claimed' then return a.s end
if a.ct ~= ARGV[3] then return 'superseded' end
for k, v in pairs(cjson.decode(ARGV[4])) do
  if v == false then a[k] = nil else a[k] = v end
end
entry[ARGV[2]] = a
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(entry))
return 'ok'
`;

/**
 * Creates ledger entries for a batch of accounts (all actions pending), skipping accounts that
 * already have one (a feeder replaying its last batch after a crash), and appends one
 * `accounts.queued` audit record for the accounts it created: `detail.accounts` maps each plan
 * (actions CSV) to its account ids, `detail.count` is their number. One record per batch, not
 * one per account: a third of a notice-only wave's audit records were these.
 * KEYS: ledger, counts, audit stream, the shard's compacted slots.
 * ARGV: ts, actor, waveId, ts as epoch ms, then quadruples (accountId, actions CSV, first action,
 * ordinal or "" — see `compact.ts`).
 * The first action's entry carries `at` (when it began to wait), so recovery can tell an account
 * whose job was lost from one just queued, and the ordinal (`o`), so the account can be
 * compacted once finished. An account already compacted is found by its ordinal, as finished.
 * Returns for each account the state of its first action: "new" when created here, else the
 * state found. Fails (nothing written) when an ordinal's slot holds another account: ordinals
 * come from the spool, and two accounts with one ordinal means the spool or the caller is wrong.
 */
export const INIT_ACCOUNTS = `${SLOT_LUA}
local out = {}
local created = 0
local pending = {}
local queued = {}
local t0 = tonumber(ARGV[4])
for i = 5, #ARGV, 4 do
  local raw = redis.call('HGET', KEYS[1], ARGV[i])
  if not raw and cpRead(KEYS[4], ARGV[i + 3], ARGV[i]) == false then
    return redis.error_reply('BW_INPUT_INVALID ordinal ' .. ARGV[i + 3] .. ' of account ' .. ARGV[i] .. ' holds another account')
  end
end
for i = 5, #ARGV, 4 do
  local acct, actions, first, ordinal = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local raw = redis.call('HGET', KEYS[1], acct)
  local slot = nil
  if not raw then slot = cpRead(KEYS[4], ordinal, acct) end
  if raw then
    local entry = cjson.decode(raw)
    local a = entry[first]
    out[#out + 1] = (type(a) == 'table' and a.s) or 'unknown'
  elseif slot then
    out[#out + 1] = cpState(slot, first) or 'unknown'
  else
    local entry = {}
    for act in string.gmatch(actions, '[^,]+') do
      entry[act] = { s = 'pending', n = 0 }
      if act == first then entry[act].at = t0 end
      pending[act] = (pending[act] or 0) + 1
    end
    if ordinal ~= '' then entry.o = tonumber(ordinal) end
    redis.call('HSET', KEYS[1], acct, cjson.encode(entry))
    local ids = queued[actions]
    if not ids then
      ids = {}
      queued[actions] = ids
    end
    ids[#ids + 1] = acct
    created = created + 1
    out[#out + 1] = 'new'
  end
end
-- One counter update per action for the whole batch, not one per account.
for act, n in pairs(pending) do redis.call('HINCRBY', KEYS[2], act .. ':pending', n) end
if created > 0 then
  redis.call('HINCRBY', KEYS[2], 'accounts', created)
  redis.call('XADD', KEYS[3], '*', ${AUDIT_FIELD_LUA}, cjson.encode({ ts = ARGV[1], type = 'accounts.queued', actor = ARGV[2],
    wave = ARGV[3], detail = { count = created, accounts = queued } }))
end
return out
`;

/**
 * One transition for several accounts of a wave at once — a consolidated notice's accounts — each
 * with its own audit record, all in one script.
 *
 * KEYS: ledger, counts, audit stream, then each account's record (in ARGV's order).
 * ARGV: action, mode, claim token, lead account id, to-state, extra counters JSON ("" for none,
 *       applied once), release ("" keep the records, "0" delete them, N expire in N seconds; settle
 *       only), "1" to return the records, then per account: accountId, patch JSON, audit record
 *       JSON without its closing brace (from/to are appended here).
 *
 * mode `claim` (the lead claims the others; the lead's own entry is claimed on its own before):
 * an account whose action is `pending`, or `claimed` by an earlier attempt of a lead (`gl` set),
 * and whose earlier actions are all `done`, moves to `claimed` under the token with `gl` = lead;
 * any other is left as it is. Returns per account {status, entryJson, recordJson}; status is ok,
 * missing, no-action, waiting (an earlier action is not done yet), busy (claimed by its own
 * attempt), solo (released from the group: it is notified alone), or the state found.
 *
 * mode `settle`: every account must be `claimed` under the token, else nothing is written and
 * the reply is {'superseded', accountId} (a later attempt of the lead took the group over); then
 * every one moves to the to-state with its patch and its audit record, and its record is released
 * as asked. Returns {'ok'}. With an empty token (recording a send that happened, whoever holds the
 * claim now) every account found `claimed` moves and the others are left as they are: returns
 * {'ok', skipped accountIds…}.
 */
export const GROUP_TRANSITION = `
local TERMINAL = { done = true, failed = true, skipped = true, cancelled = true }
local ORDER = { 'rotate-pin', 'issue-code', 'notify' }
local action, mode, token, lead, to = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local counters, release, withRecord = ARGV[6], ARGV[7], ARGV[8]
local first = 9
local n = (#ARGV - first + 1) / 3
local entries = {}
for i = 0, n - 1 do
  local acct = ARGV[first + i * 3]
  local raw = redis.call('HGET', KEYS[1], acct)
  entries[i] = raw and cjson.decode(raw) or false
end
local function apply(i, entry, patchJson, recordOpen)
  local acct = ARGV[first + i * 3]
  local a = entry[action]
  local cur = a.s
  for k, v in pairs(cjson.decode(patchJson)) do
    if v == false then a[k] = nil else a[k] = v end
  end
  if to == 'claimed' then
    a.n = (a.n or 0) + 1
    if not a.c0 then a.c0 = a.at end
  end
  a.s = to
  entry[action] = a
  local encoded = cjson.encode(entry)
  redis.call('HSET', KEYS[1], acct, encoded)
  if cur ~= to then
    redis.call('HINCRBY', KEYS[2], action .. ':' .. cur, -1)
    redis.call('HINCRBY', KEYS[2], action .. ':' .. to, 1)
    if TERMINAL[to] and a.at then redis.call('HSET', KEYS[2], action .. ':at:finished', a.at) end
  end
  local fromTo = ',"from":' .. cjson.encode(cur) .. ',"to":' .. cjson.encode(to) .. '}'
  redis.call('XADD', KEYS[3], '*', ${AUDIT_FIELD_LUA}, recordOpen .. fromTo)
  return encoded
end
local out = {}
if mode == 'claim' then
  for i = 0, n - 1 do
    local entry = entries[i]
    local record = ''
    if withRecord == '1' then record = redis.call('GET', KEYS[4 + i]) or '' end
    local status, encoded = 'ok', ''
    if not entry then
      status = 'missing'
    elseif type(entry[action]) ~= 'table' then
      status = 'no-action'
    else
      local a = entry[action]
      if a.solo then status = 'solo'
      elseif a.s == 'claimed' and a.gl == nil then status = 'busy'
      elseif a.s ~= 'pending' and a.s ~= 'claimed' then status = a.s
      else
        for _, act in ipairs(ORDER) do
          if act == action then break end
          if type(entry[act]) == 'table' and entry[act].s ~= 'done' then status = 'waiting' end
        end
      end
      if status == 'ok' then
        local patch = cjson.decode(ARGV[first + i * 3 + 1])
        patch.ct = token
        patch.gl = lead
        encoded = apply(i, entry, cjson.encode(patch), ARGV[first + i * 3 + 2])
      else
        encoded = cjson.encode(entry)
      end
    end
    out[#out + 1] = status
    out[#out + 1] = encoded
    out[#out + 1] = record
  end
  return out
end
local function claimedHere(i)
  local entry = entries[i]
  local a = entry and entry[action]
  return type(a) == 'table' and a.s == 'claimed' and (token == '' or a.ct == token)
end
if token ~= '' then
  for i = 0, n - 1 do
    if not claimedHere(i) then return {'superseded', ARGV[first + i * 3]} end
  end
end
local skipped = {'ok'}
for i = 0, n - 1 do
  if claimedHere(i) then
    apply(i, entries[i], ARGV[first + i * 3 + 1], ARGV[first + i * 3 + 2])
    if release == '0' then
      redis.call('DEL', KEYS[4 + i])
    elseif release ~= '' then
      redis.call('EXPIRE', KEYS[4 + i], release)
    end
  else
    skipped[#skipped + 1] = ARGV[first + i * 3]
  end
end
if counters ~= '' then
  for k, v in pairs(cjson.decode(counters)) do redis.call('HINCRBY', KEYS[2], k, v) end
end
return skipped
`;
