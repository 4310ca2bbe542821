-- redkeeper tokens: records a denylist entry or a revoked user in a stats index.
-- KEYS[1] `{prefix}:tokens:{stats}:denylist` or `...:users` (sorted set: member = entry/user id,
-- score = when it expires). Pruned here and in stats.lua, so it never outgrows the live entries.
-- ARGV: now_ms ('' = server TIME), member, exp_ms ('' = none), extra_ms, lifetime_ms: the member
-- expires at exp_ms + extra_ms, or now + lifetime_ms without exp (the same rule as its entry).
-- Reply: 1.
local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
else
  now = tonumber(ARGV[1])
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%d', now))
local at
if ARGV[3] ~= '' then at = tonumber(ARGV[3]) + tonumber(ARGV[4]) else at = now + tonumber(ARGV[5]) end
local old = redis.call('ZSCORE', KEYS[1], ARGV[2])
if at > now and (not old or tonumber(old) < at) then
  redis.call('ZADD', KEYS[1], string.format('%d', at), ARGV[2])
end
return 1
