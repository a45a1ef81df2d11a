import { AUDIT_FIELD_LUA } from './audit-stream.js';

/**
 * Lua scripts: a ledger transition, its counters and its audit record are written in one script,
 * so no state change exists without its audit record and no record without its change.
 */

/**
 * KEYS: ledger, counts, audit stream, the account's record.
 * ARGV: accountId, action, allowed from-states ("a,b" or "*"), to-state, patch JSON,
 *       audit record JSON without its closing brace (from/to are appended here), extra counters
 *       JSON ({name: delta}, or "" for none), release ("" = keep the record, "0" = delete it,
 *       N = expire it in N seconds; only after an applied transition), "1" to return the record,
 *       claim token the entry's \`ct\` must hold ("" = none).
 * Returns {outcome, previousState, wholeEntryJson, recordJson}; outcome is ok | rejected | missing
 * | no-action | superseded (the entry is claimed under another token: a later attempt took it
 * over). The action's own entry is read from the whole entry by the caller.
 * Moving to `claimed` counts a claim (`n`), so re-claims after a crash are visible, and keeps the
 * first claim's time (`c0`): the earliest moment a send of this action may have reached a provider.
 * Moving to a terminal state records the time in the counters (`<action>:at:finished`, epoch ms).
 *
 * Cost (measured with Redis SLOWLOG): one JSON decode of the entry and one encode per transition; the
 * audit record is appended to as text instead of being decoded and re-encoded, and the action
 * entry is no longer encoded a second time for the reply. Releasing or reading the account
 * record here saves the caller a round trip each.
 */
export const TRANSITION = `
local TERMINAL = { done = true, failed = true, skipped = true, cancelled = true }
local raw = redis.call('HGET', KEYS[1], ARGV[1])
local record = ''
if ARGV[9] == '1' then record = redis.call('GET', KEYS[4]) or '' end
if not raw then return {'missing', '', '', record} end
local entry = cjson.decode(raw)
local a = entry[ARGV[2]]
if type(a) ~= 'table' then return {'no-action', '', raw, record} end
local cur = a.s
if ARGV[3] ~= '*' then
  local allowed = false
  for s in string.gmatch(ARGV[3], '[^,]+') do if s == cur then allowed = true end end
  if not allowed then return {'rejected', cur, raw, record} end
end
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
 * KEYS: ledger, counts, audit stream.
 * ARGV: ts, actor, waveId, ts as epoch ms, then triples (accountId, actions CSV, first action).
 * The first action's entry carries `at` (when it began to wait), so recovery can tell an account
 * whose job was lost from one just queued.
 * Returns for each account the state of its first action: "new" when created here, else the
 * state found.
 */
export const INIT_ACCOUNTS = `
local out = {}
local created = 0
local pending = {}
local queued = {}
local t0 = tonumber(ARGV[4])
for i = 5, #ARGV, 3 do
  local acct, actions, first = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local raw = redis.call('HGET', KEYS[1], acct)
  if raw then
    local entry = cjson.decode(raw)
    local a = entry[first]
    out[#out + 1] = (type(a) == 'table' and a.s) or 'unknown'
  else
    local entry = {}
    for act in string.gmatch(actions, '[^,]+') do
      entry[act] = { s = 'pending', n = 0 }
      if act == first then entry[act].at = t0 end
      pending[act] = (pending[act] or 0) + 1
    end
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
