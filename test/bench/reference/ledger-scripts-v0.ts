/**
 * REFERENCE — `packages/ledger/src/scripts.ts` as it was before the issue-6 optimisations, for the
 * benchmark's same-run comparison. Not used by breachwave.
 *
 * Lua scripts: a ledger transition, its counters and its audit record are written in one script,
 * so no state change exists without its audit record and no record without its change.
 */

/**
 * KEYS: ledger, counts, audit stream.
 * ARGV: accountId, action, allowed from-states ("a,b" or "*"), to-state, patch JSON,
 *       audit record JSON (from/to are filled in here), extra counters JSON ({name: delta}).
 * Returns {outcome, previousState, actionEntryJson, wholeEntryJson}; outcome is ok | rejected | missing | no-action.
 * Moving to `claimed` counts a claim (`n`), so re-claims after a crash are visible, and keeps the
 * first claim's time (`c0`): the earliest moment a send of this action may have reached a provider.
 */
export const TRANSITION = `
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return {'missing', '', '', ''} end
local entry = cjson.decode(raw)
local a = entry[ARGV[2]]
if type(a) ~= 'table' then return {'no-action', '', '', raw} end
local cur = a.s
if ARGV[3] ~= '*' then
  local allowed = false
  for s in string.gmatch(ARGV[3], '[^,]+') do if s == cur then allowed = true end end
  if not allowed then return {'rejected', cur, cjson.encode(a), raw} end
end
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
end
for k, v in pairs(cjson.decode(ARGV[7])) do redis.call('HINCRBY', KEYS[2], k, v) end
local rec = cjson.decode(ARGV[6])
rec.from = cur
rec.to = ARGV[4]
redis.call('XADD', KEYS[3], '*', 'r', cjson.encode(rec))
return {'ok', cur, cjson.encode(a), encoded}
`;

/**
 * Creates ledger entries for a batch of accounts (all actions pending), skipping accounts that
 * already have one (a feeder replaying its last batch after a crash).
 * KEYS: ledger, counts, audit stream.
 * ARGV: ts, actor, waveId, then triples (accountId, actions CSV, first action).
 * Returns for each account the state of its first action: "new" when created here, else the
 * state found.
 */
export const INIT_ACCOUNTS = `
local out = {}
local created = 0
for i = 4, #ARGV, 3 do
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
      redis.call('HINCRBY', KEYS[2], act .. ':pending', 1)
    end
    redis.call('HSET', KEYS[1], acct, cjson.encode(entry))
    redis.call('XADD', KEYS[3], '*', 'r', cjson.encode({ ts = ARGV[1], type = 'account.queued', actor = ARGV[2],
      wave = ARGV[3], account = acct, detail = { actions = actions } }))
    created = created + 1
    out[#out + 1] = 'new'
  end
end
if created > 0 then redis.call('HINCRBY', KEYS[2], 'accounts', created) end
return out
`;
