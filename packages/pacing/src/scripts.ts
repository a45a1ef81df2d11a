/**
 * Lua scripts for the pacer. Redis `TIME` is the only clock: every process reserves against the
 * same clock, whatever its own says. Times are microseconds since the epoch (doubles: exact to
 * well under 1 µs at today's magnitudes); they are written back with `%.3f` so no precision is
 * lost to Lua's default 14-digit number formatting.
 *
 * The sender's hash holds: `rate` (messages/s), `burst`, `last` (the last reserved slot, µs),
 * `pf`/`pu` (penalty factor and the time it ends, µs).
 */

/**
 * Reserves up to ARGV[1] consecutive send slots for one sender (a GCRA in slot form).
 *
 * Slot k+1 is `interval` after slot k, where interval = 1 / (effective rate × (1 − headroom)).
 * The next slot after the last one reserved may lie up to the catch-up in the past, so a request
 * that arrives a little late (every process busy at that moment) still gets the slot it would
 * have had; when the grid is further behind (an idle sender), it restarts at
 * `now − (burst − 1) × interval`, the burst allowance. No slot is
 * granted further than ARGV[2] µs ahead of now, which bounds both a caller's wait and how long
 * an old rate stays in force after a change.
 *
 * KEYS: the sender's hash.
 * ARGV: slots wanted, horizon (µs), default rate ('' for none), default burst, headroom (0 ≤ h < 1),
 *       catch-up (µs).
 * Returns {granted, delay µs, interval µs, effective rate, Redis now µs, skipped} as strings:
 *   granted > 0: the first slot is `delay` from now (≤ 0: send at once), the others follow
 *                at `interval`; `skipped` counts the grid slots this call's restart passed over
 *                (nobody reserved them in time: the sender was idle, or every process was late);
 *   granted = 0: the horizon is full; it has room again in `delay` µs;
 *   granted = -1: no rate is configured for this sender.
 */
export const RESERVE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local h = redis.call('HMGET', KEYS[1], 'rate', 'burst', 'last', 'pf', 'pu')
local rate = tonumber(h[1]) or tonumber(ARGV[3])
local stamp = string.format('%.0f', now)
if not rate or rate <= 0 then return {'-1', '0', '0', '0', stamp} end
local burst = tonumber(h[2]) or tonumber(ARGV[4]) or 1
local eff = rate
local pu = tonumber(h[5])
if pu and now < pu then eff = rate * (tonumber(h[4]) or 1) end
local interval = 1000000 / (eff * (1 - tonumber(ARGV[5])))
local slot = now - (burst - 1) * interval
local last = tonumber(h[3])
local skipped = 0
if last then
  local grid = last + interval
  if grid > slot or grid >= now - tonumber(ARGV[6]) then slot = grid else skipped = math.floor((slot - grid) / interval) end
end
local horizon = tonumber(ARGV[2])
local room = math.floor((now + horizon - slot) / interval) + 1
local n = math.min(tonumber(ARGV[1]), room)
local fmt = string.format
if n < 1 then return {'0', fmt('%.3f', slot - now - horizon), fmt('%.3f', interval), fmt('%.6f', eff), stamp, '0'} end
redis.call('HSET', KEYS[1], 'last', fmt('%.3f', slot + (n - 1) * interval))
return {fmt('%d', n), fmt('%.3f', slot - now), fmt('%.3f', interval), fmt('%.6f', eff), stamp, fmt('%d', skipped)}
`;

/**
 * Lowers a sender's effective rate to `rate * factor` until now + duration. Penalties do not
 * compound: while one is in force, the stricter factor and the later end win (several processes
 * hitting the same 429 burst must not drive the rate to zero).
 *
 * KEYS: the sender's hash.
 * ARGV: factor (0 < f ≤ 1), duration (ms).
 * Returns {factor, µs until it ends} as strings.
 */
export const PENALISE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local h = redis.call('HMGET', KEYS[1], 'pf', 'pu')
local f = tonumber(ARGV[1])
local u = now + tonumber(ARGV[2]) * 1000
local pu = tonumber(h[2])
if pu and now < pu then
  f = math.min(f, tonumber(h[1]) or 1)
  u = math.max(u, pu)
end
redis.call('HSET', KEYS[1], 'pf', string.format('%.6f', f), 'pu', string.format('%.3f', u))
return {string.format('%.6f', f), string.format('%.3f', u - now)}
`;
