import { AUDIT_FIELD_LUA } from '@breachwave/ledger';

/**
 * Lua scripts of the code store. Each runs atomically in Redis, so an allocation (pick a code,
 * record who holds it, index it) is all or nothing: a crash leaves a person either with their
 * code or without one, never a code handed out twice or lost between pool and person. Scripts
 * move sealed codes and keyed hashes only; no clear code ever reaches Redis.
 */

/**
 * Allocates a pool code to a person, or peeks whether it could.
 * KEYS: assignments, index, pool available zset, pool sealed hash, pool counters, audit stream.
 * ARGV: personKey, today (epoch day), low watermark, ts, actor, waveId, accountId, pool, mode (take|peek).
 * Returns {outcome, assignmentJson, flag, available}:
 * - `existing`: the person already holds a code (a retried or duplicated job, or another wave);
 * - `available` (peek only): a code could be taken;
 * - `exhausted`: no unexpired code; flag `1` when this call opened the exhaustion event;
 * - `assigned`: the earliest-expiring unexpired code is now the person's; flag `1` when this
 *   allocation took the pool below the low watermark (event and audit record written here).
 */
export const ALLOCATE_POOL = `
local existing = redis.call('HGET', KEYS[1], ARGV[1])
if existing then return {'existing', existing, '', ''} end
local picks = redis.call('ZRANGEBYSCORE', KEYS[3], ARGV[2], '+inf', 'LIMIT', 0, 1)
local h = picks[1]
if not h then
  redis.call('HINCRBY', KEYS[5], 'waits', 1)
  if redis.call('HSETNX', KEYS[5], 'empty', ARGV[4]) == 1 then
    redis.call('HINCRBY', KEYS[5], 'exhausted_events', 1)
    redis.call('XADD', KEYS[6], '*', ${AUDIT_FIELD_LUA}, cjson.encode({ ts = ARGV[4], type = 'codes.pool.exhausted', actor = ARGV[5],
      wave = ARGV[6], account = ARGV[7], detail = { pool = ARGV[8] } }))
    return {'exhausted', '', '1', '0'}
  end
  return {'exhausted', '', '', '0'}
end
if ARGV[9] == 'peek' then return {'available', '', '', ''} end
local stored = redis.call('HGET', KEYS[4], h)
if not stored then return redis.error_reply('ERR breachwave code pool entry has no sealed code') end
local day = redis.call('ZSCORE', KEYS[3], h)
local s = cjson.decode(stored)
redis.call('ZREM', KEYS[3], h)
redis.call('HDEL', KEYS[4], h)
local rec = cjson.encode({ h = h, c = s.c, m = s.m, d = tonumber(day), src = 'pool:' .. ARGV[8], w = ARGV[6], at = ARGV[4] })
redis.call('HSET', KEYS[1], ARGV[1], rec)
redis.call('HSET', KEYS[2], h, 'pool:' .. ARGV[8] .. '|' .. ARGV[1])
redis.call('HINCRBY', KEYS[5], 'assigned', 1)
local left = redis.call('ZCOUNT', KEYS[3], ARGV[2], '+inf')
local low = ''
if left < tonumber(ARGV[3]) and redis.call('HSETNX', KEYS[5], 'low', ARGV[4]) == 1 then
  redis.call('HINCRBY', KEYS[5], 'low_events', 1)
  redis.call('XADD', KEYS[6], '*', ${AUDIT_FIELD_LUA}, cjson.encode({ ts = ARGV[4], type = 'codes.pool.low', actor = ARGV[5],
    wave = ARGV[6], detail = { pool = ARGV[8], available = left, threshold = tonumber(ARGV[3]) } }))
  low = '1'
end
return {'assigned', rec, low, tostring(left)}
`;

/**
 * Records a freshly generated code for a person, unless they hold one or the code exists.
 * KEYS: assignments, index, generated counters.
 * ARGV: personKey, code hash, sealed code, masked code, enroll-by day, waveId, ts.
 * Returns {outcome, assignmentJson}: `existing`, `collision` (draw again) or `assigned`.
 */
export const ALLOCATE_GENERATED = `
local existing = redis.call('HGET', KEYS[1], ARGV[1])
if existing then return {'existing', existing} end
if redis.call('HSETNX', KEYS[2], ARGV[2], 'gen|' .. ARGV[1]) == 0 then
  redis.call('HINCRBY', KEYS[3], 'collisions', 1)
  return {'collision', ''}
end
local rec = cjson.encode({ h = ARGV[2], c = ARGV[3], m = ARGV[4], d = tonumber(ARGV[5]), src = 'gen', w = ARGV[6], at = ARGV[7] })
redis.call('HSET', KEYS[1], ARGV[1], rec)
redis.call('HINCRBY', KEYS[3], 'assigned', 1)
return {'assigned', rec}
`;

/**
 * Loads a batch of vendor codes into a pool.
 * KEYS: index, pool available zset, pool sealed hash, pool counters, import-run hash, pool set.
 * ARGV: pool, enroll-by day, then triples (code hash, file line, `{m, c}` JSON).
 * Returns per code: `loaded`; `already` (in this pool from an earlier import: re-imports add
 * nothing); `dup:<line>` (repeats line <line> of this file); `conflict:<source>` (another pool's
 * or a generated code).
 */
export const IMPORT_POOL = `
local out = {}
local loaded = 0
local mine = 'pool:' .. ARGV[1]
for i = 3, #ARGV, 3 do
  local h, line, val = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local first = redis.call('HGET', KEYS[5], h)
  if first and first ~= line then
    out[#out + 1] = 'dup:' .. first
  else
    if not first then redis.call('HSET', KEYS[5], h, line) end
    local owner = redis.call('HGET', KEYS[1], h)
    if not owner then
      redis.call('HSET', KEYS[1], h, mine)
      redis.call('ZADD', KEYS[2], ARGV[2], h)
      redis.call('HSET', KEYS[3], h, val)
      loaded = loaded + 1
      out[#out + 1] = 'loaded'
    else
      local src = string.match(owner, '^[^|]+')
      if src == mine then out[#out + 1] = 'already' else out[#out + 1] = 'conflict:' .. src end
    end
  end
end
redis.call('SADD', KEYS[6], ARGV[1])
if loaded > 0 then redis.call('HINCRBY', KEYS[4], 'loaded', loaded) end
return out
`;

/**
 * Marks codes redeemed from a vendor's feed.
 * KEYS: index, redeemed hash, generated counters.
 * ARGV: pool hash key prefix, then pairs (code hash, ISO date).
 * Returns per code: `redeemed`, `already`, `unknown` (not ours) or `unassigned` (never handed out).
 * The pool counter key is built here from the code's source, which only the index knows.
 */
export const MARK_REDEEMED = `
local out = {}
for i = 2, #ARGV, 2 do
  local h, date = ARGV[i], ARGV[i + 1]
  local owner = redis.call('HGET', KEYS[1], h)
  if not owner then
    out[#out + 1] = 'unknown'
  else
    local src = string.match(owner, '^([^|]+)|')
    if not src then
      out[#out + 1] = 'unassigned'
    elseif redis.call('HSETNX', KEYS[2], h, date) == 1 then
      if src == 'gen' then redis.call('HINCRBY', KEYS[3], 'redeemed', 1)
      else redis.call('HINCRBY', ARGV[1] .. string.sub(src, 6), 'redeemed', 1) end
      out[#out + 1] = 'redeemed'
    else
      out[#out + 1] = 'already'
    end
  end
end
return out
`;
